//! The back-off client (exponential, jittered, honouring Retry-After) and the recovery
//! probes one window after the load stopped.

use std::time::{Duration, Instant};

use super::record::Recorder;
use super::verdict::verdict;
use super::{probe_gap, probes, started, LoadRunner, LONGEST_SATURATED_WINDOW, RECOVERY_PROBES};
use crate::event::{CheckResult, Verdict};
use crate::profile::RateClass;
use crate::scenario::Credential;

impl LoadRunner {
    /// One full window after the load stopped, a few requests spaced within the limit must
    /// all be accepted; otherwise the back-off verdict fails.
    pub(super) async fn recovery(
        &self,
        class: &RateClass,
        load_end: Instant,
        backoff: CheckResult,
    ) -> CheckResult {
        let window = class.policy.window.as_secs_f64();
        let since_end = load_end.elapsed().as_secs_f64();
        if since_end < window {
            tokio::time::sleep(Duration::from_secs_f64(window - since_end + 0.05)).await;
        }
        let mut statuses = Vec::new();
        for i in 0..RECOVERY_PROBES {
            if i > 0 {
                tokio::time::sleep(probe_gap(class)).await;
            }
            let probe = self.probe(class, Credential::PRIMARY).await;
            statuses.push(probe.status().unwrap_or(0));
        }
        let recovered = statuses.iter().all(|s| (200..300).contains(s));
        if backoff.verdict == Verdict::Passed && !recovered {
            return CheckResult::failed(
                format!("rate.{}.backoff", class.name),
                format!(
                    "{RECOVERY_PROBES} requests {:.0} ms apart accepted one window ({window} s) after the load stopped",
                    probe_gap(class).as_secs_f64() * 1000.0
                ),
                format!("statuses {statuses:?}"),
            );
        }
        backoff
    }

    /// The back-off client starts as the last request of the over phase goes out, while the
    /// bucket is still empty.
    pub(super) async fn backoff_at_end(
        &self,
        class: &RateClass,
        phase: &Recorder,
        window: f64,
    ) -> CheckResult {
        let end = match started(phase, self.longest_idle_wait(class)).await {
            Some(_) => phase.schedule.end(),
            None => None,
        };
        let Some(end) = end else {
            return CheckResult::new(
                format!("rate.{}.backoff", class.name),
                Verdict::Skipped,
                "the load phase never started",
            );
        };
        // Catch a 429 in the last moments of the load, so the wait starts as the load stops;
        // each try costs a round trip, so the window to catch one grows with the latency.
        // Bounded: it must start inside the phase's last moments, whatever the latency.
        let latency = *self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let lead = Duration::from_millis(150) + (latency * 2).min(Duration::from_millis(250));
        tokio::time::sleep_until(end.checked_sub(lead).unwrap_or(end).into()).await;
        let catch_until =
            end + Duration::from_millis(100) + (latency * 2).min(Duration::from_secs(1));
        self.backoff(class, window, catch_until, Some(phase)).await
    }

    pub(super) async fn backoff(
        &self,
        class: &RateClass,
        window: f64,
        catch_until: Instant,
        phase: Option<&Recorder>,
    ) -> CheckResult {
        let id = format!("rate.{}.backoff", class.name);
        // Short windows: ten windows of patience. Minute and hour windows: a promise is
        // waited out only when the run was told it may take that long (--long-windows);
        // otherwise ten seconds, and a longer promise is recorded, not judged.
        let deadline = if window > LONGEST_SATURATED_WINDOW {
            Duration::from_secs_f64(if self.plan.long_windows {
                window + 10.0
            } else {
                10.0
            })
        } else {
            Duration::from_secs_f64((window * 10.0).max(5.0))
        };
        let mut jitter = self
            .jitter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let send = || async {
            match phase {
                Some(phase) => self.probe_counted(class, phase).await,
                None => self.probe(class, Credential::PRIMARY).await,
            }
        };
        let recovery = probes::back_off(send, catch_until, deadline, &mut jitter).await;
        let slack = (window * 0.5).max(0.5);
        match (
            recovery.not_limited,
            recovery.promised,
            recovery.recovered_after,
        ) {
            (true, _, Some(_)) => CheckResult::new(
                id,
                Verdict::Skipped,
                "the back-off client never caught a 429 while the load ran",
            ),
            (false, promised, None) if recovery.beyond_budget.is_some() => {
                let wait = recovery.beyond_budget.unwrap_or_default();
                let how = if window > LONGEST_SATURATED_WINDOW {
                    "run with --long-windows to wait it out"
                } else {
                    "far beyond a window of the limit: rate.<class>.retry-after judges the promise itself"
                };
                let mut check = CheckResult::new(
                    id,
                    Verdict::Skipped,
                    format!(
                        "the 429 asked to wait {wait:.0} s, longer than this run waits ({:.0} s): the promise is recorded, not tested ({how})",
                        deadline.as_secs_f64()
                    ),
                );
                check.expected = Some(format!(
                    "a 2xx within the promised {:.0} s",
                    promised.unwrap_or(wait)
                ));
                check
            }
            (true, _, None) if recovery.unanswered => CheckResult::new(
                id,
                Verdict::Skipped,
                "the back-off client's request got no answer (see rate.<class>.transport)",
            ),
            (true, _, None) => CheckResult::new(
                id,
                Verdict::Failed,
                "the first request after the load was neither a 429 nor a 2xx",
            ),
            (false, promised, Some(after)) => {
                let promise = promised.unwrap_or(window);
                let rtt = recovery.round_trip;
                verdict(
                    id,
                    after <= promise + slack + rtt,
                    format!("a 2xx within {promise:.1} s (the promised wait) + {slack:.1} s + the retry's round trip ({rtt:.2} s)"),
                    format!("2xx after {after:.2} s and {} attempts", recovery.attempts),
                )
            }
            (false, promised, None) => CheckResult::failed(
                id,
                format!(
                    "a 2xx within {:.1} s + {slack:.1} s",
                    promised.unwrap_or(window)
                ),
                format!(
                    "still limited after {:.0} s of backing off ({} attempts)",
                    deadline.as_secs_f64(),
                    recovery.attempts
                ),
            ),
        }
    }
}
