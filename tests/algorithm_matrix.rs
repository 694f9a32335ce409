//! Every limiter family of the reference server × {conformant, limit-150, limit-60,
//! global-limit, shared-read-write, counts-rejected}: the conformant server passes every
//! rate check and each fault fails the check that names it, whatever the algorithm.
//!
//! To keep CI fast the read and write classes publish 20 per 200 ms (100/s in windows of
//! a fifth of a second) and only `read` is loaded; `scripts/algorithm-matrix.sh` runs the
//! full matrix with the published 1 s windows and both burst settings.

mod common;

use common::load::{ouro, run_load_configured, Run};
use tollgate::event::Verdict;
use tollgate::limits::{Algorithm, Policy};
use tollgate::load::fingerprint::Family;
use tollgate::profile::Profile;
use tollgate::server::Fault;

const SHORT: &str = "20/200ms";

/// The ouro profile with read and write published at `SHORT`.
fn short_windows() -> Profile {
    let mut profile = ouro();
    for class in &mut profile.rate_limits {
        if class.name == "read" || class.name == "write" {
            let mut policy: Policy = SHORT.parse().unwrap();
            policy.name = class.name.clone();
            class.policy = policy;
        }
    }
    profile
}

fn run(algorithm: Algorithm, burst: Option<u32>, fault: Option<Fault>) -> Run {
    let limit = |class: &str| match burst {
        Some(b) => format!("{class}={SHORT},burst={b}"),
        None => format!("{class}={SHORT}"),
    };
    let limits = [limit("read"), limit("write")];
    let limits: Vec<&str> = limits.iter().map(String::as_str).collect();
    let faults: Vec<Fault> = fault.into_iter().collect();
    // Twice the phase lengths: the isolation probes need about a second of load after the
    // first 429, and the estimate a few whole windows.
    let configure = |config: &mut tollgate::server::ServerConfig| config.algorithm = algorithm;
    let run = run_load_configured(configure, &faults, &["read"], &limits, short_windows(), 2.0);
    // MATRIX_DEBUG=1 shows every check's measurement (to see the margins).
    if std::env::var("MATRIX_DEBUG").is_ok() {
        for c in run.steps.iter().flat_map(|s| &s.checks) {
            eprintln!("   {} {:?} {:?}", c.id, c.verdict, c.actual);
        }
    }
    run
}

/// The check a fault must fail.
fn caught_by(fault: Fault) -> &'static str {
    match fault {
        Fault::GlobalLimit => "rate.isolation.key",
        Fault::SharedReadWrite => "rate.isolation.class",
        _ => "rate.read.enforced",
    }
}

/// Runs every cell of one algorithm's row; returns what went wrong.
fn row(algorithm: Algorithm, burst: Option<u32>, faults: &[Fault]) -> Vec<String> {
    let mut wrong = Vec::new();
    let conformant = run(algorithm, burst, None);
    let failed = conformant.ids(Verdict::Failed);
    eprintln!("{algorithm} burst {burst:?} conformant: failed {failed:?}");
    if !failed.is_empty() {
        wrong.push(format!(
            "{algorithm} burst {burst:?} conformant failed {failed:?}\n{}",
            conformant.describe()
        ));
    }
    let fingerprint = conformant.phases.iter().find_map(|p| p.fingerprint.clone());
    let expected_family = match (algorithm, burst) {
        (Algorithm::FixedWindow | Algorithm::SlidingLog, _) => Family::Windowed,
        (_, Some(0)) => Family::Flat,
        _ => Family::BurstThenSteady,
    };
    match fingerprint {
        Some(f) if f.family == expected_family => {}
        other => wrong.push(format!(
            "{algorithm} burst {burst:?}: fingerprint {other:?}, expected {expected_family:?}"
        )),
    }
    for fault in faults {
        let result = run(algorithm, burst, Some(*fault));
        let failed = result.ids(Verdict::Failed);
        eprintln!("{algorithm} burst {burst:?} {fault}: failed {failed:?}");
        if !failed.contains(&caught_by(*fault).to_string()) {
            wrong.push(format!(
                "{algorithm} burst {burst:?} {fault}: {} did not fail; failed {failed:?}\n{}",
                caught_by(*fault),
                result.describe()
            ));
        }
    }
    wrong
}

const FAULTS: [Fault; 5] = [
    Fault::Limit150,
    Fault::Limit60,
    Fault::GlobalLimit,
    Fault::SharedReadWrite,
    Fault::CountsRejected,
];

fn assert_row(algorithm: Algorithm, burst: Option<u32>, faults: &[Fault]) {
    let wrong = row(algorithm, burst, faults);
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn gcra_gives_the_right_verdicts() {
    assert_row(Algorithm::Gcra, None, &FAULTS);
}

#[test]
fn token_bucket_gives_the_right_verdicts() {
    assert_row(Algorithm::TokenBucket, None, &FAULTS);
}

#[test]
fn leaky_bucket_gives_the_right_verdicts() {
    assert_row(Algorithm::LeakyBucket, None, &FAULTS);
}

#[test]
fn fixed_window_gives_the_right_verdicts() {
    assert_row(Algorithm::FixedWindow, None, &FAULTS);
}

#[test]
fn sliding_log_gives_the_right_verdicts() {
    assert_row(Algorithm::SlidingLog, None, &FAULTS);
}

#[test]
fn sliding_window_counter_gives_the_right_verdicts() {
    assert_row(Algorithm::SlidingWindowCounter, None, &FAULTS);
}

/// Without burst a strict limiter admits less than its rate at a constant overload; the
/// verdict must still be right (its rate is read from the spacing).
#[test]
fn flat_limiters_without_burst_give_the_right_verdicts() {
    let rate_faults = [Fault::Limit150, Fault::Limit60, Fault::CountsRejected];
    let mut wrong = row(Algorithm::LeakyBucket, Some(0), &rate_faults);
    wrong.extend(row(Algorithm::Gcra, Some(0), &[Fault::GlobalLimit]));
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}
