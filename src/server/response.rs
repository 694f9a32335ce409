//! JSON responses and the error type every handler returns.
//!
//! Every 4xx/5xx the server produces goes through [`ApiError`], so the error shape
//! (`{"error": "..."}` with `Content-Type: application/json`) holds everywhere by
//! construction; the message is also attached as an extension so that faults can
//! re-shape the body without parsing it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const UNAUTHORIZED: &str = "Unauthorized. Please provide a valid API key.";
pub const REVOKED: &str = "Forbidden. This API key has been revoked or expired.";
pub const READ_ONLY: &str =
    "Forbidden. This API key is read-only and cannot perform write operations.";
pub const RATE_LIMITED: &str =
    "Too many requests. Please slow down and retry later with exponential backoff.";
pub const TOO_MANY_IN_FLIGHT: &str =
    "Too many concurrent requests for this API key. Please retry later.";
pub const NOT_FOUND: &str = "Not found.";
/// Largest request header section the gate accepts, in bytes (names, values, separators);
/// beyond it the answer is a JSON 431. hyper refuses far larger heads itself.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// An error answer: a status and the human message of its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

/// The message of an error response, for faults that rewrite error bodies.
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status, &json!({ "error": self.message }));
        response.extensions_mut().insert(ErrorMessage(self.message));
        response
    }
}

/// A JSON body with an explicit `Content-Type: application/json`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).expect("a JSON value always serializes");
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 204 with no body and no content type.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Fallback for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found(NOT_FOUND)
}

/// Fallback for a known path with a method it does not serve.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")
}

/// Outermost middleware: an over-large header section gets a JSON 431, and an error that
/// did not come through [`ApiError`] (axum's own rejections: a body over the limit is a
/// `text/plain` 413) is given the error shape, so invariant 1 holds for every answer.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("Request header fields too large: at most {MAX_HEADER_BYTES} bytes."),
        )
        .into_response();
    }
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json || response.extensions().get::<ErrorMessage>().is_some() {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large.".to_string(),
        other => format!("{}.", other.canonical_reason().unwrap_or("Error")),
    };
    ApiError::new(status, message).into_response()
}
