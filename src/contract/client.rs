//! Sending one request and reading its answer within bounds (time and size).

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use crate::secret::Secret;

/// Largest response body read; anything beyond is reported, never buffered.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// A request ready to send (again, for retries).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: reqwest::Method,
    /// Path and query, appended to the base URL.
    pub path_and_query: String,
    /// `METHOD /path` for reports: no query string, which may carry a key.
    pub label: String,
    pub headers: Vec<(String, HeaderValueText)>,
    pub json: Option<serde_json::Value>,
    /// Keys this request presents, so responses can be searched for them.
    pub presented: Vec<Secret>,
}

/// A header value that may hold a secret (so `Debug` must not print it).
#[derive(Clone)]
pub enum HeaderValueText {
    Plain(String),
    Secret(String),
}

impl std::fmt::Debug for HeaderValueText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderValueText::Plain(v) => write!(f, "{v:?}"),
            HeaderValueText::Secret(_) => f.write_str("[redacted]"),
        }
    }
}

impl HeaderValueText {
    fn as_str(&self) -> &str {
        match self {
            HeaderValueText::Plain(v) | HeaderValueText::Secret(v) => v,
        }
    }
}

/// A response read whole.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub latency: Duration,
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type without parameters, lower-cased.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }

    pub fn json(&self) -> Result<serde_json::Value, String> {
        if self.body.is_empty() {
            return Err("the body is empty".into());
        }
        serde_json::from_slice(&self.body).map_err(|e| format!("the body is not JSON ({e})"))
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why no response was read.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportError {
    Connect(String),
    Timeout(Duration),
    TooLarge,
    Other(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Connect(e) => write!(f, "cannot connect: {e}"),
            TransportError::Timeout(t) => write!(f, "no response within {} ms", t.as_millis()),
            TransportError::TooLarge => {
                write!(f, "response body larger than {} MiB", MAX_BODY_BYTES >> 20)
            }
            TransportError::Other(e) => write!(f, "{e}"),
        }
    }
}

pub fn classify(error: &reqwest::Error, timeout: Duration) -> TransportError {
    if error.is_timeout() {
        return TransportError::Timeout(timeout);
    }
    // The innermost cause says what happened (refused, reset, DNS); reqwest's own text
    // contains the URL, which may carry a query-string key.
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let text = cause.to_string();
    if error.is_connect() {
        TransportError::Connect(text)
    } else {
        TransportError::Other(text)
    }
}

pub async fn send(
    client: &reqwest::Client,
    base_url: &str,
    request: &Outgoing,
    timeout: Duration,
) -> Result<Exchange, TransportError> {
    let url = format!("{base_url}{}", request.path_and_query);
    let mut builder = client.request(request.method.clone(), url).timeout(timeout);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(json) = &request.json {
        builder = builder.json(json);
    }
    let started = Instant::now();
    let mut response = builder.send().await.map_err(|e| classify(&e, timeout))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e, timeout))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(TransportError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Exchange {
        status,
        headers,
        body,
        latency: started.elapsed(),
    })
}
