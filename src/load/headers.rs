//! Rate-limit headers in the dialects seen in the wild: `Retry-After` (RFC 9110),
//! `RateLimit` / `RateLimit-Policy` (IETF draft structured fields), `RateLimit-Limit /
//! -Remaining / -Reset` (older drafts) and `X-RateLimit-*`.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// What one response says about its limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateHeaders {
    pub retry_after: Option<RetryAfter>,
    /// Requests left, for `policy` when the IETF field names it, else the tightest.
    pub remaining: Option<i64>,
    pub limit: Option<i64>,
    pub reset: Option<Reset>,
    /// Which dialects were present (`ietf`, `ratelimit-headers`, `x-ratelimit`).
    pub dialects: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RetryAfter {
    Seconds(u64),
    /// An HTTP-date, as the wait it implies from now.
    Date(Duration),
    Invalid(String),
}

impl RetryAfter {
    pub fn wait(&self) -> Option<Duration> {
        match self {
            RetryAfter::Seconds(s) => Some(Duration::from_secs(*s)),
            RetryAfter::Date(d) => Some(*d),
            RetryAfter::Invalid(_) => None,
        }
    }
}

/// A reset value and how it was interpreted.
#[derive(Debug, Clone, PartialEq)]
pub enum Reset {
    /// Seconds from now (what the drafts specify).
    Delta(f64),
    /// Seconds since the epoch, converted to a wait (non-standard; flagged).
    EpochSeconds(f64),
    /// Milliseconds since the epoch, converted to a wait (non-standard; flagged).
    EpochMillis(f64),
    Invalid(String),
}

impl Reset {
    /// The wait it promises, in seconds.
    pub fn seconds(&self) -> Option<f64> {
        match self {
            Reset::Delta(s) | Reset::EpochSeconds(s) | Reset::EpochMillis(s) => Some(*s),
            Reset::Invalid(_) => None,
        }
    }

    fn parse(text: &str, now: SystemTime) -> Reset {
        let Ok(value) = text.trim().parse::<f64>() else {
            return Reset::Invalid(text.to_string());
        };
        let epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        if value > 1e12 {
            Reset::EpochMillis((value / 1000.0 - epoch).max(0.0))
        } else if value > 1e9 {
            Reset::EpochSeconds((value - epoch).max(0.0))
        } else if value < 0.0 {
            Reset::Invalid(text.to_string())
        } else {
            Reset::Delta(value)
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// One item of an IETF structured-field list: `"name";r=1;t=2`.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    pub params: Vec<(String, String)>,
}

impl Item {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a structured-field list of items with parameters (enough of RFC 8941 for the
/// rate-limit fields: string or token items, integer/decimal/string parameters).
pub fn parse_items(text: &str) -> Vec<Item> {
    text.split(',')
        .filter_map(|raw| {
            let mut parts = raw.trim().split(';');
            let name = parts.next()?.trim().trim_matches('"').to_string();
            let params = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
                })
                .collect();
            Some(Item { name, params })
        })
        .filter(|item| !item.name.is_empty() || !item.params.is_empty())
        .collect()
}

/// Reads every dialect; `policy` picks an item of the IETF field by name when present.
pub fn read(headers: &HeaderMap, policy: Option<&str>, now: SystemTime) -> RateHeaders {
    let mut out = RateHeaders::default();
    if let Some(value) = header(headers, "retry-after") {
        out.retry_after = Some(match value.parse::<u64>() {
            Ok(s) => RetryAfter::Seconds(s),
            Err(_) => match httpdate::parse_http_date(value) {
                Ok(date) => RetryAfter::Date(date.duration_since(now).unwrap_or_default()),
                Err(_) => RetryAfter::Invalid(value.to_string()),
            },
        });
    }
    if let Some(value) = header(headers, "ratelimit") {
        out.dialects.push("ietf");
        let items = parse_items(value);
        let chosen = policy
            .and_then(|p| items.iter().find(|i| i.name == p))
            .or_else(|| {
                items.iter().min_by_key(|i| {
                    i.param("r")
                        .and_then(|r| r.parse::<i64>().ok())
                        .unwrap_or(i64::MAX)
                })
            });
        if let Some(item) = chosen {
            out.remaining = item.param("r").and_then(|r| r.parse().ok());
            out.reset = item.param("t").map(|t| Reset::parse(t, now));
        }
        if let Some(policies) = header(headers, "ratelimit-policy") {
            let name = chosen.map(|c| c.name.clone());
            out.limit = parse_items(policies)
                .into_iter()
                .find(|p| Some(&p.name) == name.as_ref())
                .and_then(|p| p.param("q").and_then(|q| q.parse().ok()));
        }
    }
    for (prefix, dialect) in [
        ("ratelimit-", "ratelimit-headers"),
        ("x-ratelimit-", "x-ratelimit"),
    ] {
        let remaining = header(headers, &format!("{prefix}remaining"));
        let limit = header(headers, &format!("{prefix}limit"));
        let reset = header(headers, &format!("{prefix}reset"));
        if remaining.is_none() && limit.is_none() && reset.is_none() {
            continue;
        }
        out.dialects.push(dialect);
        // The IETF field, when present and naming the policy, wins: it is per policy.
        let ietf_chosen =
            out.dialects.contains(&"ietf") && policy.is_some() && out.remaining.is_some();
        if !ietf_chosen {
            out.remaining = out.remaining.or(remaining.and_then(|r| r.parse().ok()));
            out.limit = out.limit.or(limit.and_then(|l| l.parse().ok()));
            out.reset = out.reset.or(reset.map(|r| Reset::parse(r, now)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn reads_the_ietf_fields_per_policy() {
        let h = headers(&[
            (
                "ratelimit-policy",
                "\"minute\";q=100;w=60, \"hour\";q=5000;w=3600",
            ),
            ("ratelimit", "\"minute\";r=7;t=40, \"hour\";r=4907;t=3000"),
        ]);
        let minute = read(&h, Some("minute"), now());
        assert_eq!(
            (minute.remaining, minute.limit, minute.reset),
            (Some(7), Some(100), Some(Reset::Delta(40.0)))
        );
        let hour = read(&h, Some("hour"), now());
        assert_eq!((hour.remaining, hour.limit), (Some(4907), Some(5000)));
        let tightest = read(&h, None, now());
        assert_eq!(tightest.remaining, Some(7));
        assert_eq!(tightest.dialects, vec!["ietf"]);
    }

    #[test]
    fn reads_older_and_x_dialects_and_flags_epoch_resets() {
        let h = headers(&[
            ("x-ratelimit-remaining", "3"),
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-reset", "1700000005"),
        ]);
        let r = read(&h, None, now());
        assert_eq!((r.remaining, r.limit), (Some(3), Some(10)));
        assert_eq!(r.reset, Some(Reset::EpochSeconds(5.0)));
        let h = headers(&[("ratelimit-reset", "1700000002500")]);
        assert_eq!(read(&h, None, now()).reset, Some(Reset::EpochMillis(2.5)));
        let h = headers(&[("ratelimit-reset", "soon")]);
        assert_eq!(
            read(&h, None, now()).reset,
            Some(Reset::Invalid("soon".into()))
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let r = read(&headers(&[("retry-after", "2")]), None, now());
        assert_eq!(r.retry_after, Some(RetryAfter::Seconds(2)));
        let date = httpdate::fmt_http_date(now() + Duration::from_secs(3));
        let r = read(&headers(&[("retry-after", &date)]), None, now());
        assert_eq!(r.retry_after.unwrap().wait(), Some(Duration::from_secs(3)));
        let r = read(&headers(&[("retry-after", "later")]), None, now());
        assert_eq!(r.retry_after, Some(RetryAfter::Invalid("later".into())));
    }
}
