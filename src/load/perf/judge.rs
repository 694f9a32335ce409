//! A workload's verdicts: each threshold against what its request name (or the whole
//! workload) measured, and the noisy-neighbour check. Pure functions of the measurements.

use crate::event::{CheckResult, Latency, Verdict};
use crate::workload::{Metric, Threshold, Workload};

/// What one request name (or the whole workload) measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    pub requests: u64,
    pub accepted: u64,
    pub limited: u64,
    /// Neither 2xx nor 429, or no answer at all.
    pub errors: u64,
    /// From each request's scheduled time (coordinated omission corrected).
    pub latency: Latency,
}

impl Measured {
    fn share(&self, n: u64) -> f64 {
        n as f64 / self.requests.max(1) as f64
    }

    /// The value a threshold's metric reads: milliseconds, or a fraction of requests.
    pub fn value(&self, metric: Metric) -> f64 {
        match metric {
            Metric::P50 => self.latency.p50_ms,
            Metric::P90 => self.latency.p90_ms,
            Metric::P95 => self.latency.p95_ms,
            Metric::P99 => self.latency.p99_ms,
            Metric::Max => self.latency.max_ms,
            Metric::Errors => self.share(self.errors),
            Metric::Limited => self.share(self.limited),
        }
    }

    fn count(&self, metric: Metric) -> u64 {
        match metric {
            Metric::Limited => self.limited,
            _ => self.errors,
        }
    }
}

/// `perf.<workload>.<request>.<metric>`, or `perf.<workload>.<metric>` for the whole.
pub fn check_id(workload: &str, threshold: &Threshold) -> String {
    match &threshold.request {
        Some(request) => format!("perf.{workload}.{request}.{}", threshold.metric.name()),
        None => format!("perf.{workload}.{}", threshold.metric.name()),
    }
}

fn shown(metric: Metric, value: f64) -> String {
    if metric.is_latency() {
        format!("{} {value:.1} ms", metric.name())
    } else {
        format!("{} {:.2}%", metric.name(), value * 100.0)
    }
}

/// Sends this late behind their slots (p95) mean tollgate did not keep its own schedule:
/// the latency it measured is then partly its own.
pub const LATE_SENDS_MS: f64 = 50.0;

/// Why latency cannot be judged, when tollgate's own sends lagged `lag_p95_ms` behind the
/// schedule.
pub fn lagging(lag_p95_ms: f64) -> Option<String> {
    (lag_p95_ms > LATE_SENDS_MS).then(|| {
        format!(
            "tollgate could not keep its schedule (p95 of sends {lag_p95_ms:.0} ms behind their \
                slots, over {LATE_SENDS_MS:.0} ms): this machine was too busy to measure latency \
                at this rate, so latency is not judged"
        )
    })
}

/// One threshold held against what its subject measured; `lagging` says why latency cannot
/// be judged, if it cannot.
pub fn threshold(
    workload: &str,
    threshold: &Threshold,
    measured: &Measured,
    lagging: Option<&str>,
) -> CheckResult {
    let id = check_id(workload, threshold);
    let metric = threshold.metric;
    if measured.requests == 0 {
        return CheckResult::new(id, Verdict::Skipped, "no request of it was sent")
            .at(&threshold.origin);
    }
    if let (Some(reason), true) = (lagging, metric.is_latency()) {
        return CheckResult::new(id, Verdict::Skipped, reason).at(&threshold.origin);
    }
    let expected = format!(
        "{} ≤ {}",
        metric.name(),
        shown(metric, threshold.bound)
            .split_once(' ')
            .map_or("", |(_, v)| v)
    );
    let value = measured.value(metric);
    let mut actual = shown(metric, value);
    if !metric.is_latency() {
        actual.push_str(&format!(
            " ({} of {})",
            measured.count(metric),
            measured.requests
        ));
    } else {
        actual.push_str(&format!(" over {} requests", measured.requests));
    }
    let mut check = if value <= threshold.bound {
        CheckResult::passed(id)
    } else {
        CheckResult::failed(id, expected.clone(), actual.clone())
    };
    check.expected = Some(expected);
    check.actual = Some(actual);
    check.at(&threshold.origin)
}

/// Every threshold of `workload`: `subject(None)` is the whole workload's measurement,
/// `subject(Some(name))` one request name's.
pub fn thresholds<'a>(
    workload: &Workload,
    subject: impl Fn(Option<&str>) -> &'a Measured,
    lagging: Option<&str>,
) -> Vec<CheckResult> {
    workload
        .thresholds
        .iter()
        .map(|t| threshold(&workload.name, t, subject(t.request.as_deref()), lagging))
        .collect()
}

/// `perf.<workload>.noisy-neighbour`: while one key was driven past its limit, the tenants
/// got no 429 and their p95 and error thresholds held. `judged` are the workload's
/// threshold checks; `tenants` what the tenants measured together.
pub fn noisy_neighbour(
    workload: &Workload,
    tenants: &Measured,
    neighbour: &Measured,
    judged: &[CheckResult],
) -> Option<CheckResult> {
    let noisy = workload.noisy_neighbour.as_ref()?;
    let id = format!("perf.{}.noisy-neighbour", workload.name);
    let expected = format!(
        "no 429 for the {} tenants while one key is driven at {}× its `{}` limit; their p95 and \
            error thresholds held",
        workload.tenants, noisy.factor, noisy.class
    );
    if tenants.requests == 0 || neighbour.requests == 0 {
        return Some(
            CheckResult::new(id, Verdict::Skipped, "the workload sent no request")
                .at(&noisy.origin),
        );
    }
    let broken: Vec<&str> = workload
        .thresholds
        .iter()
        .zip(judged)
        .filter(|(t, c)| {
            matches!(t.metric, Metric::P95 | Metric::Errors) && c.verdict == Verdict::Failed
        })
        .map(|(_, c)| c.id.as_str())
        .collect();
    let mut problems = Vec::new();
    if tenants.limited > 0 {
        problems.push(format!(
            "the tenants got {} 429s ({:.2}% of {})",
            tenants.limited,
            tenants.share(tenants.limited) * 100.0,
            tenants.requests
        ));
    }
    if !broken.is_empty() {
        problems.push(format!("thresholds failed: {}", broken.join(", ")));
    }
    let neighbour_text = format!(
        "the neighbour got {} 429s of {} requests",
        neighbour.limited, neighbour.requests
    );
    let check = if !problems.is_empty() {
        CheckResult::failed(
            id,
            expected,
            format!("{}; {neighbour_text}", problems.join("; ")),
        )
    } else if neighbour.limited == 0 {
        CheckResult::new(
            id,
            Verdict::Warning,
            format!(
                "the neighbour was never limited at {}× its limit, so nothing tested the \
                    tenants' isolation",
                noisy.factor
            ),
        )
    } else {
        CheckResult {
            expected: Some(expected),
            actual: Some(format!(
                "the tenants got no 429 in {} requests (p95 {:.1} ms); {neighbour_text}",
                tenants.requests, tenants.latency.p95_ms
            )),
            ..CheckResult::passed(id)
        }
    };
    Some(check.at(&noisy.origin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Origin;
    use crate::workload::{NoisyNeighbour, Stage};

    fn workload(thresholds: Vec<Threshold>) -> Workload {
        Workload {
            name: "tenants".into(),
            origin: Origin::default(),
            tenants: 20,
            stages: vec![Stage {
                duration: std::time::Duration::from_secs(1),
                to: 1.0,
            }],
            mix: Vec::new(),
            thresholds,
            noisy_neighbour: Some(NoisyNeighbour {
                class: "read".into(),
                factor: 2.0,
                origin: Origin::default(),
            }),
        }
    }

    fn limit(request: Option<&str>, metric: Metric, bound: f64) -> Threshold {
        Threshold {
            request: request.map(str::to_string),
            metric,
            bound,
            origin: Origin::default(),
        }
    }

    fn measured(p95_ms: f64, limited: u64, errors: u64) -> Measured {
        Measured {
            requests: 1000,
            accepted: 1000 - limited - errors,
            limited,
            errors,
            latency: Latency {
                p95_ms,
                ..Latency::default()
            },
        }
    }

    #[test]
    fn a_threshold_fails_with_its_id_expected_and_actual() {
        let t = limit(Some("read"), Metric::P95, 250.0);
        let check = threshold("tenants", &t, &measured(321.5, 0, 0), None);
        assert_eq!(check.id, "perf.tenants.read.p95");
        assert_eq!(check.verdict, Verdict::Failed);
        assert_eq!(check.expected.as_deref(), Some("p95 ≤ 250.0 ms"));
        assert_eq!(
            check.actual.as_deref(),
            Some("p95 321.5 ms over 1000 requests")
        );
        let ok = threshold("tenants", &t, &measured(249.0, 0, 0), None);
        assert_eq!(ok.verdict, Verdict::Passed);
        let errors = limit(None, Metric::Errors, 0.01);
        let check = threshold("tenants", &errors, &measured(1.0, 0, 20), None);
        assert_eq!(check.id, "perf.tenants.errors");
        assert_eq!(check.actual.as_deref(), Some("errors 2.00% (20 of 1000)"));
        assert_eq!(check.verdict, Verdict::Failed);
    }

    #[test]
    fn nothing_sent_is_skipped_not_passed() {
        let t = limit(None, Metric::P99, 1.0);
        let check = threshold("w", &t, &Measured::default(), None);
        assert_eq!(check.verdict, Verdict::Skipped);
    }

    #[test]
    fn late_sends_skip_latency_but_not_errors() {
        assert!(lagging(40.0).is_none());
        let reason = lagging(420.0).unwrap();
        assert!(reason.contains("420 ms behind"), "{reason}");
        let slow = threshold(
            "w",
            &limit(None, Metric::P95, 250.0),
            &measured(900.0, 0, 0),
            Some(&reason),
        );
        assert_eq!(
            (slow.verdict, slow.message.as_str()),
            (Verdict::Skipped, reason.as_str())
        );
        let errors = threshold(
            "w",
            &limit(None, Metric::Errors, 0.0),
            &measured(9.0, 0, 3),
            Some(&reason),
        );
        assert_eq!(errors.verdict, Verdict::Failed);
    }

    #[test]
    fn the_noisy_neighbour_fails_on_a_tenant_429_or_a_broken_p95() {
        let w = workload(vec![limit(None, Metric::P95, 250.0)]);
        let judge = |tenants: &Measured, neighbour: &Measured| {
            let judged = thresholds(&w, |_| tenants, None);
            noisy_neighbour(&w, tenants, neighbour, &judged).unwrap()
        };
        let limited_neighbour = measured(2.0, 500, 0);
        let pass = judge(&measured(10.0, 0, 0), &limited_neighbour);
        assert_eq!(pass.verdict, Verdict::Passed, "{pass:?}");
        assert_eq!(pass.id, "perf.tenants.noisy-neighbour");
        let shared = judge(&measured(10.0, 37, 0), &limited_neighbour);
        assert_eq!(shared.verdict, Verdict::Failed);
        assert!(shared
            .actual
            .unwrap()
            .starts_with("the tenants got 37 429s"));
        let slow = judge(&measured(400.0, 0, 0), &limited_neighbour);
        assert!(slow.actual.unwrap().contains("perf.tenants.p95"));
        let unlimited = judge(&measured(10.0, 0, 0), &measured(2.0, 0, 0));
        assert_eq!(unlimited.verdict, Verdict::Warning);
    }
}
