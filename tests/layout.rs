//! The layout's two rules, checked on the source text (a file-level import graph of `src/`):
//! the harness does not depend on the thing it tests — no file outside the server imports
//! `server::` but `tollgate serve` and the embedded target — and no two files
//! import each other, directly or around a circle.
//!
//! An import of an ancestor module (`super::App` from `server/faults.rs`) runs back up the
//! tree, as Rust's `mod.rs` pattern does; those are not counted as circles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files that may name `server::`, and why.
const MAY_IMPORT_SERVER: [(&str, &str); 4] = [
    ("src/commands/serve.rs", "`tollgate serve` runs the server"),
    (
        "src/commands/cli.rs",
        "`tollgate serve`'s flags are the server's settings",
    ),
    (
        "src/commands/bench.rs",
        "the benchmarks measure the reference server itself",
    ),
    (
        "src/target.rs",
        "the embedded target starts the reference server",
    ),
];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// `src/load/verdict.rs` → `["load", "verdict"]`; `src/load/mod.rs` → `["load"]`.
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix("src").unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file's code without its unit tests (`#[cfg(test)]` and what follows it, tests being
/// kept at the end of a file) and without comments.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module paths named in `code`, resolved against `module` (`crate::a::b`, `super::c`, and
/// a child module's name used at the start of a `use`).
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let path = regex::Regex::new(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)").unwrap();
    let mut out = Vec::new();
    for found in path.captures_iter(code) {
        let segments: Vec<String> = found[2]
            .trim_start_matches("::")
            .split("::")
            .map(str::to_string)
            .collect();
        let mut resolved = if &found[1] == "crate" {
            Vec::new()
        } else {
            module[..module.len().saturating_sub(1)].to_vec()
        };
        resolved.extend(segments);
        out.push(resolved);
    }
    out
}

/// The longest prefix of `path` that is a module with a file of its own.
fn file_module(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| modules.contains(prefix))
}

fn import_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files = sources(Path::new("src"));
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let targets: BTreeSet<Vec<String>> = named_paths(&code, &module)
            .iter()
            .filter_map(|p| file_module(p, &modules))
            // Up the tree (an ancestor's own items) is not an import between rooms.
            .filter(|t| t != &module && !module.starts_with(t))
            .collect();
        graph.insert(module, targets);
    }
    graph
}

#[test]
fn only_serve_and_the_embedded_target_import_the_server() {
    let mut offenders = Vec::new();
    for file in sources(Path::new("src")) {
        let name = file.to_string_lossy().to_string();
        if name.starts_with("src/server/") || MAY_IMPORT_SERVER.iter().any(|(f, _)| *f == name) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        if code.contains("server::") {
            offenders.push(name);
        }
    }
    assert_eq!(offenders, Vec::<String>::new(), "files importing server::");
}

#[test]
fn no_two_files_import_each_other_even_around_a_circle() {
    let graph = import_graph();
    assert!(
        graph.len() > 40,
        "the graph was read: {} files",
        graph.len()
    );
    // Depth-first search for a back edge; the circle is reported file by file.
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        circles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            let circle: Vec<String> = path[at..].iter().map(|m| m.join("::")).collect();
            circles.push(format!("{} -> {}", circle.join(" -> "), node.join("::")));
            return;
        }
        if !done.insert(node.clone()) {
            return;
        }
        path.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, circles);
        }
        path.pop();
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done, &mut circles);
    }
    assert_eq!(
        circles,
        Vec::<String>::new(),
        "import circles between files"
    );
}

#[test]
fn the_graph_sees_a_planted_circle() {
    // The checker itself must be able to fail: two modules naming each other.
    let modules: BTreeSet<Vec<String>> = [vec!["a".to_string()], vec!["b".to_string()]].into();
    let a = named_paths("use crate::b::Thing;", &["a".into()]);
    let b = named_paths("fn f() { super::a::g() }", &["b".into()]);
    assert_eq!(file_module(&a[0], &modules), Some(vec!["b".to_string()]));
    assert_eq!(file_module(&b[0], &modules), Some(vec!["a".to_string()]));
}
