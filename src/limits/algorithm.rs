//! The limiter families a real deployment may run behind "q requests per w", each a correct
//! reading of the published limit by its own definition (see
//! docs/rate-limit-maths.md):
//!
//! - `gcra`: one request per `w/q`, up to `burst` early (Stripe, governor). Burst: `burst`
//!   at once (0 and 1: none).
//! - `token-bucket`: tokens refill at `q/w` up to `burst` (Envoy, AWS). Burst: `burst` at
//!   once (0 and 1: none).
//! - `leaky-bucket`: nginx `limit_req … burst=b nodelay`: requests closer than `w/q` count
//!   as excess, at most `b` of it. Burst: `b + 1` at once; `b = 0` enforces the spacing
//!   strictly.
//! - `fixed-window`: `q` per clock-aligned window (Redis `INCR`, express). Burst: a whole
//!   window's quota; up to `2q` across a boundary.
//! - `sliding-log`: `q` in every window of length `w` ending now (timestamps kept). Burst: a
//!   whole window's quota.
//! - `sliding-window-counter`: weighted previous + current window counts ≤ `q` (Cloudflare,
//!   haproxy). Burst: a whole window's quota, approximately.
//!
//! Each cell answers three questions for one policy — how long until a request would fit,
//! what state to write in the headers — and is charged only when a request is admitted,
//! unless the `counts-rejected` fault charges the rejected ones too.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use super::policy::Policy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Algorithm {
    #[default]
    Gcra,
    TokenBucket,
    LeakyBucket,
    FixedWindow,
    SlidingLog,
    SlidingWindowCounter,
}

impl Algorithm {
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Gcra,
        Algorithm::TokenBucket,
        Algorithm::LeakyBucket,
        Algorithm::FixedWindow,
        Algorithm::SlidingLog,
        Algorithm::SlidingWindowCounter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Gcra => "gcra",
            Algorithm::TokenBucket => "token-bucket",
            Algorithm::LeakyBucket => "leaky-bucket",
            Algorithm::FixedWindow => "fixed-window",
            Algorithm::SlidingLog => "sliding-log",
            Algorithm::SlidingWindowCounter => "sliding-window-counter",
        }
    }

    /// Window families admit a whole window's quota at once by definition; a burst setting
    /// means nothing to them.
    pub fn uses_burst(self) -> bool {
        matches!(
            self,
            Algorithm::Gcra | Algorithm::TokenBucket | Algorithm::LeakyBucket
        )
    }

    pub(super) fn cell(self) -> Cell {
        match self {
            Algorithm::Gcra => Cell::Gcra {
                tat: Duration::ZERO,
            },
            Algorithm::TokenBucket => Cell::TokenBucket {
                tokens: None,
                last: Duration::ZERO,
            },
            Algorithm::LeakyBucket => Cell::LeakyBucket {
                excess: 0.0,
                last: None,
            },
            Algorithm::FixedWindow => Cell::FixedWindow {
                start: Duration::ZERO,
                count: 0,
            },
            Algorithm::SlidingLog => Cell::SlidingLog {
                log: VecDeque::new(),
            },
            Algorithm::SlidingWindowCounter => Cell::SlidingWindowCounter {
                index: 0,
                previous: 0,
                current: 0,
            },
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a cell reports about itself for the rate headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct CellState {
    /// Requests that could be admitted right now.
    pub remaining: u32,
    /// Time until the full quota (or burst) is available again.
    pub reset: Duration,
}

/// A rejected request log never grows past this (only the `counts-rejected` fault logs them).
const MAX_LOG: usize = 1 << 20;

/// One policy's state under one algorithm.
#[derive(Debug, Clone)]
pub(super) enum Cell {
    /// Theoretical arrival time of the next request.
    Gcra { tat: Duration },
    /// Tokens at `last` (`None`: never used, so full).
    TokenBucket { tokens: Option<f64>, last: Duration },
    /// nginx's `excess` (in requests) at the last admitted request.
    LeakyBucket { excess: f64, last: Option<Duration> },
    /// Requests counted in the window that began at `start`.
    FixedWindow { start: Duration, count: u32 },
    /// Times of the requests counted, oldest first.
    SlidingLog { log: VecDeque<Duration> },
    /// Counts of the previous and the current clock-aligned window `index`.
    SlidingWindowCounter {
        index: u64,
        previous: u32,
        current: u32,
    },
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn duration(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// The clock-aligned window that `now` falls in.
fn window_index(policy: &Policy, now: Duration) -> u64 {
    (now.as_nanos() / policy.window.as_nanos().max(1)) as u64
}

fn window_start(policy: &Policy, index: u64) -> Duration {
    // Saturating: a 1 ms window is past u32::MAX windows after 50 days of uptime.
    let nanos = policy.window.as_nanos().saturating_mul(u128::from(index));
    Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
}

impl Cell {
    /// `None` when a request fits now, else how long until one would.
    pub fn wait(&self, policy: &Policy, now: Duration) -> Option<Duration> {
        let interval = policy.emission_interval();
        let wait = match self {
            Cell::Gcra { tat } => {
                let capacity = interval * policy.burst.max(1);
                let allow_at = (*tat).max(now) + interval;
                allow_at.saturating_sub(capacity).saturating_sub(now)
            }
            Cell::TokenBucket { .. } => {
                let missing = 1.0 - self.tokens(policy, now);
                if missing <= EPSILON {
                    Duration::ZERO
                } else {
                    duration(missing / rate(policy))
                }
            }
            Cell::LeakyBucket { excess, last } => {
                // Admitted when excess − rate·elapsed + 1 ≤ burst.
                let Some(last) = last else {
                    return None;
                };
                let needed = (excess + 1.0 - f64::from(policy.burst) - EPSILON) / rate(policy);
                duration(needed - seconds(now.saturating_sub(*last)))
            }
            Cell::FixedWindow { start, count } => {
                if now >= *start + policy.window || *count < policy.quota {
                    Duration::ZERO
                } else {
                    (*start + policy.window).saturating_sub(now)
                }
            }
            Cell::SlidingLog { log } => {
                let live = live_from(log, policy, now);
                let quota = policy.quota as usize;
                if log.len() - live < quota {
                    Duration::ZERO
                } else {
                    // The request fits once enough of the oldest entries have aged out.
                    (log[log.len() - quota] + policy.window).saturating_sub(now)
                }
            }
            Cell::SlidingWindowCounter { .. } => self.counter_wait(policy, now),
        };
        (!wait.is_zero()).then_some(wait)
    }

    /// Counts one request (an admitted one; a rejected one only under `counts-rejected`,
    /// where `restart_window` also models the `INCR` + `EXPIRE`-on-every-call mistake).
    pub fn charge(&mut self, policy: &Policy, now: Duration, restart_window: bool) {
        let interval = policy.emission_interval();
        match self {
            Cell::Gcra { tat } => *tat = (*tat).max(now) + interval,
            Cell::TokenBucket { .. } => {
                let tokens = self.tokens(policy, now) - 1.0;
                *self = Cell::TokenBucket {
                    tokens: Some(tokens),
                    last: now,
                };
            }
            Cell::LeakyBucket { excess, last } => {
                let leaked = last.map_or(f64::INFINITY, |l| {
                    rate(policy) * seconds(now.saturating_sub(l))
                });
                *excess = (*excess - leaked + 1.0).max(0.0);
                *last = Some(now);
            }
            Cell::FixedWindow { start, count } => {
                if now >= *start + policy.window {
                    *start = window_start(policy, window_index(policy, now));
                    *count = 0;
                }
                *count += 1;
                if restart_window {
                    *start = now;
                }
            }
            Cell::SlidingLog { log } => {
                while log.front().is_some_and(|t| *t + policy.window <= now) {
                    log.pop_front();
                }
                if log.len() >= MAX_LOG {
                    log.pop_front();
                }
                log.push_back(now);
            }
            Cell::SlidingWindowCounter { .. } => {
                self.roll(policy, now);
                if let Cell::SlidingWindowCounter { current, .. } = self {
                    *current += 1;
                }
            }
        }
    }

    pub fn state(&self, policy: &Policy, now: Duration) -> CellState {
        let interval = policy.emission_interval();
        let quota = f64::from(policy.quota);
        let (remaining, reset) = match self {
            Cell::Gcra { tat } => {
                let capacity = interval * policy.burst.max(1);
                let used = tat.saturating_sub(now);
                let free = capacity.saturating_sub(used);
                ((free.as_nanos() / interval.as_nanos().max(1)) as f64, used)
            }
            Cell::TokenBucket { .. } => {
                let tokens = self.tokens(policy, now);
                let capacity = f64::from(policy.burst.max(1));
                (tokens, duration((capacity - tokens) / rate(policy)))
            }
            Cell::LeakyBucket { excess, last } => match last {
                None => (f64::from(policy.burst) + 1.0, Duration::ZERO),
                Some(last) => {
                    let elapsed = seconds(now.saturating_sub(*last));
                    let next = (excess - rate(policy) * elapsed + 1.0).max(0.0);
                    let fit = if next <= f64::from(policy.burst) {
                        (f64::from(policy.burst) - next).floor() + 1.0
                    } else {
                        0.0
                    };
                    (fit, duration((excess + 1.0) / rate(policy) - elapsed))
                }
            },
            Cell::FixedWindow { start, count } => {
                if now >= *start + policy.window {
                    (quota, Duration::ZERO)
                } else {
                    (
                        quota - f64::from(*count),
                        (*start + policy.window).saturating_sub(now),
                    )
                }
            }
            Cell::SlidingLog { log } => {
                let live = log.len() - live_from(log, policy, now);
                let reset = log
                    .back()
                    .map_or(Duration::ZERO, |t| (*t + policy.window).saturating_sub(now));
                (quota - live as f64, reset)
            }
            Cell::SlidingWindowCounter { .. } => {
                let (index, previous, current) = self.counts_at(policy, now);
                let weighted = weighted(policy, now, index, previous, current);
                // Full again once both counted windows have slid out of view.
                let reset = if current > 0 {
                    window_start(policy, index + 2).saturating_sub(now)
                } else if previous > 0 {
                    window_start(policy, index + 1).saturating_sub(now)
                } else {
                    Duration::ZERO
                };
                ((quota - weighted).floor(), reset)
            }
        };
        CellState {
            remaining: remaining.clamp(0.0, f64::from(u32::MAX)) as u32,
            reset,
        }
    }

    /// Tokens available at `now` (refilled since the last charge, capped at the capacity).
    fn tokens(&self, policy: &Policy, now: Duration) -> f64 {
        let Cell::TokenBucket { tokens, last } = self else {
            return 0.0;
        };
        let capacity = f64::from(policy.burst.max(1));
        match tokens {
            None => capacity,
            Some(tokens) => {
                (tokens + rate(policy) * seconds(now.saturating_sub(*last))).min(capacity)
            }
        }
    }

    /// The counter's windows as seen at `now`, without changing them.
    fn counts_at(&self, policy: &Policy, now: Duration) -> (u64, u32, u32) {
        let Cell::SlidingWindowCounter {
            index,
            previous,
            current,
        } = self
        else {
            return (0, 0, 0);
        };
        let now_index = window_index(policy, now);
        match now_index.saturating_sub(*index) {
            0 => (*index, *previous, *current),
            1 => (now_index, *current, 0),
            _ => (now_index, 0, 0),
        }
    }

    fn roll(&mut self, policy: &Policy, now: Duration) {
        let (index, previous, current) = self.counts_at(policy, now);
        *self = Cell::SlidingWindowCounter {
            index,
            previous,
            current,
        };
    }

    /// The earliest moment the weighted count leaves room for one more request.
    fn counter_wait(&self, policy: &Policy, now: Duration) -> Duration {
        let (index, previous, current) = self.counts_at(policy, now);
        let quota = f64::from(policy.quota);
        if weighted(policy, now, index, previous, current) + 1.0 <= quota + EPSILON {
            return Duration::ZERO;
        }
        let w = seconds(policy.window);
        // In this window the weight of `previous` falls linearly to zero.
        let room = quota - 1.0 - f64::from(current);
        let at = if room >= 0.0 && previous > 0 {
            let fraction = 1.0 - room / f64::from(previous);
            seconds(window_start(policy, index)) + fraction * w
        } else {
            // Only in the next window, where `current` becomes the weighted previous one.
            let fraction = (1.0 - (quota - 1.0) / f64::from(current.max(1))).max(0.0);
            seconds(window_start(policy, index + 1)) + fraction * w
        };
        // Round up by a nanosecond's worth so the retry lands inside, not on, the boundary.
        duration(at - seconds(now)) + Duration::from_micros(1)
    }
}

/// Slack for float comparisons of request counts.
const EPSILON: f64 = 1e-9;

fn rate(policy: &Policy) -> f64 {
    f64::from(policy.quota) / seconds(policy.window)
}

fn weighted(policy: &Policy, now: Duration, index: u64, previous: u32, current: u32) -> f64 {
    let into = seconds(now.saturating_sub(window_start(policy, index))) / seconds(policy.window);
    f64::from(previous) * (1.0 - into).max(0.0) + f64::from(current)
}

/// Index of the oldest log entry still inside the window that ends at `now` (the log is in
/// time order).
fn live_from(log: &VecDeque<Duration>, policy: &Policy, now: Duration) -> usize {
    log.partition_point(|t| *t + policy.window <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{Decision, Limiter, Rules};

    fn policy(quota: u32, burst: u32) -> Policy {
        let mut policy = Policy::new("read", quota, Duration::from_secs(1));
        policy.burst = burst;
        policy
    }

    fn limiter(algorithm: Algorithm, counts_rejected: bool) -> Limiter<u8> {
        Limiter::new(Rules {
            algorithm,
            counts_rejected,
            ..Rules::default()
        })
    }

    /// Offers `rate`/s evenly from `from` for `seconds`; returns the admitted send times.
    fn offer(
        limiter: &Limiter<u8>,
        policy: &Policy,
        rate: f64,
        from: f64,
        seconds: f64,
    ) -> Vec<f64> {
        (0..(rate * seconds).round() as u64)
            .map(|k| from + k as f64 / rate)
            .filter(|t| {
                let at = Duration::from_secs_f64(*t);
                matches!(
                    limiter.check(0, std::slice::from_ref(policy), at),
                    Decision::Allowed(_)
                )
            })
            .collect()
    }

    /// The most admitted in any window of `length` seconds.
    fn worst_window(times: &[f64], length: f64) -> usize {
        let mut start = 0;
        let mut worst = 0;
        for end in 0..times.len() {
            while times[end] - times[start] >= length - 1e-9 {
                start += 1;
            }
            worst = worst.max(end - start + 1);
        }
        worst
    }

    #[test]
    fn under_the_limit_every_algorithm_admits_everything() {
        for algorithm in Algorithm::ALL {
            for burst in [0, 100] {
                let l = limiter(algorithm, false);
                let admitted = offer(&l, &policy(100, burst), 80.0, 0.3, 5.0);
                assert_eq!(admitted.len(), 400, "{algorithm} burst {burst}");
            }
        }
    }

    #[test]
    fn over_the_limit_each_admits_what_its_definition_allows() {
        // 2x the limit for 4 s, starting mid-window.
        for algorithm in Algorithm::ALL {
            for burst in [0, 10, 100] {
                let l = limiter(algorithm, false);
                let admitted = offer(&l, &policy(100, burst), 200.0, 0.5, 4.0);
                let n = admitted.len() as f64;
                let worst = worst_window(&admitted, 1.0);
                match algorithm {
                    Algorithm::Gcra | Algorithm::TokenBucket => {
                        let b = f64::from(burst.max(1));
                        assert!((n - (b + 400.0)).abs() <= 2.0, "{algorithm} {burst}: {n}");
                        assert!(worst as f64 <= b + 100.0 + 1.0, "{algorithm}: {worst}");
                    }
                    Algorithm::LeakyBucket => {
                        // nginx: `burst` excess on top of the one in service; exact spacing
                        // of 5 ms arrivals meets the 10 ms interval on every second arrival.
                        let b = f64::from(burst) + 1.0;
                        assert!((n - (b + 400.0)).abs() <= 2.0, "{algorithm} {burst}: {n}");
                    }
                    Algorithm::FixedWindow => {
                        // From 0.5 s to 4.5 s touches five clock windows, 100 in each;
                        // 100 in [0.5, 1) and 100 in [1, 1.5) straddle a boundary: 2q.
                        assert_eq!(n, 500.0, "{algorithm}");
                        assert_eq!(worst, 200, "{algorithm}");
                    }
                    Algorithm::SlidingLog => {
                        assert_eq!(worst, 100, "{algorithm}");
                        assert!((n - 400.0).abs() <= 1.0, "{algorithm}: {n}");
                    }
                    Algorithm::SlidingWindowCounter => {
                        assert!((n - 400.0).abs() <= 50.0, "{algorithm}: {n}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_promised_wait_is_honest_under_every_algorithm() {
        // Whenever a request is limited with wait W, a request at now + W is admitted.
        for algorithm in Algorithm::ALL {
            for burst in [0, 5] {
                let mut rng = 0x9e37_79b9_u64;
                let l = limiter(algorithm, false);
                let p = policy(20, burst);
                let mut now = Duration::ZERO;
                let mut checked = 0;
                for _ in 0..3000 {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    now += Duration::from_micros((rng >> 33) % 40_000);
                    if let Decision::Limited { retry_after, .. } =
                        l.check(0, std::slice::from_ref(&p), now)
                    {
                        now += retry_after;
                        let again = l.check(0, std::slice::from_ref(&p), now);
                        assert!(
                            matches!(again, Decision::Allowed(_)),
                            "{algorithm} burst {burst}: still limited {retry_after:?} later"
                        );
                        checked += 1;
                    }
                }
                assert!(checked > 100, "{algorithm}: only {checked} waits checked");
            }
        }
    }

    #[test]
    fn remaining_counts_down_to_zero_on_a_burst() {
        for algorithm in Algorithm::ALL {
            let l = limiter(algorithm, false);
            let p = policy(10, 10);
            let remaining: Vec<u32> = (0..12)
                .filter_map(
                    |_| match l.check(0, std::slice::from_ref(&p), Duration::ZERO) {
                        Decision::Allowed(states) => Some(states[0].remaining),
                        Decision::Limited { .. } => None,
                    },
                )
                .collect();
            let expected: Vec<u32> = if algorithm == Algorithm::LeakyBucket {
                (0..=10).rev().collect()
            } else {
                (0..10).rev().collect()
            };
            assert_eq!(remaining, expected, "{algorithm}");
        }
    }

    #[test]
    fn counting_rejected_requests_starves_a_client_over_the_limit() {
        for algorithm in Algorithm::ALL {
            let l = limiter(algorithm, true);
            let admitted = offer(&l, &policy(100, 100), 200.0, 0.5, 4.0);
            let after_first_window = admitted.iter().filter(|t| **t >= 1.5).count();
            assert!(
                after_first_window <= 10,
                "{algorithm}: {after_first_window} admitted after the first window"
            );
            // Below the limit the misconfiguration is invisible.
            let l = limiter(algorithm, true);
            assert_eq!(offer(&l, &policy(100, 100), 80.0, 0.5, 3.0).len(), 240);
        }
    }
}
