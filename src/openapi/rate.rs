//! The rate limits a document publishes, where it publishes them in a form a machine can
//! read: an operation's `x-rate-limit` / `x-ratelimit` / vendor `x-…-rate-limit` extension
//! (`{limit, window, class, burst}` or a list of them; `rate`/`requests` and
//! `period`/`per`/`interval` are read as well), `x-ratelimit-limit` with
//! `x-ratelimit-window`, or an example of a documented `RateLimit-Policy` header
//! (`100;w=1`). A documented 429 without numbers only says that a limit exists.

use serde_json::Value;

use super::model::Operation;

/// One published limit of one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The class the document names, if it names one.
    pub class: Option<String>,
    /// In tollgate's notation: `100/s`, `5000/h`, `10/5s`.
    pub limit: String,
    pub burst: Option<u64>,
}

/// The limits `op` publishes, in the order written.
pub fn published(op: &Operation) -> Vec<Published> {
    let from_extensions: Vec<Published> = op
        .extensions
        .iter()
        .filter(|(key, _)| is_rate_extension(key))
        .flat_map(|(_, value)| match value {
            Value::Array(items) => items.iter().filter_map(policy).collect::<Vec<_>>(),
            other => policy(other).into_iter().collect(),
        })
        .collect();
    if !from_extensions.is_empty() {
        return from_extensions;
    }
    if let Some(limit) = op.extensions.get("ratelimit-limit").and_then(Value::as_u64) {
        let window = ["ratelimit-window", "ratelimit-period"]
            .iter()
            .find_map(|k| op.extensions.get(*k))
            .and_then(window);
        if let Some(window) = window {
            return vec![Published {
                class: None,
                limit: format!("{limit}/{window}"),
                burst: None,
            }];
        }
    }
    policy_header_examples(op)
}

/// `rate-limit`, `ratelimit`, `acme-rate-limit`, `rate-limits` … (the `x-` is gone).
fn is_rate_extension(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('_', "-");
    key.ends_with("rate-limit")
        || key.ends_with("ratelimit")
        || key.ends_with("rate-limits")
        || key.ends_with("ratelimits")
}

fn policy(value: &Value) -> Option<Published> {
    let field = |names: &[&str]| names.iter().find_map(|n| value.get(*n));
    let limit = field(&["limit", "rate", "requests", "max", "quota"])?.as_u64()?;
    let window = field(&["window", "period", "per", "interval", "duration"]).and_then(window)?;
    Some(Published {
        class: field(&["class", "name", "group", "bucket"])
            .and_then(Value::as_str)
            .map(str::to_string),
        limit: format!("{limit}/{window}"),
        burst: field(&["burst"]).and_then(Value::as_u64),
    })
}

/// A window in tollgate's notation: `s`, `min`, `h`, `5s` … from `1s`, `second`, `minute`,
/// `60` (seconds), `1m`, `hour`, `1h`, `day`.
fn window(value: &Value) -> Option<String> {
    let seconds = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => seconds_of(s.trim())?,
        _ => return None,
    };
    Some(match seconds {
        0 => return None,
        1 => "s".into(),
        60 => "min".into(),
        3600 => "h".into(),
        n if n % 3600 == 0 => format!("{}h", n / 3600),
        n if n % 60 == 0 => format!("{}min", n / 60),
        n => format!("{n}s"),
    })
}

fn seconds_of(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let named = match lower.as_str() {
        "second" | "sec" | "s" => Some(1),
        "minute" | "min" | "m" => Some(60),
        "hour" | "h" => Some(3600),
        "day" | "d" => Some(86_400),
        _ => None,
    };
    if named.is_some() {
        return named;
    }
    let digits = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let unit = match unit.trim() {
        "" | "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return None,
    };
    number.checked_mul(unit)
}

/// `RateLimit-Policy: 100;w=1` (an example on a documented response header).
fn policy_header_examples(op: &Operation) -> Vec<Published> {
    op.responses
        .iter()
        .flat_map(|r| &r.headers)
        .filter(|h| h.name.eq_ignore_ascii_case("ratelimit-policy"))
        .filter_map(|h| h.example.as_ref()?.as_str())
        .flat_map(|text| text.split(','))
        .filter_map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let first = parts.next()?;
            // Structured-field form `"name";q=100;w=1` or the older `100;w=1`.
            let mut quota = first.parse::<u64>().ok();
            let mut window_secs = None;
            for part in parts {
                match part.split_once('=') {
                    Some(("q", v)) => quota = v.parse().ok(),
                    Some(("w", v)) => window_secs = v.parse::<u64>().ok(),
                    _ => {}
                }
            }
            let window = window(&Value::from(window_secs?))?;
            Some(Published {
                class: None,
                limit: format!("{}/{window}", quota?),
                burst: None,
            })
        })
        .collect()
}

/// Whether `op` documents a 429 at all.
pub fn documents_429(op: &Operation) -> bool {
    op.documents(429)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extension_shapes_read_as_tollgate_limits() {
        let cases = [
            (
                json!({ "limit": 100, "window": "1s", "class": "read" }),
                Some("100/s"),
            ),
            (json!({ "rate": 5000, "period": "hour" }), Some("5000/h")),
            (json!({ "requests": 10, "per": 5 }), Some("10/5s")),
            (json!({ "limit": 100, "window": "1m" }), Some("100/min")),
            (json!({ "limit": 100 }), None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                policy(&value).map(|p| p.limit),
                expected.map(String::from),
                "{value}"
            );
        }
        assert!(is_rate_extension("acme-rate-limit") && is_rate_extension("ratelimit"));
        assert!(!is_rate_extension("ratelimit-limit"));
    }
}
