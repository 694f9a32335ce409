//! `tollgate run` and `tollgate lint` as a user runs them: terminal text, exit codes, and
//! no key in any output.

mod common;

use std::process::Output;

use common::cli::{self, text, tollgate};
use common::{faulty_server, TempDir};
use tollgate::server::Fault;

/// Replaces what changes between runs: ports, latencies, durations, the version.
fn normalize(output: &str) -> String {
    let rules = [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
        (r"→ (\d{3}) +\d+ ms", "→ $1 N ms"),
        (r"in \d+\.\d s", "in N s"),
        (r"tollgate \d+\.\d+\.\d+", "tollgate VERSION"),
        (r"(usr|file)_\d+", "${1}_ID"),
        (r"\d{8}T\d{6}Z-[0-9a-f]{4}", "RUN_ID"),
    ];
    rules
        .iter()
        .fold(output.to_string(), |text, (pattern, replacement)| {
            regex::Regex::new(pattern)
                .unwrap()
                .replace_all(&text, *replacement)
                .into_owned()
        })
}

#[test]
fn run_against_the_embedded_server_passes_and_prints_one_line_per_step() {
    let output = tollgate(&[
        "run",
        "--only",
        "contract",
        "--scenarios",
        "scenarios/ouro/search.yaml",
        "--seed",
        "1",
    ])
    .output()
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    insta::assert_snapshot!(normalize(&text(&output.stdout)));
}

/// The README's main command: contract, load and the workload against the embedded server.
#[test]
fn the_default_run_passes_every_shipped_check() {
    let output = tollgate(&["run"]).output().unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("PASSED"), "{stdout}");
    assert!(stdout.contains("0 failed, 0 skipped"), "{stdout}");
    for id in [
        "rate.read.enforced",
        "rate.search.backoff",
        "rate.concurrency",
        "rate.isolation.class",
        "rate.cleanup",
        "perf.tenants.p95",
        "perf.tenants.noisy-neighbour",
        "perf.tenants.cleanup",
    ] {
        assert!(stdout.contains(id), "{id} missing from the output");
    }
    assert!(
        text(&output.stderr).is_empty(),
        "goose must not write to our terminal: {}",
        text(&output.stderr)
    );
}

fn run_against(url: &str, env: &[(String, String)], scenarios: &str) -> Output {
    let mut command = tollgate(&[
        "run",
        "--only",
        "contract",
        "--target",
        url,
        "--scenarios",
        scenarios,
        "--seed",
        "1",
    ]);
    for (var, value) in env {
        command.env(var, value);
    }
    command.output().unwrap()
}

#[test]
fn a_failing_check_shows_expected_actual_and_the_scenario_line_and_exits_1() {
    let (_runtime, server, env) = faulty_server(&[Fault::ErrorShape, Fault::EchoKey]);
    let output = run_against(&server.base_url(), &env, "scenarios/ouro/files.yaml");
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}{}",
        text(&output.stderr)
    );
    for (_, key) in &env {
        assert!(
            !stdout.contains(key.as_str()) && !text(&output.stderr).contains(key.as_str()),
            "a key leaked"
        );
    }
    insta::assert_snapshot!(normalize(&stdout));
}

#[test]
fn a_real_target_needs_the_primary_key_from_the_environment() {
    let output = tollgate(&["run", "--target", "https://staging.example.com"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("OURO_API_KEY is not set"), "{stderr}");
}

#[test]
fn an_unreachable_target_is_a_runtime_error() {
    let url = common::closed_port();
    let output = run_against(
        &url,
        &[("OURO_API_KEY".into(), "k".into())],
        "scenarios/ouro",
    );
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&format!("cannot reach {url}")), "{stderr}");
}

#[test]
fn load_against_a_remote_target_needs_allow_load() {
    let output = tollgate(&["run", "--target", "https://staging.example.com"])
        .env("OURO_API_KEY", "k")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("pass --allow-load to confirm"), "{stderr}");
}

#[test]
fn an_unknown_class_names_the_known_ones() {
    let output = tollgate(&["run", "--only", "load", "--class", "reed"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("no rate class `reed`") && stderr.contains("read, write, files_read"),
        "{stderr}"
    );
}

#[test]
fn a_url_with_credentials_is_refused() {
    let output = tollgate(&["run", "--target", "https://user:pw@example.com"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("credentials in the URL"));
}

#[test]
fn lint_reports_every_broken_file_at_once_and_exits_2() {
    let output = tollgate(&["lint", "tests/lint"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    for file in [
        "wrong_type",
        "unknown_key",
        "missing_status",
        "bad_ref",
        "bad_syntax",
        "duplicate_step",
        "bad_jsonpath",
        "include_cycle",
        "unknown_variable",
        "not_utf8",
        "unset_env",
        "bad_regex",
        "bad_predicates",
    ] {
        assert!(
            stderr.contains(&format!("tests/lint/{file}.yaml:")) || file == "include_cycle",
            "{file} missing:\n{stderr}"
        );
    }
    assert!(stderr.contains("_cycle_b.yaml"), "{stderr}");
}

/// An empty selection is the same verdict in both commands: a usage error, never a pass.
#[test]
fn lint_and_run_of_an_empty_folder_give_the_same_verdict() {
    let empty = TempDir::new("cli_run-empty");
    let folder = empty.str();
    let lint = tollgate(&["lint", folder]).output().unwrap();
    let run = tollgate(&["run", "--only", "contract", "--scenarios", folder])
        .output()
        .unwrap();
    let expected = format!("no scenario files under `{folder}`");
    for (command, output) in [("lint", &lint), ("run", &run)] {
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains(&expected), "{command}: {stderr}");
    }
}

#[test]
fn lint_of_the_shipped_files_is_clean() {
    let output = tollgate(&[
        "lint",
        "tollgate.yaml",
        "profiles/x-api-key.yaml",
        "profiles/users-v1.yaml",
        "scenarios",
    ])
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("no problems"));
}

/// Ctrl-C during load: the load stops promptly (bounded at 2 s here), the summary is still printed, and
/// the exit code says interrupted (130), even though goose ran.
#[test]
fn an_interrupted_load_stops_promptly_and_exits_130() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};
    let mut child = tollgate(&["run", "--only", "load", "--class", "read"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait for the first load phase to finish: goose has run and owns nothing now.
    for line in lines.by_ref() {
        if line.unwrap().starts_with("LOAD  read · under") {
            break;
        }
    }
    let sent = Instant::now();
    cli::signal(&child, "INT");
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "took {:?} to stop",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    assert!(
        rest.iter().any(|l| l.starts_with("INTERRUPTED in")),
        "{rest:?}"
    );
}

/// A run in which every check was skipped checked nothing: not PASSED, and exit 4, so a CI
/// gate cannot go green on it.
#[test]
fn a_run_that_checked_nothing_does_not_pass() {
    let reports = TempDir::new("cli_run-nothing");
    let output = tollgate(&[
        "run",
        "--only",
        "contract",
        "--scenarios",
        "tests/scenarios/env_unset.yaml",
        "--report-dir",
        reports.str(),
    ])
    .env_remove("TOLLGATE_SURELY_NOT_SET")
    .output()
    .unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(4),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("NOTHING CHECKED"), "{stdout}");
    assert!(!stdout.contains("PASSED"), "{stdout}");
}

/// `--report-dir` that cannot take a file fails at once (exit 2), before any request.
#[test]
fn an_unwritable_report_dir_fails_before_the_run() {
    let started = std::time::Instant::now();
    let output = tollgate(&["run", "--report-dir", "Cargo.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cannot write reports to `Cargo.toml`"),
        "{stderr}"
    );
    assert!(!text(&output.stdout).contains("PASS"), "no step ran");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Special files are refused without being read: `/dev/zero` reports a size of 0 and never
/// ends, so a bound on the reported size alone grew to gigabytes.
#[test]
fn special_files_are_refused_at_once() {
    for args in [
        vec!["run", "--profile", "/dev/zero", "--only", "contract"],
        vec!["report", "diff", "/dev/zero", "/dev/zero"],
    ] {
        let started = std::time::Instant::now();
        let output = tollgate(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr).contains("not a regular file")
                || text(&output.stdout).contains("not a regular file"),
            "{args:?}: {}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{args:?}"
        );
    }
}

/// Nonsense flags are refused with a message that says what to do.
#[test]
fn nonsense_flags_are_refused_with_a_suggestion() {
    for (args, says) in [
        (vec!["run", "--deadline", "0s"], "--deadline 0"),
        (
            vec!["run", "--target", "localhost:8080"],
            "did you mean `http://localhost:8080`",
        ),
        (
            vec!["run", "--target", "staging.example.com"],
            "did you mean `http://staging.example.com`",
        ),
        (
            vec!["run", "--class", "nope", "--only", "load"],
            "no rate class `nope`",
        ),
        (
            vec!["run", "--max-rps", "0", "--only", "load"],
            "--max-rps must be positive",
        ),
    ] {
        let output = tollgate(&args)
            .env("OURO_API_KEY", "tollgate-flag-test")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// `report diff` of two reports of different profiles: every check that disappeared is a
/// regression (exit 1) and the difference is named; `--allow-missing` accepts it.
#[test]
fn report_diff_counts_disappeared_checks_and_names_different_profiles() {
    let dir = TempDir::new("cli_run-diff");
    let report = |profile: &str, checks: serde_json::Value| {
        serde_json::json!({
            "schema_version": 1,
            "profile": profile,
            "target": "http://127.0.0.1:8080",
            "steps": [{ "scenario": "users", "step": "list", "checks": checks }],
            "phases": []
        })
    };
    let passed = |id: &str| serde_json::json!({ "id": id, "verdict": "passed" });
    let old = dir.join("old.json");
    let new = dir.join("new.json");
    let all = serde_json::json!([passed("expect.status"), passed("rate.read.under")]);
    let fewer = serde_json::json!([passed("expect.status")]);
    std::fs::write(&old, report("tollgate.yaml", all).to_string()).unwrap();
    std::fs::write(&new, report("profiles/x.yaml", fewer).to_string()).unwrap();
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    let output = tollgate(&["report", "diff", old, new]).output().unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("warning: the reports come from different profiles"),
        "{stdout}"
    );
    assert!(stdout.contains("passed → absent"), "{stdout}");
    assert!(
        stdout.contains("1 check(s) of the old report are absent"),
        "{stdout}"
    );
    let allowed = tollgate(&["report", "diff", old, new, "--allow-missing"])
        .output()
        .unwrap();
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed.stdout));
}

/// Every run option but `--insecure` and `--update-snapshots` also comes from a
/// `TOLLGATE_*` variable, and `run --help` says so, names the key variables and shows
/// examples.
#[test]
fn run_options_come_from_the_environment_and_help_names_the_keys() {
    let help = text(&tollgate(&["run", "--help"]).output().unwrap().stdout);
    // clap wraps long lines: compare words, not line breaks.
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        "[env: TOLLGATE_TARGET=]",
        "[env: TOLLGATE_REPORT_DIR=]",
        "OURO_API_KEY_READONLY",
        "Examples:",
    ] {
        assert!(help.contains(expected), "{expected} missing:\n{help}");
    }
    let reports = TempDir::new("cli_run-env");
    let url = common::closed_port();
    let output = tollgate(&["run"])
        .env("TOLLGATE_TARGET", &url)
        .env("TOLLGATE_ONLY", "contract")
        .env("TOLLGATE_REPORT_DIR", reports.str())
        .env("OURO_API_KEY", "sk_test_env_options")
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&format!("cannot reach {url}")), "{stderr}");
    let folders = cli::run_folders(reports.path()).len();
    assert_eq!(folders, 1, "the reports went to TOLLGATE_REPORT_DIR");
    // A flag set to true from the environment, as CI systems write it.
    let output = tollgate(&["run", "--class", "read"])
        .env("TOLLGATE_TARGET", "http://10.255.255.1:1")
        .env("TOLLGATE_ALLOW_LOAD", "yes")
        .env("TOLLGATE_DURATION_SCALE", "0")
        .env("OURO_API_KEY", "sk_test_env_options")
        .output()
        .unwrap();
    assert!(
        text(&output.stderr).contains("--duration-scale must be in (0, 20]"),
        "{}",
        text(&output.stderr)
    );
}

/// Shell completions and the manual page come from the same argument definition, so they
/// know every subcommand and option.
#[test]
fn completions_and_the_man_page_know_the_commands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = tollgate(&["completions", shell]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = text(&output.stdout);
        // fish names long options without their dashes (`-l target`).
        for word in ["target", "report-dir", "lint", "serve"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let man = text(&tollgate(&["man"]).output().unwrap().stdout);
    assert!(man.contains(".TH tollgate 1"), "{man}");
    for subcommand in ["run", "serve", "lint", "report", "bench", "completions"] {
        assert!(man.contains(subcommand), "the man page lacks {subcommand}");
    }
    let refused = tollgate(&["completions", "cmd"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
}
