//! Reading an API's own OpenAPI document (3.0 or 3.1, YAML or JSON, a local file only) into
//! the few facts `tollgate init --from-openapi` builds a suite from.
//!
//! The document is parsed by maintained crates, not by hand: a 3.1 document by `oas3`; a
//! 3.0 document is first checked by `openapiv3` (so a malformed one is refused with that
//! crate's message), then lifted to 3.1's JSON Schema dialect (`nullable`, boolean
//! `exclusiveMinimum`/`exclusiveMaximum`) and read by `oas3` like the rest. Everything after
//! loading (`model`, `sample`, `suite`, `conformance`) works on that one shape.
//!
//! Only references inside the document (`#/components/...`) are followed: a `$ref` to
//! another file or a URL is never fetched (an input file must not make tollgate reach out);
//! the schema it stood for is replaced by "anything" and a warning says so.

pub mod conformance;
pub mod model;
pub mod rate;
mod references;
pub mod sample;
pub mod schema;
pub mod suite;
pub mod text;

use std::path::Path;

use serde_json::Value;

/// Largest document read (a large public API's document is a few MiB).
pub const MAX_DOCUMENT_BYTES: u64 = 32 * 1024 * 1024;

/// A loaded document: the typed spec and the same document as JSON (3.1 dialect).
pub struct Document {
    pub spec: oas3::Spec,
    pub json: Value,
    /// The version the file declared (`3.0.3`, `3.1.0`, …).
    pub declared_version: String,
}

/// Reads, parses and checks `path`. Errors are one line, naming the file (and the line and
/// column for a syntax error).
pub fn load(path: &Path) -> Result<Document, String> {
    let name = path.display();
    let text = crate::files::read_bounded(path, MAX_DOCUMENT_BYTES)
        .map_err(|e| format!("cannot read OpenAPI document {name}: {e}"))?;
    let json = parse_text(&text).map_err(|e| format!("{name}:{e}"))?;
    from_json(json).map_err(|e| format!("{name}: {e}"))
}

/// JSON when the text starts like JSON, else YAML (a superset).
fn parse_text(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text)
            .map_err(|e| format!("{}:{}: not valid JSON: {e}", e.line(), e.column()));
    }
    let node = crate::yaml::parse(text).map_err(|e| {
        format!(
            "{}:{}: not valid YAML: {}",
            e.pos.line, e.pos.col, e.message
        )
    })?;
    Ok(node.to_json())
}

/// Checks the version and the structure, and lifts a 3.0 document to 3.1.
pub fn from_json(mut json: Value) -> Result<Document, String> {
    let declared = match json.get("openapi") {
        Some(Value::String(v)) => v.clone(),
        _ if json.get("swagger").is_some() => {
            return Err(
                "this is a Swagger 2.0 document; tollgate reads OpenAPI 3.0 and 3.1 \
                 (convert it first, e.g. with swagger2openapi)"
                    .into(),
            )
        }
        _ => return Err("no `openapi` version: not an OpenAPI document".into()),
    };
    references::check_chains(&json)?;
    if declared.starts_with("3.0.") {
        serde_json::from_value::<openapiv3::OpenAPI>(json.clone())
            .map_err(|e| format!("not a valid OpenAPI 3.0 document: {e}"))?;
        schema::lift_3_0(&mut json);
        json["openapi"] = Value::String("3.1.0".into());
    } else if !declared.starts_with("3.1.") {
        return Err(format!(
            "OpenAPI {declared} is not supported: tollgate reads 3.0 and 3.1 documents"
        ));
    }
    let spec: oas3::Spec = serde_json::from_value(json.clone())
        .map_err(|e| format!("not a valid OpenAPI 3.1 document: {e}"))?;
    Ok(Document {
        spec,
        json,
        declared_version: declared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_other_than_3_0_and_3_1_are_refused_with_the_reason() {
        let swagger = from_json(json!({ "swagger": "2.0" })).err().unwrap();
        assert!(swagger.contains("Swagger 2.0"), "{swagger}");
        let newer = from_json(json!({ "openapi": "4.0.0" })).err().unwrap();
        assert!(newer.contains("4.0.0 is not supported"), "{newer}");
        let none = from_json(json!({ "info": {} })).err().unwrap();
        assert!(none.contains("not an OpenAPI document"), "{none}");
    }

    #[test]
    fn a_malformed_3_0_document_is_refused_by_the_3_0_reader() {
        let bad = json!({ "openapi": "3.0.3", "info": { "title": "x" }, "paths": {} });
        let err = from_json(bad).err().unwrap();
        assert!(err.starts_with("not a valid OpenAPI 3.0 document"), "{err}");
    }

    #[test]
    fn yaml_syntax_errors_point_at_line_and_column() {
        let err = parse_text("openapi: 3.1.0\ninfo: [unclosed\n").unwrap_err();
        assert!(err.starts_with("3:") || err.starts_with("2:"), "{err}");
    }
}
