//! The typed scenario model: what a scenario file means once it has been checked.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::template::Template;

/// Where something came from, for "expected vs actual at file:line".
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl Origin {
    /// Where `node` stands in the file `dec` reads.
    pub fn of(dec: &crate::decode::Decoder, node: &crate::yaml::Node) -> Origin {
        Origin {
            file: dec.file.clone(),
            line: node.pos.line,
            col: node.pos.col,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Line 0 is "the file (or flag) as a whole": `:0:0` would point nowhere.
        if self.line == 0 {
            return f.write_str(&self.file);
        }
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub file: String,
    pub origin: Origin,
    pub vars: Vec<(String, Value)>,
    pub steps: Vec<Step>,
    pub auth_matrix: Vec<MatrixEntry>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub origin: Origin,
    pub request: RequestSpec,
    pub expect: Expect,
    pub capture: Vec<Capture>,
    pub retry: Option<RetryPolicy>,
}

pub use crate::keys::{Credential, KeyRole};

#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub method: String,
    pub path: Template,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(String, Template)>,
    pub json: Option<Value>,
    pub auth: Credential,
    pub origin: Origin,
}

#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub status: Vec<u16>,
    pub status_origin: Origin,
    pub headers: Vec<HeaderExpect>,
    pub content_type: Option<String>,
    pub schema: Option<SchemaRef>,
    pub json: Vec<JsonExpect>,
    pub body_empty: bool,
    /// The error message, read through the profile's error shape.
    pub error: Option<(Template, Origin)>,
    pub max_latency_ms: Option<u64>,
    pub snapshot: Option<SnapshotSpec>,
    pub origin: Origin,
}

/// `snapshot: name` or `snapshot: { name, redact: [JSONPath...] }`.
#[derive(Debug, Clone)]
pub struct SnapshotSpec {
    pub name: String,
    /// Extra paths replaced by `[redacted]` (ids, timestamps and keys always are).
    pub redact: Vec<serde_json_path::JsonPath>,
}

#[derive(Debug, Clone)]
pub struct HeaderExpect {
    pub name: String,
    pub rule: HeaderRule,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub enum HeaderRule {
    Equals(Template),
    Present,
    Absent,
    /// Predicates on the header's value (`matches`, `starts_with`, `one_of`, …); all hold.
    Predicates(Vec<super::predicate::Predicate>),
}

/// A JSON Schema file, loaded and compiled at parse time so a bad `$ref` is a lint error.
#[derive(Clone)]
pub struct SchemaRef {
    pub path: PathBuf,
    pub validator: Arc<jsonschema::Validator>,
    pub origin: Origin,
}

impl std::fmt::Debug for SchemaRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SchemaRef({})", self.path.display())
    }
}

#[derive(Debug, Clone)]
pub struct JsonExpect {
    pub path_text: String,
    pub path: serde_json_path::JsonPath,
    pub rule: JsonRule,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub enum JsonRule {
    Equals(Value),
    /// `{ matches: …, min_length: … }`: every predicate holds (`exists` among them).
    Predicates(Vec<super::predicate::Predicate>),
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub source: CaptureSource,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub enum CaptureSource {
    /// A JSONPath (as written, parsed) into the response body.
    Json(String, serde_json_path::JsonPath),
    Header(String),
}

/// An explicit retry policy: which statuses to retry, how often, and how to wait.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub on: Vec<u16>,
    pub max_attempts: u32,
    pub honor_retry_after: bool,
    /// First back-off ceiling; doubles per attempt (full jitter picks in [0, ceiling]).
    pub base_ms: u64,
    /// No single wait exceeds this; a Retry-After beyond it fails the step instead.
    pub max_wait_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            on: vec![429, 503],
            max_attempts: 3,
            honor_retry_after: true,
            base_ms: 200,
            max_wait_ms: 5_000,
        }
    }
}

/// Negative-auth cases an `auth_matrix` entry expands into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatrixCase {
    /// The primary key in the profile's style: the request works.
    Valid,
    None,
    Invalid,
    WrongScheme,
    /// The key only in the query string: it must not authenticate.
    Query,
    Revoked,
    ReadOnly,
    /// The primary key in each alternate style the profile declares.
    Alternate,
}

impl MatrixCase {
    pub const ALL: [MatrixCase; 8] = [
        MatrixCase::Valid,
        MatrixCase::None,
        MatrixCase::Invalid,
        MatrixCase::WrongScheme,
        MatrixCase::Query,
        MatrixCase::Revoked,
        MatrixCase::ReadOnly,
        MatrixCase::Alternate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MatrixCase::Valid => "valid",
            MatrixCase::None => "none",
            MatrixCase::Invalid => "invalid",
            MatrixCase::WrongScheme => "wrong-scheme",
            MatrixCase::Query => "query",
            MatrixCase::Revoked => "revoked",
            MatrixCase::ReadOnly => "readonly",
            MatrixCase::Alternate => "alternate",
        }
    }
}

#[derive(Debug, Clone)]
pub struct MatrixEntry {
    pub request: RequestSpec,
    /// The status a valid key gets (default by method: POST 201, DELETE 204, else 200).
    pub success: Vec<u16>,
    pub cases: Vec<MatrixCase>,
    pub origin: Origin,
}
