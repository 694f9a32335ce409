//! Waiting between attempts: Retry-After when the policy honours it, otherwise exponential
//! back-off with full jitter (sleep = random(0, min(cap, base · 2^attempt))).

use std::time::{Duration, SystemTime};

use crate::scenario::RetryPolicy;

/// A small deterministic generator (splitmix64): jitter must be reproducible with --seed.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Self {
        Jitter(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, max].
    pub fn up_to(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos().min(u64::MAX as u128) as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next_u64() % (nanos + 1))
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What to do after a response with `status`: `None` stops retrying.
pub fn next_wait(
    policy: &RetryPolicy,
    attempt: u32,
    status: u16,
    retry_after: Option<&str>,
    jitter: &mut Jitter,
) -> Result<Option<Duration>, String> {
    if !policy.on.contains(&status) || attempt >= policy.max_attempts {
        return Ok(None);
    }
    let cap = Duration::from_millis(policy.max_wait_ms);
    if policy.honor_retry_after {
        if let Some(wait) = retry_after.and_then(|v| parse_retry_after(v, SystemTime::now())) {
            if wait > cap {
                return Err(format!(
                    "Retry-After asks for {} s, more than max_wait_ms ({} ms)",
                    wait.as_secs(),
                    policy.max_wait_ms
                ));
            }
            return Ok(Some(wait));
        }
    }
    let ceiling =
        Duration::from_millis(policy.base_ms.saturating_mul(1 << (attempt - 1).min(20))).min(cap);
    Ok(Some(jitter.up_to(ceiling)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn back_off_is_full_jitter_under_a_doubling_ceiling() {
        let policy = RetryPolicy {
            base_ms: 100,
            max_wait_ms: 1000,
            ..RetryPolicy::default()
        };
        let mut jitter = Jitter::new(7);
        for attempt in 1..3 {
            let ceiling = Duration::from_millis(100 << (attempt - 1));
            for _ in 0..50 {
                let wait = next_wait(&policy, attempt, 429, None, &mut jitter)
                    .unwrap()
                    .unwrap();
                assert!(wait <= ceiling, "{wait:?} > {ceiling:?}");
            }
        }
        assert_eq!(
            next_wait(&policy, 3, 429, None, &mut jitter).unwrap(),
            None,
            "max_attempts reached"
        );
        assert_eq!(
            next_wait(&policy, 1, 500, None, &mut jitter).unwrap(),
            None,
            "500 is not retried"
        );
        assert_eq!(
            next_wait(&policy, 1, 429, Some("1"), &mut jitter).unwrap(),
            Some(Duration::from_secs(1))
        );
        assert!(next_wait(&policy, 1, 429, Some("60"), &mut jitter).is_err());
    }
}
