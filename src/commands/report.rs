//! `tollgate report diff OLD.json NEW.json`, and the baseline comparison of `run`;
//! `report merge` is `report_merge.rs`.

use std::path::Path;
use std::process::ExitCode;

use super::cli::ReportCommand;
use crate::error::{exit, Error};
use crate::report::diff::{self, Diff, Missing, Thresholds};

pub fn report(command: ReportCommand) -> Result<ExitCode, Error> {
    match command {
        ReportCommand::Diff {
            old,
            new,
            profile,
            allow_missing,
        } => {
            let thresholds = thresholds_of(&profile)?;
            let missing = if allow_missing {
                Missing::Allowed
            } else {
                Missing::Regression
            };
            let d = diff::diff(&read(&old)?, &read(&new)?, thresholds, missing);
            print!("{}", diff::render(&d));
            Ok(exit_code(&d))
        }
        ReportCommand::Merge {
            inputs,
            profile,
            report_dir,
        } => super::report_merge::merge(&inputs, &profile, &report_dir),
    }
}

/// Largest report.json read back (a baseline, `report diff`): hours of per-second series.
const MAX_REPORT_BYTES: u64 = 256 << 20;

pub fn read(path: &Path) -> Result<serde_json::Value, Error> {
    let value: serde_json::Value =
        crate::files::read_json(path, MAX_REPORT_BYTES, "a report.json").map_err(Error::Usage)?;
    if value.get("schema_version").is_none() || value.get("steps").is_none() {
        return Err(Error::Usage(format!(
            "{} is not a tollgate report.json",
            path.display()
        )));
    }
    Ok(value)
}

/// The profile's thresholds, or the defaults when there is no profile file.
fn thresholds_of(profile: &Path) -> Result<Thresholds, Error> {
    if !profile.exists() {
        return Ok(Thresholds::default());
    }
    Ok(super::load_profile(profile)?.baseline)
}

pub fn exit_code(d: &Diff) -> ExitCode {
    ExitCode::from(if d.regressions.is_empty() {
        exit::PASSED
    } else {
        exit::CHECK_FAILED
    })
}
