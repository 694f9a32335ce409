//! JSON Schema references in scenarios and profiles: a `$ref` read and compiled when the
//! file is read, so a dangling or broken schema is a lint error, not a runtime surprise.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::model::{Origin, SchemaRef};
use crate::decode::Decoder;
use crate::yaml::Node;

pub(super) fn schema_ref(node: &Node, dir: &Path, dec: &mut Decoder) -> Option<SchemaRef> {
    let fields = dec.fields(node, "`schema`", &["$ref"], &["$ref"])?;
    let ref_node = fields.get("$ref")?;
    let relative = dec.string(ref_node, "`$ref`")?;
    let path = crate::files::normalize(&dir.join(&relative));
    let compiled = load_schema(&path);
    match compiled {
        Ok(validator) => Some(SchemaRef {
            path,
            validator,
            origin: Origin::of(dec, ref_node),
        }),
        Err(message) => {
            dec.error_with_help(ref_node, message, "`$ref` is relative to this file");
            None
        }
    }
}

/// Reads and compiles a JSON Schema file; `$ref`s inside it resolve against its own
/// location on disk (never the network).
pub fn load_schema(path: &Path) -> Result<Arc<jsonschema::Validator>, String> {
    let name = path.to_string_lossy();
    if path.exists() {
        crate::files::inside_project(path)?;
    }
    let text =
        crate::yaml::read_source(path).map_err(|e| format!("cannot read schema `{name}`: {e}"))?;
    let schema: Value = serde_json::from_str(&text)
        .map_err(|e| format!("schema `{name}` is not valid JSON: {e}"))?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base = format!("file://{}", absolute.to_string_lossy());
    jsonschema::options()
        .with_base_uri(base)
        .with_retriever(crate::files::ProjectFiles)
        .build(&schema)
        .map(Arc::new)
        .map_err(|e| format!("schema `{name}` does not compile: {e}"))
}
