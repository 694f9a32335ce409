//! Response-body snapshots in insta's `.snap` format, so they are reviewable with
//! `cargo insta review`.
//!
//! Bodies are redacted before they are compared or written: ids, timestamps, `unique.*`
//! values and captured values (which change every run), any path the step names, and every
//! API key (which must never reach a file).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::event::{CheckResult, Verdict};
use crate::scenario::template::Vars;
use crate::scenario::SnapshotSpec;
use crate::secret::Redactor;

/// Where snapshots live and whether this run rewrites them.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    pub dir: PathBuf,
    pub update: bool,
}

/// `snapshots/<scenario file without extension>/<name>.snap`, with the scenario path made
/// relative and stripped of `..` so it stays inside the snapshot folder.
fn snapshot_path(dir: &Path, scenario_file: &str, name: &str) -> PathBuf {
    let stem: PathBuf = Path::new(scenario_file)
        .with_extension("")
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(part) => Some(part.to_os_string()),
            _ => None,
        })
        .collect();
    dir.join(stem).join(format!("{name}.snap"))
}

/// The body as it is stored: pretty JSON with redactions, or the text itself.
pub fn redacted_body(body: &[u8], spec: &SnapshotSpec, secrets: &Redactor, vars: &Vars) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut json) => {
            redact_defaults(&mut json, vars);
            for path in &spec.redact {
                let pointers: Vec<String> = path
                    .query_located(&json)
                    .locations()
                    .map(|l| l.to_json_pointer())
                    .collect();
                for pointer in pointers {
                    if let Some(slot) = json.pointer_mut(&pointer) {
                        *slot = Value::String("[redacted]".into());
                    }
                }
            }
            serde_json::to_string_pretty(&json).expect("JSON serializes")
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    secrets.redact(&text)
}

/// Ids, timestamps and this run's own values change on every run: replace them wherever
/// they appear.
fn redact_defaults(value: &mut Value, vars: &Vars) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                let is_id = key == "id" || key.ends_with("_id");
                match field {
                    Value::String(_) | Value::Number(_) if is_id => {
                        *field = Value::String("[id]".into())
                    }
                    _ => redact_defaults(field, vars),
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| redact_defaults(item, vars)),
        Value::String(s) => {
            if looks_like_timestamp(s) {
                *value = Value::String("[timestamp]".into());
            } else if let Some(mark) = vars.run_value(s) {
                *value = Value::String(mark.into());
            }
        }
        _ => {}
    }
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b' ')
        && b[13] == b':'
        && humantime::parse_rfc3339_weak(&s[..19]).is_ok()
}

fn render_snap(source: &str, expression: &str, body: &str) -> String {
    format!(
        "---\nsource: {source}\nexpression: {}\n---\n{body}\n",
        serde_json::to_string(expression).expect("a string serializes")
    )
}

/// The stored body of a `.snap` file: everything after the second `---` line.
fn stored_body(snap: &str) -> Option<&str> {
    let rest = snap.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    Some(rest[end + 5..].trim_end_matches('\n'))
}

/// Compares (or, when updating, writes) the snapshot of one response.
pub fn check(
    store: &SnapshotStore,
    scenario_file: &str,
    step: &str,
    spec: &SnapshotSpec,
    actual: &str,
) -> CheckResult {
    let id = "expect.snapshot";
    let path = snapshot_path(&store.dir, scenario_file, &spec.name);
    let shown = path.display().to_string();
    let write = |target: &Path| -> Result<(), String> {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(target, render_snap(scenario_file, step, actual))
            .map_err(|e| format!("cannot write {}: {e}", target.display()))
    };
    let existing = crate::yaml::read_source(&path).ok();
    let matches = existing.as_deref().and_then(stored_body) == Some(actual.trim_end_matches('\n'));
    if matches {
        let _ = std::fs::remove_file(path.with_extension("snap.new"));
        return CheckResult::passed(id);
    }
    if store.update {
        return match write(&path) {
            Ok(()) => {
                let _ = std::fs::remove_file(path.with_extension("snap.new"));
                CheckResult::passed(id).with_message(format!("wrote {shown}"))
            }
            Err(e) => CheckResult::new(id, Verdict::Failed, e),
        };
    }
    let pending = path.with_extension("snap.new");
    let note = match write(&pending) {
        Ok(()) => format!(
            "the new body is in {} (review with `cargo insta review`, or rerun with \
             --update-snapshots)",
            pending.display()
        ),
        Err(e) => e,
    };
    match existing.as_deref().and_then(stored_body) {
        None => CheckResult::new(
            id,
            Verdict::Failed,
            format!("no snapshot {shown} yet: {note}"),
        ),
        Some(expected) => {
            let (line, want, got) = first_difference(expected, actual);
            let paths = changed_paths(expected, actual);
            let hint = match paths.first() {
                Some(first) => format!(
                    "changed: {}; if a value differs on every run, name it in the step's \
                     `redact:` (e.g. `redact: [{first}]`)",
                    paths.join(", ")
                ),
                None => "a value that differs on every run belongs in the step's `redact:`".into(),
            };
            // Quoted: a JSON line ends in a comma, which would run into the report's own.
            CheckResult::failed(
                id,
                format!("line {line}: `{}`", want.trim()),
                format!("line {line}: `{}`", got.trim()),
            )
            .with_message(format!("differs from {shown}; {hint}; {note}"))
        }
    }
}

/// Most changed paths a mismatch names.
const MAX_PATHS: usize = 5;

/// The JSONPaths at which two JSON bodies differ (leaves, in document order), or nothing
/// when either is not JSON.
fn changed_paths(expected: &str, actual: &str) -> Vec<String> {
    fn walk(path: String, a: &Value, b: &Value, out: &mut Vec<String>) {
        if out.len() >= MAX_PATHS || a == b {
            return;
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for key in keys {
                    let (p, q) = (
                        x.get(key).unwrap_or(&Value::Null),
                        y.get(key).unwrap_or(&Value::Null),
                    );
                    let simple = key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    let child = if simple {
                        format!("{path}.{key}")
                    } else {
                        format!("{path}[{}]", Value::from(key.as_str()))
                    };
                    walk(child, p, q, out);
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(format!("{path}[{i}]"), p, q, out);
                }
            }
            _ => out.push(path),
        }
    }
    let (Ok(a), Ok(b)) = (
        serde_json::from_str::<Value>(expected),
        serde_json::from_str::<Value>(actual),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk("$".into(), &a, &b, &mut out);
    out
}

fn first_difference<'a>(expected: &'a str, actual: &'a str) -> (usize, &'a str, &'a str) {
    let mut e = expected.lines();
    let mut a = actual.lines();
    let mut line = 1;
    loop {
        match (e.next(), a.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (x, y) => return (line, x.unwrap_or("(end)"), y.unwrap_or("(end)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::template::UniqueSource;
    use crate::secret::Secret;

    fn spec(redact: &[&str]) -> SnapshotSpec {
        SnapshotSpec {
            name: "s".into(),
            redact: redact
                .iter()
                .map(|p| serde_json_path::JsonPath::parse(p).unwrap())
                .collect(),
        }
    }

    #[test]
    fn ids_timestamps_named_paths_and_keys_are_redacted() {
        let body = concat!(
            r#"{"id":"usr_9","owner_id":3,"name":"k-secret-1","#,
            r#""created_at":"2026-11-23T19:00:00Z","data":[{"email":"a@b.c"}]}"#
        )
        .as_bytes();
        let secrets = Redactor::new([Secret::new("k-secret-1")]);
        let vars = Vars::new(UniqueSource::new("r1"));
        let text = redacted_body(body, &spec(&["$.data[*].email"]), &secrets, &vars);
        assert_eq!(
            text,
            "{\n  \"created_at\": \"[timestamp]\",\n  \"data\": [\n    {\n      \"email\": \
             \"[redacted]\"\n    }\n  ],\n  \"id\": \"[id]\",\n  \"name\": \"[redacted]\",\
             \n  \"owner_id\": \"[id]\"\n}"
        );
    }

    #[test]
    fn snapshot_paths_stay_inside_the_folder() {
        let path = snapshot_path(
            Path::new("snapshots"),
            "../scenarios/ouro/users.yaml",
            "get",
        );
        assert_eq!(path, Path::new("snapshots/scenarios/ouro/users/get.snap"));
    }

    #[test]
    fn stored_bodies_round_trip_and_differences_are_located() {
        let snap = render_snap("a.yaml", "users › get", "{\n  \"a\": 1\n}");
        assert_eq!(stored_body(&snap), Some("{\n  \"a\": 1\n}"));
        assert_eq!(first_difference("x\ny", "x\nz"), (2, "y", "z"));
        assert_eq!(first_difference("x", "x\nz"), (2, "(end)", "z"));
    }

    #[test]
    fn unique_and_captured_values_are_redacted_by_default() {
        let mut vars = Vars::new(UniqueSource::new("20261202T180000Z-ab12"));
        let email = vars.get("unique.email").unwrap();
        vars.capture("token", serde_json::json!("tok_captured_1"));
        let body = serde_json::json!({
            "email": email,
            "token": "tok_captured_1",
            "tags": ["kept", "tok_captured_1"],
            "name": "Pat"
        })
        .to_string();
        let text = redacted_body(body.as_bytes(), &spec(&[]), &Redactor::default(), &vars);
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["email"], "[unique]");
        assert_eq!(json["token"], "[captured]");
        assert_eq!(json["tags"], serde_json::json!(["kept", "[captured]"]));
        assert_eq!(json["name"], "Pat", "a value written in the scenario stays");
    }

    #[test]
    fn a_mismatch_names_the_changed_paths() {
        let before = r#"{"name": "a", "tags": ["x", "y"], "meta": {"n": 1, "odd key": 2}}"#;
        let after = r#"{"name": "b", "tags": ["x", "z"], "meta": {"n": 1, "odd key": 3}}"#;
        assert_eq!(
            changed_paths(before, after),
            vec!["$.meta[\"odd key\"]", "$.name", "$.tags[1]"]
        );
        assert!(changed_paths("not json", after).is_empty());
    }
}
