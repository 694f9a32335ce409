//! What the load phase created, and deleting it again: verifying staging must not litter it.
//!
//! Every request that can create something (the write phases, isolation and back-off probes,
//! recovery) hands its created ids here with the key that created them: a resource belongs to
//! that key's account or mode, so only that key can delete it. Deletion waits until the
//! class's measurements are over (deleting earlier would draw on the bucket being measured),
//! then runs in the background, paced at half the class's limit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::probes::Prober;
use super::record::lock;
use crate::event::{CheckResult, Verdict};
use crate::profile::RateClass;
use crate::scenario::template::Vars;
use crate::scenario::Credential;

/// One created resource, waiting for its class to finish.
struct Created {
    class: String,
    key: Credential,
    id: Value,
}

/// What one class's deletions achieved.
#[derive(Debug, Default)]
struct Outcome {
    deleted: usize,
    /// Ids that are still there (their DELETE never succeeded), as sent.
    left: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Cleanup {
    pending: Mutex<Vec<Created>>,
    running: Mutex<Vec<tokio::task::JoinHandle<Outcome>>>,
}

/// Ids listed by name in the check; the rest are counted.
const LISTED: usize = 10;

impl Cleanup {
    /// Remembers what `key` created in `class` (nothing, if the class names no cleanup).
    pub fn remember(&self, class: &RateClass, key: Credential, ids: Vec<Value>) {
        if class.cleanup.is_none() {
            return;
        }
        lock(&self.pending).extend(ids.into_iter().map(|id| Created {
            class: class.name.clone(),
            key,
            id,
        }));
    }

    /// Deletes what was created in `class`, in the background.
    pub fn start(&self, class: &RateClass, prober: Arc<Prober>, vars: Vars) {
        let mine: Vec<Created> = {
            let mut pending = lock(&self.pending);
            let (mine, rest) = std::mem::take(&mut *pending)
                .into_iter()
                .partition(|c| c.class == class.name);
            *pending = rest;
            mine
        };
        let Some(spec) = class.cleanup.clone() else {
            return;
        };
        let limit = class.policy.per_second();
        let interval = Duration::from_secs_f64(2.0 / limit);
        // Each key's deletions draw on its own bucket: one paced task per key (the tenants
        // of a workload clean up side by side).
        let mut by_key: Vec<(Credential, Vec<Created>)> = Vec::new();
        for created in mine {
            match by_key.iter_mut().find(|(key, _)| *key == created.key) {
                Some((_, list)) => list.push(created),
                None => by_key.push((created.key, vec![created])),
            }
        }
        for (_, mine) in by_key {
            self.spawn(mine, spec.clone(), interval, prober.clone(), vars.clone());
        }
    }

    fn spawn(
        &self,
        mine: Vec<Created>,
        spec: crate::scenario::RequestSpec,
        interval: Duration,
        prober: Arc<Prober>,
        vars: Vars,
    ) {
        let handle = tokio::spawn(async move {
            let mut outcome = Outcome::default();
            let mut silent = 0;
            // Paced starts, a few in flight: a slow target's answers overlap instead of
            // stretching the cleanup by their latency each.
            let mut in_flight = tokio::task::JoinSet::new();
            for created in mine {
                while in_flight.len() >= IN_FLIGHT {
                    if let Some(Ok(done)) = in_flight.join_next().await {
                        settle(&mut outcome, &mut silent, done);
                    }
                }
                // A target that stopped answering is not asked again and again, a timeout
                // each: what is left is listed instead.
                if silent >= GIVE_UP_AFTER {
                    outcome.left.push(id_text(&created.id));
                    continue;
                }
                let mut vars = vars.clone();
                vars.set("id", created.id.clone());
                let (prober, spec) = (prober.clone(), spec.clone());
                in_flight.spawn(async move {
                    let deletion = delete(&prober, &spec, &vars, created.key).await;
                    (created.id, deletion)
                });
                tokio::time::sleep(interval).await;
            }
            while let Some(done) = in_flight.join_next().await {
                if let Ok(done) = done {
                    settle(&mut outcome, &mut silent, done);
                }
            }
            outcome
        });
        lock(&self.running).push(handle);
    }

    /// Starts what is still pending, waits for every deletion, and judges them; `None` when
    /// nothing was created.
    pub async fn finish(
        &self,
        classes: &[RateClass],
        prober: &Arc<Prober>,
        vars: &Vars,
    ) -> Option<(usize, CheckResult)> {
        for class in classes {
            self.start(class, prober.clone(), vars.clone());
        }
        let handles: Vec<_> = std::mem::take(&mut *lock(&self.running));
        if handles.is_empty() {
            return None;
        }
        let mut total = Outcome::default();
        for handle in handles {
            if let Ok(outcome) = handle.await {
                total.deleted += outcome.deleted;
                total.left.extend(outcome.left);
            }
        }
        let created = total.deleted + total.left.len();
        Some((created, judge(&total, created)))
    }
}

/// Deletions one key has in flight at once.
const IN_FLIGHT: usize = 8;

/// Counts one finished deletion.
fn settle(outcome: &mut Outcome, silent: &mut usize, (id, deletion): (Value, Deletion)) {
    match deletion {
        Deletion::Done => {
            outcome.deleted += 1;
            *silent = 0;
        }
        Deletion::Refused => {
            outcome.left.push(id_text(&id));
            *silent = 0;
        }
        Deletion::NoAnswer => {
            outcome.left.push(id_text(&id));
            *silent += 1;
        }
    }
}

/// Deletions without an answer in a row after which the rest are not tried.
const GIVE_UP_AFTER: usize = 3;

enum Deletion {
    Done,
    Refused,
    NoAnswer,
}

/// One DELETE, honouring a 429 a few times: a 429 here means someone else shares the bucket.
/// A 404 counts as deleted (it is gone either way).
async fn delete(
    prober: &Prober,
    spec: &crate::scenario::RequestSpec,
    vars: &Vars,
    key: Credential,
) -> Deletion {
    for _ in 0..4 {
        let probe = prober.send(spec, vars, key, None).await;
        if probe.accepted() || probe.status() == Some(404) {
            return Deletion::Done;
        }
        if probe.exchange.is_none() {
            return Deletion::NoAnswer;
        }
        if probe.status() != Some(429) {
            return Deletion::Refused;
        }
        let wait = probe
            .rate
            .retry_after
            .as_ref()
            .and_then(|r| r.wait())
            .unwrap_or(Duration::from_secs(1));
        tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
    }
    Deletion::Refused
}

fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `rate.cleanup`: everything created is deleted; what is left is listed by id.
fn judge(outcome: &Outcome, created: usize) -> CheckResult {
    let id = "rate.cleanup";
    if outcome.left.is_empty() {
        let mut check = CheckResult::passed(id);
        check.expected = Some("every resource the load phase created is deleted".into());
        check.actual = Some(format!("deleted {} of {created}", outcome.deleted));
        return check;
    }
    let mut listed = outcome
        .left
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if outcome.left.len() > LISTED {
        listed.push_str(&format!(" and {} more", outcome.left.len() - LISTED));
    }
    CheckResult::new(
        id,
        Verdict::Warning,
        format!(
            "{} of {created} created resources could not be deleted: {listed}",
            outcome.left.len()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_was_left_and_counts_the_rest() {
        let outcome = Outcome {
            deleted: 3,
            left: (0..12).map(|i| format!("usr_{i}")).collect(),
        };
        let check = judge(&outcome, 15);
        assert_eq!(check.verdict, Verdict::Warning);
        assert!(check.message.starts_with("12 of 15 created resources"));
        assert!(check.message.contains("usr_0, usr_1"));
        assert!(check.message.ends_with("and 2 more"), "{}", check.message);
    }

    #[test]
    fn passes_when_everything_is_gone() {
        let check = judge(
            &Outcome {
                deleted: 4,
                left: vec![],
            },
            4,
        );
        assert_eq!(check.verdict, Verdict::Passed);
        assert_eq!(check.actual.as_deref(), Some("deleted 4 of 4"));
    }
}
