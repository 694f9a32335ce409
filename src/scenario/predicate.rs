//! Assertions on one value — a JSON node or a header — as Hurl's predicates: a mapping of
//! predicate names to operands, all of which must hold.
//!
//! ```yaml
//! json:
//!   $.id: { matches: "^usr_", min_length: 8 }
//!   $.items: { type: array, length: 3 }
//!   $.created_at: { format: date-time }
//! ```
//!
//! Every operand is typed when the file is read, so an unknown predicate or an operand of
//! the wrong type is a lint error (never a literal comparison with an object); a failure
//! names the predicate, the expected and the actual value.

use regex::Regex;
use serde_json::Value;

use crate::decode::Decoder;
use crate::diagnostic::did_you_mean;
use crate::yaml::{self, Node};

/// Every predicate name, as a scenario writes it.
pub const NAMES: [&str; 17] = [
    "equals",
    "not",
    "matches",
    "type",
    "length",
    "min_length",
    "max_length",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "starts_with",
    "ends_with",
    "one_of",
    "exists",
    "format",
];

const TYPES: [&str; 7] = [
    "string", "number", "integer", "boolean", "array", "object", "null",
];

const FORMATS: [&str; 5] = ["uuid", "date-time", "date", "email", "uri"];

#[derive(Debug, Clone)]
pub enum Predicate {
    /// Operands may hold `{{ templates }}`: rendered when checked.
    Equals(Value),
    Not(Value),
    Matches(Regex),
    Type(&'static str),
    Length(u64),
    MinLength(u64),
    MaxLength(u64),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    Contains(Value),
    StartsWith(String),
    EndsWith(String),
    OneOf(Vec<Value>),
    Exists(bool),
    Format(&'static str),
}

/// Whether `node` is written as predicates: a mapping with at least one predicate name as a
/// key. (Any other mapping is a literal object to compare with.)
pub fn is_predicates(node: &Node) -> bool {
    let yaml::Value::Map(entries) = &node.value else {
        return false;
    };
    entries
        .iter()
        .any(|(k, _)| k.as_str().is_some_and(|k| NAMES.contains(&k)))
}

/// Reads a mapping of predicates; every problem is recorded in `dec`.
pub fn parse(node: &Node, dec: &mut Decoder) -> Option<Vec<Predicate>> {
    let yaml::Value::Map(entries) = &node.value else {
        dec.error(
            node,
            "predicates must be a mapping such as `{ matches: \"^usr_\" }`",
        );
        return None;
    };
    let mut predicates = Vec::new();
    let mut ok = true;
    for (key, operand) in entries {
        let name = key.as_str().unwrap_or_default();
        match one(name, operand, dec) {
            Some(p) => predicates.push(p),
            None => {
                ok = false;
                if !NAMES.contains(&name) {
                    let message = format!("unknown predicate `{name}`");
                    match did_you_mean(name, NAMES) {
                        Some(s) => {
                            dec.error_with_help(key, message, format!("did you mean `{s}`?"))
                        }
                        None => dec.error_with_help(
                            key,
                            message,
                            format!("predicates: {}", NAMES.join(", ")),
                        ),
                    }
                }
            }
        }
    }
    ok.then_some(predicates)
}

/// One predicate and its operand; `None` (with a diagnostic for a known name) when the
/// operand has the wrong type.
fn one(name: &str, operand: &Node, dec: &mut Decoder) -> Option<Predicate> {
    let what = format!("`{name}`");
    Some(match name {
        "equals" => Predicate::Equals(operand.to_json()),
        "not" => Predicate::Not(operand.to_json()),
        "matches" => {
            let text = dec.string(operand, &what)?;
            match Regex::new(&text) {
                Ok(re) => Predicate::Matches(re),
                Err(e) => {
                    let text = e.to_string();
                    let why = text.lines().last().unwrap_or_default();
                    let why = why.trim_start_matches("error: ");
                    dec.error(operand, format!("invalid regular expression: {why}"));
                    return None;
                }
            }
        }
        "type" => Predicate::Type(choice(operand, &what, &TYPES, dec)?),
        "format" => Predicate::Format(choice(operand, &what, &FORMATS, dec)?),
        "length" => Predicate::Length(dec.uint(operand, &what)?),
        "min_length" => Predicate::MinLength(dec.uint(operand, &what)?),
        "max_length" => Predicate::MaxLength(dec.uint(operand, &what)?),
        "gt" => Predicate::Gt(number(operand, &what, dec)?),
        "gte" => Predicate::Gte(number(operand, &what, dec)?),
        "lt" => Predicate::Lt(number(operand, &what, dec)?),
        "lte" => Predicate::Lte(number(operand, &what, dec)?),
        "contains" => Predicate::Contains(operand.to_json()),
        "starts_with" => Predicate::StartsWith(dec.string(operand, &what)?),
        "ends_with" => Predicate::EndsWith(dec.string(operand, &what)?),
        "one_of" => Predicate::OneOf(
            dec.list(operand, &what)?
                .iter()
                .map(Node::to_json)
                .collect(),
        ),
        "exists" => Predicate::Exists(dec.boolean(operand, &what)?),
        _ => return None,
    })
}

fn choice(
    node: &Node,
    what: &str,
    options: &[&'static str],
    dec: &mut Decoder,
) -> Option<&'static str> {
    let text = dec.string(node, what)?;
    match options.iter().find(|o| **o == text) {
        Some(found) => Some(found),
        None => {
            dec.error_with_help(
                node,
                format!("{what} cannot be `{text}`"),
                format!("one of: {}", options.join(", ")),
            );
            None
        }
    }
}

fn number(node: &Node, what: &str, dec: &mut Decoder) -> Option<f64> {
    match node.to_json() {
        Value::Number(n) => n.as_f64(),
        _ => {
            dec.error(
                node,
                format!("{what} must be a number, found {}", node.kind()),
            );
            None
        }
    }
}

impl Predicate {
    /// How the expectation reads in a failure: `matches /^usr_/`, `length 3`.
    pub fn describe(&self) -> String {
        let json = |v: &Value| v.to_string();
        match self {
            Predicate::Equals(v) => format!("equals {}", json(v)),
            Predicate::Not(v) => format!("not {}", json(v)),
            Predicate::Matches(re) => format!("matches /{}/", re.as_str()),
            Predicate::Type(t) => format!("type {t}"),
            Predicate::Length(n) => format!("length {n}"),
            Predicate::MinLength(n) => format!("min_length {n}"),
            Predicate::MaxLength(n) => format!("max_length {n}"),
            Predicate::Gt(n) => format!("gt {n}"),
            Predicate::Gte(n) => format!("gte {n}"),
            Predicate::Lt(n) => format!("lt {n}"),
            Predicate::Lte(n) => format!("lte {n}"),
            Predicate::Contains(v) => format!("contains {}", json(v)),
            Predicate::StartsWith(s) => format!("starts_with {}", json(&Value::from(s.as_str()))),
            Predicate::EndsWith(s) => format!("ends_with {}", json(&Value::from(s.as_str()))),
            Predicate::OneOf(vs) => format!("one_of {}", json(&Value::Array(vs.clone()))),
            Predicate::Exists(true) => "exists".into(),
            Predicate::Exists(false) => "does not exist".into(),
            Predicate::Format(f) => format!("format {f}"),
        }
    }

    /// Whether `actual` (`None`: nothing there) satisfies the predicate, with operands
    /// already rendered by `render`.
    pub fn holds(
        &self,
        actual: Option<&Value>,
        render: &dyn Fn(&Value) -> Result<Value, String>,
    ) -> Result<bool, String> {
        let Some(actual) = actual else {
            return Ok(matches!(self, Predicate::Exists(false) | Predicate::Not(_)));
        };
        Ok(match self {
            Predicate::Exists(exists) => *exists,
            Predicate::Equals(v) => *actual == render(v)?,
            Predicate::Not(v) => *actual != render(v)?,
            Predicate::Matches(re) => actual.as_str().is_some_and(|s| re.is_match(s)),
            Predicate::Type(t) => type_of(actual, t),
            Predicate::Length(n) => length(actual) == Some(*n),
            Predicate::MinLength(n) => length(actual).is_some_and(|l| l >= *n),
            Predicate::MaxLength(n) => length(actual).is_some_and(|l| l <= *n),
            Predicate::Gt(n) => actual.as_f64().is_some_and(|a| a > *n),
            Predicate::Gte(n) => actual.as_f64().is_some_and(|a| a >= *n),
            Predicate::Lt(n) => actual.as_f64().is_some_and(|a| a < *n),
            Predicate::Lte(n) => actual.as_f64().is_some_and(|a| a <= *n),
            Predicate::Contains(v) => {
                let needle = render(v)?;
                match (actual, &needle) {
                    (Value::String(s), Value::String(n)) => s.contains(n.as_str()),
                    (Value::Array(items), _) => items.contains(&needle),
                    (Value::Object(map), Value::String(key)) => map.contains_key(key),
                    _ => false,
                }
            }
            Predicate::StartsWith(s) => actual.as_str().is_some_and(|a| a.starts_with(s.as_str())),
            Predicate::EndsWith(s) => actual.as_str().is_some_and(|a| a.ends_with(s.as_str())),
            Predicate::OneOf(options) => {
                let mut found = false;
                for option in options {
                    found |= *actual == render(option)?;
                }
                found
            }
            Predicate::Format(f) => actual.as_str().is_some_and(|s| has_format(s, f)),
        })
    }
}

fn type_of(value: &Value, name: &str) -> bool {
    match name {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => value.is_null(),
    }
}

/// Characters of a string, items of an array, keys of an object.
fn length(value: &Value) -> Option<u64> {
    Some(match value {
        Value::String(s) => s.chars().count(),
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        _ => return None,
    } as u64)
}

fn has_format(text: &str, format: &str) -> bool {
    let pattern = match format {
        "uuid" => r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        // RFC 3339: a date, `T`, a time with an optional fraction, and an offset.
        "date-time" => r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
        "date" => r"^\d{4}-\d{2}-\d{2}$",
        "email" => r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        _ => return url::Url::parse(text).is_ok(),
    };
    Regex::new(pattern).is_ok_and(|re| re.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predicates(yaml_text: &str) -> Result<Vec<Predicate>, Vec<String>> {
        let node = yaml::parse(yaml_text).unwrap();
        let mut dec = Decoder::new("test.yaml");
        match parse(&node, &mut dec) {
            Some(p) if dec.diagnostics.is_empty() => Ok(p),
            _ => Err(dec.diagnostics.iter().map(|d| d.message.clone()).collect()),
        }
    }

    fn holds(yaml_text: &str, actual: Value) -> bool {
        let render = |v: &Value| Ok(v.clone());
        predicates(yaml_text)
            .unwrap()
            .iter()
            .all(|p| p.holds(Some(&actual), &render).unwrap())
    }

    #[test]
    fn each_predicate_passes_and_fails() {
        let cases: &[(&str, Value, Value)] = &[
            ("{equals: 3}", 3.into(), 4.into()),
            ("{not: 3}", 4.into(), 3.into()),
            ("{matches: '^usr_'}", "usr_1".into(), "abc".into()),
            ("{type: integer}", 3.into(), 3.5.into()),
            (
                "{type: array}",
                serde_json::json!([]),
                serde_json::json!({}),
            ),
            ("{length: 3}", "abc".into(), "ab".into()),
            (
                "{min_length: 2}",
                serde_json::json!([1, 2]),
                serde_json::json!([1]),
            ),
            ("{max_length: 2}", "ab".into(), "abc".into()),
            ("{gt: 1}", 2.into(), 1.into()),
            ("{gte: 1}", 1.into(), 0.into()),
            ("{lt: 1}", 0.into(), 1.into()),
            ("{lte: 1.5}", 1.5.into(), 2.into()),
            ("{contains: b}", "abc".into(), "xyz".into()),
            (
                "{contains: 2}",
                serde_json::json!([1, 2]),
                serde_json::json!([1]),
            ),
            ("{starts_with: ab}", "abc".into(), "cab".into()),
            ("{ends_with: bc}", "abc".into(), "bca".into()),
            ("{one_of: [a, b]}", "b".into(), "c".into()),
            (
                "{format: uuid}",
                "123e4567-e89b-12d3-a456-426614174000".into(),
                "123".into(),
            ),
            (
                "{format: date-time}",
                "2026-12-02T18:00:00Z".into(),
                "2026-12-02".into(),
            ),
            ("{format: date}", "2026-12-02".into(), "02/12/2026".into()),
            ("{format: email}", "a@b.example".into(), "a-at-b".into()),
            (
                "{format: uri}",
                "https://example.com/x".into(),
                "not a uri".into(),
            ),
            ("{matches: '^u', min_length: 3}", "usr".into(), "us".into()),
        ];
        for (yaml_text, passing, failing) in cases {
            assert!(
                holds(yaml_text, passing.clone()),
                "{yaml_text} should pass {passing}"
            );
            assert!(
                !holds(yaml_text, failing.clone()),
                "{yaml_text} should fail {failing}"
            );
        }
    }

    #[test]
    fn exists_judges_absence_and_nothing_else_passes_on_nothing() {
        let render = |v: &Value| Ok(v.clone());
        let absent = |text: &str| predicates(text).unwrap()[0].holds(None, &render).unwrap();
        assert!(absent("{exists: false}"));
        assert!(!absent("{exists: true}"));
        assert!(!absent("{matches: x}"));
        assert!(absent("{not: 3}"), "nothing is not 3");
    }

    #[test]
    fn unknown_predicates_and_wrong_operands_are_errors() {
        let cases = [
            ("{exists: maybe}", "`exists` must be true or false"),
            ("{exists: true, extra: 1}", "unknown predicate `extra`"),
            ("{matchs: x, type: string}", "unknown predicate `matchs`"),
            (
                "{length: -1}",
                "`length` must be a non-negative integer, found -1",
            ),
            ("{gt: ten}", "`gt` must be a number"),
            ("{type: text}", "`type` cannot be `text`"),
            ("{format: phone}", "`format` cannot be `phone`"),
            (
                "{matches: '(['}",
                "invalid regular expression: unclosed character class",
            ),
            ("{one_of: a}", "`one_of` must be a list"),
        ];
        for (text, expected) in cases {
            let errors = predicates(text).expect_err(text);
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{text}: {errors:?}"
            );
        }
    }
}
