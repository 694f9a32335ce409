//! Reports: one model built from runner events, and one module per output format.
//! Only this module formats results; every artifact passes through the redactor.

pub mod chart;
pub mod diff;
#[cfg(test)]
mod fixture;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod progress;
pub mod sparkline;
pub mod terminal;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use model::Report;

use crate::secret::Redactor;

/// Writes every artifact into `<dir>/<run-id>/` and returns the folder. Appends the Markdown
/// summary to `$GITHUB_STEP_SUMMARY` when that is set.
pub fn write_all(report: &Report, dir: &Path, redactor: &Redactor) -> Result<PathBuf, String> {
    let report = &report.redacted(redactor);
    let folder = dir.join(&report.run_id);
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let markdown = redactor.redact(&markdown::render(report));
    let artifacts = [
        ("report.json", redactor.redact(&json::render(report))),
        ("junit.xml", redactor.redact(&junit::render(report))),
        ("summary.md", markdown.clone()),
        ("report.html", redactor.redact(&html::render(report))),
        (
            "terminal.txt",
            redactor.redact(&terminal::render(report, terminal::Style::PLAIN)),
        ),
    ];
    for (name, text) in artifacts {
        let path = folder.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .and_then(|mut f| f.write_all(markdown.as_bytes()));
        appended.map_err(|e| format!("cannot append to $GITHUB_STEP_SUMMARY: {e}"))?;
    }
    Ok(folder)
}

/// `<report dir>/latest` → the newest run folder (a relative symlink), for scripts and
/// people alike. A file system without symlinks only loses the convenience.
pub fn link_latest(dir: &Path, folder: &Path) {
    let (Some(name), latest) = (folder.file_name(), dir.join("latest")) else {
        return;
    };
    let _ = std::fs::remove_file(&latest);
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink(name, &latest) {
        eprintln!(
            "warning: cannot point {} at this run: {e}",
            latest.display()
        );
    }
}
