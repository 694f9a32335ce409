//! Request handlers for the sample resources: users, files and search.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;

use super::auth::Caller;
use super::response::{json_response, no_content, ApiError};
use super::store::{is_blank_text, Idempotency, Page, Store};
use super::App;

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Longest `delay_ms` the search test hook honours, so a typo cannot hang a test run.
const MAX_TEST_DELAY: Duration = Duration::from_secs(10);

fn params(query: Params) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {}", e.body_text())))
}

/// Parses a body as JSON whatever its `Content-Type` says: a malformed body is a 400 with
/// the parser's position, never a text/plain rejection.
fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed JSON body: {e}.")))
}

fn ok(value: Value) -> Response {
    json_response(StatusCode::OK, &value)
}

pub async fn list_users(State(app): State<Arc<App>>, query: Params) -> Result<Response, ApiError> {
    let page = Page::from_query(&params(query)?)?;
    Ok(ok(app.store().list_users(page)))
}

pub async fn get_user(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(app.store().get_user(&id)?))
}

pub async fn create_user(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(
        &app,
        caller,
        &headers,
        "/v1/users",
        &body,
        Store::create_user,
    )
}

pub async fn update_user(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(&body)?;
    Ok(ok(app.store().update_user(&id, &body)?))
}

pub async fn delete_user(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.store().delete_user(&id)?;
    Ok(no_content())
}

pub async fn list_files(State(app): State<Arc<App>>, query: Params) -> Result<Response, ApiError> {
    let page = Page::from_query(&params(query)?)?;
    Ok(ok(app.store().list_files(page)))
}

pub async fn get_file(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(app.store().get_file(&id)?))
}

pub async fn create_file(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(
        &app,
        caller,
        &headers,
        "/v1/files",
        &body,
        Store::create_file,
    )
}

pub async fn delete_file(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.store().delete_file(&id)?;
    Ok(no_content())
}

pub async fn search(State(app): State<Arc<App>>, query: Params) -> Result<Response, ApiError> {
    let params = params(query)?;
    let q = params
        .get("q")
        .map(|q| q.trim())
        .filter(|q| !is_blank_text(q))
        .ok_or_else(|| ApiError::bad_request("Missing required parameter: q."))?;
    let page = Page::from_query(&params)?;
    if app.config.test_hooks {
        if let Some(raw) = params.get("delay_ms") {
            let ms: u64 = raw.parse().map_err(|_| {
                ApiError::bad_request("Invalid parameter: delay_ms must be a whole number.")
            })?;
            tokio::time::sleep(Duration::from_millis(ms).min(MAX_TEST_DELAY)).await;
        }
    }
    Ok(ok(app.store().search(q, page.limit)))
}

/// A create with `Idempotency-Key` support: same key and body replay the first answer
/// (marked `Idempotent-Replayed: true`); same key with another body is a 409.
fn create(
    app: &App,
    caller: Caller,
    headers: &HeaderMap,
    path: &str,
    body: &Bytes,
    make: fn(&mut Store, &Value) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    let body = json_body(body)?;
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                // What the document's pattern allows once HTTP's whitespace is gone.
                .map(|k| k.trim_matches([' ', '\t']))
                .filter(|k| {
                    (1..=255).contains(&k.len()) && k.bytes().all(|b| (b' '..=b'~').contains(&b))
                })
                .ok_or_else(|| ApiError::bad_request("Invalid Idempotency-Key header."))?
                .to_string(),
        ),
    };
    let mut store = app.store();
    let Some(key) = idempotency_key else {
        return Ok(json_response(
            StatusCode::CREATED,
            &make(&mut store, &body)?,
        ));
    };
    match store.idempotency(caller, path, &key, &body) {
        Idempotency::Conflict => Err(ApiError::new(
            StatusCode::CONFLICT,
            "Idempotency-Key was already used with a different request body.",
        )),
        Idempotency::Replay(recorded) => {
            let status =
                StatusCode::from_u16(recorded.status).expect("recorded from a real status");
            let mut response = match status.is_success() {
                true => json_response(status, &recorded.body),
                false => ApiError::new(status, recorded.body["error"].as_str().unwrap_or_default())
                    .into_response(),
            };
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        Idempotency::Fresh => {
            let (status, answer) = match make(&mut store, &body) {
                Ok(created) => (StatusCode::CREATED, created),
                Err(e) => (e.status, serde_json::json!({ "error": e.message })),
            };
            store.record(caller, path, &key, body, status.as_u16(), answer.clone());
            if status.is_success() {
                Ok(json_response(status, &answer))
            } else {
                Err(ApiError::new(
                    status,
                    answer["error"].as_str().unwrap_or_default(),
                ))
            }
        }
    }
}
