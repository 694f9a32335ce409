//! A small report for the formatters' unit tests: passed checks before a failed one and a
//! warning (so ordering is tested), and one class's under and over phases shaped like a
//! token bucket at twice its 100/s limit (a second of burst, then the refill).

use super::model::Report;
use crate::event::{
    CheckResult, Latency, PhaseStats, SecondLatency, SliceCounts, StepResult, Verdict,
};
use crate::limits::{Family, Fingerprint};
use crate::scenario::Origin;

fn step(name: &str, checks: Vec<CheckResult>) -> StepResult {
    let origin = Origin {
        file: "scenarios/ouro/users.yaml".into(),
        line: 7,
        col: 5,
    };
    StepResult {
        scenario: "users".into(),
        file: origin.file.clone(),
        step: name.into(),
        request: "GET /v1/users".into(),
        origin,
        attempts: Vec::new(),
        checks,
    }
}

/// Slices of 50 ms at `offered` per slice; `accept(i)` of slice `i` admitted, the rest 429.
fn slices(count: u64, offered: u64, accept: impl Fn(u64) -> u64) -> Vec<SliceCounts> {
    (0..count)
        .map(|i| SliceCounts {
            offset_ms: i * 50,
            offered,
            accepted: accept(i),
            limited: offered - accept(i),
        })
        .collect()
}

fn phase(name: &str, started_ms: u64, slices: Vec<SliceCounts>) -> PhaseStats {
    let sum = |f: fn(&SliceCounts) -> u64| slices.iter().map(f).sum::<u64>();
    let seconds = slices.len() as u64 / 20;
    PhaseStats {
        class: "read".into(),
        phase: name.into(),
        limit_per_second: 100.0,
        requested_rate: sum(|s| s.offered) as f64 / seconds as f64,
        offered_rate: sum(|s| s.offered) as f64 / seconds as f64,
        duration_s: seconds as f64,
        requests: sum(|s| s.offered),
        accepted: sum(|s| s.accepted),
        limited: sum(|s| s.limited),
        other: 0,
        seconds: Vec::new(),
        started_ms,
        slice_ms: 50,
        latency_seconds: (0..seconds)
            .map(|s| SecondLatency {
                offset_s: s,
                requests: 100,
                p50_ms: 1.0 + s as f64,
                p95_ms: 2.0 + s as f64,
                p99_ms: 3.0 + s as f64,
            })
            .collect(),
        slices,
        latency_slices: None,
        latency: Latency::default(),
        service_latency: Latency::default(),
        estimated_rate: None,
        estimated_burst: None,
        fingerprint: None,
        partial: false,
    }
}

pub fn report() -> Report {
    let warning = CheckResult::new("rate.read.headers", Verdict::Warning, "no RateLimit");
    let failed = CheckResult::failed("expect.status", "200", "500");
    let mut over = phase(
        "over",
        1_700_000_004_000,
        slices(80, 10, |i| if i < 20 { 10 } else { 5 }),
    );
    over.estimated_rate = Some(100.0);
    over.estimated_burst = Some(100.0);
    over.fingerprint = Some(Fingerprint {
        family: Family::BurstThenSteady,
        algorithms: "token bucket".into(),
        meaning: "a client may send about 100 at once after a pause".into(),
        burst: 100.0,
        window_s: 1.0,
        worst_case: 200,
        worst_case_at_s: 0.0,
        lumpiness: 0.05,
        spacing_ms: Some(10.0),
        evidence: "burst ≈ 100 before the first 429 at 1.00 s".into(),
    });
    Report {
        tool_version: "0.0.0".into(),
        run_id: "20260101T000000Z-abcd".into(),
        target: "http://127.0.0.1:1".into(),
        target_kind: "embedded reference server".into(),
        profile: "tollgate.yaml".into(),
        seed: 1,
        started: "2026-01-01T00:00:00Z".into(),
        ended: "2026-01-01T00:00:10Z".into(),
        duration_ms: 10_000,
        steps: vec![
            step("list users", vec![CheckResult::passed("expect.status")]),
            step(
                "get a user",
                vec![CheckResult::passed("expect.json"), warning],
            ),
            step("create a user", vec![failed]),
        ],
        phases: vec![
            phase("under", 1_700_000_000_000, slices(40, 4, |_| 4)),
            over,
        ],
        complete: true,
        stopped_by: None,
        shard: Default::default(),
    }
}

/// [`report`] with one request name of a workload: 3 s at 100/s with one slow second.
pub fn with_workload() -> Report {
    let mut report = report();
    let mut read = phase(
        crate::event::PERF_PHASE,
        1_700_000_010_000,
        slices(60, 5, |_| 5),
    );
    read.class = "tenants · read".into();
    read.limit_per_second = 2000.0;
    read.seconds = (0..3)
        .map(|s| crate::event::SecondCounts {
            second: 1_700_000_010 + s,
            offered: 100,
            accepted: 100,
            limited: 0,
            other: 0,
        })
        .collect();
    read.latency_seconds[1].p99_ms = 40.0;
    // A short workload: its latency in 200 ms slices too, the slow one in the second second.
    read.latency_slices = Some(crate::event::LatencySlices {
        width_ms: 200,
        slices: (0..15)
            .map(|i| crate::event::LatencySlice {
                offset_ms: i * 200,
                requests: 20,
                p50_ms: 1.0,
                p95_ms: 2.0,
                p99_ms: if i == 7 { 40.0 } else { 3.0 },
            })
            .collect(),
    });
    read.latency = Latency {
        p50_ms: 2.0,
        p90_ms: 3.0,
        p95_ms: 3.5,
        p99_ms: 40.0,
        max_ms: 41.0,
    };
    report.phases.push(read);
    report
}
