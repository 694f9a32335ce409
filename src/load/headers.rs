//! Rate-limit headers in the dialects seen in the wild, each under its own name in
//! [`RateHeaders::dialects`]:
//!
//! | dialect | fields | seen at |
//! |---|---|---|
//! | `ietf-ratelimit` | `RateLimit: "p";r=50;t=30;pk=:…:` + `RateLimit-Policy: "p";q=100;w=60` | draft-08+, Cloudflare, express-rate-limit draft-8 |
//! | `ietf-ratelimit-dict` | `RateLimit: limit=100, remaining=99, reset=900` | drafts 06/07, express-rate-limit draft-7 |
//! | `ratelimit-fields` | `RateLimit-Limit/-Remaining/-Reset` | drafts 00–05, Kong, GitLab, Envoy |
//! | `x-ratelimit` | `X-RateLimit-Limit/-Remaining/-Reset[-After]` | GitHub, Discord, Reddit, express legacy |
//! | `x-rate-limit` | `X-Rate-Limit-Limit/-Remaining/-Reset` | Twitter/X, Okta |
//!
//! plus `Retry-After` (RFC 9110: delay-seconds or an HTTP-date). Reset values are read as
//! the drafts say (delta-seconds) unless they cannot be: epoch seconds (integer or
//! fractional) and epoch milliseconds are converted and flagged with the reason.

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
    /// Which dialects were present, most standard first (see the module table).
    pub dialects: Vec<&'static str>,
    /// The IETF partition key (`pk`) of the chosen policy, as sent.
    pub partition: Option<String>,
    /// Rate headers sent more than once (`Retry-After: 1` and `Retry-After: 3600`): a
    /// client reads one of them, and which depends on its library.
    pub duplicated: Vec<&'static str>,
    /// Rate headers that were sent but say nothing readable, as `Name: value`.
    pub unreadable: Vec<String>,
    /// The answer's `Date`, in Unix seconds: where the target's clock was (`clock.rs`).
    pub date: Option<u64>,
}

/// The rate headers a client acts on; each must appear at most once.
const SINGLE: [&str; 8] = [
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];

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
    /// Too large for a plausible delta (over 11 days), too small for an epoch timestamp.
    Ambiguous(f64),
    Invalid(String),
}

impl Reset {
    /// The wait it promises, in seconds.
    pub fn seconds(&self) -> Option<f64> {
        match self {
            Reset::Delta(s) | Reset::EpochSeconds(s) | Reset::EpochMillis(s) => Some(*s),
            Reset::Ambiguous(_) | Reset::Invalid(_) => None,
        }
    }

    /// Why this value is not what the drafts specify (whole delta-seconds), if it is not.
    pub fn warning(&self) -> Option<String> {
        match self {
            Reset::Delta(s) if s.fract() != 0.0 => Some(format!(
                "a fractional reset ({s}): the drafts specify a whole number of seconds"
            )),
            Reset::Delta(_) => None,
            Reset::EpochSeconds(_) => Some(
                "a reset that looks like epoch seconds: the drafts specify delta-seconds, and a client with a skewed clock misreads it".into(),
            ),
            Reset::EpochMillis(_) => Some(
                "a reset that looks like epoch milliseconds: the drafts specify delta-seconds".into(),
            ),
            Reset::Ambiguous(v) => Some(format!(
                "an ambiguous reset ({v}): more than 11 days as delta-seconds, yet before 2001 as an epoch timestamp"
            )),
            Reset::Invalid(text) => Some(format!("an unreadable reset `{text}`")),
        }
    }

    fn parse(text: &str, now: SystemTime) -> Reset {
        let Some(value) = number(text) else {
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
        } else if value > 1e6 {
            Reset::Ambiguous(value)
        } else if value < 0.0 {
            Reset::Invalid(text.to_string())
        } else {
            Reset::Delta(value)
        }
    }
}

/// At most 80 characters of a header value, for a message.
fn clip(value: &str) -> String {
    let clipped: String = value.chars().take(80).collect();
    if clipped.len() < value.len() {
        format!("{clipped}…")
    } else {
        clipped
    }
}

/// A finite number (`599.0`, `1470173023.123`), or nothing.
fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A count that some servers send as a decimal (Reddit's `599.0`), rounded down.
fn count(text: &str) -> Option<i64> {
    let value = number(text)?;
    (value.abs() < 1e15).then(|| value.floor() as i64)
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
    split_outside_quotes(text, ',')
        .into_iter()
        .filter_map(|raw| {
            let parts = split_outside_quotes(raw, ';');
            let mut parts = parts.into_iter();
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

/// Splits at `separator` except inside a quoted string (`"a,b";r=1`).
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The draft 06/07 dictionary form: `limit=100, remaining=99, reset=900`.
fn dictionary(text: &str) -> Option<(Option<i64>, Option<i64>, Option<&str>)> {
    let mut limit = None;
    let mut remaining = None;
    let mut reset = None;
    for member in split_outside_quotes(text, ',') {
        let (key, value) = member.split_once('=')?;
        let value = value.split(';').next().unwrap_or_default().trim();
        match key.trim() {
            "limit" => limit = count(value),
            "remaining" => remaining = count(value),
            "reset" => reset = Some(value),
            _ => {}
        }
    }
    (limit.is_some() || remaining.is_some() || reset.is_some()).then_some((limit, remaining, reset))
}

/// The first integer of a field that may carry a policy list (`10, 10;w=1, 1000;w=3600`).
fn first_count(text: &str) -> Option<i64> {
    count(split_outside_quotes(text, ',').first()?.split(';').next()?)
}

/// Reads every dialect; `policy` picks an item of the IETF field by name when present.
pub fn read(headers: &HeaderMap, policy: Option<&str>, now: SystemTime) -> RateHeaders {
    let mut out = RateHeaders {
        date: header(headers, "date")
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .and_then(|d| d.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs()),
        ..RateHeaders::default()
    };
    for name in SINGLE {
        if headers.get_all(name).iter().nth(1).is_some() {
            out.duplicated.push(name);
        }
    }
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
        match dictionary(value) {
            Some((limit, remaining, reset)) => {
                out.dialects.push("ietf-ratelimit-dict");
                out.limit =
                    limit.or_else(|| header(headers, "ratelimit-policy").and_then(first_count));
                out.remaining = remaining;
                out.reset = reset.map(|r| Reset::parse(r, now));
            }
            None => ietf_items(&mut out, headers, value, policy, now),
        }
        if out.remaining.is_none() && out.reset.is_none() {
            out.unreadable.push(format!("RateLimit: {}", clip(value)));
        }
    }
    for (prefix, dialect) in [
        ("ratelimit-", "ratelimit-fields"),
        ("x-ratelimit-", "x-ratelimit"),
        ("x-rate-limit-", "x-rate-limit"),
    ] {
        family(&mut out, headers, prefix, dialect, policy.is_some(), now);
    }
    out
}

/// The draft-08+ lists of items, one per policy; `policy` picks one by name, else the one
/// closest to running out.
fn ietf_items(
    out: &mut RateHeaders,
    headers: &HeaderMap,
    value: &str,
    policy: Option<&str>,
    now: SystemTime,
) {
    out.dialects.push("ietf-ratelimit");
    let items = parse_items(value);
    let chosen = policy
        .and_then(|p| items.iter().find(|i| i.name == p))
        .or_else(|| {
            items
                .iter()
                .min_by_key(|i| i.param("r").and_then(count).unwrap_or(i64::MAX))
        });
    if let Some(item) = chosen {
        out.remaining = item.param("r").and_then(count);
        out.reset = item.param("t").map(|t| Reset::parse(t, now));
        out.partition = item.param("pk").map(str::to_string);
    }
    if let Some(policies) = header(headers, "ratelimit-policy") {
        let name = chosen.map(|c| c.name.clone());
        out.limit = parse_items(policies)
            .into_iter()
            .find(|p| Some(&p.name) == name.as_ref())
            .and_then(|p| p.param("q").and_then(count));
    }
}

/// One `<prefix>limit/-remaining/-reset` family; an earlier (more standard) dialect's values
/// win, and the IETF item of a named policy always does (it is per policy).
fn family(
    out: &mut RateHeaders,
    headers: &HeaderMap,
    prefix: &str,
    dialect: &'static str,
    named_policy: bool,
    now: SystemTime,
) {
    let field = |name: &str| header(headers, &format!("{prefix}{name}"));
    let remaining = field("remaining").or_else(|| windowed(headers, prefix, "remaining"));
    let limit = field("limit").or_else(|| windowed(headers, prefix, "limit"));
    // Discord's `Reset-After` is a delta in seconds: unambiguous, so it beats `Reset`.
    let reset = field("reset-after").or_else(|| field("reset"));
    if remaining.is_none() && limit.is_none() && reset.is_none() {
        return;
    }
    out.dialects.push(dialect);
    if named_policy && out.dialects.contains(&"ietf-ratelimit") && out.remaining.is_some() {
        return;
    }
    out.remaining = out.remaining.or(remaining.and_then(count));
    out.limit = out.limit.or(limit.and_then(first_count));
    out.reset = out.reset.clone().or(reset.map(|r| Reset::parse(r, now)));
}

/// Kong's per-window fields (`X-RateLimit-Remaining-Minute`), the tightest window first.
fn windowed<'a>(headers: &'a HeaderMap, prefix: &str, what: &str) -> Option<&'a str> {
    ["second", "minute", "hour", "day", "month", "year"]
        .iter()
        .find_map(|unit| header(headers, &format!("{prefix}{what}-{unit}")))
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
        assert_eq!(tightest.dialects, vec!["ietf-ratelimit"]);
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

    // Real samples, as each service documents or sends them.

    #[test]
    fn github_rest_sends_x_ratelimit_with_an_epoch_reset() {
        let h = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4987"),
            ("x-ratelimit-used", "13"),
            ("x-ratelimit-reset", "1700000600"),
            ("x-ratelimit-resource", "core"),
        ]);
        let r = read(&h, None, now());
        assert_eq!((r.limit, r.remaining), (Some(5000), Some(4987)));
        assert_eq!(r.reset, Some(Reset::EpochSeconds(600.0)));
        assert_eq!(r.dialects, vec!["x-ratelimit"]);
        assert!(r
            .reset
            .unwrap()
            .warning()
            .unwrap()
            .contains("epoch seconds"));
    }

    #[test]
    fn twitter_and_okta_send_x_rate_limit() {
        let h = headers(&[
            ("x-rate-limit-limit", "900"),
            ("x-rate-limit-remaining", "899"),
            ("x-rate-limit-reset", "1700000900"),
        ]);
        let r = read(&h, None, now());
        assert_eq!((r.limit, r.remaining), (Some(900), Some(899)));
        assert_eq!(r.reset, Some(Reset::EpochSeconds(900.0)));
        assert_eq!(r.dialects, vec!["x-rate-limit"]);
    }

    #[test]
    fn discord_prefers_the_unambiguous_reset_after() {
        let h = headers(&[
            ("x-ratelimit-limit", "5"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000001.250"),
            ("x-ratelimit-reset-after", "1.25"),
            ("x-ratelimit-bucket", "abcd1234"),
            ("retry-after", "2"),
        ]);
        let r = read(&h, None, now());
        assert_eq!(r.remaining, Some(0));
        assert_eq!(r.reset, Some(Reset::Delta(1.25)));
        assert!(r.reset.unwrap().warning().unwrap().contains("whole number"));
        assert_eq!(r.retry_after, Some(RetryAfter::Seconds(2)));
        // Without Reset-After the fractional epoch is still read.
        let h = headers(&[("x-ratelimit-reset", "1700000001.250")]);
        assert_eq!(read(&h, None, now()).reset, Some(Reset::EpochSeconds(1.25)));
    }

    #[test]
    fn reddit_sends_a_decimal_remaining_and_a_delta_reset() {
        let h = headers(&[
            ("x-ratelimit-used", "1"),
            ("x-ratelimit-remaining", "599.0"),
            ("x-ratelimit-reset", "420"),
        ]);
        let r = read(&h, None, now());
        assert_eq!(r.remaining, Some(599));
        assert_eq!(r.reset, Some(Reset::Delta(420.0)));
        assert_eq!(r.reset.unwrap().warning(), None);
    }

    #[test]
    fn kong_sends_draft_fields_and_per_window_x_fields() {
        let h = headers(&[
            ("ratelimit-limit", "5"),
            ("ratelimit-remaining", "4"),
            ("ratelimit-reset", "47"),
            ("x-ratelimit-limit-minute", "5"),
            ("x-ratelimit-remaining-minute", "4"),
        ]);
        let r = read(&h, None, now());
        assert_eq!((r.limit, r.remaining), (Some(5), Some(4)));
        assert_eq!(r.dialects, vec!["ratelimit-fields", "x-ratelimit"]);
        let only_windowed = headers(&[("x-ratelimit-remaining-minute", "3")]);
        assert_eq!(read(&only_windowed, None, now()).remaining, Some(3));
    }

    #[test]
    fn envoy_sends_a_policy_list_in_the_limit_field() {
        let h = headers(&[
            ("x-ratelimit-limit", "10, 10;w=60"),
            ("x-ratelimit-remaining", "9"),
            ("x-ratelimit-reset", "55"),
        ]);
        let r = read(&h, None, now());
        assert_eq!((r.limit, r.remaining), (Some(10), Some(9)));
    }

    #[test]
    fn express_rate_limit_draft_7_sends_the_dictionary_form() {
        let h = headers(&[
            ("ratelimit-policy", "100;w=900"),
            ("ratelimit", "limit=100, remaining=99, reset=900"),
        ]);
        let r = read(&h, None, now());
        assert_eq!((r.limit, r.remaining), (Some(100), Some(99)));
        assert_eq!(r.reset, Some(Reset::Delta(900.0)));
        assert_eq!(r.dialects, vec!["ietf-ratelimit-dict"]);
    }

    #[test]
    fn express_rate_limit_draft_8_and_cloudflare_send_items_with_partition_keys() {
        let h = headers(&[
            (
                "ratelimit-policy",
                "\"100-in-15min\"; q=100; w=900; pk=:ZTE1MjE=:",
            ),
            ("ratelimit", "\"100-in-15min\"; r=99; t=900; pk=:ZTE1MjE=:"),
        ]);
        let r = read(&h, None, now());
        assert_eq!((r.limit, r.remaining), (Some(100), Some(99)));
        assert_eq!(r.partition.as_deref(), Some(":ZTE1MjE=:"));
        assert_eq!(r.dialects, vec!["ietf-ratelimit"]);
        let cloudflare = headers(&[
            ("ratelimit", "\"default\";r=50;t=30"),
            ("ratelimit-policy", "\"default\";q=100;w=60"),
        ]);
        let r = read(&cloudflare, Some("default"), now());
        assert_eq!(
            (r.limit, r.remaining, r.reset),
            (Some(100), Some(50), Some(Reset::Delta(30.0)))
        );
    }

    #[test]
    fn quoted_names_may_hold_separators() {
        let items = parse_items("\"a,b;c\";r=1;t=2, \"d\";r=3");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].name, "a,b;c");
        assert_eq!(items[0].param("t"), Some("2"));
        assert_eq!(items[1].param("r"), Some("3"));
    }

    #[test]
    fn gitlab_sends_an_epoch_reset_and_a_date() {
        let h = headers(&[
            ("ratelimit-limit", "600"),
            ("ratelimit-observed", "67"),
            ("ratelimit-remaining", "533"),
            ("ratelimit-reset", "1700000060"),
            ("ratelimit-resettime", "Tue, 14 Nov 2023 22:14:20 GMT"),
            ("retry-after", "60"),
        ]);
        let r = read(&h, None, now());
        assert_eq!((r.limit, r.remaining), (Some(600), Some(533)));
        assert_eq!(r.reset, Some(Reset::EpochSeconds(60.0)));
        assert_eq!(r.retry_after, Some(RetryAfter::Seconds(60)));
    }

    #[test]
    fn retry_after_as_rfc_9110_dates_and_nothing_else() {
        // 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT.
        let r = read(
            &headers(&[("retry-after", "Tue, 14 Nov 2023 22:13:50 GMT")]),
            None,
            now(),
        );
        assert_eq!(r.retry_after.unwrap().wait(), Some(Duration::from_secs(30)));
        for bad in ["1.5", "-1", "soon", ""] {
            let r = read(&headers(&[("retry-after", bad)]), None, now());
            assert!(
                matches!(r.retry_after, Some(RetryAfter::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn resets_are_read_by_magnitude_and_the_odd_ones_say_why() {
        let reset = |v: &str| {
            read(&headers(&[("ratelimit-reset", v)]), None, now())
                .reset
                .unwrap()
        };
        assert_eq!(reset("30"), Reset::Delta(30.0));
        assert_eq!(reset("1700000002500"), Reset::EpochMillis(2.5));
        assert_eq!(reset("5000000"), Reset::Ambiguous(5_000_000.0));
        assert!(reset("5000000").warning().unwrap().contains("ambiguous"));
        assert!(reset("1700000002500")
            .warning()
            .unwrap()
            .contains("milliseconds"));
        assert_eq!(
            reset("1600000000"),
            Reset::EpochSeconds(0.0),
            "in the past: no wait"
        );
    }

    #[test]
    fn garbage_never_panics_and_never_yields_an_infinite_wait() {
        for odd in [
            "",
            ";;;",
            "\"unterminated",
            ":notbase64",
            "1e400",
            "-0",
            "NaN",
            "inf",
            "==",
            ",,",
            "r=;t=",
        ] {
            for name in [
                "ratelimit",
                "ratelimit-policy",
                "ratelimit-reset",
                "x-ratelimit-remaining",
                "retry-after",
            ] {
                let r = read(
                    &headers(&[(name, odd), ("ratelimit-policy", odd)]),
                    Some("x"),
                    now(),
                );
                if let Some(wait) = r.reset.as_ref().and_then(Reset::seconds) {
                    assert!(wait.is_finite(), "{name}: {odd:?} → {wait}");
                }
            }
        }
    }

    #[test]
    fn duplicated_and_unreadable_rate_headers_are_named() {
        let mut map = headers(&[("ratelimit", "nonsense ,, ;;")]);
        map.append("retry-after", HeaderValue::from_static("1"));
        map.append("retry-after", HeaderValue::from_static("3600"));
        let read = read(&map, None, SystemTime::now());
        assert_eq!(read.duplicated, vec!["retry-after"]);
        assert_eq!(
            read.unreadable,
            vec!["RateLimit: nonsense ,, ;;".to_string()]
        );
    }
}
