//! `report.json`: the whole report for tools, validated by `schemas/report.schema.json`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{Counts, Report};

/// Bumped when a field changes meaning; new optional fields do not bump it.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    #[serde(flatten)]
    report: &'a Report,
    summary: Summary,
    requests: Requests,
}

#[derive(Serialize)]
struct Summary {
    verdict: &'static str,
    checks: Counts,
    steps: Counts,
    failed_checks: Vec<String>,
}

/// What the contract phase sent: attempts by status, retries and waits.
#[derive(Serialize)]
struct Requests {
    attempts: u64,
    by_status: BTreeMap<String, u64>,
    retried_steps: u64,
    waited_ms: u64,
}

pub fn render(report: &Report) -> String {
    let mut by_status = BTreeMap::new();
    let (mut attempts, mut retried, mut waited) = (0, 0, 0);
    for step in &report.steps {
        retried += u64::from(step.attempts.len() > 1);
        for attempt in &step.attempts {
            attempts += 1;
            waited += attempt.waited_ms;
            let key = attempt
                .status
                .map_or("no response".to_string(), |s| s.to_string());
            *by_status.entry(key).or_insert(0) += 1;
        }
    }
    let json = JsonReport {
        schema_version: SCHEMA_VERSION,
        report,
        summary: Summary {
            verdict: report.verdict(),
            checks: report.checks(),
            steps: report.steps_by_verdict(),
            failed_checks: report.failed_ids(),
        },
        requests: Requests {
            attempts,
            by_status,
            retried_steps: retried,
            waited_ms: waited,
        },
    };
    serde_json::to_string_pretty(&json).expect("the report serializes")
}
