//! What the suite reads off one operation of the document: its group and order, the
//! statuses and bodies it documents, ids (made up or created), and where errors keep their
//! message.

use serde_json::{json, Value};

use super::super::model::{Location, Operation};
use super::super::rate::Published;
use super::super::schema::resolve;
use super::style::{file_slug, yaml_string};

/// A path id no API has issued: authenticated requests for it answer 404.
const MISSING_ID: &str = "tollgate-missing-999";
const MISSING_NUMBER: u64 = 999_999_999;

/// The operation's first tag, else its first path segment that is not a version.
pub(super) fn group_of(op: &Operation) -> String {
    if let Some(tag) = op.tags.first() {
        return tag.clone();
    }
    op.path
        .split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .find(|s| !is_version(s))
        .unwrap_or("api")
        .to_string()
}

pub(super) fn is_version(segment: &str) -> bool {
    let rest = segment.strip_prefix(['v', 'V']).unwrap_or("");
    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Creates first, then reads, updates, other calls, and deletes last; each by path.
pub(super) fn order_key(op: &Operation) -> (String, u8, String) {
    let collection = op.path.split("/{").next().unwrap_or(&op.path).to_string();
    let item = op.path.contains('{');
    let rank = match (op.method.as_str(), item) {
        ("POST", false) => 0,
        ("GET", false) => 1,
        ("GET", true) => 2,
        ("PUT" | "PATCH", true) => 3,
        ("DELETE", _) => 9,
        _ => 5,
    };
    (collection, rank, op.path.clone())
}

pub(super) fn operation_name(op: &Operation) -> String {
    op.operation_id
        .clone()
        .unwrap_or_else(|| format!("{}-{}", op.method.to_ascii_lowercase(), file_slug(&op.path)))
}

pub(super) fn step_name(op: &Operation) -> String {
    match &op.summary {
        Some(summary) if !summary.trim().is_empty() => {
            format!("{} ({})", summary.trim().replace('\n', " "), op.label())
        }
        _ => op.label(),
    }
}

/// The documented success statuses (`2XX` as its usual members; only `default`: 200).
pub(super) fn success_statuses(op: &Operation) -> Vec<u16> {
    let mut out: Vec<u16> = Vec::new();
    for r in &op.responses {
        if let Ok(n) = r.status.parse::<u16>() {
            if (200..300).contains(&n) {
                out.push(n);
            }
        } else if r.status.eq_ignore_ascii_case("2XX") {
            out.extend([200, 201, 202, 204]);
        }
    }
    if out.is_empty() {
        out.push(200);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The field of a created resource that holds its id: `id`, else one ending in `id`.
pub(super) fn id_field(schema: &Value, doc: &Value) -> Option<String> {
    let properties = properties_of(schema, doc);
    if properties.contains_key("id") {
        return Some("id".into());
    }
    properties
        .keys()
        .find(|k| k.ends_with("_id") || k.ends_with("Id"))
        .cloned()
}

pub(super) fn properties_of(schema: &Value, doc: &Value) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    // `allOf` parts, each schema once (a cycle of references ends), a bounded number.
    let mut pending = vec![schema];
    let mut seen: Vec<*const Value> = Vec::new();
    while let Some(schema) = pending.pop() {
        let schema = resolve(schema, doc);
        if seen.contains(&(schema as *const Value)) || seen.len() > 256 {
            continue;
        }
        seen.push(schema);
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, p) in properties {
                out.entry(name.clone()).or_insert_with(|| p.clone());
            }
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            pending.extend(parts.iter().rev());
        }
    }
    out
}

/// The parameter name of `collection/{param}` if the document has that path.
pub(super) fn item_param(collection: &str, doc: &Value) -> Option<String> {
    let prefix = format!("{}/{{", collection.trim_end_matches('/'));
    doc["paths"].as_object()?.keys().find_map(|path| {
        let rest = path.strip_prefix(&prefix)?;
        let name = rest.strip_suffix('}')?;
        (!name.contains(['/', '{', '}'])).then(|| name.to_string())
    })
}

/// An id no one has, of the parameter's type.
pub(super) fn missing_id(schema: &Value, doc: &Value) -> Value {
    let schema = resolve(schema, doc);
    let types = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"integer") || types.contains(&"number") {
        return json!(MISSING_NUMBER);
    }
    match schema.get("format").and_then(Value::as_str) {
        Some("uuid") => json!("00000000-0000-4000-8000-000000000999"),
        _ => json!(MISSING_ID),
    }
}

/// Where an error body keeps its message: `/error`, `/message`, `/detail`, `/title`, or
/// `/error/message`.
pub(super) fn message_pointer(schema: &Value, doc: &Value) -> Option<String> {
    let properties = properties_of(schema, doc);
    for name in [
        "error",
        "message",
        "detail",
        "title",
        "error_description",
        "msg",
    ] {
        let Some(p) = properties.get(name) else {
            continue;
        };
        let p = resolve(p, doc);
        let is_string = match p.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
            _ => false,
        };
        if is_string {
            return Some(format!("/{name}"));
        }
        if properties_of(p, doc).contains_key("message") {
            return Some(format!("/{name}/message"));
        }
    }
    None
}

/// Header parameters OpenAPI says to ignore: the profile's auth and the body set them.
pub(super) const IGNORED_HEADERS: [&str; 3] = ["authorization", "content-type", "accept"];

/// `name`, or `name-2`, `name-3` … when a name equal to it without regard to case is
/// taken; the result is taken from then on.
pub(super) fn unique_name(name: &str, taken: &mut Vec<String>) -> String {
    let free = |candidate: &str, taken: &[String]| {
        !taken.iter().any(|t| t.eq_ignore_ascii_case(candidate))
    };
    let mut candidate = name.to_string();
    let mut n = 1;
    while !free(&candidate, taken) {
        n += 1;
        candidate = format!("{name}-{n}");
    }
    taken.push(candidate.clone());
    candidate
}

/// The body every listed success status documents, when they all document the same one
/// (a PUT answering 200 with JSON or 204 with nothing gets neither check).
pub(super) fn same_body(op: &Operation, statuses: &[u16]) -> Option<(String, Value)> {
    let bodies: Vec<Option<&(String, Value)>> = statuses
        .iter()
        .map(|status| {
            op.response(*status)
                .or_else(|| op.success())
                .and_then(|r| r.json.as_ref())
        })
        .collect();
    let first = (*bodies.first()?)?;
    bodies
        .iter()
        .all(|b| b.is_some_and(|b| b.1 == first.1))
        .then(|| first.clone())
}

/// A value from the document's examples, refused when it holds `{{`: tollgate would read
/// it as a template (and `{{ env.X }}` would send a variable of the runner to the API).
pub(super) fn not_a_template<'a>(value: &'a Value, what: &str) -> Result<&'a Value, String> {
    fn holds(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains("{{"),
            Value::Array(items) => items.iter().any(holds),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains("{{") || holds(v)),
            _ => false,
        }
    }
    if holds(value) {
        Err(format!(
            "the example of {what} holds `{{{{`, which tollgate reads as a template"
        ))
    } else {
        Ok(value)
    }
}

/// What a valid key gets for an id no one has: 404, and 400 or 422 too when the id's
/// schema constrains it (a made-up id may be refused as malformed first).
pub(super) fn missing_id_statuses(op: &Operation, doc: &Value) -> Option<Vec<u16>> {
    let ids: Vec<_> = op
        .parameters
        .iter()
        .filter(|p| p.location == Location::Path)
        .collect();
    if ids.is_empty() {
        return None;
    }
    let constrained = ids.iter().any(|p| {
        let schema = resolve(&p.schema, doc);
        [
            "pattern",
            "maxLength",
            "minLength",
            "maximum",
            "minimum",
            "enum",
            "format",
        ]
        .iter()
        .any(|k| schema.get(*k).is_some())
    });
    Some(if constrained {
        vec![400, 404, 422]
    } else {
        vec![404]
    })
}

/// `100/s`, with `,burst=N` when the document gives a burst other than the quota (the
/// profile's default).
pub(super) fn limit_text(published: &Published) -> String {
    let quota = published
        .limit
        .split('/')
        .next()
        .and_then(|q| q.parse::<u64>().ok());
    match published.burst {
        Some(burst) if Some(burst) != quota => {
            yaml_string(&format!("{},burst={burst}", published.limit))
        }
        _ => published.limit.clone(),
    }
}
