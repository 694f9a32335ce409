//! tollgate's shipped profiles against deployments that are not its own reference server:
//! two express servers, each written only from one provider's document (the seeds the
//! project's suites are built on), with express-rate-limit doing the rate limiting as a team
//! following that document would:
//!
//! * `tests/stacks/express/doc-users-v1.js` — the users v1 API (Bearer keys, users CRUD with a
//!   bare JSON array, `{"error": ...}`, 100/min and 5000/h with draft-6 `RateLimit-*`),
//!   checked with `profiles/users-v1.yaml`;
//! * `tests/stacks/express/doc-x-api-key.js` — the Ouro API with `X-API-KEY` authentication
//!   (the document's exact 401/403 bodies; 100/s read and write, 20/s files and search, test
//!   mode separate, 20 in flight per key), checked with `profiles/x-api-key.yaml`.
//!
//! Where a document is silent each server makes its own choices (ids, list envelopes, extra
//! fields, messages; the head of each file lists them), deliberately not the reference
//! server's. A deployment faithful to its document must fail no check — a failure here is a
//! suite, or tollgate, holding the deployment to something its document does not say — and
//! the checks of what the document does promise (each test names them) must be judged, not
//! skipped.
//!
//! Each test runs `scripts/install-stacks.sh` first (idempotent; express and
//! express-rate-limit come from the lockfile in tests/stacks/express), starts its server as a
//! child process on a free 127.0.0.1 port with fresh random keys, runs `tollgate run` (both
//! phases) and reads `report.json`. They measure timing, so nextest runs them in the
//! `real-stacks` test group with the machine to themselves (`.config/nextest.toml`).
//! Logs and reports stay in `target/tmp/document_servers/<server>/`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const INSTALL: &str = "scripts/install-stacks.sh";

/// Every key variable tollgate reads (README, "Keys").
const KEY_VARS: [&str; 5] = [
    "OURO_API_KEY",
    "OURO_API_KEY_2",
    "OURO_TEST_API_KEY",
    "OURO_API_KEY_READONLY",
    "OURO_API_KEY_REVOKED",
];

/// What the users v1 document promises of its limits that a short run can judge: the
/// minute's 429 (JSON, with a retry hint) and its `RateLimit-Remaining` count-down.
#[test]
fn users_v1_document_server_passes_the_users_v1_profile() {
    let mut server = DocumentServer::start("users-v1", "doc-users-v1.js");
    let run = server.run("profiles/users-v1.yaml");
    run.assert_passes(&[
        "rate.minute.headers",
        "rate.minute.429-shape",
        "rate.minute.retry-after",
    ]);
}

/// The Ouro documents' limiters: every rate class enforced, key, mode and class isolation,
/// and the concurrency limiter.
#[test]
fn x_api_key_document_server_passes_the_x_api_key_profile() {
    let mut server = DocumentServer::start("x-api-key", "doc-x-api-key.js");
    let run = server.run("profiles/x-api-key.yaml");
    run.assert_passes(&[
        "rate.read.enforced",
        "rate.write.enforced",
        "rate.files_read.enforced",
        "rate.files_write.enforced",
        "rate.search.enforced",
        "rate.isolation.key",
        "rate.isolation.mode",
        "rate.isolation.class",
        "rate.concurrency",
    ]);
}

// ---------------------------------------------------------------------------------------
// The server.

/// A document server: its process (stopped on drop), its keys, a folder for its log and
/// tollgate's reports.
struct DocumentServer {
    name: String,
    dir: PathBuf,
    url: String,
    keys: Vec<(&'static str, String)>,
    process: Process,
}

impl DocumentServer {
    fn start(name: &str, script: &str) -> DocumentServer {
        ensure_installed();
        let express = Path::new(ROOT).join("tests/stacks/express");
        for package in ["express", "express-rate-limit"] {
            assert!(
                express.join("node_modules").join(package).is_dir(),
                "tests/stacks/express/node_modules/{package} is missing: run {INSTALL}"
            );
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("document_servers")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let keys: Vec<(&'static str, String)> =
            KEY_VARS.iter().map(|var| (*var, random_key())).collect();
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).unwrap();
        let node = require("node");
        let mut command = Command::new(node);
        command
            .current_dir(&express)
            .arg(script)
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for var in KEY_VARS {
            command.env_remove(var);
        }
        command.envs(keys.iter().map(|(var, key)| (*var, key.as_str())));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script} ({command:?}): {e}; run {INSTALL}"));
        let mut process = Process {
            name: name.to_string(),
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!(
                    "{script} exited with {status} before answering (run {INSTALL} if something is missing):\n{}",
                    process.log_text()
                );
            }
            if http_ready(port) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{script} did not answer on 127.0.0.1:{port} within 20 s:\n{}",
                process.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        DocumentServer {
            name: name.to_string(),
            dir,
            url: format!("http://127.0.0.1:{port}"),
            keys,
            process,
        }
    }

    /// `tollgate run --profile PROFILE` (contract and load) against the server.
    fn run(&mut self, profile: &str) -> Run {
        let reports = self.dir.join("reports");
        let mut command = Command::new(BIN);
        command
            .current_dir(ROOT)
            .args(["run", "--profile", profile, "--target", &self.url])
            .args(["--deadline", "4m", "--report-dir"])
            .arg(&reports)
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY");
        command.envs(self.keys.iter().map(|(var, key)| (*var, key.as_str())));
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        // The terminal summary, for whoever reads the test's output.
        eprintln!("== {} ({profile})\n{stdout}{stderr}", self.name);
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{}: tollgate exited with {:?}\n{stdout}{stderr}",
            self.name,
            output.status.code()
        );
        let folders: Vec<PathBuf> = std::fs::read_dir(reports)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(folders.len(), 1, "one run folder: {folders:?}");
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(folders[0].join("report.json")).unwrap())
                .unwrap();
        assert_eq!(
            report["complete"], true,
            "{}: incomplete run\n{stdout}",
            self.name
        );
        self.process.assert_running();
        Run {
            server: self.name.clone(),
            report,
        }
    }
}

/// A fresh key per variable and run: 32 random bytes, hex.
fn random_key() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("doc_{hex}")
}

/// The server's process, killed on drop (node holds nothing that needs a clean stop).
struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "{} exited with {status} during the run:\n{}",
                self.name,
                self.log_text()
            );
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// What a run reported.

struct Run {
    server: String,
    report: Value,
}

impl Run {
    /// Every check with the step it belongs to.
    fn checks(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["checks"].as_array().unwrap().iter().map(move |c| (s, c)))
    }

    fn ids(&self, verdict: &str) -> BTreeSet<String> {
        self.checks()
            .filter(|(_, c)| c["verdict"] == verdict)
            .map(|(_, c)| c["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every check with one of `verdicts`, with its step and what it measured (a skip's
    /// message is its reason).
    fn describe(&self, verdicts: &[&str]) -> String {
        self.checks()
            .filter(|(_, c)| verdicts.iter().any(|v| c["verdict"] == *v))
            .map(|(s, c)| {
                format!(
                    "  {} {} [{} › {}: {}]: {} (expected {}; got {})",
                    c["verdict"].as_str().unwrap(),
                    c["id"].as_str().unwrap(),
                    s["scenario"].as_str().unwrap_or_default(),
                    s["step"].as_str().unwrap_or_default(),
                    s["request"].as_str().unwrap_or_default(),
                    c["message"].as_str().unwrap_or_default(),
                    c["expected"].as_str().unwrap_or("-"),
                    c["actual"].as_str().unwrap_or("-"),
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// No check failed, and each of `judged` ran and passed every time: a skipped promise of
    /// the document is not evidence that the suite holds for it.
    fn assert_passes(&self, judged: &[&str]) {
        let failed = self.ids("failed");
        assert!(
            failed.is_empty(),
            "{}: a server faithful to its document failed {failed:?}\n{}",
            self.server,
            self.describe(&["failed"])
        );
        let passed = self.ids("passed");
        let skipped = self.ids("skipped");
        let not_judged: Vec<&&str> = judged
            .iter()
            .filter(|id| !passed.contains(**id) || skipped.contains(**id))
            .collect();
        assert!(
            !passed.is_empty() && not_judged.is_empty(),
            "{}: {not_judged:?} not judged (skipped or absent)\n{}",
            self.server,
            self.describe(&["failed", "skipped"])
        );
    }
}

// ---------------------------------------------------------------------------------------
// Installation, ports and readiness (as tests/real_stacks.rs).

/// The stacks are installed by the project's own script (idempotent; under a second when
/// everything is there). A stack that cannot be installed fails the test, never skips it.
fn ensure_installed() {
    let output = Command::new("bash")
        .arg(Path::new(ROOT).join(INSTALL))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {INSTALL}: {e}"));
    assert!(
        output.status.success(),
        "{INSTALL} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn require(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: run {INSTALL}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request without a key: both documents answer it 401.
fn http_ready(port: u16) -> bool {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let request = b"GET /v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .is_err()
        || stream.write_all(request).is_err()
    {
        return false;
    }
    let mut buffer = [0u8; 64];
    match stream.read(&mut buffer) {
        Ok(n) => buffer[..n].starts_with(b"HTTP/1.1 401"),
        Err(_) => false,
    }
}
