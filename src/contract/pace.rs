//! Keeps the contract runner below the target's published limits, so it never trips the
//! limiter the load phase is about to measure.
//!
//! Each (key, rate class) gets its own GCRA at `pace × limit` with `pace × burst`. A request
//! is charged to every class it matches (same read/write kind and the probe's path prefix);
//! a request that matches none is charged to all of them, which is always safe.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::profile::RateClass;
use crate::scenario::Credential;

/// Without any published limit the runner still stays gentle.
const DEFAULT_RATE: f64 = 10.0;

struct Lane {
    prefix: String,
    write: bool,
    interval: Duration,
    capacity: Duration,
}

pub struct Pacer {
    lanes: Vec<Lane>,
    /// Theoretical arrival time per (key, lane).
    tat: Mutex<HashMap<(Credential, usize), Instant>>,
}

fn is_write(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// The literal start of a templated path: `/v1/users/{{ id }}` → `/v1/users`.
fn static_prefix(path: &str) -> String {
    let literal = path.split("{{").next().unwrap_or_default();
    literal.trim_end_matches('/').to_string()
}

impl Pacer {
    pub fn new(classes: &[RateClass], pace: f64) -> Self {
        let mut lanes: Vec<Lane> = classes
            .iter()
            .map(|class| {
                let rate = class.policy.per_second() * pace;
                let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
                let burst = ((class.policy.burst as f64) * pace).floor().max(1.0);
                Lane {
                    prefix: static_prefix(&class.probe.path.source()),
                    write: is_write(&class.probe.method),
                    interval,
                    capacity: interval.mul_f64(burst),
                }
            })
            .collect();
        if lanes.is_empty() {
            let interval = Duration::from_secs_f64(1.0 / DEFAULT_RATE);
            lanes.push(Lane {
                prefix: String::new(),
                write: false,
                interval,
                capacity: interval,
            });
        }
        Pacer {
            lanes,
            tat: Mutex::new(HashMap::new()),
        }
    }

    fn lanes_for(&self, method: &str, path: &str) -> Vec<usize> {
        let write = is_write(method);
        let matching: Vec<usize> = self
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, lane)| {
                lane.write == write && !lane.prefix.is_empty() && path.starts_with(&lane.prefix)
            })
            .map(|(i, _)| i)
            .collect();
        let longest = matching.iter().map(|i| self.lanes[*i].prefix.len()).max();
        let best: Vec<usize> = matching
            .into_iter()
            .filter(|i| Some(self.lanes[*i].prefix.len()) == longest)
            .collect();
        if best.is_empty() {
            (0..self.lanes.len()).collect()
        } else {
            best
        }
    }

    /// Waits until a request may be sent without exceeding any matching lane.
    pub async fn wait(&self, key: Credential, method: &str, path: &str) {
        let send_at = {
            let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let lanes = self.lanes_for(method, path);
            // The earliest instant every lane admits the request, then charge them all.
            let send_at = lanes
                .iter()
                .map(|i| {
                    let lane = &self.lanes[*i];
                    let t = tat.get(&(key, *i)).copied().unwrap_or(now).max(now);
                    (t + lane.interval)
                        .checked_sub(lane.capacity)
                        .unwrap_or(now)
                        .max(now)
                })
                .max()
                .unwrap_or(now);
            for i in lanes {
                let lane = &self.lanes[i];
                let t = tat.get(&(key, i)).copied().unwrap_or(send_at).max(send_at);
                tat.insert((key, i), t + lane.interval);
            }
            send_at
        };
        tokio::time::sleep_until(send_at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_stop_at_the_first_placeholder() {
        assert_eq!(static_prefix("/v1/users/{{ id }}"), "/v1/users");
        assert_eq!(static_prefix("/v1/search"), "/v1/search");
    }
}
