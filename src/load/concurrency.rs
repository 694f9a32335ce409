//! The concurrency limiter: more slow requests in flight than allowed, the excess refused.

use std::time::Duration;

use super::quiet::Bucket;
use super::verdict::verdict;
use super::{per_second, probes, LoadRunner};
use crate::event::{CheckResult, Event, StepResult, Verdict};
use crate::scenario::{Credential, Origin};

impl LoadRunner {
    /// More than the allowed requests in flight: the excess gets 429.
    pub(super) async fn concurrency(&self) {
        let id = "rate.concurrency";
        let Some(spec) = self.target.profile().concurrency.clone() else {
            return;
        };
        if !self.plan.classes.is_empty() && !self.plan.classes.iter().any(|c| c == "concurrency") {
            return;
        }
        let n = spec.limit as usize + 5;
        // The slow requests draw on a rate bucket too (search: 20/s): sent faster than its
        // limit, a strict limiter would refuse them by rate and the probe would blame the
        // concurrency limiter. One and a half intervals of the tightest such limit apart
        // (at most 1 s in all at generous limits).
        let drawn_on = self.classes_drawn_on(&spec.probe);
        let tightest = drawn_on
            .iter()
            .map(per_second)
            .fold(f64::INFINITY, f64::min);
        let gap = if tightest.is_finite() {
            1.5 / tightest
        } else {
            0.0
        };
        let spread = Duration::from_secs_f64((gap * n as f64).max(1.0));
        let results = probes::concurrent(&self.prober, &spec.probe, &self.vars, n, spread).await;
        // Whatever bucket the slow requests drew on is not idle now.
        let longest = Some(spread.as_secs_f64() + 1.0);
        for class in drawn_on {
            self.quiet
                .touch(&Bucket::new(&class.name, Credential::PRIMARY), longest);
        }
        let ok = results
            .iter()
            .filter(|(s, _)| (200..300).contains(s))
            .count();
        let limited = results.iter().filter(|(s, _)| *s == 429).count();
        let fastest = results
            .iter()
            .filter(|(s, _)| (200..300).contains(s))
            .map(|(_, t)| *t)
            .fold(f64::INFINITY, f64::min);
        let check = if fastest.is_finite() && fastest < spread.as_secs_f64() {
            CheckResult::new(id, Verdict::Skipped, format!("the probe answered in {:.0} ms; it must stay open longer than the {:.2} s it takes to send {n} requests within the probed class's rate limit (raise the probe's delay)", fastest * 1000.0, spread.as_secs_f64()))
        } else {
            verdict(
                id.into(),
                ok == spec.limit as usize && limited == n - ok,
                format!(
                    "{} of {n} overlapping requests accepted, {} rejected with 429",
                    spec.limit,
                    n - spec.limit as usize
                ),
                format!(
                    "{ok} accepted, {limited} rejected with 429, {} other",
                    n - ok - limited
                ),
            )
        };
        let _ = self.events.send(Event::StepFinished(StepResult {
            scenario: "rate limits · concurrency".into(),
            file: self.target.profile().file.clone(),
            step: format!("{n} slow requests at once (limit {})", spec.limit),
            request: format!("{} {}", spec.probe.method, spec.probe.path.source()),
            origin: Origin {
                file: self.target.profile().file.clone(),
                line: spec.probe.origin.line,
                col: spec.probe.origin.col,
            },
            attempts: Vec::new(),
            checks: vec![check],
        }));
    }
}
