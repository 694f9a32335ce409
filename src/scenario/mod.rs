//! Scenario files: the model, the strict parser with positions, templates, and discovery.
//!
//! Files whose name starts with `_` are fragments: they are only read through `include`.

pub mod model;
pub mod parse;
pub mod predicate;
mod schema;
pub mod template;

use std::path::{Path, PathBuf};

pub use model::*;

/// Every `*.yaml` / `*.yml` scenario under `root` (a file is returned as is), sorted so runs
/// and reports are stable.
pub fn discover(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    if root.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if is_scenario_file(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn is_scenario_file(path: &Path) -> bool {
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let fragment = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('_'));
    yaml && !fragment
}
