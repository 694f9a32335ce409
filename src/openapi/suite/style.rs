//! How the generated YAML is spelled: flow-style values, scalars that read back as the
//! same string, file names, and the fixed blocks every profile starts with.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::Request;

pub(super) const KEYS_YAML: &str = "\
# Names of environment variables, never values. Only `primary` is required; a check that
# needs another role is skipped, with the reason, when its variable is unset.
keys:
  primary: API_KEY
  second: API_KEY_2              # another account: its buckets must be separate
  revoked: API_KEY_REVOKED       # must be refused
  readonly: API_KEY_READONLY     # may read, must not write
  test: API_TEST_KEY             # test mode: its own buckets

";

pub(super) const CONTRACT_YAML: &str = "\
contract:
  timeout_ms: 10000
  parallel: 4
  pace: 0.5                      # contract steps use at most half of each class's limit

";

/// The request as YAML under `indent`, starting with `request:`.
pub(super) fn request_yaml(r: &Request, indent: &str) -> String {
    let mut text = format!("{indent}request:\n");
    let _ = writeln!(text, "{indent}  method: {}", r.method);
    let _ = writeln!(text, "{indent}  path: {}", yaml_string(&r.path));
    if !r.query.is_empty() {
        let _ = writeln!(text, "{indent}  query: {}", flow_map(&r.query));
    }
    if !r.headers.is_empty() {
        let _ = writeln!(text, "{indent}  headers: {}", flow_map(&r.headers));
    }
    if let Some(json) = &r.json {
        let _ = writeln!(text, "{indent}  json: {}", flow(json));
    }
    text
}

/// A value in YAML flow style: `{ name: Charlie, tags: [a, b] }`.
pub(super) fn flow(value: &Value) -> String {
    match value {
        Value::String(s) => yaml_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", yaml_string(k), flow(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// Query and header values are text on the wire: numbers and booleans are written as the
/// strings they become.
pub(super) fn flow_map(map: &BTreeMap<String, Value>) -> String {
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}: {}", yaml_string(k), yaml_string(&v))
        })
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// A YAML scalar: plain when that reads back as the same string, else JSON-quoted.
pub(super) fn yaml_string(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-@+".contains(c))
        // Dates and versions read as timestamps or numbers in some YAML tools.
        && !text.starts_with(|c: char| c.is_ascii_digit() || "-.@+".contains(c))
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
        )
        && text.parse::<f64>().is_err();
    if plain {
        return text.to_string();
    }
    // JSON quoting is YAML's double-quoted style; the separators some YAML readers take for
    // line breaks are escaped too.
    Value::String(text.to_string())
        .to_string()
        .replace('\u{85}', "\\u0085")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// A component name as a file name: letters, digits, `-` and `_` kept, the rest `-`.
pub(super) fn file_name(name: &str) -> String {
    let out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if out.trim_matches('-').is_empty() {
        "schema".into()
    } else {
        out
    }
}

/// Lower-case letters, digits and dashes.
pub(super) fn file_slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "api".into()
    } else {
        out
    }
}
