//! The document's schemas as standalone JSON Schema files (draft 2020-12, OpenAPI 3.1's
//! dialect), and the lift of 3.0 schemas to that dialect.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

const COMPONENT_PREFIX: &str = "#/components/schemas/";

/// Rewrites 3.0's schema keywords in place to their 3.1 (JSON Schema) spelling, everywhere
/// in the document except inside examples (which are data, not schemas):
/// `nullable: true` adds `"null"` to `type`; a boolean `exclusiveMinimum`/`Maximum`
/// becomes the number of `minimum`/`maximum`.
pub fn lift_3_0(value: &mut Value) {
    match value {
        Value::Object(map) => {
            lift_nullable(map);
            lift_exclusive(map, "exclusiveMinimum", "minimum");
            lift_exclusive(map, "exclusiveMaximum", "maximum");
            for (key, child) in map.iter_mut() {
                if key != "example" && key != "examples" {
                    lift_3_0(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(lift_3_0),
        _ => {}
    }
}

fn lift_nullable(map: &mut Map<String, Value>) {
    if map.get("nullable") != Some(&Value::Bool(true)) {
        if matches!(map.get("nullable"), Some(Value::Bool(false))) {
            map.remove("nullable");
        }
        return;
    }
    map.remove("nullable");
    // No type: anything was allowed, null among it. An enum must list null itself.
    if let Some(Value::String(t)) = map.get_mut("type") {
        let t = std::mem::take(t);
        map.insert("type".into(), json!([t, "null"]));
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
}

fn lift_exclusive(map: &mut Map<String, Value>, exclusive: &str, bound: &str) {
    match map.get(exclusive) {
        Some(Value::Bool(true)) => {
            if let Some(limit) = map.remove(bound) {
                map.insert(exclusive.into(), limit);
            } else {
                map.remove(exclusive);
            }
        }
        Some(Value::Bool(false)) => {
            map.remove(exclusive);
        }
        _ => {}
    }
}

/// The document's `components.schemas`, by name.
pub fn components(document: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// A standalone schema file for `schema` (a schema of the document): the components it
/// reaches, directly or not, are copied under `$defs` and every `$ref` points there.
/// References that leave the document are replaced by `true` (anything) and named in
/// `unresolved`.
pub fn standalone(schema: &Value, document: &Value, unresolved: &mut Vec<String>) -> Value {
    let components = components(document);
    let mut defs = BTreeMap::new();
    let mut pending = Vec::new();
    let mut root = rewrite(schema, &mut pending, unresolved);
    while let Some(name) = pending.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        let def = match components.get(&name) {
            Some(def) => rewrite(def, &mut pending, unresolved),
            None => {
                unresolved.push(format!("{COMPONENT_PREFIX}{name}"));
                Value::Bool(true)
            }
        };
        defs.insert(name, def);
    }
    if let Value::Object(map) = &mut root {
        let mut out = Map::new();
        out.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        out.append(map);
        if !defs.is_empty() {
            out.insert("$defs".into(), json!(defs));
        }
        return Value::Object(out);
    }
    root
}

/// A copy of `schema` with component references pointing into `$defs` (names queued in
/// `pending`); OpenAPI-only keywords that JSON Schema does not know are kept, as they are
/// ignored by validators.
fn rewrite(schema: &Value, pending: &mut Vec<String>, unresolved: &mut Vec<String>) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                return match target.strip_prefix(COMPONENT_PREFIX) {
                    Some(name) if !name.contains('/') => {
                        let name = decode_pointer_token(name);
                        pending.push(name.clone());
                        json!({ "$ref": format!("#/$defs/{}", encode_pointer_token(&name)) })
                    }
                    _ => {
                        unresolved.push(target.clone());
                        Value::Bool(true)
                    }
                };
            }
            let mut out = Map::new();
            for (key, child) in map {
                let child = match key.as_str() {
                    // Data, not schemas: copied as written.
                    "example" | "examples" | "default" | "enum" | "const" => child.clone(),
                    _ => rewrite(child, pending, unresolved),
                };
                out.insert(key.clone(), child);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| rewrite(item, pending, unresolved))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn decode_pointer_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn encode_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The schema `$ref` points at inside the document (one level), if it does.
pub fn resolve<'a>(schema: &'a Value, document: &'a Value) -> &'a Value {
    let mut current = schema;
    // A chain of references is followed a few steps; a cycle ends as the last one seen.
    for _ in 0..8 {
        match current.get("$ref").and_then(Value::as_str) {
            Some(target) if target.starts_with("#/") => match document.pointer(&target[1..]) {
                Some(next) => current = next,
                None => break,
            },
            _ => break,
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_and_boolean_exclusive_bounds_become_json_schema() {
        let mut doc = json!({
            "components": { "schemas": { "Pet": {
                "type": "object",
                "properties": {
                    "tag": { "type": "string", "nullable": true },
                    "age": { "type": "integer", "minimum": 0, "exclusiveMinimum": true },
                    "kind": { "enum": ["cat", "dog"], "nullable": true },
                },
                "example": { "nullable": true },
            }}}
        });
        lift_3_0(&mut doc);
        let pet = &doc["components"]["schemas"]["Pet"];
        assert_eq!(pet["properties"]["tag"]["type"], json!(["string", "null"]));
        assert_eq!(
            pet["properties"]["age"],
            json!({ "type": "integer", "exclusiveMinimum": 0 })
        );
        assert_eq!(
            pet["properties"]["kind"]["enum"],
            json!(["cat", "dog", null])
        );
        assert_eq!(
            pet["example"],
            json!({ "nullable": true }),
            "examples are data"
        );
    }

    #[test]
    fn standalone_copies_every_reached_component_and_nothing_else() {
        let doc = json!({ "components": { "schemas": {
            "List": { "type": "array", "items": { "$ref": "#/components/schemas/Item" } },
            "Item": { "properties": { "owner": { "$ref": "#/components/schemas/User" } } },
            "User": { "type": "object" },
            "Unused": { "type": "string" },
        }}});
        let mut unresolved = Vec::new();
        let file = standalone(
            &json!({ "$ref": "#/components/schemas/List" }),
            &doc,
            &mut unresolved,
        );
        assert_eq!(file["$ref"], "#/$defs/List");
        let defs = file["$defs"].as_object().unwrap();
        assert_eq!(defs.keys().collect::<Vec<_>>(), ["Item", "List", "User"]);
        assert!(unresolved.is_empty());
        let validator = jsonschema::validator_for(&file).unwrap();
        assert!(validator.is_valid(&json!([{ "owner": {} }])));
        assert!(!validator.is_valid(&json!([{ "owner": 1 }])));

        let external = standalone(&json!({ "$ref": "other.yaml#/Pet" }), &doc, &mut unresolved);
        assert_eq!(external, json!(true));
        assert_eq!(unresolved, ["other.yaml#/Pet"]);
    }
}
