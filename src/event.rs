//! What runners tell reporters. Runners only emit these; only `report/` formats them.

use serde::Serialize;

use crate::scenario::Origin;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
    Skipped,
    Warning,
}

/// One check of one response, with a stable id (e.g. `expect.status`, `auth.revoked.status`,
/// `error.shape`, `secret.echo`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub id: String,
    pub verdict: Verdict,
    /// Why it failed, was skipped or warned; empty when it passed.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// The scenario line the expectation came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

impl CheckResult {
    pub fn passed(id: impl Into<String>) -> Self {
        Self::new(id, Verdict::Passed, "")
    }

    pub fn new(id: impl Into<String>, verdict: Verdict, message: impl Into<String>) -> Self {
        CheckResult {
            id: id.into(),
            verdict,
            message: message.into(),
            expected: None,
            actual: None,
            origin: None,
        }
    }

    pub fn failed(
        id: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        CheckResult {
            expected: Some(expected.into()),
            actual: Some(actual.into()),
            ..Self::new(id, Verdict::Failed, "")
        }
    }

    pub fn at(mut self, origin: &Origin) -> Self {
        self.origin = Some(origin.clone());
        self
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
}

/// One HTTP attempt of a step (a step with retries has several).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// `None` when no response arrived (connection error, timeout).
    pub status: Option<u16>,
    pub latency_ms: f64,
    /// Time waited before this attempt (back-off or Retry-After).
    pub waited_ms: u64,
}

/// A finished step (or auth-matrix case) and all its checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    pub scenario: String,
    pub file: String,
    pub step: String,
    /// `METHOD /path` as sent (query strings are left out: they may carry secrets).
    pub request: String,
    pub origin: Origin,
    pub attempts: Vec<Attempt>,
    pub checks: Vec<CheckResult>,
}

impl StepResult {
    pub fn verdict(&self) -> Verdict {
        let has = |v: Verdict| self.checks.iter().any(|c| c.verdict == v);
        if has(Verdict::Failed) {
            Verdict::Failed
        } else if !self.checks.is_empty()
            && self.checks.iter().all(|c| c.verdict == Verdict::Skipped)
        {
            Verdict::Skipped
        } else if has(Verdict::Warning) {
            Verdict::Warning
        } else {
            Verdict::Passed
        }
    }
}

/// The ids of the checks with `verdict` across `steps`, sorted and unique.
pub fn ids_with(steps: &[StepResult], verdict: Verdict) -> Vec<String> {
    let mut ids: Vec<String> = steps
        .iter()
        .flat_map(|s| &s.checks)
        .filter(|c| c.verdict == verdict)
        .map(|c| c.id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Requests of one wall-clock second of a load phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondCounts {
    /// Unix time of the second.
    pub second: u64,
    pub offered: u64,
    pub accepted: u64,
    pub limited: u64,
    pub other: u64,
}

/// Requests of one slice of a load phase (50 ms unless the phase is long: see `slice_ms`),
/// the resolution at which a limiter's burst and refill can be seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SliceCounts {
    /// Milliseconds from the phase's start to the start of the slice.
    pub offset_ms: u64,
    pub offered: u64,
    pub accepted: u64,
    pub limited: u64,
}

/// Latency percentiles of the requests sent in one second of a load phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondLatency {
    /// Whole seconds from the phase's start.
    pub offset_s: u64,
    pub requests: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// Latency percentiles of the requests sent in one slice of a short workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySlice {
    /// Milliseconds from the phase's start to the slice's.
    pub offset_ms: u64,
    pub requests: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// A short workload's latency over time, finer than per second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySlices {
    pub width_ms: u64,
    /// The slices that sent a request.
    pub slices: Vec<LatencySlice>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The `phase` of a performance workload's request names (their `class` is
/// `<workload> · <request>`).
pub const PERF_PHASE: &str = "perf";

/// What one load phase offered and got, second by second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseStats {
    pub class: String,
    /// `under`, `over`, …
    pub phase: String,
    pub limit_per_second: f64,
    pub requested_rate: f64,
    /// Measured from send times (goose's throttle is never trusted).
    pub offered_rate: f64,
    pub duration_s: f64,
    pub requests: u64,
    pub accepted: u64,
    pub limited: u64,
    pub other: u64,
    pub seconds: Vec<SecondCounts>,
    /// When the phase's schedule started, in Unix milliseconds: lines phases up on one axis.
    pub started_ms: u64,
    /// The width of each slice of `slices` (50 ms, wider for phases over 100 s).
    pub slice_ms: u64,
    /// Counts per slice from the start, every slice up to the last send (empty ones too).
    pub slices: Vec<SliceCounts>,
    /// Per second from the start: coordinated-omission corrected latency percentiles.
    pub latency_seconds: Vec<SecondLatency>,
    /// The same, per slice of a second, for a workload shorter than 20 s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_slices: Option<LatencySlices>,
    /// From each request's scheduled time (coordinated omission corrected).
    pub latency: Latency,
    /// From each request's actual send.
    pub service_latency: Latency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_burst: Option<f64>,
    /// Which kind of limiter the over phase met (over phases only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<crate::limits::Fingerprint>,
    /// The phase was stopped before its schedule was done (Ctrl-C, SIGTERM, `--deadline`):
    /// what it measured is kept, its checks judge only what that supports.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// Live counts of a running load phase (for progress display only; never reported).
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub class: String,
    pub phase: String,
    pub done: u64,
    pub total: u64,
    pub accepted: u64,
    pub limited: u64,
}

impl PhaseStats {
    /// `n` requests of this phase as a rate over its duration.
    pub fn per_second(&self, n: u64) -> f64 {
        if self.duration_s > 0.0 {
            n as f64 / self.duration_s
        } else {
            0.0
        }
    }

    /// The slices merged `k` at a time (the last group may be shorter), and their width:
    /// for readers that want fewer, fuller slices than the report keeps.
    pub fn coarsened(&self, k: usize) -> (u64, Vec<SliceCounts>) {
        let k = k.max(1);
        let merged = self
            .slices
            .chunks(k)
            .map(|chunk| SliceCounts {
                offset_ms: chunk[0].offset_ms,
                offered: chunk.iter().map(|s| s.offered).sum(),
                accepted: chunk.iter().map(|s| s.accepted).sum(),
                limited: chunk.iter().map(|s| s.limited).sum(),
            })
            .collect();
        (self.slice_ms * k as u64, merged)
    }
}

/// Why a run ended before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// SIGINT or SIGTERM (Ctrl-C, a CI job's timeout).
    Interrupted,
    /// `--deadline` ran out.
    Deadline,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    StepFinished(StepResult),
    /// Boxed: a phase carries its series, many times the size of the other events.
    PhaseFinished(Box<PhaseStats>),
    Progress(Progress),
    /// The last event of a run: it finished, or was stopped (and by what).
    RunFinished {
        stopped_by: Option<Stop>,
    },
}
