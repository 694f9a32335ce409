//! Test support: the timeline a client would record against a reference-server limiter,
//! computed without a network, so estimates and fingerprints can be checked over many seeds.

use std::time::Duration;

use super::timeline::Timeline;
use crate::limits::{Algorithm, Decision, Limiter, Policy, Rules};

/// A small deterministic generator for jitter and phases.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The timeline a client sees sending `factor` × the limit for `seconds` to a server
/// running `algorithm`: each arrival is late by up to `jitter_ms`, and the phase starts
/// at a random point of the server's clock (its windows are clock-aligned).
pub fn simulate(
    algorithm: Algorithm,
    burst: u32,
    quota: u32,
    factor: f64,
    seconds: f64,
    jitter_ms: f64,
    rng: &mut Lcg,
) -> Timeline {
    let limiter = Limiter::new(Rules {
        algorithm,
        ..Rules::default()
    });
    let mut policy = Policy::new("c", quota, Duration::from_secs(1));
    policy.burst = burst;
    let offset = 10.0 + rng.unit();
    let rate = factor * f64::from(quota);
    let mut timeline = Timeline::default();
    for k in 0..(rate * seconds) as u64 {
        let sent = k as f64 / rate;
        let arrival = offset + sent + rng.unit() * jitter_ms / 1000.0;
        let status = match limiter.check(
            0u8,
            std::slice::from_ref(&policy),
            Duration::from_secs_f64(arrival),
        ) {
            Decision::Allowed(_) => 200,
            Decision::Limited { .. } => 429,
        };
        timeline.record((sent * 1000.0) as u64, status);
    }
    timeline
}
