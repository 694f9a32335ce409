//! Which kind of limiter the target runs, read from the accept/reject timeline of a constant
//! over-limit load that starts on an idle bucket (see docs/rate-limit-maths.md):
//!
//! * **windowed** — accepted requests come in blocks, a window's quota at its start and
//!   nothing after (fixed windows, sliding logs). A fixed window lets up to `2q` through
//!   inside one window across a boundary; a sliding log never more than `q`.
//! * **burst-then-steady** — a burst, then one request per `w/q`, evenly (token bucket,
//!   GCRA, nginx `burst=… nodelay`, sliding-window counters once their first window passed).
//! * **flat** — no burst: requests closer than `w/q` are rejected (nginx `limit_req`
//!   without burst, GCRA with burst 1). At a constant overload such a limiter admits *less*
//!   than its rate (every gap is the interval plus the wait for the next arrival), so its
//!   rate is read from the spacing of admitted requests instead of their count.
//!
//! Token buckets and GCRA are the same function of the arrivals, so no black-box test can
//! tell them apart; the fingerprint names the family and the algorithms it fits.

pub use crate::limits::{Family, Fingerprint};

use super::timeline::Timeline;

/// Blocks: the accepted count per tenth of a window varies by more than this (a block
/// pattern at twice the limit gives about 1; an even rate about 0.1 from jitter).
const LUMPY: f64 = 0.5;

/// A burst of at most this many requests is no burst (GCRA with burst 1 admits one, nginx
/// with burst 0 admits one, and jitter may add one more).
const NO_BURST: f64 = 2.5;

/// Reads the limiter of `timeline` (an over-limit phase that began on an idle bucket),
/// given the published limit (`quota` per `window` seconds) and the sustained rate measured.
pub fn fingerprint(timeline: &Timeline, quota: u32, window: f64, rate: f64) -> Option<Fingerprint> {
    let first_rejection = timeline.first_rejection()?;
    let (first, last) = timeline.span()?;
    let accepted = accepted_times(timeline);
    let before = accepted.iter().filter(|t| **t < first_rejection).count() as f64;
    let beyond_rate = (before - rate * (first_rejection - first)).max(0.0);
    let (worst_case, worst_case_at_s) = worst_window(timeline, window);
    let lumpiness = lumpiness(timeline, first_rejection, last, window, rate);
    let steady: Vec<f64> = accepted
        .iter()
        .copied()
        .filter(|t| *t >= first_rejection)
        .collect();
    let spacing_ms = spacing(&steady).map(|s| s * 1000.0);
    let family = if lumpiness > LUMPY {
        Family::Windowed
    } else if beyond_rate > NO_BURST {
        Family::BurstThenSteady
    } else {
        Family::Flat
    };
    // A sliding log holds every window to q exactly; clock jitter may add one.
    let over_quota = f64::from(worst_case) > f64::from(quota) + (0.02 * f64::from(quota)).max(2.0);
    // A window admits its whole quota at once: that block is its burst.
    let burst = if family == Family::Windowed {
        before
    } else {
        beyond_rate
    };
    let (algorithms, meaning) = describe(family, over_quota, quota, window, burst);
    let evidence = format!(
        "burst ≈ {burst:.0} before the first 429 at {first_rejection:.2} s; accepted per tenth of a window varies by {:.0}%; worst {window} s window {worst_case} (quota {quota}){}",
        lumpiness * 100.0,
        spacing_ms.map_or(String::new(), |s| format!("; accepted ≥ {s:.1} ms apart (10th percentile)")),
    );
    Some(Fingerprint {
        family,
        algorithms,
        meaning,
        burst,
        window_s: window,
        worst_case,
        worst_case_at_s,
        lumpiness,
        spacing_ms,
        evidence,
    })
}

fn describe(
    family: Family,
    over_quota: bool,
    quota: u32,
    window: f64,
    burst: f64,
) -> (String, String) {
    match family {
        Family::Windowed if over_quota => (
            "fixed window".into(),
            format!("up to {} requests can land inside one {window} s span across a window boundary: the backend must absorb twice the limit", 2 * quota),
        ),
        Family::Windowed => (
            "sliding log (moving window)".into(),
            format!("never more than {quota} in any {window} s; a client that spends its quota at once waits a whole window"),
        ),
        Family::BurstThenSteady => (
            "token bucket, GCRA, leaky bucket with a burst queue (nginx burst=… nodelay) or sliding-window counter".into(),
            format!("a client may send about {burst:.0} at once after a pause, then must keep to the rate"),
        ),
        Family::Flat => (
            "leaky bucket without burst (nginx limit_req) or GCRA / token bucket with burst 1".into(),
            format!("requests must be spaced at least {:.1} ms apart: any burst, even of two, is rejected", window * 1000.0 / f64::from(quota.max(1))),
        ),
    }
}

/// Send times (seconds) of accepted requests, one entry per request.
pub fn accepted_times(timeline: &Timeline) -> Vec<f64> {
    timeline
        .bins()
        .iter()
        .enumerate()
        .flat_map(|(ms, bin)| std::iter::repeat_n(ms as f64 / 1000.0, bin.accepted as usize))
        .collect()
}

/// The largest accepted count in any `window` of whole milliseconds, and where it starts.
pub fn worst_window(timeline: &Timeline, window: f64) -> (u32, f64) {
    let bins = timeline.bins();
    let width = ((window * 1000.0).round() as usize).max(1);
    let (mut sum, mut best, mut best_at) = (0u32, 0u32, 0usize);
    for (i, bin) in bins.iter().enumerate() {
        sum += bin.accepted;
        if i >= width {
            sum -= bins[i - width].accepted;
        }
        if sum > best {
            best = sum;
            best_at = (i + 1).saturating_sub(width);
        }
    }
    (best, best_at as f64 / 1000.0)
}

/// Coefficient of variation of accepted counts per tenth of a window over `[from, to)`.
/// A slot holds at least five accepted requests at `rate`, so that an even rate does not
/// look lumpy from counting noise alone.
fn lumpiness(timeline: &Timeline, from: f64, to: f64, window: f64, rate: f64) -> f64 {
    let slot = (window / 10.0).max(5.0 / rate.max(1e-9));
    let slots = ((to - from) / slot).floor() as usize;
    if slots < 4 {
        return 0.0;
    }
    let counts: Vec<f64> = (0..slots)
        .map(|k| {
            let start = from + k as f64 * slot;
            f64::from(timeline.between(start, start + slot).accepted)
        })
        .collect();
    let mean = counts.iter().sum::<f64>() / counts.len() as f64;
    if mean <= 0.0 {
        return 0.0;
    }
    let variance = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / counts.len() as f64;
    variance.sqrt() / mean
}

/// The 10th percentile of the gaps between consecutive accepted requests, in seconds.
pub fn spacing(accepted: &[f64]) -> Option<f64> {
    gap_quantile(accepted, 0.1)
}

/// The median gap between consecutive accepted requests, in seconds.
pub fn median_gap(accepted: &[f64]) -> Option<f64> {
    gap_quantile(accepted, 0.5)
}

fn gap_quantile(accepted: &[f64], q: f64) -> Option<f64> {
    let mut gaps: Vec<f64> = accepted.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.len() < 10 {
        return None;
    }
    gaps.sort_by(f64::total_cmp);
    Some(gaps[((gaps.len() as f64 * q) as usize).min(gaps.len() - 1)])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::limits::Algorithm;
    use crate::load::simulate::{simulate, Lcg};

    fn family_of(algorithm: Algorithm, burst: u32) -> (Family, &'static str) {
        match (algorithm, burst) {
            (Algorithm::FixedWindow, _) => (Family::Windowed, "fixed window"),
            (Algorithm::SlidingLog, _) => (Family::Windowed, "sliding log"),
            (Algorithm::SlidingWindowCounter, _) => {
                (Family::BurstThenSteady, "sliding-window counter")
            }
            (Algorithm::LeakyBucket, 0) => (Family::Flat, "leaky bucket"),
            (Algorithm::Gcra | Algorithm::TokenBucket, 0 | 1) => (Family::Flat, "GCRA"),
            (Algorithm::LeakyBucket, _) => (Family::BurstThenSteady, "leaky bucket"),
            (Algorithm::Gcra, _) => (Family::BurstThenSteady, "GCRA"),
            (Algorithm::TokenBucket, _) => (Family::BurstThenSteady, "token bucket"),
        }
    }

    #[test]
    fn names_each_algorithm_in_at_least_19_of_20_simulated_runs() {
        let mut rng = Lcg(7);
        for algorithm in Algorithm::ALL {
            for burst in [0, 20, 100] {
                let (family, name) = family_of(algorithm, burst);
                let mut right = 0;
                let mut seen = Vec::new();
                for _ in 0..20 {
                    let t = simulate(algorithm, burst, 100, 2.0, 4.0, 1.0, &mut rng);
                    let rate = super::super::estimate::estimate(&t, 1.0)
                        .map(|e| e.rate)
                        .unwrap_or(100.0);
                    let f = fingerprint(&t, 100, 1.0, rate).expect("a fingerprint");
                    if f.family == family && f.algorithms.contains(name) {
                        right += 1;
                    } else {
                        seen.push(format!(
                            "{} [{}] {}",
                            f.family.name(),
                            f.algorithms,
                            f.evidence
                        ));
                    }
                }
                assert!(
                    right >= 19,
                    "{algorithm} burst {burst}: {right}/20 right; wrong: {seen:#?}"
                );
            }
        }
    }

    #[test]
    fn the_worst_case_window_of_a_fixed_window_reaches_twice_the_quota() {
        // Started half-way into a clock window: q before the boundary, q after.
        let mut t = Timeline::default();
        for k in 0..400u64 {
            let sent = k as f64 / 200.0;
            let window = (0.5 + sent).floor();
            let into = 0.5 + sent - window;
            t.record(
                (sent * 1000.0) as u64,
                if into < 0.5 || window == 0.0 {
                    200
                } else {
                    429
                },
            );
        }
        let (worst, at) = worst_window(&t, 1.0);
        assert_eq!(worst, 200);
        assert!(at < 0.01, "the worst window starts with the phase: {at}");
    }

    #[test]
    fn spacing_is_the_tenth_percentile_gap() {
        let times: Vec<f64> = (0..21)
            .map(|k| k as f64 * 0.010 + if k % 2 == 1 { 0.005 } else { 0.0 })
            .collect();
        let s = spacing(&times).unwrap();
        assert!((s - 0.005).abs() < 1e-9, "{s}");
        assert_eq!(spacing(&times[..5]), None);
    }
}
