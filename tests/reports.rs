//! The artifacts a run leaves in `reports/<run-id>/`: report.json validated by its schema,
//! JUnit that parses with one case per check, the Markdown summary and GitHub annotations —
//! and no API key anywhere, even from a target that echoes keys.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::cli::{self, run, run_command, run_folder};
use common::{faulty_server, TempDir};
use tollgate::scenario::parse::load_schema;
use tollgate::server::Fault;

/// stdout, stderr and every file of a run folder (which holds at least the five
/// artifacts), for canary searches.
fn every_output(output: &Output, folder: &Path) -> Vec<String> {
    let mut texts = vec![
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ];
    for name in [
        "report.json",
        "junit.xml",
        "summary.md",
        "report.html",
        "terminal.txt",
    ] {
        assert!(
            folder.join(name).is_file(),
            "no {name} in {}",
            folder.display()
        );
    }
    for entry in std::fs::read_dir(folder).unwrap() {
        texts.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    texts
}

/// The canary: no key value of `env` in any of `texts`.
fn assert_no_key(texts: &[String], env: &[(String, String)]) {
    for (var, key) in env {
        if var.starts_with("OURO") {
            for text in texts {
                assert!(!text.contains(key.as_str()), "{var} leaked");
            }
        }
    }
}

/// Validates report.json and junit.xml; returns the report.
fn validated(folder: &Path) -> serde_json::Value {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("report.json")).unwrap())
            .unwrap();
    let schema = load_schema(Path::new("schemas/report.schema.json")).unwrap();
    let problems: Vec<String> = schema
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert_eq!(problems, Vec::<String>::new());
    let checks: usize = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["checks"].as_array().unwrap().len())
        .sum();
    let junit = quick_junit::Report::deserialize_from_str(
        &std::fs::read_to_string(folder.join("junit.xml")).unwrap(),
    )
    .unwrap();
    assert_eq!(junit.tests, checks, "one JUnit case per check");
    let failed = report["summary"]["checks"]["failed"].as_u64().unwrap() as usize;
    assert_eq!(junit.failures, failed);
    report
}

#[test]
fn a_passing_run_with_load_leaves_valid_artifacts() {
    let dir = TempDir::new("reports-passing");
    let (output, folder) = run(
        &[
            "--scenarios",
            "scenarios/ouro/search.yaml",
            "--class",
            "search",
        ],
        &[],
        &dir,
    );
    assert_eq!(output.status.code(), Some(0));
    let report = validated(&folder);
    assert_eq!(report["summary"]["verdict"], "passed");
    let phases = report["phases"].as_array().unwrap();
    assert!(
        phases
            .iter()
            .any(|p| p["phase"] == "over" && p["estimated_rate"].is_number()),
        "load phases are in the report"
    );
    // The limiter fingerprint, with its worst-case window, in every report.
    let over = phases.iter().find(|p| p["phase"] == "over").unwrap();
    let fingerprint = &over["fingerprint"];
    assert_eq!(fingerprint["family"], "burst-then-steady", "{fingerprint}");
    let worst = fingerprint["worst_case"].as_u64().unwrap();
    assert!((20..=45).contains(&worst), "search 20/s, burst 20: {worst}");
    let text = |name: &str| std::fs::read_to_string(folder.join(name)).unwrap();
    assert!(text("terminal.txt").contains("limiter: burst-then-steady"));
    assert!(text("summary.md").contains("### Limiters"));
    // The over phase as sparklines, and far below GitHub's 1 MiB job-summary cap.
    assert!(text("summary.md").contains("**search · over**"));
    let summary = text("summary.md").len();
    assert!(summary < 24 * 1024, "summary.md is {summary} bytes");
    let over_slices = over["slices"].as_array().unwrap().len();
    assert!(
        (60..=100).contains(&over_slices),
        "4 s at 50 ms: {over_slices}"
    );
    assert!(text("report.html").contains(&format!("{worst} accepted</b>")));
    for name in [
        "report.json",
        "junit.xml",
        "summary.md",
        "report.html",
        "terminal.txt",
    ] {
        assert!(folder.join(name).is_file(), "{name}");
    }
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert!(!html.contains("<script"), "self-contained: no scripts");
    assert!(
        !regex::Regex::new(r#"(src|href)="https?://"#)
            .unwrap()
            .is_match(&html),
        "no external resources"
    );
    rendered_in_a_browser(&folder.join("report.html"));
}

/// Renders the HTML report in headless Chromium (Debian's package; `.ci/run` installs it):
/// the chart must be in the rendered DOM and the page must load without errors.
fn rendered_in_a_browser(html: &Path) {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok());
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium (see .ci/run)"
        );
        eprintln!("chromium is not installed: the browser check of report.html is skipped locally");
        return;
    };
    let profile = TempDir::new("reports-chromium-profile");
    let screenshot = html.with_file_name("report.png");
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args([
            "--window-size=1000,1000",
            "--virtual-time-budget=2000",
            "--dump-dom",
        ])
        // Page console messages (errors included) go to stderr as `CONSOLE(...)` lines.
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        dom.contains("<svg") && dom.contains("search: requests per second, per 200 ms slice"),
        "the rate chart is rendered: {log}"
    );
    assert!(
        dom.contains("latency per second"),
        "the latency chart is rendered: {log}"
    );
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("ERR_FILE_NOT_FOUND")
        })
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:?}"
    );
    let shot = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
    assert!(shot > 10_000, "a screenshot was taken ({shot} bytes)");
}

#[test]
fn a_run_with_missing_keys_reports_skips_with_reasons() {
    let (_runtime, server, env) = faulty_server(&[]);
    let primary: Vec<(String, String)> = env
        .into_iter()
        .filter(|(v, _)| v == "OURO_API_KEY")
        .collect();
    let dir = TempDir::new("reports-skips");
    let (output, folder) = run(
        &[
            "--only",
            "contract",
            "--target",
            &server.base_url(),
            "--scenarios",
            "scenarios/ouro/auth.yaml",
        ],
        &primary,
        &dir,
    );
    assert_eq!(output.status.code(), Some(0), "skips are not failures");
    let report = validated(&folder);
    assert!(report["summary"]["checks"]["skipped"].as_u64().unwrap() >= 20);
    let skip = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .find(|c| c["verdict"] == "skipped")
        .unwrap();
    assert!(
        skip["message"].as_str().unwrap().contains("is not set"),
        "{skip}"
    );
}

/// Failing checks point at their scenario line in Markdown and GitHub annotations; keys that
/// the target echoes appear in no output.
#[test]
fn a_failing_run_points_at_lines_and_never_leaks_a_key() {
    let (_runtime, server, env) = faulty_server(&[Fault::ErrorShape, Fault::EchoKey]);
    let dir = TempDir::new("reports-failing");
    let step_summary = dir.join("step-summary.md");
    let mut env = env.clone();
    env.push(("GITHUB_ACTIONS".into(), "true".into()));
    env.push((
        "GITHUB_STEP_SUMMARY".into(),
        step_summary.to_string_lossy().into_owned(),
    ));
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let (output, folder) = run(
        &[
            "--only",
            "contract",
            "--target",
            &server.base_url(),
            "--scenarios",
            "scenarios/ouro/files.yaml",
            "--seed",
            "1",
        ],
        &env,
        &reports,
    );
    assert_eq!(output.status.code(), Some(1));
    let report = validated(&folder);
    assert_eq!(
        report["summary"]["failed_checks"],
        serde_json::json!(["error.shape", "secret.echo"])
    );

    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert!(stdout.contains("::error file=scenarios/ouro/files.yaml,line=29,col=5,title=error.shape::files › a file without a name is rejected: expected a body matching schemas/error.schema.json"), "{stdout}");
    let markdown = std::fs::read_to_string(folder.join("summary.md")).unwrap();
    assert_eq!(
        std::fs::read_to_string(&step_summary).unwrap(),
        markdown,
        "appended to $GITHUB_STEP_SUMMARY"
    );
    let normalized = regex::Regex::new(r"127\.0\.0\.1:\d+|`\d{8}T\d{6}Z-[0-9a-f]{4}`|\d+\.\d s")
        .unwrap()
        .replace_all(&markdown, "…");
    insta::assert_snapshot!(normalized);
    // What needs attention comes first in both; what passed is folded.
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    let at = |text: &str, needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle}"));
    assert!(at(&html, "<tr class=\"failed\">") < at(&html, "<details class=\"passed\">"));
    assert!(at(&html, "<details class=\"passed\">") < at(&html, "<tr class=\"passed\">"));
    assert!(at(&markdown, "| ❌ |") < at(&markdown, "passed checks</summary>"));

    // The canary: no key value in stdout, stderr or any file of the run.
    assert_no_key(&every_output(&output, &folder), &env);
}

/// A baseline from a good run and a run against a broken server: the flipped checks are
/// regressions, both from `run --baseline` and from `report diff`.
#[test]
fn a_baseline_comparison_fails_on_checks_that_flipped() {
    let good = TempDir::new("reports-baseline-good");
    let (output, good_folder) = run(
        &[
            "--only",
            "contract",
            "--scenarios",
            "scenarios/ouro/files.yaml",
        ],
        &[],
        &good,
    );
    assert_eq!(output.status.code(), Some(0));
    let old = good_folder.join("report.json");

    let (_runtime, server, env) = faulty_server(&[Fault::ErrorShape]);
    let bad = TempDir::new("reports-baseline-bad");
    let (output, bad_folder) = run(
        &[
            "--only",
            "contract",
            "--target",
            &server.base_url(),
            "--scenarios",
            "scenarios/ouro/files.yaml",
            "--baseline",
            old.to_str().unwrap(),
        ],
        &env,
        &bad,
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("passed → failed")
            && stdout.contains("files › a file without a name is rejected · error.shape"),
        "{stdout}"
    );

    let diff = |a: &Path, b: &Path| {
        cli::tollgate(&["report", "diff"])
            .arg(a)
            .arg(b)
            .output()
            .unwrap()
    };
    let regressed = diff(&old, &bad_folder.join("report.json"));
    assert_eq!(regressed.status.code(), Some(1));
    assert!(String::from_utf8(regressed.stdout)
        .unwrap()
        .contains("REGRESSIONS (2)"));
    let same = diff(&old, &old);
    assert_eq!(same.status.code(), Some(0));
    let not_a_report = diff(&old, Path::new("Cargo.toml"));
    assert_eq!(not_a_report.status.code(), Some(2));
}

/// Values read from the environment (`{{ env.NAME }}`) and headers the profile marks secret
/// never appear in any output, even in the expected/actual of a failed check.
#[test]
fn environment_values_and_secret_headers_are_redacted_everywhere() {
    let canary = "canary-name-8f2e51";
    let dir = TempDir::new("reports-env-secret");
    let (output, folder) = run(
        &[
            "--only",
            "contract",
            "--profile",
            "tests/scenarios/secret-profile.yaml",
            "--scenarios",
            "tests/scenarios/env_secret.yaml",
        ],
        &[("TOLLGATE_CANARY_NAME".into(), canary.into())],
        &dir,
    );
    assert_eq!(output.status.code(), Some(1), "both checks fail");
    let report = validated(&folder);
    assert_eq!(
        report["summary"]["failed_checks"],
        serde_json::json!(["expect.header", "expect.json"]),
        "an echoed name is not an echoed key"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("expect.json") && stdout.contains("[redacted]"),
        "{stdout}"
    );
    for text in &every_output(&output, &folder) {
        assert!(!text.contains(canary), "the environment value leaked");
        assert!(
            !text.contains("q=100;w=1"),
            "the secret header's value leaked"
        );
    }
}

/// Ctrl-C during load against a target that echoes keys: the run stops, its reports are
/// valid and marked incomplete, and no key is in any of them.
#[test]
fn an_interrupted_run_leaves_a_valid_incomplete_report_and_no_key() {
    use std::io::{BufRead, BufReader, Read};
    let (_runtime, server, env) = faulty_server(&[Fault::EchoKey]);
    let dir = TempDir::new("reports-interrupted");
    let mut child = run_command(
        &[
            "--only",
            "load",
            "--class",
            "read",
            "--target",
            &server.base_url(),
        ],
        &env,
        &dir,
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    // The load has started once the count-down is reported.
    while !seen.contains("LOAD  read · under") {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "{seen}");
        seen.push_str(&line);
    }
    cli::signal(&child, "INT");
    stdout.read_to_string(&mut seen).unwrap();
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    let output = Output {
        status,
        stdout: seen.into_bytes(),
        stderr,
    };
    assert_eq!(output.status.code(), Some(130));
    let folder = run_folder(&dir, &output);
    let report = validated(&folder);
    assert_eq!(report["complete"], false);
    assert_eq!(report["stopped_by"], "interrupted");
    assert_eq!(report["summary"]["verdict"], "interrupted");
    assert_no_key(&every_output(&output, &folder), &env);
}

/// `--deadline` bounds the whole run: what was measured is written, marked incomplete, and
/// the exit code is a runtime error.
#[test]
fn a_run_past_its_deadline_stops_and_says_so() {
    let dir = TempDir::new("reports-deadline");
    let started = std::time::Instant::now();
    let (output, folder) = run(
        &["--only", "load", "--class", "read", "--deadline", "3s"],
        &[],
        &dir,
    );
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("the run did not finish within --deadline 3s; what was measured is in"),
        "{stderr}"
    );
    assert!(
        elapsed < std::time::Duration::from_secs(8),
        "stopped after {elapsed:?}"
    );
    let report = validated(&folder);
    assert_eq!(report["stopped_by"], "deadline");
    assert_eq!(report["summary"]["verdict"], "deadline");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("DEADLINE in"), "{stdout}");
    // The phase the deadline cut short is kept, with the checks its data supports.
    let phases = report["phases"].as_array().unwrap();
    assert!(!phases.is_empty(), "{report}");
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["checks"].as_array().unwrap())
            .any(|c| c["id"] == "rate.read.under"),
        "{report}"
    );
}

/// An unreachable target still leaves every report: the failure is a failed check that
/// JUnit and the GitHub annotations show, so the CI page is not blind (exit 3 as before).
#[test]
fn an_unreachable_target_still_writes_every_report() {
    let dir = TempDir::new("reports-unreachable");
    let url = common::closed_port();
    let env = [(
        "OURO_API_KEY".to_string(),
        "sk_test_unreachable_canary".to_string(),
    )];
    let output = run_command(&["--target", &url, "--only", "contract"], &env, &dir)
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    let folder = run_folder(&dir, &output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&format!("cannot reach {url}")), "{stderr}");
    assert!(stderr.contains(&*folder.to_string_lossy()), "{stderr}");
    let report = validated(&folder);
    assert_eq!(report["summary"]["verdict"], "failed");
    let checks: Vec<&serde_json::Value> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .collect();
    assert_eq!(checks.len(), 1, "{report}");
    assert_eq!(checks[0]["id"], "transport.error");
    assert_eq!(checks[0]["verdict"], "failed");
    let junit = std::fs::read_to_string(folder.join("junit.xml")).unwrap();
    assert!(junit.contains("transport.error"), "{junit}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("::error file=tollgate.yaml,title=transport.error::"),
        "{stdout}"
    );
    assert_no_key(&every_output(&output, &folder), &env);
}

/// `--deadline` bounds the first request too: a target that accepts connections and never
/// answers does not hold the run for the contract timeout.
#[test]
fn the_deadline_covers_the_reachability_check() {
    let dir = TempDir::new("reports-silent");
    // Bound but never accepting: the kernel completes the handshake, nobody answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let env = [(
        "OURO_API_KEY".to_string(),
        "sk_test_silent_canary".to_string(),
    )];
    let started = std::time::Instant::now();
    let (output, folder) = run(
        &["--target", &url, "--only", "contract", "--deadline", "2s"],
        &env,
        &dir,
    );
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("did not finish within --deadline 2s"),
        "{stderr}"
    );
    assert!(
        elapsed < std::time::Duration::from_secs(6),
        "the deadline was not kept: {elapsed:?}"
    );
    assert_eq!(validated(&folder)["summary"]["verdict"], "deadline");
    drop(silent);
}

/// Every form a server might echo a secret in: raw, percent-encoded (upper and lower hex,
/// `%20` and `+` for a space), base64 (standard and URL-safe) and JSON-escaped. Written here
/// independently of tollgate's redactor, so the test is an oracle, not a mirror.
fn echo_forms(secret: &str) -> Vec<(&'static str, String)> {
    use base64::Engine;
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let percent = form.replace('+', "%20");
    let lower = |s: &str| {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            out.push(c);
            if c == '%' {
                out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
            }
        }
        out
    };
    let json = serde_json::to_string(secret).unwrap();
    vec![
        ("raw", secret.to_string()),
        ("percent", percent.clone()),
        ("percent_lower", lower(&percent)),
        ("form", form),
        (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(secret),
        ),
        (
            "base64_url",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        ),
        ("json", json[1..json.len() - 1].to_string()),
    ]
}

/// A target that answers every request with the presented key and the `q` parameter, each
/// in every form of [`echo_forms`], in the body and in headers.
fn echoing_server(runtime: &tokio::runtime::Runtime) -> String {
    use axum::http::HeaderMap;
    async fn echo(headers: HeaderMap, uri: axum::http::Uri) -> axum::response::Response {
        use axum::response::IntoResponse;
        let key = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let secret = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .find(|(name, _)| name == "q")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let forms = |s: &str| -> serde_json::Map<String, serde_json::Value> {
            echo_forms(s)
                .into_iter()
                .map(|(name, form)| (name.to_string(), form.into()))
                .collect()
        };
        let body = serde_json::json!({ "key": forms(&key), "secret": forms(&secret) });
        let b64 = |s: &str| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(s)
        };
        (
            [
                ("x-echo-key", b64(&key)),
                ("x-echo-secret", echo_forms(&secret)[1].1.clone()),
            ],
            axum::Json(body),
        )
            .into_response()
    }
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(echo))
            .await
            .unwrap()
    });
    url
}

/// The canary: a target echoes the API key and an `env.` secret back in every encoding;
/// each check shows what came back, and no form of either secret is in any output.
#[test]
fn encoded_echoes_of_every_secret_appear_in_no_output() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = echoing_server(&runtime);
    // Spaces, quotes, `+` and `/` make every encoding differ from the raw value.
    let key = r#"sk_live+canary/4c1e "k" key"#;
    let secret = r#"pw+canary/9d0b "s" secret"#;
    let env = [
        ("OURO_API_KEY".to_string(), key.to_string()),
        ("TOLLGATE_CANARY_SECRET".to_string(), secret.to_string()),
    ];
    let dir = TempDir::new("reports-encoded-echo");
    let (output, folder) = run(
        &[
            "--target",
            &url,
            "--only",
            "contract",
            "--scenarios",
            "tests/scenarios/echo_encoded.yaml",
        ],
        &env,
        &dir,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let report = validated(&folder);
    let failed = report["summary"]["checks"]["failed"].as_u64().unwrap();
    assert!(failed >= 15, "every echo is a failed check: {report}");
    let texts = every_output(&output, &folder);
    for (name, value) in [("the API key", key), ("the env secret", secret)] {
        for (form, echoed) in echo_forms(value) {
            for text in &texts {
                assert!(!text.contains(&echoed), "{name} leaked {form}: {echoed}");
            }
        }
    }
    // Whatever further escaping an output adds, the distinctive middle of each secret is
    // readable in every form but base64: it must not be there either.
    for token in [
        "canary/4c1e",
        "canary%2F4c1e",
        "canary%2f4c1e",
        "canary/9d0b",
        "canary%2F9d0b",
        "canary%2f9d0b",
    ] {
        for text in &texts {
            assert!(!text.contains(token), "a form of a secret leaked: {token}");
        }
    }
    assert!(stdout.contains("[redacted]"), "{stdout}");
}

/// `--format json` puts report.json on stdout, exactly as written to the run folder, and the
/// human lines on stderr; `latest` in the report folder points at the run.
#[test]
fn format_json_prints_the_report_and_latest_points_at_the_run() {
    let dir = TempDir::new("reports-json");
    let (output, folder) = run(&["--only", "contract", "--format", "json"], &[], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stderr}"));
    assert_eq!(
        printed,
        validated(&folder),
        "stdout is the written report.json"
    );
    assert!(stderr.contains("PASSED in"), "{stderr}");
    let latest = std::fs::read_link(dir.path().join("latest")).unwrap();
    assert_eq!(latest, folder.file_name().unwrap());
}
