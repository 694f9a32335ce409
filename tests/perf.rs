//! Performance workloads end to end: the shipped profile's workload against the reference
//! server passes; the same workload against a slow server fails its latency threshold by
//! id; a server whose buckets are shared by every key fails the noisy-neighbour check.
//! In the serialized test group: they measure latency.

mod common;

use std::path::Path;

use common::load::{ouro, run_perf};
use tollgate::event::Verdict;
use tollgate::server::{Fault, FaultSet, KeyRing, RunningServer, ServerConfig, ServerProfile};

/// The shipped stages at half their length: 20 tenants still reach their peak and hold it.
const SCALE: f64 = 0.5;

#[test]
fn the_shipped_workload_passes_against_the_reference_server() {
    let run = run_perf(&[], ouro(), &[], SCALE);
    assert!(run.ids(Verdict::Failed).is_empty(), "{}", run.describe());
    for id in [
        "perf.tenants.p95",
        "perf.tenants.p99",
        "perf.tenants.errors",
        "perf.tenants.write.p95",
        "perf.tenants.noisy-neighbour",
        "perf.tenants.cleanup",
    ] {
        let check = run
            .check(id)
            .unwrap_or_else(|| panic!("no {id}: {}", run.describe()));
        assert_eq!(check.verdict, Verdict::Passed, "{id}: {check:?}");
    }
    // One report phase per request name and the neighbour, with latency over time.
    let names: Vec<&str> = run.phases.iter().map(|p| p.class.as_str()).collect();
    assert_eq!(
        names,
        [
            "tenants · read",
            "tenants · write",
            "tenants · files_read",
            "tenants · search",
            "tenants · noisy-neighbour"
        ]
    );
    let read = &run.phases[0];
    assert!(
        read.latency_seconds.len() >= 4,
        "{:?}",
        read.latency_seconds
    );
    // 20 tenants × 80/s at the peak; over 1 s up, 3 s held and 0.5 s down: 6,000 requests.
    assert!(
        (5_990..=6_010).contains(&read.requests),
        "{}",
        read.requests
    );
    assert_eq!(read.limited, 0);
    let neighbour = &run.phases[4];
    assert!(
        neighbour.limited > 0,
        "the neighbour at 2× was never limited"
    );
    assert_eq!(
        run.left_behind, 0,
        "the workload's creations were not all deleted"
    );
}

#[test]
fn a_slow_server_fails_the_latency_thresholds_by_id() {
    let run = run_perf(&[Fault::Slow], ouro(), &[], 0.3);
    let failed = run.ids(Verdict::Failed);
    for id in ["perf.tenants.p95", "perf.tenants.write.p95"] {
        assert!(
            failed.contains(&id.to_string()),
            "{id} did not fail: {failed:?}"
        );
    }
    // Every answer is delayed by 320 ms: nothing can be faster.
    let p95 = run.check("perf.tenants.p95").unwrap();
    assert_eq!(p95.expected.as_deref(), Some("p95 ≤ 250.0 ms"));
    let actual = p95.actual.as_deref().unwrap();
    let ms: f64 = actual["p95 ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ms >= 320.0, "{actual}");
}

#[test]
fn buckets_shared_by_every_key_fail_the_noisy_neighbour() {
    let run = run_perf(&[Fault::GlobalLimit], ouro(), &[], 0.3);
    let check = run.check("perf.tenants.noisy-neighbour").unwrap();
    assert_eq!(check.verdict, Verdict::Failed, "{check:?}");
    assert!(
        check
            .actual
            .as_deref()
            .unwrap()
            .starts_with("the tenants got "),
        "{check:?}"
    );
}

/// A profile whose workloads break each rule, and what `tollgate lint` says of each.
#[test]
fn broken_workloads_are_pointed_at() {
    let dir = common::TempDir::new("perf-lint");
    let profile = dir.path().join("tollgate.yaml");
    std::fs::write(
        &profile,
        r#"name: broken
auth: { header: X-API-KEY }
keys: { primary: OURO_API_KEY, tenants: OURO_TENANT_KEYS }
rate_limits:
  read: { limit: 100/s, probe: { method: GET, path: /v1/users } }
workloads:
  too-hot:
    tenants: 5
    stages: [{ ramp: 1s, to: 150% }]
    mix: { read: 80% }
  typos:
    tenants: 0
    stages: [{ ramp: 1s }, { hold: forever }]
    mix: { reed: 10/s }
    thresholds:
      all: { p95: fast, errors: 200% }
      write: { p99: 1s }
    noisy_neighbour: { class: read, factor: 1 }
"#,
    )
    .unwrap();
    let loaded = tollgate::profile::load(&profile).unwrap();
    assert!(loaded.profile.is_none());
    let text = tollgate::commands::render_diagnostics(
        &loaded.diagnostics,
        &[(profile.display().to_string(), loaded.source.clone())],
    );
    insta::assert_snapshot!(text.replace(&profile.display().to_string(), "tollgate.yaml"));
}

/// What `--workload` and `--only perf` refuse before anything is sent.
#[test]
fn workload_selection_errors_are_usage_errors() {
    let reports = common::TempDir::new("perf-usage");
    for (args, message) in [
        (
            &["--only", "perf", "--workload", "nope"][..],
            "no workload `nope` in tollgate.yaml (workloads: tenants)",
        ),
        (
            &["--only", "load", "--workload", "tenants"][..],
            "--workload selects performance workloads, which this --only leaves out",
        ),
    ] {
        let output = common::cli::run_command(args, &[], reports.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = common::cli::text(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// The CLI against a deployment: tenant keys from OURO_TENANT_KEYS, every key redacted,
/// report.json valid with a phase per request name and the checks by id; too short a list
/// skips the workload with the count.
#[test]
fn a_deployment_with_shared_buckets_fails_through_the_cli() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ring = KeyRing::generate().with_generated_tenants(20);
    let mut config = ServerConfig::new(ServerProfile::Ouro, ring);
    config.faults = FaultSet::new([Fault::GlobalLimit]);
    let server = runtime.block_on(RunningServer::start(config)).unwrap();
    let mut env = common::key_env(&server);
    env.push(("OURO_TENANT_KEYS".into(), server.tenants().join(",")));
    let reports = common::TempDir::new("perf-cli");
    let url = server.base_url();
    let args = [
        "--only",
        "perf",
        "--target",
        &url,
        "--duration-scale",
        "0.3",
    ];
    let (output, folder) = common::cli::run(&args, &env, reports.path());
    let stdout = common::cli::text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("✗ perf.tenants.noisy-neighbour"),
        "{stdout}"
    );
    let report = std::fs::read_to_string(folder.join("report.json")).unwrap();
    for key in server.tenants() {
        assert!(!report.contains(key.as_str()), "a tenant key leaked");
    }
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let schema =
        tollgate::scenario::parse::load_schema(Path::new("schemas/report.schema.json")).unwrap();
    let problems: Vec<String> = schema.iter_errors(&report).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}");
    let read = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["class"] == "tenants · read")
        .expect("a phase per request name");
    assert_eq!(read["phase"], "perf");
    assert!(
        read["limited"].as_u64().unwrap() > 0,
        "shared buckets refuse tenants"
    );
    assert!(!read["latency_seconds"].as_array().unwrap().is_empty());

    env.retain(|(var, _)| var != "OURO_TENANT_KEYS");
    env.push(("OURO_TENANT_KEYS".into(), server.tenants()[..3].join(", ")));
    let reports = common::TempDir::new("perf-cli-short");
    let (output, _) = common::cli::run(&args, &env, reports.path());
    let stdout = common::cli::text(&output.stdout);
    assert!(
        stdout.contains("workload `tenants` needs 20 tenant keys and OURO_TENANT_KEYS lists 3"),
        "{stdout}"
    );
    runtime.block_on(server.stop()).unwrap();
}
