//! `tollgate init` as a new user runs it, in an empty folder: what it writes lints clean and
//! passes against the embedded reference server as written (its workload too); it never
//! overwrites without `--force`; and a run without a profile says that `init` makes one.

mod common;

use common::cli::{self, tollgate};
use common::TempDir;

fn in_dir(dir: &TempDir, args: &[&str]) -> std::process::Output {
    tollgate(args).current_dir(dir.path()).output().unwrap()
}

fn shown(output: &std::process::Output) -> String {
    format!("{}{}", cli::text(&output.stdout), cli::text(&output.stderr))
}

#[test]
fn init_writes_a_project_that_lints_and_passes_as_written() {
    let dir = TempDir::new("init-empty");
    let written = in_dir(&dir, &["init"]);
    assert_eq!(written.status.code(), Some(0), "{}", shown(&written));
    for file in [
        "tollgate.yaml",
        "scenarios/example.yaml",
        "scenarios/auth.yaml",
        "schemas/error.schema.json",
        "schemas/profile.schema.json",
        "schemas/scenario.schema.json",
    ] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
        assert!(
            cli::text(&written.stdout).contains(file),
            "{file} not listed"
        );
    }

    let lint = in_dir(&dir, &["lint"]);
    assert_eq!(lint.status.code(), Some(0), "{}", shown(&lint));
    assert!(cli::text(&lint.stdout).contains("3 file(s) checked: no problems"));

    let run = in_dir(
        &dir,
        &["run", "--only", "contract", "--report-dir", "reports"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", shown(&run));
    let text = cli::text(&run.stdout);
    assert!(text.contains("users › read it back"), "{text}");
    assert!(text.contains("auth matrix › none"), "{text}");
}

/// The workload `init` writes runs as written: its tenants inside their limits, its
/// thresholds met, the noisy neighbour unnoticed, against the embedded server (which
/// generates the tenant keys).
#[test]
fn init_writes_a_workload_that_passes() {
    let dir = TempDir::new("init-workload");
    let written = in_dir(&dir, &["init"]);
    assert_eq!(written.status.code(), Some(0), "{}", shown(&written));
    let run = in_dir(&dir, &["run", "--only", "perf", "--report-dir", "reports"]);
    assert_eq!(run.status.code(), Some(0), "{}", shown(&run));
    let report = std::fs::read_to_string(dir.path().join("reports/latest/report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let checks: Vec<(&str, &str)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|step| step["checks"].as_array().unwrap())
        .map(|c| (c["id"].as_str().unwrap(), c["verdict"].as_str().unwrap()))
        .collect();
    for id in [
        "perf.tenants.p95",
        "perf.tenants.p99",
        "perf.tenants.errors",
        "perf.tenants.noisy-neighbour",
        "perf.tenants.cleanup",
    ] {
        assert!(
            checks.contains(&(id, "passed")),
            "{id} not passed: {checks:?}"
        );
    }
}

#[test]
fn init_never_overwrites_without_force() {
    let dir = TempDir::new("init-existing");
    std::fs::write(dir.path().join("tollgate.yaml"), "name: mine\n").unwrap();
    let refused = in_dir(&dir, &["init"]);
    assert_eq!(refused.status.code(), Some(2), "{}", shown(&refused));
    assert!(
        cli::text(&refused.stderr).contains("tollgate.yaml already exists: nothing was written"),
        "{}",
        shown(&refused)
    );
    assert!(!dir.path().join("scenarios").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tollgate.yaml")).unwrap(),
        "name: mine\n"
    );

    let forced = in_dir(&dir, &["init", "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", shown(&forced));
    assert!(std::fs::read_to_string(dir.path().join("tollgate.yaml"))
        .unwrap()
        .contains("name: my-api"));
}

#[test]
fn init_writes_into_a_named_folder() {
    let dir = TempDir::new("init-named");
    let written = in_dir(&dir, &["init", "api-gate"]);
    assert_eq!(written.status.code(), Some(0), "{}", shown(&written));
    assert!(dir.path().join("api-gate/tollgate.yaml").is_file());
    assert!(cli::text(&written.stdout).contains("cd api-gate"));
}

#[test]
fn a_run_without_a_profile_points_at_init() {
    let dir = TempDir::new("init-none");
    let run = in_dir(&dir, &["run", "--only", "contract"]);
    assert_eq!(run.status.code(), Some(2), "{}", shown(&run));
    assert!(
        cli::text(&run.stderr).contains(
            "cannot read profile `tollgate.yaml`: No such file or directory (os error 2); \
             `tollgate init` writes a commented one"
        ),
        "{}",
        shown(&run)
    );
}
