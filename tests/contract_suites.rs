//! The shipped contract suites against the reference server: each passes against the
//! matching server profile, and each contract fault is caught by exactly the check ids that
//! name its promise.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::TempDir;
use tollgate::contract::{self, Target};
use tollgate::event::{StepResult, Verdict};
use tollgate::profile::{self, Profile};
use tollgate::scenario::{self, parse, Scenario};
use tollgate::server::{Fault, FaultSet, KeyRing, RunningServer, ServerConfig};
use tollgate::target::Options;

fn load_profile(path: &str) -> Profile {
    let loaded = profile::load(Path::new(path)).unwrap();
    assert!(
        loaded.diagnostics.is_empty(),
        "{path}: {:?}",
        loaded.diagnostics
    );
    loaded.profile.unwrap()
}

fn load_suite(profile: &Profile) -> Vec<Scenario> {
    let root = profile
        .scenarios
        .clone()
        .expect("shipped profiles name their scenarios");
    scenario::discover(&root)
        .unwrap()
        .iter()
        .map(|file| {
            let loaded = parse::load(file);
            assert!(
                loaded.diagnostics.is_empty(),
                "{}: {:?}",
                file.display(),
                loaded.diagnostics
            );
            loaded.scenario.unwrap()
        })
        .collect()
}

/// Runs a profile's suite against a fresh reference server with `faults`.
async fn run_suite(profile_path: &str, faults: &[Fault]) -> Vec<StepResult> {
    let mut profile = load_profile(profile_path);
    let scenarios = load_suite(&profile);
    let ring = KeyRing::generate();
    let mut config = ServerConfig::new(profile.reference, ring.clone());
    config.faults = FaultSet::new(faults.iter().copied());
    let server = RunningServer::start(config).await.unwrap();
    // Compare against a copy: a failing snapshot writes a `.snap.new`, never into the repo.
    let copy = copy_of_snapshots();
    profile.snapshots = copy.to_path_buf();
    let target = Target::embedded(&server.base_url(), &ring, profile);
    let steps = contract::collect(Arc::new(target), scenarios, "test".into(), 7).await;
    server.stop().await.unwrap();
    steps
}

/// A copy of `snapshots/`, removed when dropped.
fn copy_of_snapshots() -> TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    let dir = TempDir::new("suite-snapshots");
    copy(Path::new("snapshots"), &dir);
    dir
}

use tollgate::event::ids_with;

fn describe_failures(steps: &[StepResult]) -> String {
    steps
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
        .filter(|(_, c)| c.verdict == Verdict::Failed)
        .map(|(s, c)| {
            format!(
                "{} › {}: {} expected {:?} got {:?} {}",
                s.scenario, s.step, c.id, c.expected, c.actual, c.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_suite_passes_against_its_reference_server() {
    for profile in [
        "tollgate.yaml",
        "profiles/x-api-key.yaml",
        "profiles/users-v1.yaml",
    ] {
        let steps = run_suite(profile, &[]).await;
        assert!(
            steps.len() >= 20,
            "{profile}: only {} steps ran",
            steps.len()
        );
        assert_eq!(
            ids_with(&steps, Verdict::Failed),
            Vec::<String>::new(),
            "{profile}:\n{}",
            describe_failures(&steps)
        );
        // users v1's document knows no revoked keys: the profile leaves the role out, and
        // those checks say so. Nothing else is skipped when every key exists.
        let unconfigured: &[&str] = if profile.ends_with("users-v1.yaml") {
            &["auth.revoked.status"]
        } else {
            &[]
        };
        assert_eq!(
            ids_with(&steps, Verdict::Skipped),
            unconfigured,
            "{profile}: nothing else is skipped when every key exists"
        );
        assert_eq!(
            ids_with(&steps, Verdict::Warning),
            Vec::<String>::new(),
            "{profile}"
        );
        let passed = ids_with(&steps, Verdict::Passed);
        let documented: &[&str] = if profile.ends_with("users-v1.yaml") {
            // The one error the users v1 document spells out: a duplicate email.
            &["expect.error", "auth.readonly.status"]
        } else {
            // The X-API-KEY document's exact 401 and 403 bodies.
            &["auth.revoked.status", "auth.revoked.body", "auth.none.body"]
        };
        let common = [
            "expect.status",
            "expect.schema",
            "expect.json",
            "error.shape",
            "secret.echo",
        ];
        for id in common.iter().chain(documented) {
            assert!(
                passed.contains(&id.to_string()),
                "{profile}: no `{id}` check ran"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_contract_fault_fails_exactly_the_checks_of_its_promise() {
    // The Ouro documents list 200 for success and never 201, so a create answering 200 is
    // not a broken Ouro promise; the users v1 document promises 201 and catches it.
    let wrong_status = run_suite("profiles/users-v1.yaml", &[Fault::WrongStatus]).await;
    assert_eq!(
        ids_with(&wrong_status, Verdict::Failed),
        ["auth.valid.status", "expect.status"],
        "fault wrong-status:\n{}",
        describe_failures(&wrong_status)
    );
    let cases: [(Fault, &[&str]); 5] = [
        (Fault::Revoked401, &["auth.revoked.status"]),
        (
            Fault::AuthBypass,
            &["auth.none.status", "auth.query.status"],
        ),
        (Fault::BearerIgnored, &["auth.alternate.status"]),
        (Fault::ErrorShape, &["error.shape"]),
        (Fault::EchoKey, &["secret.echo"]),
    ];
    for (fault, expected) in cases {
        let steps = run_suite("tollgate.yaml", &[fault]).await;
        assert_eq!(
            ids_with(&steps, Verdict::Failed),
            expected,
            "fault {fault}:\n{}",
            describe_failures(&steps)
        );
    }
}

#[tokio::test]
async fn snapshots_catch_a_changed_body_and_update_rewrites_them() {
    let dir = TempDir::new("snapshots");
    let profile = load_profile("tollgate.yaml");
    let loaded = parse::load(Path::new("tests/scenarios/snapshot.yaml"));
    let scenarios = vec![loaded.scenario.unwrap()];
    let ring = KeyRing::generate();
    let server = RunningServer::start(ServerConfig::new(profile.reference, ring.clone()))
        .await
        .unwrap();
    let snapshot_of = |update: bool| {
        let mut profile = profile.clone();
        profile.snapshots = dir.to_path_buf();
        let target = Target::embedded(&server.base_url(), &ring, profile).with_options(Options {
            update_snapshots: update,
            ..Options::default()
        });
        let scenarios = scenarios.clone();
        async move {
            // A run id of its own every time: the file's unique.* name differs per run, and
            // the snapshot still matches.
            let run_id = format!("snap-{:?}", std::time::Instant::now());
            let steps = contract::collect(Arc::new(target), scenarios, run_id, 1).await;
            steps
                .iter()
                .flat_map(|s| s.checks.clone())
                .find(|c| c.id == "expect.snapshot")
                .unwrap()
        }
    };
    let stored = dir.join("tests/scenarios/snapshot/file.snap");

    let missing = snapshot_of(false).await;
    assert_eq!(
        missing.verdict,
        Verdict::Failed,
        "a missing snapshot fails: {missing:?}"
    );
    assert!(
        stored.with_extension("snap.new").exists(),
        "the new body waits for review"
    );

    assert_eq!(snapshot_of(true).await.verdict, Verdict::Passed);
    assert!(stored.exists() && !stored.with_extension("snap.new").exists());
    assert_eq!(
        snapshot_of(false).await.verdict,
        Verdict::Passed,
        "an unchanged body matches"
    );

    let text = std::fs::read_to_string(&stored).unwrap();
    std::fs::write(&stored, text.replace("hello tollgate", "goodbye")).unwrap();
    let changed = snapshot_of(false).await;
    assert_eq!(changed.verdict, Verdict::Failed);
    assert_eq!(
        changed.expected.as_deref(),
        Some("line 2: `\"content\": \"goodbye\",`")
    );
    assert_eq!(
        changed.actual.as_deref(),
        Some("line 2: `\"content\": \"hello tollgate\",`")
    );
    assert!(
        changed
            .message
            .contains("changed: $.content; if a value differs on every run, name it in the step's `redact:` (e.g. `redact: [$.content]`)"),
        "{}",
        changed.message
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_retry_policy_honours_retry_after_and_records_every_attempt() {
    let profile = load_profile("tollgate.yaml");
    let scenarios = vec![parse::load(Path::new("tests/scenarios/retry.yaml"))
        .scenario
        .unwrap()];
    let ring = KeyRing::generate();
    let mut config = ServerConfig::new(profile.reference, ring.clone());
    config
        .limits
        .apply_overrides(&["read=1/s,burst=1".parse().unwrap()]);
    let server = RunningServer::start(config).await.unwrap();
    let target = Arc::new(Target::embedded(&server.base_url(), &ring, profile));
    let steps = contract::collect(target, scenarios, "retry".into(), 3).await;
    server.stop().await.unwrap();

    let retried = &steps[1];
    let statuses: Vec<Option<u16>> = retried.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Some(429), Some(200)], "{retried:?}");
    assert_eq!(
        retried.attempts[1].waited_ms, 1000,
        "Retry-After: 1 was honoured"
    );
    assert_eq!(retried.verdict(), Verdict::Passed);
    let unretried = &steps[2];
    assert_eq!(unretried.attempts.len(), 1);
    assert_eq!(
        ids_with(std::slice::from_ref(unretried), Verdict::Failed),
        vec!["expect.status"]
    );
}

/// Predicates on JSON paths and headers against a live server: every one of the first step
/// holds; every one of the second step fails, naming path, predicates and actual value.
#[tokio::test]
async fn predicates_hold_and_fail_with_path_predicate_and_actual() {
    let profile = load_profile("tollgate.yaml");
    let loaded = parse::load(Path::new("tests/scenarios/predicates.yaml"));
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let ring = KeyRing::generate();
    let server = RunningServer::start(ServerConfig::new(profile.reference, ring.clone()))
        .await
        .unwrap();
    let target = Arc::new(Target::embedded(&server.base_url(), &ring, profile));
    let steps = contract::collect(target, vec![loaded.scenario.unwrap()], "p".into(), 1).await;
    server.stop().await.unwrap();

    let holding = steps.iter().find(|s| s.step == "all hold").unwrap();
    assert_eq!(holding.verdict(), Verdict::Passed, "{holding:#?}");
    let failing = steps.iter().find(|s| s.step == "each fails").unwrap();
    let failed: Vec<String> = failing
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Failed)
        .map(|c| {
            let expected = c.expected.clone().unwrap_or_default();
            format!(
                "{}: {expected} / {}",
                c.id,
                c.actual.clone().unwrap_or_default()
            )
        })
        .collect();
    let has = |text: &str| failed.iter().any(|f| f.contains(text));
    assert_eq!(failed.len(), 6, "{failed:#?}");
    assert!(
        has("expect.header: Content-Type matches /^text// / Content-Type: application/json"),
        "{failed:#?}"
    );
    assert!(
        has("expect.json: $.id type integer / $.id = \""),
        "{failed:#?}"
    );
    assert!(
        has("$.name one_of [\"Sam\",\"Kim\"] and length 5 / $.name = \"Pat\""),
        "{failed:#?}"
    );
    assert!(has("$.email format uuid"), "{failed:#?}");
    assert!(
        has("$.missing exists / nothing at $.missing"),
        "{failed:#?}"
    );
    assert!(has("$ max_length 1 / $ = {"), "{failed:#?}");
}
