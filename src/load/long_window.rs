//! Minute and hour windows: too long to saturate with sustained load, so the limit is
//! exhausted sequentially and judged through its headers and its first 429.

use std::time::Instant;

use super::verdict::{retry_after_check, shape_check, verdict};
use super::{record, saturable, LoadRunner};
use crate::event::{CheckResult, Verdict};
use crate::profile::RateClass;
use crate::scenario::Credential;

impl LoadRunner {
    /// Minute and hour windows: saturate sequentially and read the headers.
    pub(super) async fn long_window(&self, class: &RateClass) {
        let c = &class.name;
        let reason = format!(
            "a {} s window: a sustained-rate estimate needs several windows of load; the limit is checked through rate.{c}.headers",
            class.policy.window.as_secs()
        );
        let mut checks = vec![
            CheckResult::new(format!("rate.{c}.under"), Verdict::Skipped, reason.clone()),
            CheckResult::new(format!("rate.{c}.enforced"), Verdict::Skipped, reason),
        ];
        let saturable = saturable(class);
        let n = if saturable {
            class.policy.burst as usize + 5
        } else {
            5
        };
        let mut seen: Vec<(u16, Option<i64>)> = Vec::new();
        let mut first_429 = None;
        for _ in 0..n {
            let probe = self.probe(class, Credential::PRIMARY).await;
            let status = probe.status().unwrap_or(0);
            seen.push((status, probe.rate.remaining));
            if status == 429 {
                first_429 = Some(probe);
                break;
            }
        }
        let remaining: Vec<i64> = seen
            .iter()
            .filter(|(s, _)| (200..300).contains(s))
            .filter_map(|(_, r)| *r)
            .collect();
        checks.push(if remaining.is_empty() {
            CheckResult::new(
                format!("rate.{c}.headers"),
                Verdict::Skipped,
                "no rate-limit headers on the answers",
            )
        } else {
            let steps_of_one = remaining.windows(2).filter(|w| w[0] - w[1] == 1).count();
            let pairs = remaining.len().saturating_sub(1);
            let counts_down = pairs > 0 && steps_of_one * 10 >= pairs * 9;
            let reaches_zero = !saturable || first_429.is_none() || remaining.last() == Some(&0);
            verdict(
                format!("rate.{c}.headers"),
                counts_down && reaches_zero,
                "Remaining drops by one per request and is 0 when the first 429 comes".into(),
                format!(
                    "{steps_of_one} of {pairs} steps dropped by one; last Remaining before 429: {}",
                    remaining.last().map_or("-".into(), |r| r.to_string())
                ),
            )
        });
        match first_429 {
            Some(probe) => {
                let mut evidence = record::LimitEvidence::default();
                let exchange = probe.exchange.as_ref().expect("a 429 has an answer");
                evidence.observe(
                    exchange.status,
                    &probe.rate,
                    &exchange.body,
                    &self.target.profile().errors.schema,
                );
                checks.push(shape_check(c, &evidence, &record::LimitEvidence::default()));
                checks.push(retry_after_check(
                    c,
                    &evidence,
                    class.policy.window.as_secs_f64(),
                    None,
                ));
                let window = class.policy.window.as_secs_f64();
                checks.push(self.backoff(class, window, Instant::now(), None).await);
            }
            None => {
                let why = if saturable {
                    format!(
                        "no 429 after {n} requests: the limit of {} per window is not enforced",
                        class.policy.burst
                    )
                } else {
                    format!(
                        "a burst of {} is not exhausted by a short probe",
                        class.policy.burst
                    )
                };
                let verdict = if saturable {
                    Verdict::Failed
                } else {
                    Verdict::Skipped
                };
                for what in ["429-shape", "retry-after", "backoff"] {
                    checks.push(CheckResult::new(
                        format!("rate.{c}.{what}"),
                        verdict,
                        why.clone(),
                    ));
                }
            }
        }
        self.emit_step(
            c,
            format!("{} sequential requests", seen.len()),
            &class.probe,
            checks,
        );
    }
}
