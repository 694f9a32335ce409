//! Each tenant's captured values in a workload, so a create can feed a read: a step's 2xx
//! answers write them (the id a create returns), later steps' requests read the newest
//! ones. One store per tenant, shared by that tenant's lanes; a capture that finds nothing
//! in a 2xx answer is counted per request name, since it breaks the steps that read it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::scenario::template::Vars;
use crate::scenario::{Capture, CaptureSource};

/// One tenant's variables: the run's, and what its answers captured.
#[derive(Debug)]
pub struct TenantVars {
    vars: Mutex<Vars>,
}

impl TenantVars {
    pub fn new(vars: Vars) -> Self {
        TenantVars {
            vars: Mutex::new(vars),
        }
    }

    /// The values as they stand now, to render one request with.
    pub fn snapshot(&self) -> Vars {
        self.vars
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets every capture of `captures` from one answer; the first one that finds nothing
    /// is the error (the others are still set).
    pub fn capture(
        &self,
        captures: &[Capture],
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), String> {
        let json = std::cell::OnceCell::new();
        let mut missing = None;
        for capture in captures {
            let value = match &capture.source {
                CaptureSource::Json(text, path) => json
                    .get_or_init(|| serde_json::from_slice::<Value>(body).ok())
                    .as_ref()
                    .and_then(|body| path.query(body).first().cloned())
                    .ok_or_else(|| format!("`{}`: nothing at {text} in the answer", capture.name)),
                CaptureSource::Header(name) => headers
                    .get(name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .map(|v| Value::String(v.to_string()))
                    .ok_or_else(|| format!("`{}`: no {name} header in the answer", capture.name)),
            };
            match value {
                // `set`, not `capture`: a workload captures thousands of values, and a
                // scenario's list of values to keep out of snapshots would only grow.
                Ok(value) => self
                    .vars
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .set(&capture.name, value),
                Err(e) => {
                    missing.get_or_insert(e);
                }
            }
        }
        missing.map_or(Ok(()), Err)
    }
}

/// What one request name's answers capture, and how often a 2xx answer lacked it.
#[derive(Debug, Default)]
pub struct CaptureLog {
    pub captures: Vec<Capture>,
    failed: AtomicU64,
    first: Mutex<Option<String>>,
}

impl CaptureLog {
    pub fn new(captures: Vec<Capture>) -> Self {
        CaptureLog {
            captures,
            ..CaptureLog::default()
        }
    }

    /// Whether any capture reads a header (the answer's headers are kept for it).
    pub fn reads_headers(&self) -> bool {
        self.captures
            .iter()
            .any(|c| matches!(c.source, CaptureSource::Header(_)))
    }

    /// Captures from one 2xx answer into `tenant`, counting a miss.
    pub fn record(&self, tenant: &TenantVars, headers: &HeaderMap, body: &[u8]) {
        if let Err(e) = tenant.capture(&self.captures, headers, body) {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.first
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(e);
        }
    }

    /// How many 2xx answers lacked a capture, and the first one's message.
    pub fn failures(&self) -> CaptureTally {
        let first = self
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        CaptureTally {
            missed: self.failed.load(Ordering::Relaxed),
            first,
        }
    }
}

/// How many 2xx answers of one request name lacked a capture, and the first one's message:
/// what a shard's `measurements.json` carries for `report merge` to judge.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureTally {
    pub missed: u64,
    pub first: Option<String>,
}

/// The longest first message kept from a file (a shard's file is not trusted).
const MAX_MESSAGE: usize = 500;

impl CaptureTally {
    /// Adds another shard's tally: the counts, and the first message either has.
    pub fn add(&mut self, other: &CaptureTally) {
        self.missed = self.missed.saturating_add(other.missed);
        if self.first.is_none() {
            self.first = other.first.as_ref().map(|m| {
                let end = (0..=m.len().min(MAX_MESSAGE))
                    .rev()
                    .find(|&i| m.is_char_boundary(i))
                    .unwrap_or(0);
                m[..end].to_string()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::template::{Template, UniqueSource};
    use crate::scenario::Origin;

    fn capture(name: &str, source: CaptureSource) -> Capture {
        Capture {
            name: name.into(),
            source,
            origin: Origin::default(),
        }
    }

    fn json(name: &str, path: &str) -> Capture {
        let parsed = serde_json_path::JsonPath::parse(path).unwrap();
        capture(name, CaptureSource::Json(path.into(), parsed))
    }

    #[test]
    fn a_capture_feeds_the_next_request_and_a_miss_keeps_the_old_value() {
        let tenant = TenantVars::new(Vars::new(UniqueSource::new("r")));
        let log = CaptureLog::new(vec![json("file", "$.id")]);
        let path = Template::parse("/v1/files/{{ file }}").unwrap();
        assert!(path.render(&tenant.snapshot()).is_err());
        log.record(&tenant, &HeaderMap::new(), br#"{"id":"f_1"}"#);
        log.record(&tenant, &HeaderMap::new(), br#"{"id":"f_2"}"#);
        assert_eq!(path.render(&tenant.snapshot()).unwrap(), "/v1/files/f_2");
        log.record(&tenant, &HeaderMap::new(), b"not json");
        assert_eq!(path.render(&tenant.snapshot()).unwrap(), "/v1/files/f_2");
        let tally = log.failures();
        assert_eq!(tally.missed, 1);
        assert_eq!(
            tally.first.unwrap(),
            "`file`: nothing at $.id in the answer"
        );
    }

    #[test]
    fn headers_are_captured_and_a_missing_one_is_named() {
        let tenant = TenantVars::new(Vars::new(UniqueSource::new("r")));
        let log = CaptureLog::new(vec![capture(
            "at",
            CaptureSource::Header("location".into()),
        )]);
        assert!(log.reads_headers());
        let mut headers = HeaderMap::new();
        headers.insert("location", "/v1/files/f_9".parse().unwrap());
        log.record(&tenant, &headers, b"");
        assert_eq!(tenant.snapshot().get("at").unwrap(), "/v1/files/f_9");
        log.record(&tenant, &HeaderMap::new(), b"");
        assert_eq!(
            log.failures(),
            CaptureTally {
                missed: 1,
                first: Some("`at`: no location header in the answer".into())
            }
        );
    }

    #[test]
    fn shards_tallies_add_and_a_long_message_is_cut_at_a_character() {
        let mut sum = CaptureTally::default();
        sum.add(&CaptureTally {
            missed: 2,
            first: Some("é".repeat(400)),
        });
        sum.add(&CaptureTally {
            missed: u64::MAX,
            first: Some("later".into()),
        });
        assert_eq!(sum.missed, u64::MAX);
        assert_eq!(sum.first.unwrap(), "é".repeat(250));
    }
}
