//! Shared by tests/real_stacks.rs and tests/document_servers.rs: the stacks' installation,
//! their processes (started on a free 127.0.0.1 port, waited for, stopped on drop), and
//! `tollgate run` against them with its `report.json` read back.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cli;

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const INSTALL: &str = "scripts/install-stacks.sh";

/// The README's test command works on a fresh machine: the stacks are installed by the
/// project's own script (idempotent; under a second when everything is there). A stack that
/// cannot be installed fails the test, never skips it.
pub fn ensure_installed() {
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

/// `name` on PATH or at one of `also`; a missing program names the install script.
pub fn require(name: &str, also: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .chain(also.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: run {INSTALL}"))
}

/// `tests/stacks/express`, with each of `packages` installed in its `node_modules`.
pub fn express_dir(packages: &[&str]) -> PathBuf {
    let dir = Path::new(ROOT).join("tests/stacks/express");
    for package in packages {
        assert!(
            dir.join("node_modules").join(package).is_dir(),
            "tests/stacks/express/node_modules/{package} is missing: run {INSTALL}"
        );
    }
    dir
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request without a key: a stack (and its backend) that is up answers it 401.
pub fn http_ready(port: u16) -> bool {
    exchange(
        port,
        b"GET /v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .is_some_and(|answer| answer.starts_with("HTTP/1.1 401"))
}

pub fn redis_ready(port: u16) -> bool {
    exchange(port, b"PING\r\n").is_some_and(|answer| answer.starts_with("+PONG"))
}

/// Sends `request` and reads what comes back within a second.
fn exchange(port: u16, request: &[u8]) -> Option<String> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream.write_all(request).ok()?;
    let mut buffer = [0u8; 64];
    let n = stream.read(&mut buffer).ok()?;
    Some(String::from_utf8_lossy(&buffer[..n]).into_owned())
}

/// A child process of a stack, its output in `<name>.log`; stopped (SIGTERM, then SIGKILL)
/// on drop.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `command` (stdout and stderr to `dir/<name>.log`) and polls `ready(port)`
    /// until it says yes, for at most 20 s.
    pub fn spawn(
        name: &str,
        mut command: Command,
        dir: &Path,
        port: u16,
        ready: fn(u16) -> bool,
    ) -> Process {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}; run {INSTALL}"));
        let mut process = Process {
            name: name.to_string(),
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!(
                    "{name} exited with {status} before answering (run {INSTALL} if something is missing):\n{}",
                    process.log_text()
                );
            }
            if ready(port) {
                return process;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not answer on 127.0.0.1:{port} within 20 s:\n{}",
                process.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn assert_running(&mut self) {
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
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        // nginx's master stops its workers on SIGTERM; SIGKILL would orphan them.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tollgate run ARGS --deadline 4m` from the project folder with the variables of `env`,
/// its reports under `reports`. It must exit 0 or 1 and leave one complete report, which
/// is returned; its terminal summary is echoed under `label` for whoever reads the test's
/// output.
pub fn run_tollgate(label: &str, args: &[&str], env: &[(String, String)], reports: &Path) -> Value {
    let mut all = args.to_vec();
    all.extend(["--deadline", "4m"]);
    let output = cli::run_command(&all, env, reports)
        .current_dir(ROOT)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("== {label}\n{stdout}{stderr}");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{label}: tollgate exited with {:?}\n{stdout}{stderr}",
        output.status.code()
    );
    let folder = cli::run_folder(reports, &output);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(
        report["complete"], true,
        "{label}: incomplete run\n{stdout}"
    );
    report
}

/// Every check of `report` with the step it belongs to.
pub fn checks(report: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap().iter().map(move |c| (s, c)))
}

/// The ids of the checks of `report` with `verdict`.
pub fn ids(report: &Value, verdict: &str) -> BTreeSet<String> {
    checks(report)
        .filter(|(_, c)| c["verdict"] == verdict)
        .map(|(_, c)| c["id"].as_str().unwrap().to_string())
        .collect()
}
