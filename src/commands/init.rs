//! `tollgate init`: a commented profile, a first scenario and the JSON Schemas an editor
//! validates them with, written into a folder. The profile describes the embedded
//! reference server, so `tollgate init && tollgate run` passes before anything is edited;
//! its comments say what to change for the user's own API.
//!
//! `--from-openapi FILE` writes a suite generated from the API's own document instead
//! (`openapi::suite`), and says what it could not generate.
//!
//! Nothing is overwritten without `--force`: a folder that already holds any of the files
//! is refused, and every clashing file is named.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::cli::InitArgs;
use crate::error::Error;

/// Every file `init` writes, relative to the folder, and its content. The schemas are the
/// ones this binary validates with, so an editor and `tollgate lint` agree.
const FILES: [(&str, &str); 6] = [
    (
        "tollgate.yaml",
        include_str!("../../templates/init/tollgate.yaml"),
    ),
    (
        "scenarios/example.yaml",
        include_str!("../../templates/init/scenarios/example.yaml"),
    ),
    (
        "scenarios/auth.yaml",
        include_str!("../../templates/init/scenarios/auth.yaml"),
    ),
    (
        "schemas/error.schema.json",
        include_str!("../../schemas/error.schema.json"),
    ),
    (
        "schemas/profile.schema.json",
        include_str!("../../schemas/profile.schema.json"),
    ),
    (
        "schemas/scenario.schema.json",
        include_str!("../../schemas/scenario.schema.json"),
    ),
];

/// The editor schemas every generated project gets beside its own files.
const EDITOR_SCHEMAS: [(&str, &str); 2] = [FILES[4], FILES[5]];

pub fn init(args: InitArgs) -> Result<ExitCode, Error> {
    let files: Vec<(String, String)> = match &args.from_openapi {
        None => FILES
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect(),
        Some(document) => from_openapi(document, &args.dir)?,
    };
    for path in write_project(&args.dir, &files, args.force)? {
        println!("wrote {}", path.display());
    }
    println!("{}", next_steps(&args.dir, args.from_openapi.is_some()));
    Ok(ExitCode::SUCCESS)
}

/// The generated files, after printing what the document could not give.
fn from_openapi(document: &Path, dir: &Path) -> Result<Vec<(String, String)>, Error> {
    let doc = crate::openapi::load(document).map_err(Error::Usage)?;
    let source = document.display().to_string();
    let reference = relative_inside(document, dir);
    let suite = crate::openapi::suite::generate(&doc, &source, reference.as_deref());
    // The document's text, made safe for a terminal (no escape sequences).
    for warning in &suite.warnings {
        eprintln!("warning: {}", crate::openapi::text::comment(warning));
    }
    println!(
        "generated {} steps ({} commented out) and {} auth-matrix entries from {source}",
        suite.steps, suite.commented, suite.matrix_entries
    );
    let mut files = suite.files;
    files.extend(
        EDITOR_SCHEMAS
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string())),
    );
    Ok(files)
}

/// `document`'s path relative to `dir` when it lies inside it (symlinks followed).
fn relative_inside(document: &Path, dir: &Path) -> Option<String> {
    let document = document.canonicalize().ok()?;
    let dir = dir.canonicalize().ok()?;
    let relative = document.strip_prefix(&dir).ok()?;
    relative.to_str().map(str::to_string)
}

/// Writes every file under `dir`; without `force`, refuses (writing nothing) when any of
/// them exists.
fn write_project(
    dir: &Path,
    files: &[(String, String)],
    force: bool,
) -> Result<Vec<PathBuf>, Error> {
    let paths: Vec<PathBuf> = files.iter().map(|(name, _)| dir.join(name)).collect();
    let existing: Vec<String> = paths
        .iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| p.display().to_string())
        .collect();
    if !force && !existing.is_empty() {
        return Err(Error::Usage(format!(
            "{} already exist{}: nothing was written (pass --force to overwrite)",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" }
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Runtime(format!("cannot create `{}`: {e}", dir.display())))?;
    let root = dir
        .canonicalize()
        .map_err(|e| Error::Runtime(format!("cannot read `{}`: {e}", dir.display())))?;
    for ((_, content), path) in files.iter().zip(&paths) {
        let failed =
            |e: std::io::Error| Error::Runtime(format!("cannot write `{}`: {e}", path.display()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
            // A folder in the way that is a link (`scenarios -> /elsewhere`) must not carry
            // the files out of the project.
            let real = parent.canonicalize().map_err(failed)?;
            if !real.starts_with(&root) {
                return Err(Error::Usage(format!(
                    "`{}` leads outside `{}` (a symbolic link?): nothing more was written",
                    parent.display(),
                    dir.display()
                )));
            }
        }
        // A symlink in the way is replaced, never followed (it could point anywhere).
        if force && path.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
            std::fs::remove_file(path).map_err(failed)?;
        }
        std::fs::write(path, content).map_err(failed)?;
    }
    Ok(paths)
}

fn next_steps(dir: &Path, generated: bool) -> String {
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("  cd {}\n", dir.display())
    };
    if generated {
        return format!(
            "\nNext:\n{cd}  tollgate lint                # check the profile and scenarios/\n  \
             API_KEY=... tollgate run --target https://staging.example.com\n\n\
             Read tollgate.yaml and scenarios/: the comments say what the document could not."
        );
    }
    format!(
        "\nNext:\n{cd}  tollgate lint                # check the profile and scenarios/\n  \
         tollgate run                 # against the embedded reference server: passes as \
         written\n  \
         API_KEY=... tollgate run --target https://staging.example.com --only contract\n\n\
         Then edit tollgate.yaml (auth, keys, errors, rate_limits) and scenarios/ to match \
         your API."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_file_is_named_and_nothing_is_written() {
        let dir = std::env::temp_dir().join(format!("tollgate-init-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("scenarios")).unwrap();
        std::fs::write(dir.join("scenarios/example.yaml"), "mine").unwrap();
        let files: Vec<(String, String)> = FILES
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        let e = write_project(&dir, &files, false).unwrap_err().to_string();
        assert!(e.contains("scenarios/example.yaml already exists"), "{e}");
        assert!(!dir.join("tollgate.yaml").exists());
        assert_eq!(
            std::fs::read_to_string(dir.join("scenarios/example.yaml")).unwrap(),
            "mine"
        );
        write_project(&dir, &files, true).unwrap();
        assert!(std::fs::read_to_string(dir.join("scenarios/example.yaml"))
            .unwrap()
            .contains("name: users"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
