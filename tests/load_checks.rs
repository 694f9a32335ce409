//! The load phase against the reference server: every rate fault is caught by its check id
//! (with the narrowest class selection, to keep the suite fast), the conformant server passes,
//! and the rate estimate is within ±3% of the configured limit.
//!
//! goose's kill switch is process-global, so these tests never run two attacks at once: each
//! takes `SERIAL` (nextest runs every test in its own process anyway; `cargo test` does not).

mod common;

use std::path::Path;

use common::load::{ouro, run_load, run_load_configured};
use tollgate::event::{SliceCounts, Verdict};
use tollgate::limits::Algorithm;
use tollgate::profile;
use tollgate::server::config::{HeaderDialect, RetryAfterForm};
use tollgate::server::Fault;

fn assert_caught(fault: Fault, class: &str, expected: &str) {
    let run = run_load(&[fault], &[class], &[], ouro());
    let failed = run.ids(Verdict::Failed);
    eprintln!("fault {fault}: failed {failed:?}");
    assert!(
        failed.contains(&expected.to_string()),
        "fault {fault}: {expected} did not fail; failed {failed:?}\n{}",
        run.describe()
    );
}

#[test]
fn the_conformant_server_passes_every_rate_check_of_a_class() {
    let run = run_load(&[], &["read", "concurrency"], &[], ouro());
    assert_eq!(
        run.ids(Verdict::Failed),
        Vec::<String>::new(),
        "{}",
        run.describe()
    );
    assert_eq!(
        run.ids(Verdict::Skipped),
        Vec::<String>::new(),
        "{}",
        run.describe()
    );
    let passed = run.ids(Verdict::Passed);
    for id in [
        "rate.read.under",
        "rate.read.enforced",
        "rate.read.429-shape",
        "rate.read.retry-after",
        "rate.read.backoff",
        "rate.read.headers",
        "rate.isolation.key",
        "rate.isolation.mode",
        "rate.isolation.class",
        "rate.concurrency",
    ] {
        assert!(
            passed.contains(&id.to_string()),
            "{id} did not pass: {passed:?}"
        );
    }
    let over = run.phases.iter().find(|p| p.phase == "over").unwrap();
    assert!(
        over.seconds.len() >= 4,
        "a per-second series: {:?}",
        over.seconds
    );
    assert_eq!(
        over.seconds.iter().map(|s| s.offered).sum::<u64>(),
        over.requests
    );
}

#[test]
fn limit_150_is_caught_by_enforced() {
    assert_caught(Fault::Limit150, "read", "rate.read.enforced");
}

#[test]
fn limit_60_is_caught_by_enforced() {
    assert_caught(Fault::Limit60, "read", "rate.read.enforced");
}

#[test]
fn search_unlimited_is_caught_by_enforced() {
    assert_caught(Fault::SearchUnlimited, "search", "rate.search.enforced");
}

#[test]
fn files_100_is_caught_by_enforced() {
    assert_caught(Fault::Files100, "files_read", "rate.files_read.enforced");
}

#[test]
fn global_limit_is_caught_by_key_isolation() {
    assert_caught(Fault::GlobalLimit, "read", "rate.isolation.key");
}

#[test]
fn shared_read_write_is_caught_by_class_isolation() {
    assert_caught(Fault::SharedReadWrite, "read", "rate.isolation.class");
}

#[test]
fn test_live_shared_is_caught_by_mode_isolation() {
    assert_caught(Fault::TestLiveShared, "read", "rate.isolation.mode");
}

#[test]
fn no_concurrency_limit_is_caught() {
    assert_caught(Fault::NoConcurrencyLimit, "concurrency", "rate.concurrency");
}

#[test]
fn html_429_is_caught_by_429_shape() {
    assert_caught(Fault::Html429, "read", "rate.read.429-shape");
}

#[test]
fn no_retry_after_is_caught() {
    assert_caught(Fault::NoRetryAfter, "read", "rate.read.retry-after");
}

#[test]
fn sticky_429_is_caught_by_backoff() {
    assert_caught(Fault::Sticky429, "read", "rate.read.backoff");
}

#[test]
fn five_xx_under_load_is_caught_by_429_shape() {
    assert_caught(Fault::FiveXxUnderLoad, "read", "rate.read.429-shape");
}

#[test]
fn remaining_lies_is_caught_by_headers() {
    assert_caught(Fault::RemainingLies, "read", "rate.read.headers");
}

/// The estimate from counts over time matches the limit the server enforces.
#[test]
fn the_rate_estimate_is_within_3_percent_at_50_100_and_200_per_second() {
    for limit in [50, 100, 200] {
        let mut profile = ouro();
        let read = profile
            .rate_limits
            .iter_mut()
            .find(|c| c.name == "read")
            .unwrap();
        read.policy = format!("{limit}/s").parse().unwrap();
        read.policy.name = "read".into();
        let run = run_load(&[], &["read"], &[&format!("read={limit}/s")], profile);
        let over = run.phases.iter().find(|p| p.phase == "over").unwrap();
        let estimate = over.estimated_rate.unwrap();
        let error = (estimate - limit as f64).abs() / limit as f64;
        eprintln!(
            "limit {limit}/s: estimate {estimate:.2}/s ({:+.2}%), burst {:.0}",
            100.0 * (estimate - limit as f64) / limit as f64,
            over.estimated_burst.unwrap()
        );
        assert!(error <= 0.03, "limit {limit}/s: estimated {estimate:.2}/s");
        assert_eq!(
            run.ids(Verdict::Failed),
            Vec::<String>::new(),
            "{}",
            run.describe()
        );
    }
}

/// Accepted requests per 50 ms slice, averaged over `slices`.
fn accepted_per_slice(slices: &[SliceCounts]) -> f64 {
    slices.iter().map(|s| s.accepted).sum::<u64>() as f64 / slices.len().max(1) as f64
}

/// The report's 50 ms series shows what a per-second series hides: a token bucket (100/s,
/// burst 100) at twice its rate admits everything it is offered until the burst is spent,
/// then one refill's worth (limit × 0.05 = 5) per slice.
#[test]
fn the_over_phase_slices_show_a_token_buckets_burst_then_its_refill() {
    let configure =
        |config: &mut tollgate::server::ServerConfig| config.algorithm = Algorithm::TokenBucket;
    let run = run_load_configured(configure, &[], &["read"], &[], ouro(), 1.0);
    let over = run.phases.iter().find(|p| p.phase == "over").unwrap();
    assert_eq!(over.slice_ms, 50);
    let per_slice = over.limit_per_second * 0.05;
    // At 200/s the burst of 100 lasts about a second: its first half is all accepted.
    let burst = accepted_per_slice(&over.slices[..10]);
    // From the second second on only the refill is admitted.
    let refill = accepted_per_slice(&over.slices[40..over.slices.len() - 4]);
    eprintln!("per slice: burst {burst:.1}, refill {refill:.1}, limit {per_slice:.1}");
    assert!(burst >= 1.6 * per_slice, "burst {burst:.1} per slice");
    assert!(
        (refill - per_slice).abs() <= 0.2 * per_slice,
        "refill {refill:.1} per slice against {per_slice:.1}"
    );
    assert!(
        over.slices[40..].iter().any(|s| s.limited > 0),
        "429s after the burst"
    );
    assert!(
        !over.latency_seconds.is_empty(),
        "latency per second is reported"
    );
}

/// The same series tells a fixed window apart at a glance: at twice the limit it admits a
/// whole window's quota at once, then nothing until the window turns, over and over.
#[test]
fn the_over_phase_slices_show_a_fixed_windows_on_off_pattern() {
    let configure =
        |config: &mut tollgate::server::ServerConfig| config.algorithm = Algorithm::FixedWindow;
    let run = run_load_configured(configure, &[], &["read"], &[], ouro(), 1.0);
    let over = run.phases.iter().find(|p| p.phase == "over").unwrap();
    let per_slice = over.limit_per_second * 0.05;
    // Four 1 s windows, each half open (all 10 admitted) and half closed (none).
    let middle = &over.slices[4..over.slices.len() - 4];
    let closed = middle.iter().filter(|s| s.accepted == 0).count();
    let open = middle
        .iter()
        .filter(|s| s.accepted as f64 >= 1.6 * per_slice)
        .count();
    eprintln!("of {} slices: {closed} closed, {open} open", middle.len());
    assert!(closed >= 15, "{closed} slices admitted nothing");
    assert!(open >= 15, "{open} slices admitted the whole offer");
}

/// Minute windows are checked through the headers: 100/min on the users v1 API.
#[test]
fn a_per_minute_limit_is_checked_through_its_headers() {
    let profile = profile::load(Path::new("profiles/users-v1.yaml"))
        .unwrap()
        .profile
        .unwrap();
    let run = run_load(&[], &["minute", "hour"], &[], profile.clone());
    assert_eq!(
        run.ids(Verdict::Failed),
        Vec::<String>::new(),
        "{}",
        run.describe()
    );
    for id in [
        "rate.minute.headers",
        "rate.minute.429-shape",
        "rate.minute.retry-after",
        "rate.minute.backoff",
        "rate.hour.headers",
    ] {
        assert!(
            run.ids(Verdict::Passed).contains(&id.to_string()),
            "{id}:\n{}",
            run.describe()
        );
    }
    let lying = run_load(&[Fault::RemainingLies], &["minute"], &[], profile);
    assert!(
        lying
            .ids(Verdict::Failed)
            .contains(&"rate.minute.headers".to_string()),
        "{}",
        lying.describe()
    );
}

/// A correct 60 s fixed window answers its 429 with an honest `Retry-After` of up to a
/// minute. The run does not wait that long: the promise is recorded and the back-off check
/// skipped with the reason — never failed for tollgate's own impatience.
#[test]
fn a_minute_fixed_window_with_an_honest_retry_after_fails_nothing() {
    let profile = profile::load(Path::new("profiles/users-v1.yaml"))
        .unwrap()
        .profile
        .unwrap();
    let run = run_load_configured(
        |config| config.algorithm = tollgate::limits::Algorithm::FixedWindow,
        &[],
        &["minute"],
        &[],
        profile,
        1.0,
    );
    assert_eq!(
        run.ids(Verdict::Failed),
        Vec::<String>::new(),
        "{}",
        run.describe()
    );
    let backoff = run.check("rate.minute.backoff").unwrap();
    // Unless the window happened to turn within the 10 s the run waits.
    if backoff.verdict == Verdict::Skipped {
        assert!(backoff.message.contains("--long-windows"), "{backoff:?}");
    } else {
        assert_eq!(backoff.verdict, Verdict::Passed, "{backoff:?}");
    }
}

/// A latency budget in the profile becomes `rate.<class>.latency`, judged on the
/// coordinated-omission-corrected p95 under the limit.
#[test]
fn a_latency_budget_is_checked_under_the_limit() {
    let with_budget = |ms: u64| {
        let mut profile = ouro();
        profile
            .rate_limits
            .iter_mut()
            .find(|c| c.name == "search")
            .unwrap()
            .max_p95_ms = Some(ms);
        profile
    };
    let slow = run_load(&[Fault::Slow], &["search"], &[], with_budget(250));
    assert!(
        slow.ids(Verdict::Failed)
            .contains(&"rate.search.latency".to_string()),
        "{}",
        slow.describe()
    );
    let fast = run_load(&[], &["search"], &[], with_budget(250));
    assert!(
        fast.ids(Verdict::Passed)
            .contains(&"rate.search.latency".to_string()),
        "{}",
        fast.describe()
    );
}

#[test]
fn other_header_dialects_are_read_and_an_epoch_reset_warns_with_its_reason() {
    let configure = |config: &mut tollgate::server::ServerConfig| {
        config.rate_headers = HeaderDialect::XRatelimitEpoch;
        config.retry_after = RetryAfterForm::Date;
    };
    let run = run_load_configured(configure, &[], &["read"], &[], ouro(), 1.0);
    assert_eq!(
        run.ids(Verdict::Failed),
        Vec::<String>::new(),
        "{}",
        run.describe()
    );
    let check = |id: &str| {
        run.check(id)
            .unwrap_or_else(|| panic!("{id} missing"))
            .clone()
    };
    let retry = check("rate.read.retry-after");
    assert_eq!(retry.verdict, Verdict::Warning, "{retry:?}");
    assert!(retry.message.contains("epoch seconds"), "{}", retry.message);
    let actual = retry.actual.unwrap();
    assert!(actual.contains("x-ratelimit"), "{actual}");
    assert!(
        actual.contains("0 of "),
        "no HTTP-date promise was short: {actual}"
    );
    assert_eq!(check("rate.read.headers").verdict, Verdict::Passed);
    // The back-off client retries at the HTTP-date's whole second, after the load: that
    // retry is not the over phase's traffic (it once stretched the phase's span, and its
    // last whole windows read a correct limiter at 85/s).
    let over = run.phases.iter().find(|p| p.phase == "over").unwrap();
    let last = over.slices.iter().rev().find(|s| s.offered > 0).unwrap();
    assert!(
        (last.offset_ms as f64) < over.duration_s * 1000.0,
        "a send {} ms into a {} s phase",
        last.offset_ms,
        over.duration_s
    );
}
