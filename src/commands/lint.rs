//! `tollgate lint`: every diagnostic of every file at once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::cli::LintArgs;
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::profile;
use crate::scenario::{self, parse, Scenario};

pub fn lint(args: LintArgs) -> Result<ExitCode, Error> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("tollgate.yaml"), PathBuf::from("scenarios")]
    } else {
        args.paths
    };
    let mut diagnostics = Vec::new();
    let mut sources = Vec::new();
    let mut files = 0;
    for path in &paths {
        if !path.exists() {
            return Err(Error::Usage(format!("`{}` does not exist", path.display())));
        }
        if is_profile(path) {
            files += 1;
            let loaded = profile::load(path).map_err(Error::Usage)?;
            diagnostics.extend(loaded.diagnostics);
            sources.push((path.to_string_lossy().into_owned(), loaded.source));
            continue;
        }
        let found = discover(path)?;
        // The same verdict as `run` for a selection with nothing in it.
        if found.is_empty() {
            return Err(Error::Usage(format!(
                "no scenario files under `{}`",
                path.display()
            )));
        }
        for file in found {
            files += 1;
            let loaded = parse::load(&file);
            diagnostics.extend(loaded.diagnostics);
            sources.extend(loaded.sources);
        }
    }
    if diagnostics.is_empty() {
        println!("{files} file(s) checked: no problems");
        return Ok(ExitCode::SUCCESS);
    }
    print_diagnostics(&diagnostics, &sources);
    Err(Error::Usage(format!(
        "{} error(s) in {files} file(s) checked",
        diagnostics.len()
    )))
}

/// A profile is `tollgate.yaml` or any file in a `profiles/` folder.
fn is_profile(path: &Path) -> bool {
    path.is_file()
        && (path.file_name().is_some_and(|n| n == "tollgate.yaml")
            || path
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "profiles"))
}

fn discover(path: &Path) -> Result<Vec<PathBuf>, Error> {
    scenario::discover(path)
        .map_err(|e| Error::Runtime(format!("cannot read `{}`: {e}", path.display())))
}

/// Loads every scenario under `roots`; any diagnostic is printed and makes this a usage error.
pub fn load_scenarios(roots: &[PathBuf]) -> Result<Vec<Scenario>, Error> {
    let mut scenarios = Vec::new();
    let mut diagnostics = Vec::new();
    let mut sources = Vec::new();
    for root in roots {
        if !root.exists() {
            return Err(Error::Usage(format!(
                "scenario path `{}` does not exist",
                root.display()
            )));
        }
        for file in discover(root)? {
            let loaded = parse::load(&file);
            diagnostics.extend(loaded.diagnostics);
            sources.extend(loaded.sources);
            scenarios.extend(loaded.scenario);
        }
    }
    if !diagnostics.is_empty() {
        print_diagnostics(&diagnostics, &sources);
        return Err(Error::Usage(format!(
            "{} error(s) in the scenarios (see above; `tollgate lint` shows the same)",
            diagnostics.len()
        )));
    }
    Ok(scenarios)
}

pub fn print_diagnostics(diagnostics: &[Diagnostic], sources: &[(String, String)]) {
    eprint!("{}", render_diagnostics(diagnostics, sources));
}

pub fn render_diagnostics(diagnostics: &[Diagnostic], sources: &[(String, String)]) -> String {
    diagnostics
        .iter()
        .map(|d| {
            let source = sources
                .iter()
                .find(|(name, _)| *name == d.file)
                .map(|(_, s)| s.as_str())
                .unwrap_or("");
            d.render(source) + "\n"
        })
        .collect()
}
