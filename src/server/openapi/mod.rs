//! The reference server's own OpenAPI 3.1 document, served at `GET /openapi.json`.
//!
//! It is generated from the running [`ServerConfig`], not kept as a file: profiles differ in
//! auth styles, resource shapes and rate classes, and flags change the limits and the rate
//! header dialect. The schemas state the rules `store.rs` and `routes.rs` enforce, and the
//! statuses every one the gate and the handlers can answer, so that a generic tool
//! (`tests/server_openapi.rs`, Schemathesis in `.ci/run`) can hold the server to it.
//!
//! The document describes the conformant server: under a fault the server breaks it on
//! purpose. `/openapi.json` itself is outside the gate (no key, no rate limit), so a client
//! can read the document before it has a key.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::config::{HeaderDialect, Resources, RouteKind};
use super::response::json_response;
use super::store::Page;
use super::{App, ServerConfig};
use components::{components, not_blank, schema_ref, security_requirements};

mod components;

/// Where the document is served.
pub const PATH: &str = "/openapi.json";

/// `GET /openapi.json`: no key and no rate limit (the router mounts it outside the gate).
pub async fn serve(State(app): State<Arc<App>>) -> Response {
    json_response(StatusCode::OK, &document(&app.config))
}

/// One operation of the API: what the router serves and the gate classifies.
struct Op {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    kind: RouteKind,
}

/// Every gated operation, in the order of the router in `mod.rs`.
const OPS: [Op; 10] = [
    op(
        "get",
        "/v1/users",
        "listUsers",
        "List users",
        RouteKind::Read,
    ),
    op(
        "post",
        "/v1/users",
        "createUser",
        "Create a user",
        RouteKind::Write,
    ),
    op(
        "get",
        "/v1/users/{id}",
        "getUser",
        "Get a user",
        RouteKind::Read,
    ),
    op(
        "put",
        "/v1/users/{id}",
        "updateUser",
        "Update a user",
        RouteKind::Write,
    ),
    op(
        "delete",
        "/v1/users/{id}",
        "deleteUser",
        "Delete a user",
        RouteKind::Write,
    ),
    op(
        "get",
        "/v1/files",
        "listFiles",
        "List files",
        RouteKind::FilesRead,
    ),
    op(
        "post",
        "/v1/files",
        "createFile",
        "Upload a file",
        RouteKind::FilesWrite,
    ),
    op(
        "get",
        "/v1/files/{id}",
        "getFile",
        "Get a file",
        RouteKind::FilesRead,
    ),
    op(
        "delete",
        "/v1/files/{id}",
        "deleteFile",
        "Delete a file",
        RouteKind::FilesWrite,
    ),
    op(
        "get",
        "/v1/search",
        "search",
        "Search users and files",
        RouteKind::Search,
    ),
];

const fn op(
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    kind: RouteKind,
) -> Op {
    Op {
        method,
        path,
        id,
        summary,
        kind,
    }
}

/// The whole document for `config`.
pub fn document(config: &ServerConfig) -> Value {
    let mut paths = Map::new();
    for op in &OPS {
        let item = paths.entry(op.path).or_insert_with(|| json!({}));
        item[op.method] = operation(config, op);
    }
    paths.insert(PATH.into(), json!({ "get": self_operation() }));
    if config.test_hooks {
        paths.insert(
            "/_tollgate/arrivals".into(),
            json!({ "get": arrivals_operation() }),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("tollgate reference server ({})", config.profile),
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The API the reference server implements, as this instance is \
                configured (profile, limits, rate header dialect). Under a fault the server \
                breaks this document on purpose. GET /openapi.json needs no key and is not \
                rate limited; HEAD is answered wherever GET is.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "security": security_requirements(config),
        "paths": paths,
        "components": components(config),
    })
}

fn self_operation() -> Value {
    json!({
        "operationId": "getOpenApi",
        "summary": "This document",
        "security": [],
        "responses": {
            "200": json_content("This document.", json!({ "type": "object" }), json!({})),
            "431": error("Request header fields too large.", json!({})),
        },
    })
}

/// `tollgate bench`'s arrival counts, served only with `--test-hooks`.
fn arrivals_operation() -> Value {
    let ms = json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX });
    json!({
        "operationId": "arrivals",
        "summary": "Requests counted by the millisecond they arrived (test hook)",
        "security": [],
        "parameters": [
            query("from_ms", true, ms.clone(), "Epoch milliseconds, inclusive."),
            query("to_ms", false, ms.clone(), "Epoch milliseconds, exclusive."),
        ],
        "responses": {
            "200": json_content("Counts per millisecond.", json!({
                "type": "object",
                "required": ["from_ms", "counts"],
                "properties": {
                    "from_ms": ms,
                    "counts": { "type": "array", "items": { "type": "integer", "minimum": 0 } },
                },
            }), json!({})),
            "400": error("A missing or malformed range.", json!({})),
            "431": error("Request header fields too large.", json!({})),
        },
    })
}

fn operation(config: &ServerConfig, op: &Op) -> Value {
    let mut operation = json!({
        "operationId": op.id,
        "summary": op.summary,
        "description": rate_description(config, op.kind),
        "parameters": parameters(config, op),
        "responses": responses(config, op),
    });
    if let Some(body) = request_body(op) {
        operation["requestBody"] = body;
    }
    if let Some(limits) = rate_extension(config, op.kind) {
        operation["x-rate-limit"] = limits;
    }
    operation
}

/// The rate class and its policies, for machines (`tollgate init --from-openapi` reads it):
/// one object per policy, `{class, limit, window, burst}`.
fn rate_extension(config: &ServerConfig, kind: RouteKind) -> Option<Value> {
    let class = config.profile.class_of(kind);
    let policies: Vec<Value> = config
        .limits
        .policies(class)
        .iter()
        .map(|p| {
            json!({
                "class": class.to_string(),
                "limit": p.quota,
                "window": format!("{}s", p.window.as_secs()),
                "burst": p.burst,
            })
        })
        .collect();
    match policies.len() {
        0 => None,
        1 => policies.into_iter().next(),
        _ => Some(Value::Array(policies)),
    }
}

/// The rate class and its published policies, in words.
fn rate_description(config: &ServerConfig, kind: RouteKind) -> String {
    let class = config.profile.class_of(kind);
    let policies = config.limits.policies(class);
    if policies.is_empty() {
        return format!("Rate class `{class}`: not rate limited.");
    }
    let items: Vec<String> = policies
        .iter()
        .map(|p| {
            format!(
                "{} per {} s (burst {})",
                p.quota,
                p.window.as_secs(),
                p.burst
            )
        })
        .collect();
    format!("Rate class `{class}`: {}.", items.join(" and "))
}

fn parameters(config: &ServerConfig, op: &Op) -> Value {
    let mut list = Vec::new();
    if op.path.ends_with("{id}") {
        list.push(json!({
            "name": "id", "in": "path", "required": true,
            "schema": { "type": "string" },
            "example": if op.path.starts_with("/v1/files") { "file_1" } else { "usr_1" },
        }));
    }
    if op.method == "post" {
        list.push(json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "The same key with the same body replays the first answer \
                (`Idempotent-Replayed: true`); with another body it is a 409.",
            // 1 to 255 printable ASCII characters, not starting or ending with a space; the
            // spaces and tabs around it are HTTP's optional whitespace, which no server sees
            // (so a length limit on the whole value would be a promise nobody can keep).
            "schema": {
                "type": "string",
                "pattern": "^[ \t]*[!-~]([ -~]{0,253}[!-~])?[ \t]*$",
            },
        }));
    }
    if op.method == "get" && !op.path.ends_with("{id}") {
        if op.kind == RouteKind::Search {
            let mut q = query(
                "q",
                true,
                json!({ "type": "string", "pattern": not_blank() }),
                "Case-insensitive substring of a user's name or email or a file's name.",
            );
            q["example"] = json!("charlie");
            list.push(q);
        }
        list.extend(page_parameters());
        if op.kind == RouteKind::Search && config.test_hooks {
            let ms = json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX });
            list.push(query(
                "delay_ms",
                false,
                ms,
                "Test hook: answer this much later.",
            ));
        }
    }
    Value::Array(list)
}

fn page_parameters() -> [Value; 2] {
    [
        query(
            "limit",
            false,
            json!({
                "type": "integer", "minimum": 1, "maximum": Page::MAX_LIMIT,
                "default": Page::DEFAULT_LIMIT,
            }),
            "Items per page.",
        ),
        query(
            "offset",
            false,
            // The store parses a usize: beyond it is a 400, not an empty page.
            json!({ "type": "integer", "minimum": 0, "maximum": usize::MAX, "default": 0 }),
            "Items to skip.",
        ),
    ]
}

fn query(name: &str, required: bool, schema: Value, description: &str) -> Value {
    json!({
        "name": name, "in": "query", "required": required,
        "description": description, "schema": schema,
    })
}

/// Bodies are parsed as JSON whatever their `Content-Type` says; extra fields are ignored.
fn request_body(op: &Op) -> Option<Value> {
    let (schema, example) = match (op.method, op.kind) {
        ("post", RouteKind::Write) => (
            "UserCreate",
            json!({
                "name": "Charlie", "email": "charlie@example.com", "password": "correct-horse",
            }),
        ),
        ("put", RouteKind::Write) => ("UserUpdate", json!({ "name": "Charles" })),
        ("post", RouteKind::FilesWrite) => (
            "FileCreate",
            json!({
                "name": "notes.txt", "content": "hello", "content_type": "text/plain",
            }),
        ),
        _ => return None,
    };
    Some(json!({
        "required": true,
        "content": { "application/json": {
            "schema": schema_ref(schema),
            "example": example,
        }},
    }))
}

/// Every status `op` can answer: its success, the handler's errors, then the gate's.
fn responses(config: &ServerConfig, op: &Op) -> Value {
    let limited = rate_headers(config, op.kind);
    let mut responses = Map::new();
    let (status, success) = success(config, op, &limited);
    responses.insert(status.into(), success);
    responses.insert("400".into(), error(bad_request_causes(op), limited.clone()));
    if op.path.ends_with("{id}") {
        responses.insert("404".into(), error("No such resource.", limited.clone()));
    }
    if let Some(conflict) = conflict(config, op) {
        responses.insert("409".into(), error(conflict, limited.clone()));
    }
    if op.method == "post" || op.method == "put" {
        responses.insert("413".into(), error("Request body over 2 MiB.", json!({})));
    }
    responses.insert(
        "401".into(),
        error(
            "No key in an accepted style, or a key the server never issued.",
            json!({ "WWW-Authenticate": header_ref("WWW-Authenticate") }),
        ),
    );
    let forbidden = if op.kind.is_write() {
        "A revoked key, or a read-only key attempting a write."
    } else {
        "A revoked key."
    };
    responses.insert("403".into(), error(forbidden, json!({})));
    responses.insert("429".into(), too_many_requests(limited));
    responses.insert(
        "431".into(),
        error("Request header fields too large.", json!({})),
    );
    Value::Object(responses)
}

/// A taken email is a 409, except where the users v1 document makes it a 400 (`store.rs`).
fn conflict(config: &ServerConfig, op: &Op) -> Option<&'static str> {
    let email = op.kind == RouteKind::Write
        && matches!(op.method, "post" | "put")
        && config.profile.resources() == Resources::Ouro;
    match (op.method, email) {
        ("post", true) => Some(
            "The email is already in use, or the Idempotency-Key was already used with \
            another body.",
        ),
        ("post", false) => Some("The Idempotency-Key was already used with another body."),
        (_, true) => Some("The email is already in use."),
        _ => None,
    }
}

fn bad_request_causes(op: &Op) -> &'static str {
    match (op.method, op.path.ends_with("{id}")) {
        ("post" | "put", _) => {
            "A body that is not JSON or breaks the schema's rules, an email \
            already in use (bearer-v1), an invalid Idempotency-Key, or a malformed path."
        }
        ("get", false) => "A query parameter out of range or malformed.",
        _ => "A path that is not valid percent-encoded UTF-8.",
    }
}

fn success(config: &ServerConfig, op: &Op, limited: &Value) -> (&'static str, Value) {
    let users_v1 = config.profile.resources() == Resources::UsersV1;
    let users = op.path.starts_with("/v1/users");
    let schema = match (op.method, op.path.ends_with("{id}"), op.kind) {
        ("delete", ..) => {
            return (
                "204",
                json!({ "description": "Deleted.", "headers": limited }),
            );
        }
        (_, _, RouteKind::Search) => "SearchResult",
        ("get", false, _) if users && users_v1 => "UserArray",
        ("get", false, _) if users => "UserList",
        ("get", false, _) => "FileList",
        ("put", ..) if users_v1 => "UserUpdated",
        ("get" | "post" | "put", _, _) if users => "User",
        ("get", ..) => "FileWithContent",
        _ => "File",
    };
    let body = json_content("The resource.", schema_ref(schema), limited.clone());
    if op.method != "post" {
        return ("200", body);
    }
    let mut headers = limited.clone();
    headers["Idempotent-Replayed"] = header_ref("Idempotent-Replayed");
    ("201", json_content("Created.", schema_ref(schema), headers))
}

/// 429: over a rate limit (with the rate headers) or too many requests in flight (without).
fn too_many_requests(limited: Value) -> Value {
    let mut headers = limited;
    headers["Retry-After"] = header_ref("Retry-After");
    error(
        "Over the rate limit of the key's class, or too many requests in flight for the key \
        (then without rate headers).",
        headers,
    )
}

/// The rate headers of the configured dialect, on every answer that went through the
/// limiter; none when the class is unlimited. Optional: 401/403 and in-flight 429s and
/// answers never reach the limiter.
fn rate_headers(config: &ServerConfig, kind: RouteKind) -> Value {
    let class = config.profile.class_of(kind);
    if config.limits.policies(class).is_empty() {
        return json!({});
    }
    let names: &[&str] = match config.rate_headers {
        HeaderDialect::Both => &[
            "RateLimit-Policy",
            "RateLimit",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        ],
        HeaderDialect::Ietf => &["RateLimit-Policy", "RateLimit"],
        HeaderDialect::Draft => &["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"],
        HeaderDialect::XRatelimit
        | HeaderDialect::XRatelimitEpoch
        | HeaderDialect::XRatelimitEpochMs => &[
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ],
        HeaderDialect::None => &[],
    };
    let headers: Map<String, Value> = names
        .iter()
        .map(|name| (name.to_string(), header_ref(name)))
        .collect();
    Value::Object(headers)
}

/// Whether a header is required is said once, in its component.
fn header_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/headers/{name}") })
}

fn json_content(description: &str, schema: Value, headers: Value) -> Value {
    json!({
        "description": description,
        "headers": headers,
        "content": { "application/json": { "schema": schema } },
    })
}

fn error(description: &str, headers: Value) -> Value {
    json_content(description, schema_ref("Error"), headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_describes_every_route_the_router_serves_and_no_other() {
        let documented: Vec<(String, &str)> = OPS
            .iter()
            .map(|op| (op.method.to_uppercase(), op.path))
            .collect();
        let served: Vec<(String, &str)> = super::super::ROUTES
            .iter()
            .map(|(method, path)| (method.to_string(), *path))
            .collect();
        assert_eq!(documented, served);
    }
}
