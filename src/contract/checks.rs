//! Checks of one response: the step's `expect` block and the built-in checks every response
//! gets whatever a scenario says.

use serde_json::Value;

use super::client::{Exchange, Outgoing};
use crate::event::{CheckResult, Verdict};
use crate::openapi::conformance::{Answer, Conformance};
use crate::profile::{ErrorContract, ExpectedError};
use crate::scenario::predicate::Predicate;
use crate::scenario::template::Vars;
use crate::scenario::{Expect, HeaderRule, JsonRule, Origin};
use crate::secret::{Redactor, Secret};

/// Checks every response gets: error shape and type on 4xx/5xx, no echoed key, and a
/// warning for a 401 without a challenge.
pub fn built_in(
    exchange: &Exchange,
    errors: &ErrorContract,
    presented: &[Secret],
    all_keys: &Redactor,
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    if exchange.status >= 400 {
        results.push(error_content_type(exchange));
        results.push(error_shape(exchange, errors));
    }
    results.push(secret_echo(exchange, presented, all_keys));
    if exchange.status == 401 {
        results.push(match exchange.header("www-authenticate") {
            Some(_) => CheckResult::passed("auth.www-authenticate"),
            None => CheckResult::new(
                "auth.www-authenticate",
                Verdict::Warning,
                "401 without a WWW-Authenticate header (RFC 6750 §3 and RFC 9110 §11.6.1 \
                 ask for one)",
            ),
        });
    }
    results
}

/// The answer held to the profile's OpenAPI document: the operation is the one the final
/// request (after same-origin redirects) went to.
pub fn openapi(
    conformance: &Conformance,
    outgoing: &Outgoing,
    exchange: &Exchange,
) -> Vec<CheckResult> {
    let (method, path) = match exchange.redirects.last() {
        Some(hop) => (hop.method.to_string(), hop.path.clone()),
        None => {
            let path = outgoing.path_and_query.split('?').next().unwrap_or("");
            (outgoing.method.to_string(), path.to_string())
        }
    };
    let media_type = exchange.media_type();
    let json = media_type
        .as_deref()
        .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
    let answer = Answer {
        method: &method,
        path: &path,
        status: exchange.status,
        header_names: exchange
            .headers
            .keys()
            .map(|name| name.as_str().to_string())
            .collect(),
        body: json.then(|| exchange.json().map_err(|e| e.to_string())),
        snippet: snippet(exchange),
        media_type,
    };
    conformance.check(&answer)
}

fn error_content_type(exchange: &Exchange) -> CheckResult {
    let media = exchange.media_type();
    let json = media
        .as_deref()
        .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
    if json {
        CheckResult::passed("error.content-type")
    } else {
        CheckResult::failed(
            "error.content-type",
            "application/json (or a +json type)",
            media.unwrap_or_else(|| "no Content-Type".into()),
        )
        .with_message(format!("a {} error body must be JSON", exchange.status))
    }
}

/// Whether the body of an error response matches the profile's error schema.
pub fn error_shape(exchange: &Exchange, errors: &ErrorContract) -> CheckResult {
    let body = match exchange.json() {
        Ok(body) => body,
        Err(e) => {
            return CheckResult::failed(
                "error.shape",
                format!("JSON matching {}", errors.schema_name),
                snippet(exchange),
            )
            .with_message(format!(
                "a {} error body must be JSON: {e}",
                exchange.status
            ));
        }
    };
    schema_check(
        "error.shape",
        &errors.schema,
        &errors.schema_name,
        exchange,
        &body,
    )
}

/// Validates `body` against a schema; a failure lists the first three problems.
fn schema_check(
    id: &str,
    validator: &jsonschema::Validator,
    name: &str,
    exchange: &Exchange,
    body: &Value,
) -> CheckResult {
    let problems: Vec<String> = validator
        .iter_errors(body)
        .take(3)
        .map(|e| format!("{} at `{}`", e, e.instance_path()))
        .collect();
    if problems.is_empty() {
        CheckResult::passed(id)
    } else {
        CheckResult::failed(id, format!("a body matching {name}"), snippet(exchange))
            .with_message(problems.join("; "))
    }
}

fn secret_echo(exchange: &Exchange, presented: &[Secret], all_keys: &Redactor) -> CheckResult {
    let presented = Redactor::new(presented.iter().cloned());
    let body = exchange.body_text();
    let in_body = presented.finds_in(&body) || all_keys.finds_in(&body);
    let in_header = exchange.headers.iter().find_map(|(name, value)| {
        let value = value.to_str().unwrap_or_default();
        (presented.finds_in(value) || all_keys.finds_in(value)).then(|| name.to_string())
    });
    match (in_body, in_header) {
        (false, None) => CheckResult::passed("secret.echo"),
        (true, _) => CheckResult::new(
            "secret.echo",
            Verdict::Failed,
            "the response body contains an API key",
        ),
        (false, Some(name)) => CheckResult::new(
            "secret.echo",
            Verdict::Failed,
            format!("the `{name}` header contains an API key"),
        ),
    }
}

/// The step's own expectations.
pub fn expectations(
    exchange: &Exchange,
    expect: &Expect,
    errors: &ErrorContract,
    vars: &Vars,
    secret_headers: &[String],
) -> Vec<CheckResult> {
    let mut results =
        vec![status(exchange.status, &expect.status, "expect.status").at(&expect.status_origin)];
    for header in &expect.headers {
        let secret = secret_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&header.name));
        results.push(
            header_check(exchange, &header.name, &header.rule, vars, secret).at(&header.origin),
        );
    }
    if let Some(expected) = &expect.content_type {
        let actual = exchange.media_type();
        results.push(
            if actual.as_deref() == Some(expected.to_ascii_lowercase().as_str()) {
                CheckResult::passed("expect.content-type")
            } else {
                CheckResult::failed(
                    "expect.content-type",
                    expected,
                    actual.unwrap_or_else(|| "no Content-Type".into()),
                )
            }
            .at(&expect.origin),
        );
    }
    if let Some(schema) = &expect.schema {
        let result = match exchange.json() {
            Err(e) => CheckResult::failed("expect.schema", schema.path.display().to_string(), e),
            Ok(body) => schema_check(
                "expect.schema",
                &schema.validator,
                &schema.path.display().to_string(),
                exchange,
                &body,
            ),
        };
        results.push(result.at(&schema.origin));
    }
    if !expect.json.is_empty() {
        let body = exchange.json();
        for expectation in &expect.json {
            let result = match &body {
                Err(e) => {
                    CheckResult::failed("expect.json", expectation.path_text.clone(), e.clone())
                }
                Ok(body) => json_check(body, expectation, vars),
            };
            results.push(result.at(&expectation.origin));
        }
    }
    if expect.body_empty {
        results.push(
            if exchange.body.is_empty() {
                CheckResult::passed("expect.body")
            } else {
                CheckResult::failed("expect.body", "an empty body", snippet(exchange))
            }
            .at(&expect.origin),
        );
    }
    if let Some((template, origin)) = &expect.error {
        let expected = template.render(vars).unwrap_or_default();
        results.push(error_message("expect.error", exchange, errors, &expected).at(origin));
    }
    if let Some(limit) = expect.max_latency_ms {
        let ms = exchange.latency.as_secs_f64() * 1000.0;
        results.push(
            if ms <= limit as f64 {
                CheckResult::passed("expect.latency")
            } else {
                CheckResult::failed(
                    "expect.latency",
                    format!("≤ {limit} ms"),
                    format!("{ms:.0} ms"),
                )
            }
            .at(&expect.origin),
        );
    }
    results
}

pub fn status(actual: u16, expected: &[u16], id: &str) -> CheckResult {
    if expected.contains(&actual) {
        CheckResult::passed(id)
    } else {
        CheckResult::failed(id, join_statuses(expected), actual.to_string())
    }
}

pub fn join_statuses(statuses: &[u16]) -> String {
    statuses
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Compares the error message read through the profile's pointer. When the body does not
/// have the error shape at all, that is `error.shape`'s failure, so this one is skipped
/// rather than failing twice for one fault.
pub fn error_message(
    id: &str,
    exchange: &Exchange,
    errors: &ErrorContract,
    expected: &str,
) -> CheckResult {
    let body = exchange.json().ok();
    let shaped = body.as_ref().is_some_and(|b| errors.schema.is_valid(b));
    let message = body
        .as_ref()
        .and_then(|b| b.pointer(&errors.message))
        .and_then(Value::as_str);
    match (shaped, message) {
        (true, Some(actual)) if actual == expected => CheckResult::passed(id),
        (true, Some(actual)) => {
            CheckResult::failed(id, format!("{:?}", expected), format!("{actual:?}"))
        }
        _ => CheckResult::new(
            id,
            Verdict::Skipped,
            "the body does not have the error shape (see error.shape)",
        ),
    }
}

/// Status and message of an auth-matrix case against what the profile documents.
pub fn expected_error(
    case: &str,
    exchange: &Exchange,
    expected: &ExpectedError,
    errors: &ErrorContract,
    origin: &Origin,
) -> Vec<CheckResult> {
    let status_id = format!("auth.{case}.status");
    let status_check = status(exchange.status, &[expected.status], &status_id).at(origin);
    let Some(message) = &expected.message else {
        return vec![status_check];
    };
    let body_id = format!("auth.{case}.body");
    let body_check = if status_check.verdict == Verdict::Passed {
        error_message(&body_id, exchange, errors, message).at(origin)
    } else {
        CheckResult::new(
            body_id,
            Verdict::Skipped,
            format!("the status was {}, see {status_id}", exchange.status),
        )
        .at(origin)
    };
    vec![status_check, body_check]
}

/// `secret`: the header's values are never shown (the profile's `secret_headers`).
fn header_check(
    exchange: &Exchange,
    name: &str,
    rule: &HeaderRule,
    vars: &Vars,
    secret: bool,
) -> CheckResult {
    let id = "expect.header";
    let actual = exchange.header(name);
    let hide = |v: &str| {
        if secret {
            "[redacted]".to_string()
        } else {
            v.to_string()
        }
    };
    let shown = || {
        actual
            .map(|v| format!("{name}: {}", hide(v)))
            .unwrap_or_else(|| format!("no {name} header"))
    };
    let ok = match rule {
        HeaderRule::Equals(template) => {
            let expected = template.render(vars).unwrap_or_default();
            if actual == Some(expected.as_str()) {
                return CheckResult::passed(id);
            }
            return CheckResult::failed(id, format!("{name}: {}", hide(&expected)), shown());
        }
        HeaderRule::Present => actual.is_some(),
        HeaderRule::Absent => actual.is_none(),
        HeaderRule::Predicates(predicates) => {
            let value = actual.map(|v| Value::String(v.to_string()));
            let failing = match failing(predicates, value.as_ref(), vars) {
                Ok(failing) => failing,
                Err(e) => return CheckResult::new(id, Verdict::Failed, e),
            };
            if failing.is_empty() {
                return CheckResult::passed(id);
            }
            return CheckResult::failed(id, format!("{name} {failing}"), shown());
        }
    };
    if ok {
        return CheckResult::passed(id);
    }
    let expected = match rule {
        HeaderRule::Present => format!("a {name} header"),
        _ => format!("no {name} header"),
    };
    CheckResult::failed(id, expected, shown())
}

/// The predicates `actual` does not satisfy, as they read (`matches /^usr_/ and length 3`);
/// empty when all hold.
fn failing(
    predicates: &[Predicate],
    actual: Option<&Value>,
    vars: &Vars,
) -> Result<String, String> {
    let render = |v: &Value| crate::scenario::template::render_json(v, vars);
    let mut failed = Vec::new();
    for predicate in predicates {
        if !predicate.holds(actual, &render)? {
            failed.push(predicate.describe());
        }
    }
    Ok(failed.join(" and "))
}

fn json_check(body: &Value, expectation: &crate::scenario::JsonExpect, vars: &Vars) -> CheckResult {
    let id = "expect.json";
    let nodes = expectation.path.query(body).all();
    let path = &expectation.path_text;
    match &expectation.rule {
        JsonRule::Predicates(predicates) => {
            let actual = match nodes.as_slice() {
                [] => None,
                [one] => Some((*one).clone()),
                many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect())),
            };
            match failing(predicates, actual.as_ref(), vars) {
                Err(e) => CheckResult::new(id, Verdict::Failed, e),
                Ok(failed) if failed.is_empty() => CheckResult::passed(id),
                Ok(failed) => CheckResult::failed(
                    id,
                    format!("{path} {failed}"),
                    match &actual {
                        Some(v) => format!("{path} = {}", compact(v)),
                        None => format!("nothing at {path}"),
                    },
                ),
            }
        }
        JsonRule::Equals(template) => {
            let expected = match crate::scenario::template::render_json(template, vars) {
                Ok(v) => v,
                Err(e) => return CheckResult::new(id, Verdict::Failed, e),
            };
            let actual = match nodes.as_slice() {
                [] => {
                    return CheckResult::failed(
                        id,
                        format!("{path} = {}", compact(&expected)),
                        format!("nothing at {path}"),
                    )
                }
                [one] => (*one).clone(),
                many => Value::Array(many.iter().map(|v| (*v).clone()).collect()),
            };
            if actual == expected {
                CheckResult::passed(id)
            } else {
                CheckResult::failed(
                    id,
                    format!("{path} = {}", compact(&expected)),
                    format!("{path} = {}", compact(&actual)),
                )
            }
        }
    }
}

fn compact(value: &Value) -> String {
    let text = value.to_string();
    truncate(&text)
}

/// The start of a body, for "actual" columns.
pub fn snippet(exchange: &Exchange) -> String {
    if exchange.body.is_empty() {
        return "an empty body".into();
    }
    truncate(&exchange.body_text())
}

fn truncate(text: &str) -> String {
    const MAX: usize = 200;
    let one_line = text.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= MAX {
        one_line
    } else {
        format!("{}…", one_line.chars().take(MAX).collect::<String>())
    }
}
