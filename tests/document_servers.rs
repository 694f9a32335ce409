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
//! Logs and reports are in `target/tmp/document_servers-<server>-…/`, kept when the test
//! fails.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::stacks::{self, ensure_installed, free_port, http_ready, require, Process};
use common::{TempDir, KEY_VARS};
use serde_json::Value;

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
    url: String,
    keys: Vec<(String, String)>,
    process: Process,
    /// Last: removed once the process has stopped.
    dir: TempDir,
}

impl DocumentServer {
    fn start(name: &str, script: &str) -> DocumentServer {
        ensure_installed();
        let express = stacks::express_dir(&["express", "express-rate-limit"]);
        let dir = TempDir::new(&format!("document_servers-{name}"));
        let keys: Vec<(String, String)> = KEY_VARS
            .iter()
            .map(|(var, _)| (var.to_string(), random_key()))
            .collect();
        let port = free_port();
        let mut command = Command::new(require("node", &[]));
        command
            .current_dir(&express)
            .arg(script)
            .args(["--port", &port.to_string()]);
        for (var, _) in KEY_VARS {
            command.env_remove(var);
        }
        command.envs(keys.iter().map(|(var, key)| (var, key)));
        let process = Process::spawn(name, command, &dir, port, http_ready);
        DocumentServer {
            name: name.to_string(),
            url: format!("http://127.0.0.1:{port}"),
            keys,
            process,
            dir,
        }
    }

    /// `tollgate run --profile PROFILE` (contract and load) against the server.
    fn run(&mut self, profile: &str) -> Run {
        let reports = self.dir.join("reports");
        let report = stacks::run_tollgate(
            &format!("{} ({profile})", self.name),
            &["--profile", profile, "--target", &self.url],
            &self.keys,
            &reports,
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

// ---------------------------------------------------------------------------------------
// What a run reported.

struct Run {
    server: String,
    report: Value,
}

impl Run {
    fn ids(&self, verdict: &str) -> BTreeSet<String> {
        stacks::ids(&self.report, verdict)
    }

    /// Every check with one of `verdicts`, with its step and what it measured (a skip's
    /// message is its reason).
    fn describe(&self, verdicts: &[&str]) -> String {
        stacks::checks(&self.report)
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
