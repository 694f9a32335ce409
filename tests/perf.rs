//! Performance workloads end to end: the shipped profile's workload against the reference
//! server passes; the same workload against a slow server fails its latency threshold by
//! id; a server whose buckets are shared by every key fails the noisy-neighbour check.
//! In the serialized test group: they measure latency.

mod common;

use std::path::Path;

use common::load::{ouro, run_perf, run_perf_capped};
use tollgate::event::Verdict;
use tollgate::scenario::CaptureSource;
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
        "perf.tenants.upload.capture",
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
            "tenants · upload",
            "tenants · read-upload",
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
    // 4.5 s of stages: latency in 300 ms slices too (15 of them, less any silent one).
    let sliced = read
        .latency_slices
        .as_ref()
        .expect("a short workload is sliced");
    assert_eq!(sliced.width_ms, 300);
    assert!(sliced.slices.len() >= 12, "{sliced:?}");
    // 20 tenants × 80/s at the peak; over 1 s up, 3 s held and 0.5 s down: 6,000 requests.
    assert!(
        (5_990..=6_010).contains(&read.requests),
        "{}",
        read.requests
    );
    assert_eq!(read.limited, 0);
    // Every slot of the one schedule was answered, whichever request name it was.
    assert!(run.phases.iter().all(|p| !p.partial), "{:?}", run.phases);
    // Each tenant reads back the file it uploaded last: never one it did not upload.
    let read_upload = &run.phases[3];
    // 20 tenants × 10/s at the peak, over the same 3.75 s of full load: 750.
    assert!(
        (745..=755).contains(&read_upload.requests),
        "{}",
        read_upload.requests
    );
    assert_eq!(
        read_upload.accepted, read_upload.requests,
        "{read_upload:?}"
    );
    let neighbour = &run.phases[5];
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
    // Capped at 1,000/s: answers 320 ms late at the full 3,900/s need some 4,000 goose
    // users, and two cores busy with them can fall 50 ms behind the schedule — which skips
    // the latency thresholds ("machine too busy") instead of failing them.
    let run = run_perf_capped(&[Fault::Slow], ouro(), &[], 0.3, Some(1_000.0));
    let failed = run.ids(Verdict::Failed);
    for id in ["perf.tenants.p95", "perf.tenants.write.p95"] {
        assert!(
            failed.contains(&id.to_string()),
            "{id} did not fail: {failed:?}\n{}",
            run.describe()
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

/// A capture that finds nothing in the create's answer stops the workload before its
/// schedule, naming the step, the tenant and what was missing: every read of it would fail.
#[test]
fn a_capture_that_finds_nothing_stops_the_workload_before_it_starts() {
    let mut profile = ouro();
    let upload = profile.workloads[0]
        .mix
        .iter_mut()
        .find(|m| m.name == "upload")
        .and_then(|m| m.step.as_mut())
        .expect("the shipped workload uploads");
    let path = serde_json_path::JsonPath::parse("$.file_id").unwrap();
    upload.capture[0].source = CaptureSource::Json("$.file_id".into(), path);
    let run = run_perf(&[], profile, &[], 0.1);
    let check = run.check("perf.tenants").expect("the workload's own check");
    assert_eq!(check.verdict, Verdict::Failed, "{check:?}");
    assert_eq!(
        check.message,
        "the warm-up of `upload` for tenant 0 (each tenant captures before the schedule starts) \
         answered 201, but `file`: nothing at $.file_id in the answer"
    );
    assert!(run.phases.is_empty(), "{:?}", run.phases);
    // The files the warm-up uploaded before it stopped are deleted all the same.
    assert_eq!(run.left_behind, 0);
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
  steps:
    tenants: 2
    stages: [{ ramp: 1s, to: 100% }]
    mix:
      read: { class: read, rate: 1/s, request: { method: GET, path: /v1/users } }
      fetch:
        class: read
        rate: 50/s
        request: { method: GET, path: "/v1/users/{{ user }}", auth: primary }
      lookup: { class: read, rate: 50%, request: { method: GET, path: "/v1/users/{{ user }}" } }
      elsewhere: { class: reed, rate: 1/s, request: { method: GET, path: /v1/users } }
      never: { class: read, rate: 0%, request: { method: GET, path: /v1/users } }
      mint:
        class: read
        rate: 1/s
        request: { method: POST, path: /v1/users }
        capture: { unique.id: $.id }
  crowded:
    tenants: 2
    stages: [{ ramp: 1s, to: 100% }]
    mix:
      read: 60%
      again:
        class: read
        rate: 50%
        request: { method: GET, path: /v1/users }
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

/// `tollgate run ARGS` exits 2 before sending anything, saying `message`.
fn assert_usage_error(args: &[&str], message: &str, reports: &Path) {
    let output = common::cli::run_command(args, &[], reports)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    let stderr = common::cli::text(&output.stderr);
    assert!(stderr.contains(message), "{args:?}: {stderr}");
}

/// What `--workload`, `--only perf`, `--shard` and `--start-at` refuse before anything is
/// sent.
#[test]
fn workload_and_shard_options_are_usage_errors() {
    let reports = common::TempDir::new("perf-usage");
    let soon = humantime::format_rfc3339_millis(
        std::time::SystemTime::now() + std::time::Duration::from_secs(60),
    )
    .to_string();
    let past = humantime::format_rfc3339_millis(
        std::time::SystemTime::now() - std::time::Duration::from_secs(30),
    )
    .to_string();
    for (args, message) in [
        (
            &["--only", "perf", "--workload", "nope"][..],
            "no workload `nope` in tollgate.yaml (workloads: tenants)",
        ),
        (
            &["--only", "load", "--workload", "tenants"][..],
            "--workload selects performance workloads, which this --only leaves out",
        ),
        (
            &["--only", "perf", "--shard", "1/4"][..],
            "--shard 1/4 needs --start-at: every shard must start the schedule at the same instant",
        ),
        (
            &["--shard", "1/4", "--start-at", &soon][..],
            "--shard 1/4 times a performance workload's schedule: add --only perf",
        ),
        (
            &["--only", "perf", "--shard", "1/4", "--start-at", &soon][..],
            "--shard 1/4 needs --target: the shards load one deployment",
        ),
        (
            &["--only", "perf", "--start-at", &past][..],
            "s in the past: give every shard an instant a few seconds ahead",
        ),
        (
            &["--only", "perf", "--shard", "4/4"][..],
            "shard `4/4`: I counts from 0, so it must be below N (4)",
        ),
        (
            &["--only", "perf", "--start-at", "tomorrow"][..],
            "`tomorrow` is not an RFC 3339 instant",
        ),
        (
            &["--only", "perf", "--start-at", &soon, "--deadline", "30s"][..],
            "--deadline 30s ends the run before --start-at",
        ),
        (
            &["--measure-only"][..],
            "--measure-only measures performance workloads for `report merge`: add --only perf",
        ),
    ] {
        assert_usage_error(args, message, reports.path());
    }
    // What `report merge` refuses: nothing to merge, and a file that is not one.
    let not_measured = common::TempDir::new("perf-merge-usage");
    let refused = |inputs: &[&Path], message: &str| {
        let mut command = common::cli::tollgate(&["report", "merge"]);
        command.args(inputs).arg("--report-dir").arg(reports.path());
        let output = command.output().unwrap();
        let stderr = common::cli::text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    };
    refused(&[not_measured.path()], "no measurements.json under");
    let forged = not_measured.path().join("measurements.json");
    std::fs::write(
        &forged,
        r#"{"format": "tollgate-measurements/1", "shard": 3}"#,
    )
    .unwrap();
    refused(
        &[not_measured.path()],
        "is not a tollgate measurements file",
    );
}

/// A reference server with 20 tenant keys and `faults`, on a runtime of its own, and the
/// environment that hands its keys (the tenants' in OURO_TENANT_KEYS) to the CLI.
fn tenant_server(
    faults: &[Fault],
) -> (
    tokio::runtime::Runtime,
    RunningServer,
    Vec<(String, String)>,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ring = KeyRing::generate().with_generated_tenants(20);
    let mut config = ServerConfig::new(ServerProfile::Ouro, ring);
    config.faults = FaultSet::new(faults.iter().copied());
    let server = runtime.block_on(RunningServer::start(config)).unwrap();
    let mut env = common::key_env(&server);
    env.push(("OURO_TENANT_KEYS".into(), server.tenants().join(",")));
    (runtime, server, env)
}

/// `run` arguments for the workloads alone against `url`, their stages at 0.3×.
fn perf_args(url: &str) -> [&str; 6] {
    ["--only", "perf", "--target", url, "--duration-scale", "0.3"]
}

/// The CLI against a deployment: tenant keys from OURO_TENANT_KEYS, every key redacted,
/// report.json valid with a phase per request name and the checks by id; too short a list
/// skips the workload with the count.
#[test]
fn a_deployment_with_shared_buckets_fails_through_the_cli() {
    let (runtime, server, mut env) = tenant_server(&[Fault::GlobalLimit]);
    let reports = common::TempDir::new("perf-cli");
    let url = server.base_url();
    let args = perf_args(&url);
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

/// Two processes given one start instant (`--shard 0/2`, `1/2`, `--measure-only`) send,
/// request name by request name, exactly what one process sends, against a server with its
/// limits on; each report says which shard it is, and `report merge` of the two judges the
/// same checks as the one process, from the same counts. Without one of them it exits 3.
#[test]
fn two_shards_measure_and_merge_into_what_one_process_reports() {
    let (runtime, server, env) = tenant_server(&[]);
    let url = server.base_url();
    let args = perf_args(&url);
    let whole = common::TempDir::new("perf-shard-whole");
    // What is compared is what was sent: a threshold missed on a busy machine (exit 1)
    // does not matter here, a usage or runtime error (2, 3) does.
    let (output, folder) = common::cli::run(&args, &env, whole.path());
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        common::cli::text(&output.stdout)
    );
    let whole = read_report(&folder);

    let start = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    let start = humantime::format_rfc3339_millis(start).to_string();
    let dirs = [
        common::TempDir::new("perf-shard-0"),
        common::TempDir::new("perf-shard-1"),
    ];
    let children: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(index, dir)| {
            let shard = format!("{index}/2");
            let mut sharded = args.to_vec();
            sharded.extend(["--shard", &shard, "--start-at", &start, "--measure-only"]);
            common::cli::run_command(&sharded, &env, dir.path())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut sums: Vec<(String, u64)> = requests(&whole).into_iter().map(|(n, _)| (n, 0)).collect();
    for (index, (child, dir)) in children.into_iter().zip(&dirs).enumerate() {
        let output = child.wait_with_output().unwrap();
        // Measuring was the shard's job: it exits 0 whatever its share measured.
        assert_eq!(
            output.status.code(),
            Some(0),
            "shard {index}: {}",
            common::cli::text(&output.stdout)
        );
        let folder = common::cli::run_folder(dir.path(), &output);
        assert!(folder.join("measurements.json").is_file());
        let report = read_report(&folder);
        assert_eq!(report["shard"]["index"], index);
        assert_eq!(report["shard"]["total"], 2);
        assert_eq!(report["shard"]["start_at"], start.as_str());
        let judged: Vec<&str> = check_ids(&report)
            .into_iter()
            .filter(|id| !id.ends_with(".cleanup"))
            .collect();
        assert!(
            judged.is_empty(),
            "a shard measuring only judged {judged:?}"
        );
        for ((name, sum), (shard_name, count)) in sums.iter_mut().zip(requests(&report)) {
            assert_eq!(*name, shard_name);
            *sum += count;
        }
    }
    assert_eq!(sums, requests(&whole));

    let merged_dir = common::TempDir::new("perf-merged");
    let merge = |inputs: &[&Path]| {
        let mut command = common::cli::tollgate(&["report", "merge"]);
        command
            .args(inputs)
            .arg("--report-dir")
            .arg(merged_dir.path());
        command.output().unwrap()
    };
    let output = merge(&[dirs[0].path(), dirs[1].path()]);
    let stdout = common::cli::text(&output.stdout);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{stdout}");
    let merged = read_report(&merged_dir.path().join("latest"));
    assert_eq!(requests(&merged), requests(&whole), "{stdout}");
    assert_eq!(merged["shard"]["merged"], true);
    assert_eq!(merged["shard"]["total"], 2);
    let without = |report: &serde_json::Value, suffixes: &[&str]| -> Vec<String> {
        check_ids(report)
            .into_iter()
            .filter(|id| !suffixes.iter().any(|s| id.ends_with(s)))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        without(&merged, &[".shards", ".clocks"]),
        without(&whole, &[".cleanup"])
    );
    // One machine, one clock: the target's Date headers say so within a few ms.
    for id in ["perf.tenants.shards", "perf.tenants.clocks"] {
        assert_eq!(verdict_of(&merged, id), "passed", "{id}: {stdout}");
    }
    assert_eq!(
        verdict_of(&merged, "perf.tenants.noisy-neighbour"),
        verdict_of(&whole, "perf.tenants.noisy-neighbour")
    );

    // Shard 1 never reported: named, nothing judged, exit 3.
    let output = merge(&[dirs[0].path()]);
    let stderr = common::cli::text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("shard(s) 1 of 2 never reported"),
        "{stderr}"
    );
    let partial = read_report(&merged_dir.path().join("latest"));
    assert_eq!(verdict_of(&partial, "perf.tenants.shards"), "failed");
    assert_eq!(check_ids(&partial), ["perf.tenants.shards"]);
    runtime.block_on(server.stop()).unwrap();
}

/// A run folder's report.json, checked against its schema.
fn read_report(folder: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(folder.join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema =
        tollgate::scenario::parse::load_schema(Path::new("schemas/report.schema.json")).unwrap();
    let problems: Vec<String> = schema.iter_errors(&report).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}");
    report
}

/// Each phase's name and request count.
fn requests(report: &serde_json::Value) -> Vec<(String, u64)> {
    report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let name = p["class"].as_str().unwrap().to_string();
            (name, p["requests"].as_u64().unwrap())
        })
        .collect()
}

fn check_ids(report: &serde_json::Value) -> Vec<&str> {
    checks(report).map(|c| c["id"].as_str().unwrap()).collect()
}

fn checks(report: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
}

fn verdict_of<'a>(report: &'a serde_json::Value, id: &str) -> &'a str {
    checks(report)
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} missing"))["verdict"]
        .as_str()
        .unwrap()
}
