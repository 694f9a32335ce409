//! Isolation while a class is saturated: the second key, the test-mode key and a companion
//! class are each probed at random moments, and must be admitted.

use std::time::{Duration, Instant};

use super::record::Recorder;
use super::verdict::isolation_result;
use super::{probe_gap, started, LoadRunner, ISOLATION_PROBES};
use crate::contract::retry::Jitter;
use crate::event::{CheckResult, Verdict};
use crate::keys::KeyRole;
use crate::profile::RateClass;
use crate::scenario::{Credential, RequestSpec};

/// Isolation results: the step label and its check.
pub(super) struct IsolationStep {
    pub(super) step: String,
    pub(super) result: CheckResult,
}

impl LoadRunner {
    /// The request an isolation step sent: the companion class's for `rate.isolation.class`.
    pub(super) fn isolation_request(&self, class: &RateClass, id: &str) -> RequestSpec {
        match (id, self.companion(class)) {
            ("rate.isolation.class", Some(other)) => other.probe,
            _ => class.probe.clone(),
        }
    }

    /// While `class` is saturated: another key, the test-mode key and another class, each
    /// probed on its own at the same time (a shared bucket only rejects more).
    pub(super) async fn isolation_while_saturated(
        &self,
        class: &RateClass,
        phase: &Recorder,
        over: Duration,
    ) -> Vec<IsolationStep> {
        // Wait for the first 429 of the over phase — by then the bucket is empty. The phase
        // itself may first wait for its bucket to be idle.
        let saturated = match started(phase, self.longest_idle_wait(class)).await {
            None => false,
            Some(start) => {
                let deadline = start + over;
                loop {
                    if phase.saturated() {
                        break true;
                    }
                    if Instant::now() >= deadline {
                        break false;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        let never = |id: &str| {
            CheckResult::new(
                id,
                Verdict::Skipped,
                format!("{} was never saturated", class.name),
            )
        };
        let key_probe = |id: &'static str, key: Credential, seed: u64| async move {
            let step = format!(
                "isolation · {} key while {} is saturated",
                if key == Credential::Key(KeyRole::Second) {
                    "second"
                } else {
                    "test-mode"
                },
                class.name
            );
            let result = if !saturated {
                never(id)
            } else if let Err(reason) = self.target.key(key) {
                CheckResult::new(id, Verdict::Skipped, reason)
            } else {
                let statuses = self.while_loaded(phase, class, key, seed).await;
                isolation_result(id, &statuses)
            };
            IsolationStep { step, result }
        };
        let companion = self.companion(class);
        let class_probe = async {
            let other = companion.as_ref()?;
            let id = "rate.isolation.class";
            let step = format!(
                "isolation · {} while {} is saturated",
                other.name, class.name
            );
            let result = if saturated {
                let statuses = self
                    .while_loaded(phase, other, Credential::PRIMARY, 3)
                    .await;
                isolation_result(id, &statuses)
            } else {
                never(id)
            };
            Some(IsolationStep { step, result })
        };
        let (key, mode, other) = tokio::join!(
            key_probe("rate.isolation.key", Credential::Key(KeyRole::Second), 1),
            key_probe("rate.isolation.mode", Credential::Key(KeyRole::TestMode), 2),
            class_probe
        );
        let mut results = vec![key, mode];
        results.extend(other);
        results
    }

    /// The longest a measured phase of `class` can wait for its bucket to go idle, plus
    /// slack: how long its companions wait for it to start.
    pub(super) fn longest_idle_wait(&self, class: &RateClass) -> Duration {
        Duration::from_secs_f64(6.0 * class.policy.window.as_secs_f64() + 5.0)
    }

    /// Probes of `probed`'s bucket under `key` at random moments while the load runs. A
    /// probe that shares the saturated bucket finds it closed at least half the time under
    /// every family (between two openings of a bucket, in the second half of a window), so
    /// ten of them all passing by chance is under 0.1%; an isolated bucket rejects none.
    pub(super) async fn while_loaded(
        &self,
        phase: &Recorder,
        probed: &RateClass,
        key: Credential,
        seed: u64,
    ) -> Vec<u16> {
        let mut jitter = Jitter::new(self.plan.seed ^ seed);
        let gap = probe_gap(probed);
        let mut statuses = Vec::new();
        for i in 0..ISOLATION_PROBES {
            if i > 0 {
                // Two intervals of the probed bucket's own limit at least, so even a limiter
                // without burst admits each; random, so the probes cannot lock onto the
                // load's rhythm.
                tokio::time::sleep(gap + jitter.up_to(gap)).await;
            }
            let over = phase
                .schedule
                .end()
                .is_some_and(|end| Instant::now() >= end);
            if over || phase.finished() >= phase.schedule.own_count() {
                break;
            }
            let probe = self.probe(probed, key).await;
            statuses.push(probe.status().unwrap_or(0));
        }
        statuses
    }

    /// The class whose bucket must stay untouched: read ↔ write, anything else → read.
    pub(super) fn companion(&self, class: &RateClass) -> Option<RateClass> {
        let classes = &self.target.profile().rate_limits;
        let wanted = match class.name.as_str() {
            "read" => "write",
            _ => "read",
        };
        classes
            .iter()
            .find(|c| c.name == wanted && c.name != class.name && c.cleanup.is_none())
            .cloned()
            .or_else(|| {
                classes
                    .iter()
                    .find(|c| c.name == wanted && c.name != class.name)
                    .cloned()
            })
    }
}
