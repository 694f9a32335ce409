//! Every verdict against the limiter simulator: each family × burst ∈ {0, 1, q/4, q/2, q}
//! × the published limits of the default profile (20/s and 100/s), each phase on an
//! idle limiter as the runner guarantees, with 1 ms of send jitter. A correct limiter
//! must pass every time; one that enforces 150% or 60% of the published limit must fail.

use super::*;
use crate::limits::Algorithm;
use crate::load::estimate::{estimate, offered_rate};
use crate::load::fingerprint::{accepted_times, fingerprint, median_gap};
use crate::load::record::{LimitEvidence, RemainingSample};
use crate::load::simulate::{simulate, Lcg};

fn bursts(quota: u32) -> [u32; 5] {
    [0, 1, quota / 4, quota / 2, quota]
}

/// The under and over verdicts of one simulated run against a server whose real limit
/// is `served` per second while the profile publishes `published`.
fn judge(
    algorithm: Algorithm,
    burst: u32,
    served: u32,
    published: u32,
    seed: u64,
) -> (CheckResult, CheckResult) {
    let mut rng = Lcg(seed);
    let limit = f64::from(published);
    let factor = |x: f64| x * limit / f64::from(served);
    let under = simulate(algorithm, burst, served, factor(0.8), 2.0, 1.0, &mut rng);
    let over = simulate(algorithm, burst, served, factor(2.0), 4.0, 1.0, &mut rng);
    let estimated = estimate(&over, 1.0);
    let print = estimated
        .as_ref()
        .ok()
        .and_then(|e| fingerprint(&over, published, 1.0, e.rate));
    let spacing = print
        .as_ref()
        .filter(|f| f.family == Family::Flat)
        .map(|_| {
            let seconds = (30.0 / limit).max(0.5);
            let phase = simulate(
                algorithm,
                burst,
                served,
                factor(10.0),
                seconds,
                1.0,
                &mut rng,
            );
            Spacing {
                offered: offered_rate(&phase).unwrap_or(10.0 * limit),
                gap: median_gap(&accepted_times(&phase)),
            }
        });
    let under_offered = offered_rate(&under).unwrap_or(0.8 * limit);
    (
        under_check("c", &under.totals(), under_offered, print.as_ref()),
        enforced(
            "c",
            &estimated,
            None,
            print.as_ref(),
            spacing.as_ref(),
            2.0 * limit,
            limit,
        ),
    )
}

fn every_cell(algorithm: Algorithm) {
    for quota in [20, 100] {
        for burst in bursts(quota) {
            for seed in 1..=3 {
                let (under, over) = judge(algorithm, burst, quota, quota, seed);
                let cell = format!("{algorithm:?} burst {burst} at {quota}/s, seed {seed}");
                assert_ne!(under.verdict, Verdict::Failed, "{cell}: {under:?}");
                assert_eq!(over.verdict, Verdict::Passed, "{cell}: {over:?}");
            }
            for served in [quota * 3 / 2, quota * 3 / 5] {
                let (_, over) = judge(algorithm, burst, served, quota, 7);
                assert_eq!(
                    over.verdict,
                    Verdict::Failed,
                    "{algorithm:?} burst {burst} serving {served}/s for a published {quota}/s: {over:?}"
                );
            }
        }
    }
}

#[test]
fn gcra_passes_at_every_burst_and_a_wrong_limit_fails() {
    every_cell(Algorithm::Gcra);
}

#[test]
fn token_bucket_passes_at_every_burst_and_a_wrong_limit_fails() {
    every_cell(Algorithm::TokenBucket);
}

#[test]
fn leaky_bucket_passes_at_every_burst_and_a_wrong_limit_fails() {
    every_cell(Algorithm::LeakyBucket);
}

#[test]
fn fixed_window_passes_and_a_wrong_limit_fails() {
    every_cell(Algorithm::FixedWindow);
}

#[test]
fn sliding_log_passes_and_a_wrong_limit_fails() {
    every_cell(Algorithm::SlidingLog);
}

#[test]
fn sliding_window_counter_passes_and_a_wrong_limit_fails() {
    every_cell(Algorithm::SlidingWindowCounter);
}

fn samples(values: &[(f64, u16, i64)]) -> Vec<RemainingSample> {
    values
        .iter()
        .map(|&(sent_s, status, remaining)| RemainingSample {
            sent_s,
            status,
            remaining,
        })
        .collect()
}

/// A token bucket of 100 at twice its rate of 100/s: one request every 5 ms, half a
/// token back per request.
fn token_bucket_countdown(n: usize) -> Vec<RemainingSample> {
    samples(
        &(0..n)
            .map(|k| (k as f64 * 0.005, 200, 99 - (k as i64) / 2))
            .collect::<Vec<_>>(),
    )
}

fn summary(lowest: i64) -> HeaderSummary {
    HeaderSummary {
        lowest_remaining: Some(lowest),
        largest_reset: Some(1.0),
    }
}

#[test]
fn a_count_down_net_of_the_refill_passes() {
    let check = headers_check(
        "c",
        &token_bucket_countdown(60),
        &summary(0),
        &LimitEvidence::default(),
        1.0,
        100.0,
        &[100, 20],
    );
    assert_eq!(check.verdict, Verdict::Passed, "{check:?}");
}

#[test]
fn remaining_that_never_moves_fails() {
    let frozen = samples(
        &(0..60)
            .map(|k| (k as f64 * 0.005, 200, 99))
            .collect::<Vec<_>>(),
    );
    let check = headers_check(
        "c",
        &frozen,
        &summary(99),
        &LimitEvidence::default(),
        1.0,
        100.0,
        &[100, 20],
    );
    assert_eq!(check.verdict, Verdict::Failed, "{check:?}");
}

#[test]
fn answers_that_overtake_each_other_do_not_break_the_count_down() {
    let mut shuffled = token_bucket_countdown(60);
    for pair in shuffled.chunks_mut(2) {
        if let [a, b] = pair {
            std::mem::swap(&mut a.remaining, &mut b.remaining);
        }
    }
    let check = headers_check(
        "c",
        &shuffled,
        &summary(0),
        &LimitEvidence::default(),
        1.0,
        100.0,
        &[100, 20],
    );
    assert_eq!(check.verdict, Verdict::Passed, "{check:?}");
}

#[test]
fn a_429_that_claims_quota_remains_fails_in_any_dialect() {
    let evidence = LimitEvidence {
        limited: 30,
        claims_remaining: 30,
        claims_remaining_example: Some("Remaining 20 on a 429 (ietf-ratelimit)".into()),
        ..LimitEvidence::default()
    };
    let check = headers_check(
        "c",
        &token_bucket_countdown(60),
        &summary(0),
        &evidence,
        1.0,
        100.0,
        &[100, 20],
    );
    assert_eq!(check.verdict, Verdict::Failed);
    assert!(check
        .actual
        .unwrap()
        .contains("30 of 30 429s claim quota remains"));
    // Without any count-down to read, the lie alone still fails.
    let check = headers_check(
        "c",
        &[],
        &HeaderSummary::default(),
        &evidence,
        1.0,
        100.0,
        &[100, 20],
    );
    assert_eq!(check.verdict, Verdict::Failed);
}

#[test]
fn the_count_down_ends_at_the_first_429() {
    // Remaining resets to a full window after the first 429 (a fixed window's boundary);
    // only the answers before it are the count-down.
    let mut values: Vec<(f64, u16, i64)> = (0..20)
        .map(|k| (k as f64 * 0.005, 200, 19 - k as i64))
        .collect();
    values.push((0.1, 429, 0));
    values.extend((0..20).map(|k| (0.2 + k as f64 * 0.005, 200, 19)));
    let check = headers_check(
        "c",
        &samples(&values),
        &summary(0),
        &LimitEvidence::default(),
        1.0,
        20.0,
        &[100, 20],
    );
    assert_eq!(check.verdict, Verdict::Passed, "{check:?}");
    assert!(check.actual.unwrap().contains("over the first 20 answers"));
}

fn sent_per_second(counts: &[u32], status: u16) -> Timeline {
    let mut timeline = Timeline::default();
    for (second, &n) in counts.iter().enumerate() {
        for k in 0..n {
            timeline.record(
                second as u64 * 1000 + u64::from(k) * 1000 / u64::from(n),
                status,
            );
        }
    }
    timeline
}

#[test]
fn a_kept_schedule_is_judged_and_a_mild_stall_too() {
    assert_eq!(
        unjudgeable(&sent_per_second(&[200, 200, 200, 200], 200), 200.0, 800),
        None
    );
    // A 200 ms stall shifts 40 requests into the next second.
    assert_eq!(
        unjudgeable(&sent_per_second(&[160, 240, 200, 200], 200), 200.0, 800),
        None
    );
}

#[test]
fn a_collapsed_schedule_is_not_judged() {
    let reason = unjudgeable(&sent_per_second(&[133, 77, 590], 200), 200.0, 800).unwrap();
    assert!(reason.contains("sent 133, 77, 590"), "{reason}");
    let reason = unjudgeable(&sent_per_second(&[80, 40], 200), 80.0, 160).unwrap();
    assert!(reason.contains("120 of 160 requests went out"), "{reason}");
}

#[test]
fn a_phase_that_mostly_got_no_answer_is_not_judged() {
    let reason = unjudgeable(&sent_per_second(&[80, 80], 0), 80.0, 160).unwrap();
    assert!(
        reason.starts_with("160 of 160 requests got no answer"),
        "{reason}"
    );
}

#[test]
fn under_never_passes_with_an_unanswered_request() {
    let mut timeline = sent_per_second(&[80, 80], 200);
    timeline.record(1500, 0);
    let check = under_check("c", &timeline.totals(), 80.0, None);
    assert_eq!(check.verdict, Verdict::Skipped, "{check:?}");
}

#[test]
fn duplicated_unreadable_or_contradicting_rate_headers_fail_and_say_which() {
    let evidence = LimitEvidence {
        duplicated: 4,
        duplicated_names: vec!["ratelimit-remaining"],
        unreadable: vec!["RateLimit: garbage".into()],
        limits: vec![0],
        ..LimitEvidence::default()
    };
    let check = headers_check(
        "c",
        &token_bucket_countdown(60),
        &summary(0),
        &evidence,
        1.0,
        100.0,
        &[100],
    );
    assert_eq!(check.verdict, Verdict::Failed);
    let actual = check.actual.unwrap();
    for quoted in [
        "ratelimit-remaining",
        "RateLimit: garbage",
        "a limit of 0 where the profile publishes 100",
    ] {
        assert!(actual.contains(quoted), "{quoted} in {actual}");
    }
    // A garbage header is a finding, not "no rate-limit headers".
    let check = headers_check(
        "c",
        &[],
        &HeaderSummary::default(),
        &evidence,
        1.0,
        100.0,
        &[100],
    );
    assert_eq!(check.verdict, Verdict::Failed);
}

#[test]
fn a_retry_after_failure_quotes_the_values_and_flags_duplicates() {
    use crate::load::headers::{Reset, RetryAfter};
    let evidence = LimitEvidence {
        limited: 10,
        retry_after: vec![RetryAfter::Invalid("soon".into()), RetryAfter::Seconds(1)],
        resets: vec![Reset::Invalid("-1".into())],
        duplicated_retry_after: 2,
        ..LimitEvidence::default()
    };
    let check = retry_after_check("c", &evidence, 1.0, None);
    assert_eq!(check.verdict, Verdict::Failed);
    let actual = check.actual.unwrap();
    assert!(actual.contains("Retry-After `soon`"), "{actual}");
    assert!(actual.contains("reset `-1`"), "{actual}");
    assert!(actual.contains("2 429s sent Retry-After twice"), "{actual}");
}

fn promise_then_accept(wait_s: f64, accepted_after_ms: u64) -> (LimitEvidence, Timeline) {
    let mut timeline = Timeline::default();
    timeline.record(100, 429);
    timeline.record(100 + accepted_after_ms, 200);
    let evidence = LimitEvidence {
        limited: 1,
        retry_after: vec![crate::load::headers::RetryAfter::Seconds(wait_s as u64)],
        promises: vec![record::Promise {
            sent_ms: 100,
            wait_s,
            date: false,
        }],
        ..LimitEvidence::default()
    };
    (evidence, timeline)
}

#[test]
fn a_retry_after_rounded_down_warns_and_one_seconds_short_fails() {
    let (evidence, timeline) = promise_then_accept(0.0, 300);
    let check = retry_after_check("c", &evidence, 1.0, Some((&timeline, 40.0)));
    assert_eq!(check.verdict, Verdict::Warning, "{check:?}");
    assert!(check.message.contains("rounded down"), "{check:?}");
    let (evidence, timeline) = promise_then_accept(1.0, 5_000);
    let check = retry_after_check("c", &evidence, 1.0, Some((&timeline, 40.0)));
    assert_eq!(check.verdict, Verdict::Failed, "{check:?}");
    assert!(check
        .actual
        .unwrap()
        .contains("promised 1 s, accepted again after 5.00 s"));
}

#[test]
fn a_past_http_date_is_named_as_clock_skew() {
    let evidence = LimitEvidence {
        limited: 2,
        retry_after: vec![crate::load::headers::RetryAfter::Date(std::time::Duration::ZERO); 2],
        ..LimitEvidence::default()
    };
    let check = retry_after_check("c", &evidence, 1.0, None);
    assert_eq!(check.verdict, Verdict::Warning, "{check:?}");
    assert!(check.message.contains("clock skew"), "{check:?}");
    assert!(check.actual.unwrap().contains("already past"));
}

/// A phase too short to leave a window after the burst: skipped when `--duration-scale`
/// shortened it and the full-length phase would have left one (the run's doing); failed
/// when it was not shortened, or when even the full length could not show this burst.
#[test]
fn a_shortened_phase_that_cannot_estimate_is_skipped_not_failed() {
    let over = simulate(Algorithm::Gcra, 100, 100, 2.0, 1.8, 0.0, &mut Lcg(7));
    let estimated = estimate(&over, 1.0);
    assert!(
        matches!(estimated, Err(NoEstimate::TooShort { .. })),
        "{estimated:?}"
    );
    let judged = |full_length| enforced("c", &estimated, full_length, None, None, 200.0, 100.0);
    assert_eq!(judged(Some(4.0)).verdict, Verdict::Skipped);
    assert!(judged(Some(4.0)).message.contains("--duration-scale"));
    assert_eq!(judged(None).verdict, Verdict::Failed);
    // A burst of ~3.5 s at 2x: a 4 s phase could not have shown it either.
    let huge = simulate(Algorithm::Gcra, 350, 100, 2.0, 3.8, 0.0, &mut Lcg(7));
    let estimated = estimate(&huge, 1.0);
    assert!(
        matches!(estimated, Err(NoEstimate::TooShort { .. })),
        "{estimated:?}"
    );
    let judged = enforced("c", &estimated, Some(4.0), None, None, 200.0, 100.0);
    assert_eq!(judged.verdict, Verdict::Failed, "{judged:?}");
}
