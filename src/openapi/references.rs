//! A document's `$ref` chains, checked before any OpenAPI crate follows them: a component
//! that is a reference to itself (directly or around a loop) would have the reader follow
//! it forever.

use serde_json::Value;

/// Longest chain of references to references followed.
const MAX_CHAIN: usize = 32;

/// Every `#/…` reference, followed through the references it lands on: an error names
/// the first loop (or over-long chain) found.
pub fn check_chains(document: &Value) -> Result<(), String> {
    let mut pending = vec![document];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    follow(target, document)?;
                }
                pending.extend(map.values());
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    Ok(())
}

fn follow(start: &str, document: &Value) -> Result<(), String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut target = start;
    loop {
        if seen.contains(&target) {
            seen.push(target);
            return Err(format!("circular `$ref`: {}", seen.join(" → ")));
        }
        if seen.len() >= MAX_CHAIN {
            return Err(format!("`$ref` chain longer than {MAX_CHAIN} from {start}"));
        }
        seen.push(target);
        let Some(pointer) = target.strip_prefix('#') else {
            return Ok(());
        };
        let decoded = percent_encoding::percent_decode_str(pointer).decode_utf8_lossy();
        match document.pointer(&decoded).and_then(|t| t.get("$ref")) {
            Some(Value::String(next)) => target = next,
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_component_that_refers_to_itself_is_named() {
        let doc = json!({
            "paths": { "/a": { "get": { "responses": {
                "200": { "$ref": "#/components/responses/A" },
            }}}},
            "components": { "responses": {
                "A": { "$ref": "#/components/responses/B" },
                "B": { "$ref": "#/components/responses/A" },
            }},
        });
        let err = check_chains(&doc).unwrap_err();
        assert!(
            err.starts_with("circular `$ref`: #/components/responses/A"),
            "{err}"
        );
        // Schemas that contain themselves through properties are fine: nothing follows
        // them eagerly.
        let tree = json!({ "components": { "schemas": {
            "Node": { "properties": { "child": { "$ref": "#/components/schemas/Node" } } },
        }}});
        assert!(check_chains(&tree).is_ok());
    }
}
