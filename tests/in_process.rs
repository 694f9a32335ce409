//! Runs driven in one process, one after the other, as an embedding program would: each
//! run has its own stop signal, so the first run's `--deadline` (which also fires goose's
//! kill switch) does not stop the second. No global mutex orders them.

mod common;

use clap::Parser;
use common::TempDir;
use tollgate::cli::Cli;

fn run(args: &[&str], reports: &std::path::Path) -> Result<String, String> {
    let reports = reports.to_str().unwrap();
    let cli = Cli::parse_from(
        ["tollgate", "run", "--report-dir", reports]
            .iter()
            .chain(args),
    );
    tollgate::commands::execute(cli)
        .map(|code| format!("{code:?}"))
        .map_err(|e| e.to_string())
}

#[test]
fn a_run_stopped_by_its_deadline_does_not_stop_the_next_one() {
    let reports = TempDir::new("in-process");
    let first = run(
        &["--only", "load", "--class", "read", "--deadline", "2s"],
        reports.path(),
    );
    let error = first.expect_err("the first run is cut by its deadline");
    assert!(
        error.contains("did not finish within --deadline 2s"),
        "{error}"
    );
    let second = run(&["--only", "contract"], reports.path());
    assert_eq!(
        second,
        run_passed(),
        "the second run must not inherit the first one's stop"
    );
    let folders = common::cli::run_folders(reports.path()).len();
    assert_eq!(folders, 2, "each run wrote its own report folder");
}

fn run_passed() -> Result<String, String> {
    Ok(format!("{:?}", std::process::ExitCode::SUCCESS))
}
