//! The document's `components`: the security schemes of the profile's auth styles, the rate
//! headers of its dialect, and the schemas of users, files and errors — each stating the rule
//! `store.rs` enforces.

use serde_json::{json, Map, Value};

use super::super::config::{AuthStyle, HeaderDialect, Resources, RetryAfterForm};
use super::super::store::{Page, BLANK_CLASS, MAX_FILE_BYTES, MIN_PASSWORD_LEN};
use super::super::ServerConfig;

pub(super) fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

pub(super) fn components(config: &ServerConfig) -> Value {
    json!({
        "schemas": schemas(config),
        "headers": headers(config),
        "securitySchemes": security_schemes(config),
    })
}

/// The security schemes of the profile's auth styles, one of which a request must use.
fn security_schemes(config: &ServerConfig) -> Value {
    let mut schemes = Map::new();
    for style in config.profile.auth_styles() {
        let (name, scheme) = security_scheme(*style);
        schemes.insert(name.into(), scheme);
    }
    Value::Object(schemes)
}

fn security_scheme(style: AuthStyle) -> (&'static str, Value) {
    match style {
        AuthStyle::XApiKey => (
            "ApiKeyHeader",
            json!({ "type": "apiKey", "in": "header", "name": "X-API-KEY" }),
        ),
        AuthStyle::Bearer => ("Bearer", json!({ "type": "http", "scheme": "bearer" })),
        // Not an IANA-registered HTTP scheme (OpenAPI only asks that it SHOULD be), but an
        // `http` scheme is the one form a machine can read the `apikey ` prefix from; an
        // `apiKey` in the Authorization header could not say it.
        AuthStyle::ApiKeyScheme => (
            "ApiKeyAuthorization",
            json!({
                "type": "http", "scheme": "apikey",
                "description": "`Authorization: apikey <key>`",
            }),
        ),
    }
}

pub(super) fn security_requirements(config: &ServerConfig) -> Value {
    let requirements: Vec<Value> = config
        .profile
        .auth_styles()
        .iter()
        .map(|style| json!({ security_scheme(*style).0: [] }))
        .collect();
    Value::Array(requirements)
}

fn headers(config: &ServerConfig) -> Value {
    let count = json!({ "type": "string", "pattern": "^[0-9]+$" });
    let items = json!({ "type": "string", "pattern": "^\"[^\"]+\";[a-z]=" });
    let retry_after = match config.retry_after {
        RetryAfterForm::Seconds => "Whole seconds, at least 1.",
        RetryAfterForm::Date => {
            "An HTTP-date (whole seconds when too many requests are in \
            flight)."
        }
    };
    json!({
        "Retry-After": {
            "description": retry_after,
            "required": true,
            "schema": {
                "type": "string",
                "pattern": "^([1-9][0-9]*|[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} \
                    [0-9]{2}:[0-9]{2}:[0-9]{2} GMT)$",
            },
        },
        "WWW-Authenticate": {
            "description": "A challenge in the profile's scheme, realm `tollgate`.",
            "required": true,
            "schema": { "type": "string", "pattern": "realm=\"tollgate\"" },
        },
        "Idempotent-Replayed": {
            "description": "`true` on an answer replayed for a repeated Idempotency-Key.",
            "schema": { "const": "true" },
        },
        "RateLimit-Policy": { "description": "IETF policy items.", "schema": items.clone() },
        "RateLimit": { "description": "IETF state items.", "schema": items },
        "RateLimit-Limit": { "description": "Quota of the tightest policy.", "schema": count },
        "RateLimit-Remaining": { "description": "Requests left.", "schema": count },
        "RateLimit-Reset": { "description": "Seconds until full.", "schema": count },
        "X-RateLimit-Limit": { "description": "Quota of the tightest policy.", "schema": count },
        "X-RateLimit-Remaining": { "description": "Requests left.", "schema": count },
        "X-RateLimit-Reset": { "description": reset_description(config), "schema": count },
    })
}

fn reset_description(config: &ServerConfig) -> &'static str {
    match config.rate_headers {
        HeaderDialect::XRatelimitEpoch => "Epoch seconds when full.",
        HeaderDialect::XRatelimitEpochMs => "Epoch milliseconds when full.",
        _ => "Seconds until full.",
    }
}

fn schemas(config: &ServerConfig) -> Value {
    let mut schemas = json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": { "error": { "type": "string", "minLength": 1 } },
            "additionalProperties": false,
        },
        "UserCreate": user_create(),
        "UserUpdate": user_update(),
        "FileCreate": file_create(),
        "File": file(false),
        "FileWithContent": file(true),
        "FileList": list("File"),
        "SearchResult": {
            "type": "object",
            "required": ["object", "query", "data"],
            "properties": {
                "object": { "const": "search_result" },
                "query": { "type": "string" },
                "data": { "type": "array", "items": {
                    "anyOf": [schema_ref("User"), schema_ref("File")],
                }},
            },
            "additionalProperties": false,
        },
    });
    let user_schemas = match config.profile.resources() {
        Resources::Ouro => json!({ "User": ouro_user(), "UserList": list("User") }),
        Resources::UsersV1 => json!({
            "User": v1_user("created_at"),
            "UserUpdated": v1_user("updated_at"),
            "UserArray": { "type": "array", "items": schema_ref("User") },
        }),
    };
    for (name, schema) in user_schemas.as_object().expect("an object") {
        schemas[name] = schema.clone();
    }
    schemas
}

/// What `store::validate_email` accepts: a non-empty local part, a domain with a dot not
/// at its start, no blank character anywhere. The class is spelled out, not `\s`: regex
/// dialects disagree on what `\s` holds (U+0085, U+FEFF), and a generator reading this
/// document must not produce an address the store refuses.
fn email_pattern() -> String {
    let b = BLANK_CLASS;
    format!("^[^@{b}]+@[^.{b}][^{b}]*\\.[^{b}]*$")
}

/// A string with something besides blank characters (see [`email_pattern`]).
pub(super) fn not_blank() -> String {
    format!("[^{BLANK_CLASS}]")
}

fn user_create() -> Value {
    json!({
        "type": "object",
        "required": ["name", "email", "password"],
        "properties": {
            "name": { "type": "string", "pattern": not_blank() },
            "email": { "type": "string", "pattern": email_pattern() },
            "password": { "type": "string", "minLength": MIN_PASSWORD_LEN },
        },
    })
}

/// Any of the three, at least one not null; the email must be free.
fn user_update() -> Value {
    let present =
        |name: &str| json!({ "required": [name], "properties": { name: { "type": "string" } } });
    json!({
        "type": "object",
        "properties": {
            "name": { "type": ["string", "null"] },
            "email": { "type": ["string", "null"], "pattern": email_pattern() },
            "password": { "type": ["string", "null"], "minLength": MIN_PASSWORD_LEN },
        },
        "anyOf": [present("name"), present("email"), present("password")],
    })
}

fn file_create() -> Value {
    json!({
        "type": "object",
        "required": ["name", "content"],
        "properties": {
            "name": { "type": "string", "pattern": not_blank() },
            "content": {
                "type": "string",
                "maxLength": MAX_FILE_BYTES,
                "description": format!("At most {MAX_FILE_BYTES} bytes of UTF-8."),
            },
            "content_type": { "type": ["string", "null"], "default": "text/plain" },
        },
    })
}

fn timestamp() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn ouro_user() -> Value {
    json!({
        "type": "object",
        "required": ["id", "object", "name", "email", "created_at", "updated_at"],
        "properties": {
            "id": { "type": "string", "pattern": "^usr_[0-9]+$" },
            "object": { "const": "user" },
            "name": { "type": "string" },
            "email": { "type": "string" },
            "created_at": timestamp(),
            "updated_at": timestamp(),
        },
        "additionalProperties": false,
    })
}

/// The users v1 document's user: `created_at`, or `updated_at` in the answer to a PUT.
fn v1_user(stamp: &str) -> Value {
    json!({
        "type": "object",
        "required": ["id", "name", "email", stamp],
        "properties": {
            "id": { "type": "string", "pattern": "^user_[0-9]+$" },
            "name": { "type": "string" },
            "email": { "type": "string" },
            stamp: timestamp(),
        },
        "additionalProperties": false,
    })
}

fn file(with_content: bool) -> Value {
    let mut schema = json!({
        "type": "object",
        "required": ["id", "object", "name", "content_type", "size", "created_at"],
        "properties": {
            "id": { "type": "string", "pattern": "^file_[0-9]+$" },
            "object": { "const": "file" },
            "name": { "type": "string" },
            "content_type": { "type": "string" },
            "size": { "type": "integer", "minimum": 0, "maximum": MAX_FILE_BYTES },
            "created_at": timestamp(),
        },
        "additionalProperties": false,
    });
    if with_content {
        schema["required"]
            .as_array_mut()
            .expect("an array")
            .push(json!("content"));
        schema["properties"]["content"] = json!({ "type": "string" });
    }
    schema
}

fn list(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["object", "data", "limit", "offset", "total"],
        "properties": {
            "object": { "const": "list" },
            "data": { "type": "array", "items": schema_ref(item) },
            "limit": { "type": "integer", "minimum": 1, "maximum": Page::MAX_LIMIT },
            "offset": { "type": "integer", "minimum": 0 },
            "total": { "type": "integer", "minimum": 0 },
        },
        "additionalProperties": false,
    })
}
