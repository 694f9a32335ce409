//! The quiet clock: which rate buckets the load phase has touched, and when.
//!
//! A measured phase (under, over, spacing) judges a limiter by what it accepts from a known
//! starting state: idle. A bucket that still holds the count of earlier requests (the
//! contract phase, a probe, a previous phase) starts the phase half-spent, and a correct
//! limiter with a small burst then looks broken. So every request the load phase sends is
//! stamped here against the bucket it draws on, every measured phase waits until its bucket
//! has been quiet long enough, and a bucket under measurement refuses stamps from anything
//! but the phase itself (the back-off client, which runs inside the over phase, is counted
//! into that phase's timeline instead).
//!
//! A bucket is a rate class under one key role: the second key and the test-mode key have
//! buckets of their own, which is exactly what the isolation checks verify.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::record::lock;
use crate::scenario::Credential;

/// Idle means: no request for two windows — enough for every limiter family to forget
/// (a sliding-window counter weighs the previous window too) — plus the longest Retry-After
/// the bucket answered, capped so a bogus one (86400 s) cannot stall the run; an absurd
/// promise is `retry-after`'s to judge, not a reason to wait a day.
const IDLE_WINDOWS: f64 = 2.0;
const LONGEST_HONOURED_WAIT_WINDOWS: f64 = 3.0;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Bucket {
    pub class: String,
    pub key: Credential,
}

impl Bucket {
    pub fn new(class: &str, key: Credential) -> Self {
        Bucket {
            class: class.to_string(),
            key,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Touch {
    last: Instant,
    /// The longest wait a 429 of this bucket asked for, in seconds.
    longest_retry_after: f64,
}

#[derive(Debug, Default)]
pub(super) struct Quiet {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    touched: HashMap<Bucket, Touch>,
    measuring: Vec<Bucket>,
    /// Stamps refused because their bucket was under measurement (a bug in the load
    /// runner's choreography; tests assert it stays 0).
    refused: u64,
}

impl Quiet {
    /// A request to `bucket` is going out now (`retry_after`: what a 429 answer asked).
    /// Returns false, and counts a violation, when the bucket is being measured.
    pub fn touch(&self, bucket: &Bucket, retry_after: Option<f64>) -> bool {
        let mut state = lock(&self.state);
        if state.measuring.contains(bucket) {
            state.refused += 1;
            tracing::warn!(
                "a probe touched {} ({:?}) while it was measured",
                bucket.class,
                bucket.key
            );
            return false;
        }
        stamp(&mut state, bucket, Instant::now(), retry_after);
        true
    }

    /// Like `touch`, for a request that is counted into the phase when its bucket is being
    /// measured (the back-off client): false, without a violation, in that case.
    pub fn stamp_unless_measured(&self, bucket: &Bucket, retry_after: Option<f64>) -> bool {
        let mut state = lock(&self.state);
        if state.measuring.contains(bucket) {
            return false;
        }
        stamp(&mut state, bucket, Instant::now(), retry_after);
        true
    }

    /// A phase on `bucket` ended now; the longest Retry-After its 429s carried.
    pub fn phase_ended(&self, bucket: &Bucket, retry_after: Option<f64>) {
        let mut state = lock(&self.state);
        state.measuring.retain(|b| b != bucket);
        stamp(&mut state, bucket, Instant::now(), retry_after);
    }

    /// When `bucket` will have been idle long enough to measure, for a window of `window` s.
    pub fn idle_at(&self, bucket: &Bucket, window: f64) -> Instant {
        let state = lock(&self.state);
        match state.touched.get(bucket) {
            None => Instant::now(),
            Some(touch) => {
                let honoured = touch
                    .longest_retry_after
                    .min(LONGEST_HONOURED_WAIT_WINDOWS * window);
                touch.last + Duration::from_secs_f64(IDLE_WINDOWS * window + honoured)
            }
        }
    }

    /// Waits until `bucket` is idle, then marks it under measurement until `phase_ended`.
    pub async fn measure(&self, bucket: &Bucket, window: f64) {
        let at = self.idle_at(bucket, window);
        tokio::time::sleep_until(at.into()).await;
        let mut state = lock(&self.state);
        if !state.measuring.contains(bucket) {
            state.measuring.push(bucket.clone());
        }
    }

    pub fn refused(&self) -> u64 {
        lock(&self.state).refused
    }
}

fn stamp(state: &mut State, bucket: &Bucket, at: Instant, retry_after: Option<f64>) {
    let touch = state.touched.entry(bucket.clone()).or_insert(Touch {
        last: at,
        longest_retry_after: 0.0,
    });
    touch.last = touch.last.max(at);
    if let Some(wait) = retry_after.filter(|w| w.is_finite() && *w > 0.0) {
        touch.longest_retry_after = touch.longest_retry_after.max(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyRole;

    fn read() -> Bucket {
        Bucket::new("read", Credential::PRIMARY)
    }

    #[test]
    fn an_untouched_bucket_is_idle_now() {
        let quiet = Quiet::default();
        assert!(quiet.idle_at(&read(), 1.0) <= Instant::now());
    }

    #[test]
    fn idle_is_two_windows_plus_the_longest_retry_after_capped() {
        let quiet = Quiet::default();
        let before = Instant::now();
        quiet.touch(&read(), Some(1.0));
        quiet.touch(&read(), None);
        let wait = quiet.idle_at(&read(), 1.0) - before;
        assert!(wait >= Duration::from_secs(3), "{wait:?}");
        assert!(wait < Duration::from_millis(3_100), "{wait:?}");
        quiet.touch(&read(), Some(86_400.0));
        let wait = quiet.idle_at(&read(), 1.0) - before;
        assert!(
            wait < Duration::from_millis(5_100),
            "capped at 3 windows: {wait:?}"
        );
    }

    #[test]
    fn other_keys_and_classes_are_other_buckets() {
        let quiet = Quiet::default();
        quiet.touch(&Bucket::new("read", Credential::Key(KeyRole::Second)), None);
        quiet.touch(&Bucket::new("write", Credential::PRIMARY), None);
        assert!(quiet.idle_at(&read(), 1.0) <= Instant::now());
    }

    #[tokio::test]
    async fn a_bucket_under_measurement_refuses_probes_until_its_phase_ends() {
        let quiet = Quiet::default();
        quiet.measure(&read(), 1.0).await;
        assert!(!quiet.touch(&read(), None));
        assert!(quiet.touch(&Bucket::new("write", Credential::PRIMARY), None));
        assert_eq!(quiet.refused(), 1);
        quiet.phase_ended(&read(), None);
        assert!(quiet.touch(&read(), None));
        assert_eq!(quiet.refused(), 1);
    }
}
