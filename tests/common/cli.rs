//! The `tollgate` binary as a user runs it, with an environment that nothing of the
//! developer's shell or CI job leaks into: no key, no GitHub Actions variables, no colour.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use super::KEY_VARS;

pub const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

/// Variables besides the keys that would change what the CLI does: the tenant keys of
/// workloads, GitHub Actions annotations and the step summary, and the proxies (a test sets
/// its own).
const NOT_INHERITED: [&str; 11] = [
    "OURO_TENANT_KEYS",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// `tollgate ARGS` with `NO_COLOR=1` and none of [`KEY_VARS`], the GitHub Actions
/// variables or any `TOLLGATE_*` option (`TOLLGATE_TARGET`, `serve`'s `TOLLGATE_LOG`, …)
/// inherited; a test sets what it needs with `.env(…)`.
pub fn tollgate(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).env("NO_COLOR", "1");
    for (var, _) in KEY_VARS {
        command.env_remove(var);
    }
    for var in NOT_INHERITED {
        command.env_remove(var);
    }
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("TOLLGATE_") {
            command.env_remove(var);
        }
    }
    command
}

/// `tollgate run ARGS --report-dir REPORTS` with the variables of `env` set (and no other
/// key).
pub fn run_command(args: &[&str], env: &[(String, String)], reports: &Path) -> Command {
    let mut command = tollgate(&["run"]);
    command.args(args).arg("--report-dir").arg(reports);
    for (var, value) in env {
        command.env(var, value);
    }
    command
}

/// Runs [`run_command`]: its output and the one run folder it wrote under `reports`.
pub fn run(args: &[&str], env: &[(String, String)], reports: &Path) -> (Output, PathBuf) {
    let output = run_command(args, env, reports).output().unwrap();
    let folder = run_folder(reports, &output);
    (output, folder)
}

/// The run folders under `reports` (not the `latest` link to the newest).
pub fn run_folders(reports: &Path) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "latest"))
        .collect();
    folders.sort();
    folders
}

/// The one run folder under `reports`.
pub fn run_folder(reports: &Path, output: &Output) -> PathBuf {
    let folders = run_folders(reports);
    assert_eq!(
        folders.len(),
        1,
        "one run folder: {folders:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    folders[0].clone()
}

/// Output bytes as text; they must be UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Sends `signal` (`INT`, `TERM`) to `child` as `kill -SIGNAL` does.
pub fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} {}: {sent}", child.id());
}
