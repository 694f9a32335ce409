//! Per-bucket rate limiting: published policies, buckets of per-policy cells, decisions.
//!
//! We implement the limiters here instead of using governor because the reference server
//! must *report* its state exactly — `Remaining`, time to full quota and the honest time
//! until the next accepted request — under every algorithm of [`Algorithm`], and because
//! faults (a sticky penalty, charging rejected requests) must plug into the same place.
//! The default, GCRA, keeps one instant per bucket (the theoretical arrival time) and is
//! exact: over any interval of length `t` it accepts at most `burst + rate·t` requests.
//!
//! Time is passed in as a [`Duration`] since an arbitrary epoch so the maths is testable
//! without sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::algorithm::{Algorithm, Cell};
use super::policy::Policy;

/// The state of one policy's bucket after a decision, enough to write rate headers.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyState {
    pub policy_index: usize,
    /// Requests that could still be accepted right now.
    pub remaining: u32,
    /// Time until the bucket is back to its full burst capacity.
    pub reset: Duration,
}

/// Outcome of asking a bucket for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Allowed(Vec<PolicyState>),
    /// Rejected; `retry_after` is the honest time until a request would be accepted.
    Limited {
        states: Vec<PolicyState>,
        retry_after: Duration,
    },
}

/// How a server's limiter behaves: its algorithm and the faults that bend it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rules {
    pub algorithm: Algorithm,
    /// With the `sticky-429` fault: how long a bucket stays closed after its first 429.
    pub sticky_penalty: Option<Duration>,
    /// With the `counts-rejected` fault: rejected requests are charged too.
    pub counts_rejected: bool,
}

/// A bucket holds one cell per policy of its class: a request must fit all of them
/// (e.g. 100/min *and* 5000/hour), and is charged to all of them only when it does.
#[derive(Debug, Default)]
struct Bucket {
    cells: Vec<Cell>,
    /// Set by a sticky penalty: every request before this instant is rejected.
    blocked_until: Option<Duration>,
}

impl Bucket {
    fn decide(&mut self, policies: &[Policy], now: Duration, rules: &Rules) -> Decision {
        self.cells
            .resize_with(policies.len(), || rules.algorithm.cell());
        let wait = self
            .cells
            .iter()
            .zip(policies)
            .filter_map(|(cell, policy)| cell.wait(policy, now))
            .max();
        let blocked = self.blocked_until.filter(|until| *until > now);
        if wait.is_none() && blocked.is_none() {
            self.charge(policies, now, false);
            return Decision::Allowed(self.states(policies, now));
        }
        if rules.counts_rejected {
            self.charge(policies, now, true);
        }
        if let (Some(penalty), None) = (rules.sticky_penalty, blocked) {
            self.blocked_until = Some(now + penalty);
        }
        // A sticky bucket still *claims* the honest wait: that is the lie the fault tells.
        let retry_after = wait.unwrap_or_else(|| {
            policies
                .iter()
                .map(Policy::emission_interval)
                .min()
                .unwrap_or_default()
        });
        let mut states = self.states(policies, now);
        for state in &mut states {
            state.remaining = 0;
        }
        Decision::Limited {
            states,
            retry_after,
        }
    }

    fn charge(&mut self, policies: &[Policy], now: Duration, rejected: bool) {
        for (cell, policy) in self.cells.iter_mut().zip(policies) {
            cell.charge(policy, now, rejected);
        }
    }

    fn states(&self, policies: &[Policy], now: Duration) -> Vec<PolicyState> {
        self.cells
            .iter()
            .zip(policies)
            .enumerate()
            .map(|(index, (cell, policy))| {
                let state = cell.state(policy, now);
                PolicyState {
                    policy_index: index,
                    remaining: state.remaining,
                    reset: state.reset,
                }
            })
            .collect()
    }
}

/// All buckets of a server, keyed by whatever identifies a bucket (scope and class).
#[derive(Debug)]
pub struct Limiter<K> {
    buckets: Mutex<Buckets<K>>,
    rules: Rules,
}

#[derive(Debug)]
struct Buckets<K> {
    by_key: HashMap<K, Bucket>,
    /// The latest time any decision was made at: requests read the clock before they take
    /// the lock, so a later one may carry an earlier instant; every cell sees time move
    /// forward only.
    latest: Duration,
}

impl<K: std::hash::Hash + Eq> Limiter<K> {
    pub fn new(rules: Rules) -> Self {
        Limiter {
            buckets: Mutex::new(Buckets {
                by_key: HashMap::new(),
                latest: Duration::ZERO,
            }),
            rules,
        }
    }

    /// Charges one request to the bucket `key` if every policy admits it.
    pub fn check(&self, key: K, policies: &[Policy], now: Duration) -> Decision {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = now.max(buckets.latest);
        buckets.latest = now;
        buckets
            .by_key
            .entry(key)
            .or_default()
            .decide(policies, now, &self.rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_second(quota: u32, burst: u32) -> Vec<Policy> {
        let mut policy = Policy::new("read", quota, Duration::from_secs(1));
        policy.burst = burst;
        vec![policy]
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Offers `rate` requests per second, evenly spaced, for `seconds`; returns the count accepted.
    fn offer(limiter: &Limiter<u8>, policies: &[Policy], rate: u64, seconds: u64) -> u64 {
        let gap = Duration::from_secs(1) / rate as u32;
        (0..rate * seconds)
            .filter(|k| {
                matches!(
                    limiter.check(0, policies, gap * *k as u32),
                    Decision::Allowed(_)
                )
            })
            .count() as u64
    }

    #[test]
    fn parses_rates_windows_and_bursts() {
        let p: Policy = "100/s".parse().unwrap();
        assert_eq!(
            (p.quota, p.window, p.burst),
            (100, Duration::from_secs(1), 100)
        );
        let p: Policy = "100/min,burst=5".parse().unwrap();
        assert_eq!(
            (p.quota, p.window, p.burst),
            (100, Duration::from_secs(60), 5)
        );
        let p: Policy = "5000/h".parse().unwrap();
        assert_eq!(p.window, Duration::from_secs(3600));
        let p: Policy = "10/5s".parse().unwrap();
        assert_eq!(p.window, Duration::from_secs(5));
        assert!("100".parse::<Policy>().is_err());
        assert!("0/s".parse::<Policy>().is_err());
        assert!("10/fortnight".parse::<Policy>().is_err());
        assert!("10/s,bust=3".parse::<Policy>().is_err());
        assert_eq!(
            "20/s,burst=3".parse::<Policy>().unwrap().to_string(),
            "20/s,burst=3"
        );
    }

    #[test]
    fn an_idle_bucket_admits_exactly_its_burst_at_once() {
        let limiter = Limiter::new(Rules::default());
        let policies = per_second(100, 10);
        let accepted = (0..50)
            .filter(|_| matches!(limiter.check(0u8, &policies, ms(0)), Decision::Allowed(_)))
            .count();
        assert_eq!(accepted, 10);
    }

    #[test]
    fn over_the_limit_accepts_burst_plus_rate_times_time() {
        // At 1.5x for 3 s: the first `burst` go through, then exactly one per 10 ms.
        let limiter = Limiter::new(Rules::default());
        let accepted = offer(&limiter, &per_second(100, 100), 150, 3);
        // Arrivals span 3 s minus one gap; GCRA admits burst + floor(r * span) (+1 at most).
        let expected = 100 + 300;
        assert!(
            (expected - 2..=expected).contains(&accepted),
            "accepted {accepted}"
        );
    }

    #[test]
    fn under_the_limit_nothing_is_rejected_even_without_burst() {
        let limiter = Limiter::new(Rules::default());
        assert_eq!(offer(&limiter, &per_second(100, 1), 80, 5), 400);
    }

    #[test]
    fn remaining_counts_down_and_retry_after_is_the_honest_wait() {
        let limiter = Limiter::new(Rules::default());
        let policies = per_second(100, 3);
        let remaining: Vec<u32> = (0..3)
            .map(|_| match limiter.check(0u8, &policies, ms(0)) {
                Decision::Allowed(states) => states[0].remaining,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        match limiter.check(0u8, &policies, ms(4)) {
            Decision::Limited {
                states,
                retry_after,
            } => {
                assert_eq!(retry_after, ms(6), "next slot opens at 10 ms");
                assert_eq!(states[0].remaining, 0);
                assert_eq!(states[0].reset, ms(26), "three slots drain by 30 ms");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            limiter.check(0u8, &policies, ms(10)),
            Decision::Allowed(_)
        ));
    }

    #[test]
    fn a_request_must_fit_every_policy_and_is_charged_only_when_it_does() {
        let limiter = Limiter::new(Rules::default());
        let policies = vec![
            Policy::new("minute", 100, Duration::from_secs(60)),
            Policy::new("hour", 150, Duration::from_secs(3600)),
        ];
        let accepted = (0..300)
            .filter(|_| matches!(limiter.check(0u8, &policies, ms(0)), Decision::Allowed(_)))
            .count();
        assert_eq!(accepted, 100, "the minute policy binds first");
        // 60 s later the minute bucket is full again; the hour bucket has its 50 left plus
        // 2.5 slots refilled at one per 24 s.
        let accepted = (0..300)
            .filter(|_| {
                matches!(
                    limiter.check(0u8, &policies, Duration::from_secs(60)),
                    Decision::Allowed(_)
                )
            })
            .count();
        assert_eq!(accepted, 52, "now the hour policy binds");
    }

    #[test]
    fn buckets_are_independent_per_key() {
        let limiter = Limiter::new(Rules::default());
        let policies = per_second(10, 1);
        assert!(matches!(
            limiter.check(1u8, &policies, ms(0)),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            limiter.check(1u8, &policies, ms(0)),
            Decision::Limited { .. }
        ));
        assert!(matches!(
            limiter.check(2u8, &policies, ms(0)),
            Decision::Allowed(_)
        ));
    }

    #[test]
    fn a_sticky_penalty_keeps_rejecting_after_the_advertised_wait() {
        let limiter = Limiter::new(Rules {
            sticky_penalty: Some(Duration::from_secs(5)),
            ..Rules::default()
        });
        let policies = per_second(10, 1);
        assert!(matches!(
            limiter.check(0u8, &policies, ms(0)),
            Decision::Allowed(_)
        ));
        let Decision::Limited { retry_after, .. } = limiter.check(0u8, &policies, ms(1)) else {
            panic!("second request must be limited");
        };
        assert_eq!(retry_after, ms(99));
        assert!(matches!(
            limiter.check(0u8, &policies, ms(2000)),
            Decision::Limited { .. }
        ));
        assert!(matches!(
            limiter.check(0u8, &policies, ms(5002)),
            Decision::Allowed(_)
        ));
    }

    #[test]
    fn a_decision_carrying_an_earlier_instant_is_made_at_the_latest_one() {
        // Requests read the clock before taking the lock; none may see time run backwards.
        for algorithm in Algorithm::ALL {
            let limiter = Limiter::new(Rules {
                algorithm,
                counts_rejected: true,
                ..Rules::default()
            });
            let policies = per_second(10, 0);
            for t in [50, 10, 49, 0, 51, 5] {
                limiter.check(0u8, &policies, ms(t));
            }
        }
    }

    #[test]
    fn scaling_keeps_a_custom_burst_and_scales_the_default_one() {
        let p = Policy::new("read", 100, Duration::from_secs(1)).scaled(1.5);
        assert_eq!((p.quota, p.burst), (150, 150));
        let mut custom = Policy::new("read", 100, Duration::from_secs(1));
        custom.burst = 10;
        assert_eq!(custom.scaled(0.6).burst, 10);
    }
}
