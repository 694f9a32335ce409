//! Every contract-phase response held to the API's own OpenAPI document, when the profile
//! names one (`openapi: openapi.yaml`): `openapi.status` (a documented status, a `4XX`
//! range or `default`), `openapi.content-type` (a documented media type), `openapi.schema`
//! (the body against the documented schema, `$ref`s into components resolved locally) and
//! `openapi.headers` (documented required response headers). A request the document does
//! not describe is `openapi.undocumented`, a warning, once per operation.
//!
//! Everything is compiled when the profile loads, so a schema that does not compile is a
//! lint finding, not a surprise in the middle of a run.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::model::{Api, Operation, Response};
use super::schema::{compile, standalone, Side};
use super::Document;
use crate::event::{CheckResult, Verdict};

/// The document, ready to judge responses.
pub struct Conformance {
    /// The document's path as the profile names it.
    pub source: String,
    operations: Vec<Documented>,
    /// Undocumented operations already reported (`GET /v1/things`).
    reported: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Conformance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conformance")
            .field("source", &self.source)
            .field("operations", &self.operations.len())
            .finish_non_exhaustive()
    }
}

struct Documented {
    method: String,
    /// Path segments; `None` for a `{parameter}`.
    segments: Vec<Option<String>>,
    responses: Vec<DocumentedResponse>,
}

struct DocumentedResponse {
    /// `200`, `4XX` or `default`.
    status: String,
    media_types: Vec<String>,
    schema: Option<(String, Result<Arc<jsonschema::Validator>, String>)>,
    required_headers: Vec<String>,
}

/// What a response needs to be judged: where it came from and what it was.
pub struct Answer<'a> {
    pub method: &'a str,
    /// The request path, without the query.
    pub path: &'a str,
    pub status: u16,
    pub media_type: Option<String>,
    pub header_names: Vec<String>,
    pub body: Option<Result<Value, String>>,
    pub snippet: String,
}

impl Conformance {
    /// Compiles every documented response (a schema that does not compile is kept as
    /// the reason its check is skipped).
    pub fn new(doc: &Document, source: &str) -> Conformance {
        let api = Api::from_document(doc);
        Conformance {
            source: source.to_string(),
            operations: api
                .operations
                .iter()
                .map(|op| documented(op, &doc.json))
                .collect(),
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// The checks of one answer.
    pub fn check(&self, answer: &Answer) -> Vec<CheckResult> {
        let Some(op) = self.find(answer.method, answer.path) else {
            let key = format!("{} {}", answer.method, answer.path);
            let first = self
                .reported
                .lock()
                .expect("never poisoned: no code panics holding it")
                .insert(key.clone());
            return if first {
                vec![CheckResult::new(
                    "openapi.undocumented",
                    Verdict::Warning,
                    format!("{key} is not an operation of {}", self.source),
                )]
            } else {
                Vec::new()
            };
        };
        let Some(response) = op.response(answer.status) else {
            return vec![self.undocumented_status(op, answer.status)];
        };
        let mut results = vec![CheckResult::passed("openapi.status")];
        results.extend(content_type(response, answer));
        results.extend(schema(response, answer));
        results.extend(headers(response, answer));
        results
    }

    /// OpenAPI asks a document for its successes and its known errors, not every status:
    /// an undocumented success breaks the contract (a client cannot know its body), an
    /// undocumented error is a gap in the document, worth a warning.
    fn undocumented_status(&self, op: &Documented, status: u16) -> CheckResult {
        let documented: Vec<&str> = op.responses.iter().map(|r| r.status.as_str()).collect();
        let message = format!("{status} is not documented for this operation");
        if status < 400 {
            CheckResult::failed(
                "openapi.status",
                format!(
                    "a status {} documents: {}",
                    self.source,
                    documented.join(", ")
                ),
                status.to_string(),
            )
            .with_message(message)
        } else {
            CheckResult::new(
                "openapi.status",
                Verdict::Warning,
                format!(
                    "{message} ({} documents {})",
                    self.source,
                    documented.join(", ")
                ),
            )
        }
    }

    /// The documented operation for `method path`: the one with the most literal segments
    /// that matches (`/users/me` before `/users/{id}`).
    fn find(&self, method: &str, path: &str) -> Option<&Documented> {
        let segments: Vec<&str> = path.split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method.eq_ignore_ascii_case(method) && op.matches(&segments))
            .max_by_key(|op| op.segments.iter().filter(|s| s.is_some()).count())
    }
}

impl Documented {
    fn matches(&self, segments: &[&str]) -> bool {
        self.segments.len() == segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|(want, got)| match want {
                    Some(literal) => literal == got,
                    None => !got.is_empty(),
                })
    }

    /// The exact status, else its range (`4XX`), else `default`.
    fn response(&self, status: u16) -> Option<&DocumentedResponse> {
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        self.responses
            .iter()
            .find(|r| r.status == exact)
            .or_else(|| {
                self.responses
                    .iter()
                    .find(|r| r.status.eq_ignore_ascii_case(&range))
            })
            .or_else(|| self.responses.iter().find(|r| r.status == "default"))
    }
}

fn documented(op: &Operation, doc: &Value) -> Documented {
    let segments = op
        .path
        .split('/')
        .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string()))
        .collect();
    Documented {
        method: op.method.clone(),
        segments,
        responses: op
            .responses
            .iter()
            .map(|r| documented_response(op, r, doc))
            .collect(),
    }
}

fn documented_response(op: &Operation, r: &Response, doc: &Value) -> DocumentedResponse {
    let schema = match &r.json {
        Some((_, schema)) if *schema != Value::Bool(true) => {
            let mut unresolved = Vec::new();
            let file = standalone(schema, doc, Side::Response, &mut unresolved);
            let name = format!("{} {} {}", op.method, op.path, r.status);
            // A schema that does not compile is this response's problem, said when it is
            // met (`openapi.schema` skipped with the reason), not a refusal of the profile.
            Some((name, compile(&file).map(Arc::new)))
        }
        _ => None,
    };
    DocumentedResponse {
        status: r.status.clone(),
        media_types: r.media_types.clone(),
        schema,
        required_headers: r
            .headers
            .iter()
            .filter(|h| h.required)
            .map(|h| h.name.to_ascii_lowercase())
            .collect(),
    }
}

/// A documented media type matches exactly, or as `type/*` or `*/*`.
fn content_type(response: &DocumentedResponse, answer: &Answer) -> Option<CheckResult> {
    if response.media_types.is_empty() {
        return None;
    }
    let actual = answer.media_type.clone().unwrap_or_default();
    let matches = response.media_types.iter().any(|documented| {
        let documented = documented
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        documented == actual
            || documented == "*/*"
            || documented
                .strip_suffix("/*")
                .is_some_and(|kind| actual.split('/').next() == Some(kind))
    });
    Some(if matches {
        CheckResult::passed("openapi.content-type")
    } else {
        CheckResult::failed(
            "openapi.content-type",
            response.media_types.join(" or "),
            if actual.is_empty() {
                "no Content-Type".to_string()
            } else {
                actual
            },
        )
    })
}

fn schema(response: &DocumentedResponse, answer: &Answer) -> Option<CheckResult> {
    let (name, validator) = response.schema.as_ref()?;
    let validator = match validator {
        Ok(validator) => validator,
        Err(e) => {
            return Some(CheckResult::new(
                "openapi.schema",
                Verdict::Skipped,
                format!("the document's schema for {name} does not compile: {e}"),
            ))
        }
    };
    let body = match answer.body.as_ref()? {
        Ok(body) => body,
        Err(e) => {
            return Some(
                CheckResult::failed(
                    "openapi.schema",
                    format!("JSON matching {name}"),
                    answer.snippet.clone(),
                )
                .with_message(format!("the body is not JSON: {e}")),
            )
        }
    };
    let problems: Vec<String> = validator
        .iter_errors(body)
        .take(3)
        .map(|e| format!("{} at `{}`", e, e.instance_path()))
        .collect();
    Some(if problems.is_empty() {
        CheckResult::passed("openapi.schema")
    } else {
        CheckResult::failed(
            "openapi.schema",
            format!("a body matching {name}"),
            answer.snippet.clone(),
        )
        .with_message(problems.join("; "))
    })
}

fn headers(response: &DocumentedResponse, answer: &Answer) -> Option<CheckResult> {
    if response.required_headers.is_empty() {
        return None;
    }
    let missing: Vec<&str> = response
        .required_headers
        .iter()
        .filter(|h| !answer.header_names.contains(h))
        .map(String::as_str)
        .collect();
    Some(if missing.is_empty() {
        CheckResult::passed("openapi.headers")
    } else {
        CheckResult::failed(
            "openapi.headers",
            response.required_headers.join(", "),
            format!("missing {}", missing.join(", ")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conformance() -> Conformance {
        let doc = super::super::from_json(json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1" },
            "paths": {
                "/pets/{id}": { "get": { "responses": {
                    "200": {
                        "description": "ok",
                        "headers": { "ETag": { "required": true, "schema": { "type": "string" } } },
                        "content": { "application/json": { "schema": {
                            "type": "object", "required": ["id"],
                            "properties": { "id": { "type": "integer" } },
                        }}},
                    },
                    "4XX": { "description": "error", "content": { "application/problem+json": {} } },
                }}},
                "/pets/mine": { "get": { "responses": { "204": { "description": "none" } } } },
            },
        }))
        .unwrap();
        Conformance::new(&doc, "openapi.yaml")
    }

    fn answer<'a>(path: &'a str, status: u16, media: &str, body: Value) -> Answer<'a> {
        Answer {
            method: "GET",
            path,
            status,
            media_type: Some(media.to_string()),
            header_names: vec!["etag".into()],
            body: Some(Ok(body)),
            snippet: String::new(),
        }
    }

    fn verdicts(results: &[CheckResult]) -> Vec<(String, Verdict)> {
        results.iter().map(|r| (r.id.clone(), r.verdict)).collect()
    }

    #[test]
    fn documented_answers_pass_and_each_broken_promise_fails_its_own_check() {
        let c = conformance();
        let good = c.check(&answer(
            "/pets/7",
            200,
            "application/json",
            json!({ "id": 7 }),
        ));
        assert!(
            good.iter().all(|r| r.verdict == Verdict::Passed),
            "{good:?}"
        );
        assert_eq!(
            good.len(),
            4,
            "status, content type, schema and headers: {good:?}"
        );

        let wrong_body = c.check(&answer(
            "/pets/7",
            200,
            "application/json",
            json!({ "id": "7" }),
        ));
        assert!(verdicts(&wrong_body).contains(&("openapi.schema".into(), Verdict::Failed)));
        let undocumented_success = c.check(&answer("/pets/7", 201, "application/json", json!({})));
        assert_eq!(
            verdicts(&undocumented_success),
            [("openapi.status".into(), Verdict::Failed)]
        );
        // A document need not list every error: an undocumented one is a warning.
        let undocumented_error = c.check(&answer("/pets/7", 500, "application/json", json!({})));
        assert_eq!(
            verdicts(&undocumented_error),
            [("openapi.status".into(), Verdict::Warning)]
        );
        // 404 falls under `4XX`, whose media type is problem+json.
        let wrong_type = c.check(&answer("/pets/7", 404, "text/html", json!(null)));
        assert!(verdicts(&wrong_type).contains(&("openapi.content-type".into(), Verdict::Failed)));

        let mut no_etag = answer("/pets/7", 200, "application/json", json!({ "id": 7 }));
        no_etag.header_names.clear();
        assert!(verdicts(&c.check(&no_etag)).contains(&("openapi.headers".into(), Verdict::Failed)));
    }

    #[test]
    fn literal_paths_win_and_undocumented_requests_warn_once() {
        let c = conformance();
        let mine = c.check(&answer("/pets/mine", 204, "", json!(null)));
        assert_eq!(
            verdicts(&mine),
            [("openapi.status".into(), Verdict::Passed)]
        );
        let first = c.check(&answer("/owners", 200, "application/json", json!({})));
        assert_eq!(
            verdicts(&first),
            [("openapi.undocumented".into(), Verdict::Warning)]
        );
        assert!(c
            .check(&answer("/owners", 200, "application/json", json!({})))
            .is_empty());
    }
}
