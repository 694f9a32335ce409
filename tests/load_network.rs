//! The load phase outside loopback's comfort: a network with latency, a target that drops
//! connections or stops answering, and a run that must leave nothing behind. Each test here
//! failed before the load phase learned about the round trip and transport failures.

mod common;

use std::time::Duration;

use common::load::{ouro, run_load, run_load_configured, Run};
use tollgate::event::Verdict;
use tollgate::server::Fault;

fn assert_no_failure(run: &Run, what: &str) {
    let failed = run.ids(Verdict::Failed);
    assert!(
        failed.is_empty(),
        "{what}: failed {failed:?}\n{}",
        run.describe()
    );
}

fn with_latency(ms: u64) -> Run {
    with_latency_classes(ms, &["read", "search"])
}

fn with_latency_classes(ms: u64, classes: &[&str]) -> Run {
    run_load_configured(
        |config| config.latency = Duration::from_millis(ms),
        &[],
        classes,
        &[],
        ouro(),
        1.0,
    )
}

/// 15 ms per answer is less than any staging deployment across a network; ten sequential
/// requests used to give a 100/s bucket time to refill each one, so `Remaining` stayed put
/// and `rate.read.headers` cried wolf.
#[test]
fn a_correct_limiter_passes_behind_15_ms_of_latency() {
    let run = with_latency(15);
    assert_no_failure(&run, "15 ms");
    assert!(run
        .ids(Verdict::Passed)
        .contains(&"rate.read.headers".to_string()));
}

#[test]
fn a_correct_limiter_passes_behind_50_ms_of_latency() {
    assert_no_failure(&with_latency(50), "50 ms");
}

#[test]
fn a_correct_limiter_passes_behind_150_ms_of_latency() {
    assert_no_failure(&with_latency(150), "150 ms");
}

/// Three seconds per answer: the first phase, sized for loopback, cannot keep its schedule
/// and says so instead of judging; later phases are sized from the measured latency. A
/// correct limiter is never called broken.
#[test]
fn a_correct_limiter_behind_3_s_answers_is_not_called_broken() {
    let run = with_latency_classes(3_000, &["read"]);
    assert_no_failure(&run, "3 s");
    let under = run.check("rate.read.under").unwrap();
    assert!(
        under.verdict == Verdict::Passed || under.message.contains("could not keep its schedule"),
        "{under:?}"
    );
}

/// Short timeouts keep the test short; the bound is what matters: one class's under phase,
/// not a timeout per request, phase and class.
fn quick_timeouts() -> tollgate::profile::Profile {
    let mut profile = ouro();
    profile.contract.timeout_ms = 2_000;
    profile
}

#[test]
fn a_target_that_stops_answering_ends_the_load_quickly_with_a_transport_failure() {
    let run = run_load(
        &[Fault::StopsAnswering],
        &["read", "write"],
        &[],
        quick_timeouts(),
    );
    let failed = run.ids(Verdict::Failed);
    assert!(
        failed.contains(&"rate.read.transport".to_string()),
        "{failed:?}\n{}",
        run.describe()
    );
    // Nothing else is blamed for the silence.
    assert!(
        failed.iter().all(|id| id.ends_with(".transport")),
        "{failed:?}\n{}",
        run.describe()
    );
    // The under phase passed nothing: most of it got no answer.
    assert!(!run
        .ids(Verdict::Passed)
        .contains(&"rate.read.under".to_string()));
    assert!(run.took < Duration::from_secs(60), "took {:?}", run.took);
}

#[test]
fn two_percent_dropped_connections_fail_the_transport_check_and_nothing_else() {
    let run = run_load(&[Fault::DropsConnections], &["read"], &[], ouro());
    let failed = run.ids(Verdict::Failed);
    assert_eq!(
        failed,
        vec!["rate.read.transport".to_string()],
        "{}",
        run.describe()
    );
    let transport = run.check("rate.read.transport").unwrap();
    assert!(
        transport
            .actual
            .as_deref()
            .unwrap()
            .contains("transport.error"),
        "{transport:?}"
    );
}

#[test]
fn a_write_run_leaves_no_user_behind() {
    let run = run_load(&[], &["write"], &[], ouro());
    assert_no_failure(&run, "write");
    assert_eq!(run.left_behind, 0, "{}", run.describe());
    let cleanup = run.check("rate.cleanup").expect("a cleanup check");
    assert_eq!(cleanup.verdict, Verdict::Passed, "{cleanup:?}");
}

/// A read run probes `write` for isolation: the users those probes create are deleted too.
#[test]
fn a_read_run_deletes_what_its_isolation_probes_created() {
    let run = run_load(&[], &["read"], &[], ouro());
    assert_no_failure(&run, "read");
    assert_eq!(run.left_behind, 0, "{}", run.describe());
    // The class-isolation step is labelled with the request it really sent.
    let step = run
        .steps
        .iter()
        .find(|s| s.step == "isolation · write while read is saturated")
        .expect("a class isolation step");
    assert!(
        step.request.starts_with("POST /v1/users"),
        "{}",
        step.request
    );
}
