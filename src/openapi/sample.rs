//! Valid values built from a schema, for the requests of a generated suite.
//!
//! The document's own examples win; otherwise a value is made from the schema's type and
//! constraints. Emails and names become `{{ unique.email }}` / `{{ unique.name }}`, new on
//! every run, so creates do not collide with the last run's data. A value that cannot be
//! made (a pattern none of a few candidates matches, a `not`) is `None`, and the step that
//! needed it is generated commented out, with the reason.

use serde_json::{json, Map, Value};

use super::schema::resolve;

/// Deepest schema nesting followed (recursive schemas end here).
const MAX_DEPTH: usize = 10;

/// What the runner fills `{{ unique.email }}` and `{{ unique.name }}` with, near enough to
/// check a sample against its schema before writing it.
/// They are as long as the longest the runner makes (a load phase's, with a timestamp in
/// upper case), so a `maxLength` or a pattern that the real value would break is caught.
pub const STAND_INS: [(&str, &str); 2] = [
    (
        "{{ unique.email }}",
        "tollgate+20261203T032912Z-3a99-load-9999@example.com",
    ),
    (
        "{{ unique.name }}",
        "tollgate-20261203T032912Z-3a99-load-9999",
    ),
];

/// Longest string made by padding to a `minLength`.
const MAX_MADE_LENGTH: usize = 4096;

/// Most values one sample is built from (wide schemas nested deep multiply).
const MAX_VALUES: usize = 10_000;

/// A sample of `schema` (a schema of `document`); `name` is the property or parameter it
/// is for, which picks `{{ unique.* }}` for emails and names.
pub fn sample(schema: &Value, document: &Value, name: Option<&str>) -> Option<Value> {
    let budget = std::cell::Cell::new(MAX_VALUES);
    value(schema, document, name, 0, &budget)
}

fn value(
    schema: &Value,
    document: &Value,
    name: Option<&str>,
    depth: usize,
    budget: &std::cell::Cell<usize>,
) -> Option<Value> {
    if depth > MAX_DEPTH || budget.get() == 0 {
        return None;
    }
    budget.set(budget.get() - 1);
    let schema = resolve(schema, document);
    let map = match schema {
        Value::Bool(true) => return Some(json!("tollgate")),
        Value::Object(map) => map,
        _ => return None,
    };
    if let Some(given) = documented(map) {
        return Some(given);
    }
    if let Some(all) = map.get("allOf").and_then(Value::as_array) {
        return all_of(map, all, document, name, depth, budget);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = map
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return value(first, document, name, depth + 1, budget);
        }
    }
    if map.contains_key("not") {
        return None;
    }
    match type_of(map).as_deref() {
        Some("string") => string(map, name),
        Some("integer") => Some(json!(number(map, true)? as i64)),
        Some("number") => number(map, false).map(|n| json!(n)),
        Some("boolean") => Some(json!(true)),
        Some("array") => {
            let items = map.get("items").unwrap_or(&Value::Bool(true));
            let item = value(items, document, name, depth + 1, budget)?;
            Some(json!([item]))
        }
        Some("null") => Some(Value::Null),
        _ if map.contains_key("properties") => object(map, document, depth, budget),
        Some("object") => object(map, document, depth, budget),
        _ => Some(json!("tollgate")),
    }
}

/// `example`, the first of `examples`, `default`, `const` or the first `enum` value.
fn documented(map: &Map<String, Value>) -> Option<Value> {
    map.get("example")
        .or_else(|| map.get("examples").and_then(|e| e.as_array()?.first()))
        .or_else(|| map.get("const"))
        .or_else(|| map.get("default"))
        .or_else(|| map.get("enum").and_then(|e| e.as_array()?.first()))
        .cloned()
}

/// The first non-null type of `type` (a string or a list).
fn type_of(map: &Map<String, Value>) -> Option<String> {
    match map.get("type")? {
        Value::String(t) => Some(t.clone()),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .map(str::to_string),
        _ => None,
    }
}

fn all_of(
    map: &Map<String, Value>,
    all: &[Value],
    document: &Value,
    name: Option<&str>,
    depth: usize,
    budget: &std::cell::Cell<usize>,
) -> Option<Value> {
    let mut merged = Map::new();
    let mut rest = map.clone();
    rest.remove("allOf");
    for part in all.iter().chain(std::iter::once(&Value::Object(rest))) {
        match value(part, document, name, depth + 1, budget)? {
            Value::Object(fields) => merged.extend(fields),
            // A non-object part (`allOf: [{type: string}, …]`) decides alone.
            other if all.len() == 1 => return Some(other),
            _ => {}
        }
    }
    Some(Value::Object(merged))
}

/// Required properties only: what the API needs and nothing it might refuse.
fn object(
    map: &Map<String, Value>,
    document: &Value,
    depth: usize,
    budget: &std::cell::Cell<usize>,
) -> Option<Value> {
    let properties = map.get("properties").and_then(Value::as_object);
    let required = map.get("required").and_then(Value::as_array);
    let mut out = Map::new();
    for field in required.into_iter().flatten().filter_map(Value::as_str) {
        let schema = properties
            .and_then(|p| p.get(field))
            .unwrap_or(&Value::Bool(true));
        // The server sets it (an id): sending it could be refused.
        if resolve(schema, document).get("readOnly") == Some(&Value::Bool(true)) {
            continue;
        }
        out.insert(
            field.to_string(),
            value(schema, document, Some(field), depth + 1, budget)?,
        );
    }
    Some(Value::Object(out))
}

fn string(map: &Map<String, Value>, name: Option<&str>) -> Option<Value> {
    let format = map.get("format").and_then(Value::as_str).unwrap_or("");
    let name = name.unwrap_or("").to_ascii_lowercase();
    let by_format = match format {
        "email" | "idn-email" => Some("{{ unique.email }}"),
        "uuid" => Some("4b0e9f7e-3c1a-4d2b-9f6e-8a7c5d3b2e10"),
        "date-time" => Some("2026-01-01T00:00:00Z"),
        "date" => Some("2026-01-01"),
        "time" => Some("12:00:00Z"),
        "uri" | "url" | "iri" => Some("https://example.com/tollgate"),
        "hostname" => Some("example.com"),
        "ipv4" => Some("192.0.2.1"),
        "ipv6" => Some("2001:db8::1"),
        "byte" => Some("dG9sbGdhdGU="),
        _ => None,
    };
    let by_name = if name == "email" || name.ends_with("_email") {
        Some("{{ unique.email }}")
    } else if name == "name" || name == "username" || name == "title" {
        Some("{{ unique.name }}")
    } else {
        None
    };
    let candidates = by_format.or(by_name).into_iter().map(str::to_string).chain(
        [
            "tollgate",
            "tollgate-1",
            "a",
            "A",
            "1",
            "abc123",
            "x@example.com",
        ]
        .map(String::from),
    );
    let min = map.get("minLength").and_then(Value::as_u64).unwrap_or(0);
    if min > MAX_MADE_LENGTH as u64 {
        return None;
    }
    let min = min as usize;
    let max = map
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    let pattern = match map.get("pattern").and_then(Value::as_str) {
        Some(p) => Some(regex::Regex::new(p).ok()?),
        None => None,
    };
    candidates
        .map(|c| fit_length(c, min, max))
        .find(|c| {
            let real = stand_in(c);
            let len = real.chars().count();
            len >= min
                && max.is_none_or(|m| len <= m)
                && pattern.as_ref().is_none_or(|p| p.is_match(&real))
        })
        .map(Value::String)
}

/// Pads a plain candidate to `min` characters or cuts it to `max` (templates are left as
/// they are: their length is the stand-in's).
fn fit_length(candidate: String, min: usize, max: Option<usize>) -> String {
    if candidate.contains("{{") {
        return candidate;
    }
    let mut out = candidate;
    let short = min.saturating_sub(out.chars().count());
    out.push_str(&"x".repeat(short));
    match max {
        Some(m) if out.chars().count() > m => out.chars().take(m.max(1)).collect(),
        _ => out,
    }
}

/// Replaces the email addresses of an example (a field named `email` or `…_email`/`…Email`)
/// with `{{ unique.email }}`: an example is sent on every run and by every probe, and a
/// second account with the same address is usually refused.
pub fn uniquify(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                let lower = key.to_ascii_lowercase();
                let is_email =
                    lower == "email" || lower.ends_with("_email") || key.ends_with("Email");
                if is_email && field.is_string() {
                    *field = json!("{{ unique.email }}");
                } else {
                    uniquify(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(uniquify),
        _ => {}
    }
}

/// `text` with each `{{ unique.* }}` replaced by its stand-in.
pub fn stand_in(text: &str) -> String {
    STAND_INS
        .iter()
        .fold(text.to_string(), |t, (template, real)| {
            t.replace(template, real)
        })
}

/// `value` with every string's templates replaced by stand-ins (to validate a sample).
pub fn with_stand_ins(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(stand_in(s)),
        Value::Array(items) => Value::Array(items.iter().map(with_stand_ins).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), with_stand_ins(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn number(map: &Map<String, Value>, integer: bool) -> Option<f64> {
    let get = |k: &str| map.get(k).and_then(Value::as_f64);
    let step = if integer { 1.0 } else { 0.5 };
    let low = get("minimum").or(get("exclusiveMinimum").map(|m| m + step));
    let high = get("maximum").or(get("exclusiveMaximum").map(|m| m - step));
    let mut n = low.unwrap_or(1.0);
    if let Some(h) = high {
        if n > h {
            n = h;
        }
    }
    if integer {
        n = n.ceil();
    }
    if let Some(m) = get("multipleOf").filter(|m| *m > 0.0) {
        n = (n / m).ceil() * m;
    }
    if high.is_some_and(|h| n > h) || low.is_some_and(|l| n < l) {
        return None;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({ "components": { "schemas": {
            "NewPet": {
                "type": "object",
                "required": ["name", "email", "age"],
                "properties": {
                    "name": { "type": "string" },
                    "email": { "type": "string", "format": "email" },
                    "age": { "type": "integer", "exclusiveMinimum": 0, "maximum": 30 },
                    "tag": { "type": "string" },
                },
            },
            "Pet": { "allOf": [
                { "$ref": "#/components/schemas/NewPet" },
                { "required": ["id"], "properties": { "id": { "type": "integer", "format": "int64" } } },
            ]},
        }}})
    }

    #[test]
    fn required_properties_get_values_that_satisfy_their_schema() {
        let doc = doc();
        let pet = sample(&json!({ "$ref": "#/components/schemas/Pet" }), &doc, None).unwrap();
        assert_eq!(
            pet,
            json!({ "name": "{{ unique.name }}", "email": "{{ unique.email }}", "age": 1, "id": 1 })
        );
    }

    #[test]
    fn examples_win_and_impossible_patterns_give_up() {
        let doc = doc();
        let with_example = json!({ "type": "string", "example": "charlie" });
        assert_eq!(sample(&with_example, &doc, None), Some(json!("charlie")));
        let pattern = json!({ "type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$" });
        assert_eq!(sample(&pattern, &doc, None), None);
        let short = json!({ "type": "string", "minLength": 12, "maxLength": 12 });
        assert_eq!(sample(&short, &doc, None), Some(json!("tollgatexxxx")));
        let bounded = json!({ "type": "integer", "minimum": 5, "maximum": 3 });
        assert_eq!(sample(&bounded, &doc, None), None);
    }
}
