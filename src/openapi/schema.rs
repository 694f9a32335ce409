//! The document's schemas as standalone JSON Schema files (draft 2020-12, OpenAPI 3.1's
//! dialect), and the lift of 3.0 schemas to that dialect.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

const COMPONENT_PREFIX: &str = "#/components/schemas/";

/// Rewrites 3.0's schema keywords in place to their 3.1 (JSON Schema) spelling, everywhere
/// in the document except inside examples (which are data, not schemas):
/// `nullable: true` adds `"null"` to `type` (or, with no `type`, allows null beside the
/// rest); a boolean `exclusiveMinimum`/`Maximum` becomes the number of `minimum`/`maximum`.
/// Walked with an explicit stack: a document's depth must not become the program's.
pub fn lift_3_0(value: &mut Value) {
    let mut pending: Vec<&mut Value> = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(map) => {
                lift_nullable(map);
                lift_exclusive(map, "exclusiveMinimum", "minimum");
                lift_exclusive(map, "exclusiveMaximum", "maximum");
                for (key, child) in map.iter_mut() {
                    if NAMED_SCHEMAS.contains(&key.as_str()) {
                        // `properties: { example: {...} }`: every value is a schema,
                        // whatever its name.
                        if let Value::Object(named) = child {
                            pending.extend(named.values_mut());
                        }
                    } else if !DATA_KEYWORDS.contains(&key.as_str()) {
                        pending.push(child);
                    }
                }
            }
            Value::Array(items) => pending.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// Keywords whose value is data, not a schema: copied as written.
const DATA_KEYWORDS: [&str; 5] = ["example", "examples", "default", "enum", "const"];

/// Keywords whose value maps names to schemas (a property may be called `example`).
const NAMED_SCHEMAS: [&str; 5] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Keywords a copied schema must not keep: its own dialect or base URI would change how
/// the `$defs` references of the standalone file resolve.
const IDENTITY_KEYWORDS: [&str; 4] = ["$schema", "$id", "$anchor", "$dynamicAnchor"];

fn lift_nullable(map: &mut Map<String, Value>) {
    match map.remove("nullable") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) | None => return,
        // Not the 3.0 keyword's shape (a property map's entry, say): leave it as it was.
        Some(other) => {
            map.insert("nullable".into(), other);
            return;
        }
    }
    let has_enum = if let Some(Value::Array(values)) = map.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
        true
    } else {
        false
    };
    match map.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            map.insert("type".into(), json!([t, "null"]));
        }
        Some(_) => {}
        None if has_enum => {}
        // `{nullable: true, allOf: [...]}` or `{$ref: X, nullable: true}`: null, or the rest.
        None => {
            let rest = std::mem::take(map);
            map.insert(
                "anyOf".into(),
                json!([Value::Object(rest), { "type": "null" }]),
            );
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

/// Which side of an exchange a schema describes: `readOnly` properties are not sent,
/// `writeOnly` ones (a password) are not answered, so neither is required there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Request,
    Response,
}

/// A standalone schema file for `schema` (a schema of the document): the components it
/// reaches, directly or not, are copied under `$defs` and every `$ref` points there.
/// References that leave the document are replaced by `true` (anything) and named in
/// `unresolved`.
pub fn standalone(
    schema: &Value,
    document: &Value,
    side: Side,
    unresolved: &mut Vec<String>,
) -> Value {
    let components = components(document);
    let mut defs = BTreeMap::new();
    let mut rewriter = Rewriter {
        side,
        pending: Vec::new(),
        unresolved,
    };
    let mut root = rewriter.schema(schema);
    while let Some(name) = rewriter.pending.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        let def = match components.get(&name) {
            Some(def) => rewriter.schema(def),
            None => {
                rewriter
                    .unresolved
                    .push(format!("{COMPONENT_PREFIX}{name}"));
                Value::Bool(true)
            }
        };
        defs.insert(name, def);
    }
    let mut out = Map::new();
    match &mut root {
        Value::Object(map) => out.append(map),
        // `true`/`false` as a whole schema: the same as {} / {"not": {}}.
        Value::Bool(false) => {
            out.insert("not".into(), json!({}));
        }
        _ => {}
    }
    out.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    if !defs.is_empty() {
        out.insert("$defs".into(), json!(defs));
    }
    Value::Object(out)
}

/// Compiles a standalone file with no way to read anything: every reference it holds is
/// local by construction, and an input file must not make tollgate open another.
pub fn compile(standalone: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_retriever(Nothing)
        .build(standalone)
        .map_err(|e| e.to_string())
}

struct Nothing;

impl jsonschema::Retrieve for Nothing {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("`{uri}`: a schema from an OpenAPI document reads nothing else").into())
    }
}

/// Copies a schema with component references pointing into `$defs` (names queued in
/// `pending`); OpenAPI-only keywords that JSON Schema does not know are kept, as they are
/// ignored by validators.
struct Rewriter<'a> {
    side: Side,
    pending: Vec<String>,
    unresolved: &'a mut Vec<String>,
}

impl Rewriter<'_> {
    fn schema(&mut self, schema: &Value) -> Value {
        let Value::Object(map) = schema else {
            return schema.clone();
        };
        if let Some(Value::String(target)) = map.get("$ref") {
            return self.reference(target);
        }
        let mut out = Map::new();
        for (key, child) in map {
            let key_str = key.as_str();
            let child = if DATA_KEYWORDS.contains(&key_str) {
                child.clone()
            } else if IDENTITY_KEYWORDS.contains(&key_str) {
                continue;
            } else if NAMED_SCHEMAS.contains(&key_str) {
                match child {
                    Value::Object(named) => Value::Object(
                        named
                            .iter()
                            .map(|(name, s)| (name.clone(), self.schema(s)))
                            .collect(),
                    ),
                    other => other.clone(),
                }
            } else {
                match child {
                    Value::Array(items) => {
                        Value::Array(items.iter().map(|item| self.schema(item)).collect())
                    }
                    other => self.schema(other),
                }
            };
            out.insert(key.clone(), child);
        }
        self.unrequire(&mut out);
        // With a discriminator, branches that do not pin the property each match the
        // other's instances too; `oneOf` would then fail every valid body.
        if out.contains_key("discriminator") {
            if let Some(branches) = out.remove("oneOf") {
                out.insert("anyOf".into(), branches);
            }
        }
        Value::Object(out)
    }

    fn reference(&mut self, target: &str) -> Value {
        match target.strip_prefix(COMPONENT_PREFIX) {
            Some(token) if !token.contains('/') => {
                let name = decode_pointer_token(token);
                self.pending.push(name.clone());
                json!({ "$ref": format!("#/$defs/{}", encode_pointer_token(&name)) })
            }
            _ => {
                self.unresolved.push(target.to_string());
                Value::Bool(true)
            }
        }
    }

    /// Drops from `required` the properties this side never carries (declared inline).
    fn unrequire(&self, map: &mut Map<String, Value>) {
        let flag = match self.side {
            Side::Request => "readOnly",
            Side::Response => "writeOnly",
        };
        let Some(Value::Object(properties)) = map.get("properties") else {
            return;
        };
        let hidden: Vec<String> = properties
            .iter()
            .filter(|(_, p)| p.get(flag) == Some(&Value::Bool(true)))
            .map(|(name, _)| name.clone())
            .collect();
        if let Some(Value::Array(required)) = map.get_mut("required") {
            required.retain(|r| r.as_str().is_none_or(|r| !hidden.iter().any(|h| h == r)));
        }
    }
}

/// A pointer token as written in a `$ref`: percent-decoded (a URI fragment), then `~1`/`~0`.
fn decode_pointer_token(token: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(token).decode_utf8_lossy();
    decoded.replace("~1", "/").replace("~0", "~")
}

/// The same token in a URI fragment: `~`/`/` escaped, then anything but unreserved
/// characters percent-encoded (`Page«User»`, `My Pet`).
fn encode_pointer_token(token: &str) -> String {
    const FRAGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let escaped = token.replace('~', "~0").replace('/', "~1");
    percent_encoding::utf8_percent_encode(&escaped, FRAGMENT).to_string()
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
        let list = json!({ "$ref": "#/components/schemas/List" });
        let file = standalone(&list, &doc, Side::Response, &mut unresolved);
        assert_eq!(file["$ref"], "#/$defs/List");
        let defs = file["$defs"].as_object().unwrap();
        assert_eq!(defs.keys().collect::<Vec<_>>(), ["Item", "List", "User"]);
        assert!(unresolved.is_empty());
        let validator = compile(&file).unwrap();
        assert!(validator.is_valid(&json!([{ "owner": {} }])));
        assert!(!validator.is_valid(&json!([{ "owner": 1 }])));

        let other = json!({ "$ref": "other.yaml#/Pet" });
        let external = standalone(&other, &doc, Side::Response, &mut unresolved);
        assert_eq!(external["$ref"], Value::Null, "{external}");
        assert_eq!(unresolved, ["other.yaml#/Pet"]);
    }

    #[test]
    fn schemas_as_generators_write_them_validate_as_their_document_means() {
        let mut doc = json!({ "components": { "schemas": {
            "Page«User»": { "type": "object", "required": ["id", "password"], "properties": {
                "id": { "type": "integer", "readOnly": true },
                "password": { "type": "string", "writeOnly": true },
                "default": { "$ref": "#/components/schemas/Address" },
                "example": { "type": "string", "nullable": true },
            }},
            "Address": { "type": "object", "$id": "https://elsewhere.example/address" },
            "Pet": {
                "oneOf": [{ "$ref": "#/components/schemas/Cat" }, { "$ref": "#/components/schemas/Dog" }],
                "discriminator": { "propertyName": "petType" },
            },
            "Cat": { "type": "object", "properties": { "petType": { "type": "string" } } },
            "Dog": { "type": "object", "properties": { "petType": { "type": "string" } } },
            "Maybe": { "allOf": [{ "$ref": "#/components/schemas/Address" }], "nullable": true },
        }}});
        lift_3_0(&mut doc);
        let compiled = |name: &str, side: Side| {
            let reference =
                json!({ "$ref": format!("#/components/schemas/{}", encode_pointer_token(name)) });
            let mut unresolved = Vec::new();
            let file = standalone(&reference, &doc, side, &mut unresolved);
            assert!(unresolved.is_empty(), "{unresolved:?}");
            compile(&file).unwrap()
        };
        // A password is never answered, an id never sent; `default` and `example` are
        // properties here, resolved and lifted like any other.
        let page = compiled("Page«User»", Side::Response);
        assert!(page.is_valid(&json!({ "id": 1, "default": {}, "example": null })));
        assert!(!page.is_valid(&json!({ "id": 1, "default": 3 })));
        assert!(compiled("Page«User»", Side::Request).is_valid(&json!({ "password": "x" })));
        // Both branches match a cat; with the discriminator that is not an error.
        assert!(compiled("Pet", Side::Response).is_valid(&json!({ "petType": "cat" })));
        // Nullable without a type: null, or the rest.
        let maybe = compiled("Maybe", Side::Response);
        assert!(
            maybe.is_valid(&Value::Null)
                && maybe.is_valid(&json!({}))
                && !maybe.is_valid(&json!(1))
        );
    }

    #[test]
    fn a_schema_that_names_a_file_reads_nothing() {
        let doc = json!({});
        let hostile = json!({ "$schema": "file:///dev/zero", "type": "object" });
        let file = standalone(&hostile, &doc, Side::Response, &mut Vec::new());
        assert_eq!(
            file["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let smuggled = json!({ "allOf": [{ "$dynamicRef": "file:///dev/zero" }] });
        let file = standalone(&smuggled, &doc, Side::Response, &mut Vec::new());
        // Refused by name (the retriever reads nothing), never opened.
        let e = compile(&file).err().unwrap_or_default();
        assert!(e.contains("file:///dev/zero"), "{e}");
    }
}
