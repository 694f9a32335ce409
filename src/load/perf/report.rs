//! A workload's report: every request name as a report phase, its thresholds and the noisy
//! neighbour judged. A pure function of what was measured, so one process and the merge of
//! its shards (`merge.rs`) report alike.

use super::judge::{self, Measured};
use super::plan::{PartPlan, NEIGHBOUR};
use crate::event::{CheckResult, PhaseStats, Verdict, PERF_PHASE};
use crate::load::measurements::Measurements;
use crate::load::tenant_vars::CaptureTally;
use crate::load::{per_second, stats};
use crate::workload::Workload;

/// A step of the workload's report: what was judged, against which request.
#[derive(Debug, Clone)]
pub struct JudgedStep {
    pub step: String,
    pub request: String,
    pub checks: Vec<CheckResult>,
}

#[derive(Debug, Clone, Default)]
pub struct WorkloadReport {
    pub phases: Vec<PhaseStats>,
    pub steps: Vec<JudgedStep>,
}

/// The report of `workload` from each part's measurements (in `parts`' order). `share` is
/// the fraction of the schedule they cover: 1 for one process or merged shards, `1/N` for
/// one shard, whose phases then ask that share of every rate.
pub fn report(
    workload: &Workload,
    parts: &[PartPlan],
    measurements: Vec<Measurements>,
    share: f64,
) -> WorkloadReport {
    let peak = workload.peak() * share;
    // The parts share one schedule: it is partial when its slots were not all answered,
    // whichever part's they were.
    let answered: u64 = measurements.iter().map(|m| m.finished).sum();
    let partial = measurements.first().is_some_and(|m| answered < m.scheduled);
    let mut tenants = Measured::default();
    let mut all_latency: Option<hdrhistogram::Histogram<u64>> = None;
    let mut all_lag: Option<hdrhistogram::Histogram<u64>> = None;
    let mut measured: Vec<(String, Measured)> = Vec::new();
    let mut out = WorkloadReport::default();
    for (part, m) in parts.iter().zip(measurements) {
        let limit = per_second(&part.class) * part.keys as f64;
        let mut phase = stats::measured(
            &format!("{} · {}", workload.name, part.name),
            PERF_PHASE,
            limit,
            part.rate * peak,
            &m,
        );
        phase.partial = partial;
        let mine = Measured {
            requests: phase.requests,
            accepted: phase.accepted,
            limited: phase.limited,
            errors: phase.other,
            latency: phase.latency.clone(),
        };
        if !part.neighbour {
            tenants.requests += mine.requests;
            tenants.accepted += mine.accepted;
            tenants.limited += mine.limited;
            tenants.errors += mine.errors;
            merge(&mut all_latency, m.corrected);
            merge(&mut all_lag, m.lag);
        }
        measured.push((part.name.clone(), mine));
        out.phases.push(phase);
    }
    if let Some(all) = &all_latency {
        tenants.latency = stats::percentiles(all);
    }
    let empty = Measured::default();
    let find = |name: &str| {
        measured
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&empty, |(_, m)| m)
    };
    let lag_p95_ms = all_lag.map_or(0.0, |h| h.value_at_quantile(0.95) as f64 / 1000.0);
    let lagging = judge::lagging(lag_p95_ms);
    let judged = judge::thresholds(
        workload,
        |request| match request {
            Some(name) => find(name),
            None => &tenants,
        },
        lagging.as_deref(),
    );
    for part in parts.iter().filter(|p| !p.neighbour) {
        let checks: Vec<CheckResult> = workload
            .thresholds
            .iter()
            .zip(&judged)
            .filter(|(t, _)| t.request.as_deref() == Some(part.name.as_str()))
            .map(|(_, c)| c.clone())
            .collect();
        if !checks.is_empty() {
            out.steps.push(JudgedStep {
                step: format!(
                    "{}: {:.0}/s over {} tenants",
                    part.name,
                    part.rate * peak,
                    part.keys
                ),
                request: format!(
                    "{} {}",
                    part.class.probe.method,
                    part.class.probe.path.source()
                ),
                checks,
            });
        }
    }
    let mut whole: Vec<CheckResult> = workload
        .thresholds
        .iter()
        .zip(&judged)
        .filter(|(t, _)| t.request.is_none())
        .map(|(_, c)| c.clone())
        .collect();
    whole.extend(judge::noisy_neighbour(
        workload,
        &tenants,
        find(NEIGHBOUR),
        &judged,
    ));
    if !whole.is_empty() {
        out.steps.push(JudgedStep {
            step: format!(
                "{} tenants, {} requests",
                workload.tenants, tenants.requests
            ),
            request: String::new(),
            checks: whole,
        });
    }
    out
}

/// `perf.<workload>.<request>.capture` for each request name that captures (`tallies` in
/// `parts`' order): every 2xx answer held what the tenants' next requests read.
pub fn capture_steps(
    workload: &Workload,
    parts: &[PartPlan],
    tallies: &[CaptureTally],
) -> Vec<JudgedStep> {
    let mut steps = Vec::new();
    for (part, tally) in parts.iter().zip(tallies) {
        if part.captures.is_empty() {
            continue;
        }
        let id = format!("perf.{}.{}.capture", workload.name, part.name);
        let check = match tally.missed {
            0 => CheckResult::passed(id),
            missed => CheckResult::new(
                id,
                Verdict::Failed,
                format!(
                    "{missed} 2xx answers lacked a capture, so the requests reading it sent \
                     stale values; the first: {}",
                    tally.first.as_deref().unwrap_or("?")
                ),
            ),
        };
        let names: Vec<&str> = part.captures.iter().map(|c| c.name.as_str()).collect();
        steps.push(JudgedStep {
            step: format!("{} captures {}", part.name, names.join(", ")),
            request: format!(
                "{} {}",
                part.class.probe.method,
                part.class.probe.path.source()
            ),
            checks: vec![check],
        });
    }
    steps
}

/// Adds `histogram` into `all` (the first one becomes it).
fn merge(all: &mut Option<hdrhistogram::Histogram<u64>>, histogram: hdrhistogram::Histogram<u64>) {
    match all {
        Some(all) => {
            let _ = all.add(&histogram);
        }
        None => *all = Some(histogram),
    }
}
