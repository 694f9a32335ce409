//! Switchable faults: each breaks exactly one promise of the API contract.
//!
//! They exist to prove that the harness catches every way an API can be wrong. All fault
//! behaviour lives in this file (the rest of the server asks a [`FaultSet`] at the one place
//! a fault applies); the harness never learns which fault is on.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::config::{AuthStyle, LimitTable, RouteKind, ServerProfile};
use super::keys::{AccountId, Mode};
use super::response::ErrorMessage;
use super::App;

macro_rules! faults {
    ($($variant:ident => $name:literal, $what:literal;)*) => {
        /// A named way for the reference server to break its contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Fault { $($variant),* }

        impl Fault {
            pub const ALL: &'static [Fault] = &[$(Fault::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Fault::$variant => $name),* }
            }

            /// The one promise this fault breaks.
            pub fn description(self) -> &'static str {
                match self { $(Fault::$variant => $what),* }
            }
        }
    };
}

faults! {
    Limit150 => "limit-150", "read and write are enforced at 1.5x the published rate (150/s instead of 100/s)";
    Limit60 => "limit-60", "read and write are enforced at 0.6x the published rate (60/s instead of 100/s)";
    SearchUnlimited => "search-unlimited", "search has no rate limit at all";
    Files100 => "files-100", "files read and write are enforced at 5x the published rate (100/s instead of 20/s)";
    GlobalLimit => "global-limit", "rate-limit buckets are shared by every key instead of being per key";
    SharedReadWrite => "shared-read-write", "reads and writes draw from one bucket instead of two";
    TestLiveShared => "test-live-shared", "test-mode and live keys of an account share their buckets";
    NoConcurrencyLimit => "no-concurrency-limit", "no limit on requests in flight per key";
    Revoked401 => "revoked-401", "a revoked key gets 401 Unauthorized instead of 403 Forbidden";
    AuthBypass => "auth-bypass", "GET /v1/files answers without an API key";
    BearerIgnored => "bearer-ignored", "Authorization: Bearer is ignored; only X-API-KEY authenticates";
    Html429 => "html-429", "429 responses have an HTML body instead of the JSON error";
    NoRetryAfter => "no-retry-after", "429 responses carry no Retry-After and no RateLimit reset information";
    Sticky429 => "sticky-429", "a limited key stays limited for 5 s, long after the 1 s Retry-After it was given";
    FiveXxUnderLoad => "5xx-under-load", "over the limit the server answers 503 instead of 429";
    ErrorShape => "error-shape", "error bodies are {\"message\": ...} instead of {\"error\": ...}";
    WrongStatus => "wrong-status", "successful POSTs answer 200 instead of 201";
    EchoKey => "echo-key", "error bodies echo the presented API key back";
    Slow => "slow", "every response is delayed by 320 ms (p95 >= 300 ms)";
    CountsRejected => "counts-rejected", "rejected requests count against the quota too, so a client that keeps sending over the limit is starved";
    RemainingLies => "remaining-lies", "RateLimit-Remaining always reports the full quota instead of counting down";
    DropsConnections => "drops-connections", "one in 50 answers is cut off mid-body: the connection closes without a complete answer (2%)";
    StopsAnswering => "stops-answering", "after its first 100 requests the server stops answering (each request is held 15 s, past any client timeout)";
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Fault {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Fault::ALL
            .iter()
            .copied()
            .find(|fault| fault.name() == name)
            .ok_or_else(|| format!("unknown fault `{name}` (see `tollgate serve --list-faults`)"))
    }
}

/// How long `sticky-429` keeps a bucket closed after its first rejection.
const STICKY_PENALTY: Duration = Duration::from_secs(5);
/// The delay `slow` adds to every response.
const SLOW_DELAY: Duration = Duration::from_millis(320);
/// `drops-connections` cuts one answer in this many.
const DROP_EVERY: u64 = 50;
/// `stops-answering` answers this many requests, then holds each one this long.
const ANSWERED_BEFORE_STALL: u64 = 100;
const STALL: Duration = Duration::from_secs(15);

/// Which rate-limit bucket a request is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BucketKey {
    pub scope: Scope,
    pub class: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Everyone,
    Account(AccountId),
    AccountMode(AccountId, Mode),
}

/// The faults switched on for one server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultSet(BTreeSet<Fault>);

impl FaultSet {
    pub fn new(faults: impl IntoIterator<Item = Fault>) -> Self {
        FaultSet(faults.into_iter().collect())
    }

    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    pub fn iter(&self) -> impl Iterator<Item = Fault> + '_ {
        self.0.iter().copied()
    }

    /// The limits actually enforced, given the ones published.
    pub fn enforced_limits(&self, profile: ServerProfile, published: &LimitTable) -> LimitTable {
        let mut table = published.clone();
        let mut scale = |kinds: &[RouteKind], factor: f64| {
            let classes: BTreeSet<_> = kinds.iter().map(|k| profile.class_of(*k)).collect();
            for class in classes {
                if let Some(policies) = table.policies_mut(class) {
                    for policy in policies.iter_mut() {
                        *policy = policy.scaled(factor);
                    }
                }
            }
        };
        if self.has(Fault::Limit150) {
            scale(&[RouteKind::Read, RouteKind::Write], 1.5);
        }
        if self.has(Fault::Limit60) {
            scale(&[RouteKind::Read, RouteKind::Write], 0.6);
        }
        if self.has(Fault::Files100) {
            scale(&[RouteKind::FilesRead, RouteKind::FilesWrite], 5.0);
        }
        if self.has(Fault::SearchUnlimited) {
            table.set(profile.class_of(RouteKind::Search), Vec::new());
        }
        table
    }

    pub fn bucket(&self, account: AccountId, mode: Mode, class: &'static str) -> BucketKey {
        let scope = if self.has(Fault::GlobalLimit) {
            Scope::Everyone
        } else if self.has(Fault::TestLiveShared) {
            Scope::Account(account)
        } else {
            Scope::AccountMode(account, mode)
        };
        let class = if self.has(Fault::SharedReadWrite) && class == "write" {
            "read"
        } else {
            class
        };
        BucketKey { scope, class }
    }

    pub fn sticky_penalty(&self) -> Option<Duration> {
        self.has(Fault::Sticky429).then_some(STICKY_PENALTY)
    }

    pub fn counts_rejected(&self) -> bool {
        self.has(Fault::CountsRejected)
    }

    pub fn limits_concurrency(&self) -> bool {
        !self.has(Fault::NoConcurrencyLimit)
    }

    pub fn revoked_looks_unknown(&self) -> bool {
        self.has(Fault::Revoked401)
    }

    pub fn lets_in_without_key(&self, method: &Method, path: &str) -> bool {
        self.has(Fault::AuthBypass) && method == Method::GET && path == "/v1/files"
    }

    pub fn accepts(&self, style: AuthStyle) -> bool {
        !(self.has(Fault::BearerIgnored) && style == AuthStyle::Bearer)
    }

    pub fn remaining_lies(&self) -> bool {
        self.has(Fault::RemainingLies)
    }

    /// Whether [`rewrite_responses`] must sit in front of the routes.
    pub fn rewrites_responses(&self) -> bool {
        [
            Fault::Html429,
            Fault::NoRetryAfter,
            Fault::FiveXxUnderLoad,
            Fault::ErrorShape,
            Fault::WrongStatus,
            Fault::EchoKey,
            Fault::Slow,
            Fault::DropsConnections,
            Fault::StopsAnswering,
        ]
        .iter()
        .any(|fault| self.has(*fault))
    }
}

/// Middleware for the faults that change what a finished response looks like.
pub async fn rewrite_responses(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    let faults = &app.config.faults;
    let presented = super::config::any_presented_key(request.headers()).map(str::to_owned);
    let is_post = request.method() == Method::POST;
    let nth = app
        .fault_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    if faults.has(Fault::StopsAnswering) && nth > ANSWERED_BEFORE_STALL {
        tokio::time::sleep(STALL).await;
    }
    let mut response = next.run(request).await;
    if faults.has(Fault::DropsConnections) && nth % DROP_EVERY == 0 {
        // The status line and headers go out, then the body fails: hyper closes the
        // connection with the answer incomplete.
        let (parts, _) = response.into_parts();
        let broken = futures_util::stream::once(async {
            Err::<axum::body::Bytes, _>(std::io::Error::other("connection dropped (fault)"))
        });
        return Response::from_parts(parts, Body::from_stream(broken));
    }

    if faults.has(Fault::Slow) {
        tokio::time::sleep(SLOW_DELAY).await;
    }
    if faults.has(Fault::WrongStatus) && is_post && response.status() == StatusCode::CREATED {
        *response.status_mut() = StatusCode::OK;
    }
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        if faults.has(Fault::NoRetryAfter) {
            for name in [
                "retry-after",
                "ratelimit",
                "ratelimit-reset",
                "x-ratelimit-reset",
            ] {
                response.headers_mut().remove(name);
            }
        }
        if faults.has(Fault::FiveXxUnderLoad) {
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            if let Some(message) = response.extensions_mut().get_mut::<ErrorMessage>() {
                message.0 = "Service temporarily unavailable.".into();
            }
        }
        if faults.has(Fault::Html429) {
            let html = "<html><head><title>429 Too Many Requests</title></head>\
                        <body><h1>Too Many Requests</h1></body></html>";
            return replace_body(response, "text/html; charset=utf-8", html.into());
        }
    }
    let message = response.extensions().get::<ErrorMessage>().cloned();
    let reshape = faults.has(Fault::ErrorShape)
        || faults.has(Fault::EchoKey)
        || faults.has(Fault::FiveXxUnderLoad);
    match message {
        Some(ErrorMessage(message)) if reshape => {
            let field = if faults.has(Fault::ErrorShape) {
                "message"
            } else {
                "error"
            };
            let mut body = Map::new();
            body.insert(field.into(), json!(message));
            if let (true, Some(key)) = (faults.has(Fault::EchoKey), presented) {
                body.insert("api_key".into(), json!(key));
            }
            let bytes = serde_json::to_vec(&Value::Object(body)).expect("JSON serializes");
            replace_body(response, "application/json", bytes)
        }
        _ => response,
    }
}

fn replace_body(response: Response, content_type: &'static str, body: Vec<u8>) -> Response {
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_round_trips_through_its_name() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>().unwrap(), *fault);
            assert!(!fault.description().is_empty());
        }
        let err = "limit-151".parse::<Fault>().unwrap_err();
        assert!(err.contains("--list-faults"), "{err}");
    }

    #[test]
    fn limit_faults_change_only_their_classes() {
        let profile = ServerProfile::Ouro;
        let published = profile.default_limits();
        let enforced = FaultSet::new([Fault::Limit150]).enforced_limits(profile, &published);
        assert_eq!(enforced.policies("read")[0].quota, 150);
        assert_eq!(enforced.policies("write")[0].quota, 150);
        assert_eq!(enforced.policies("search"), published.policies("search"));
        let enforced = FaultSet::new([Fault::SearchUnlimited]).enforced_limits(profile, &published);
        assert!(enforced.policies("search").is_empty());
        assert_eq!(
            enforced.policies("files_read"),
            published.policies("files_read")
        );
        let enforced = FaultSet::new([Fault::Files100]).enforced_limits(profile, &published);
        assert_eq!(enforced.policies("files_write")[0].quota, 100);
        assert_eq!(enforced.policies("read"), published.policies("read"));
    }

    #[test]
    fn bucket_faults_merge_exactly_one_dimension() {
        let none = FaultSet::default();
        assert_ne!(
            none.bucket(1, Mode::Live, "read"),
            none.bucket(1, Mode::Test, "read")
        );
        assert_ne!(
            none.bucket(1, Mode::Live, "read"),
            none.bucket(1, Mode::Live, "write")
        );
        let shared = FaultSet::new([Fault::TestLiveShared]);
        assert_eq!(
            shared.bucket(1, Mode::Live, "read"),
            shared.bucket(1, Mode::Test, "read")
        );
        assert_ne!(
            shared.bucket(1, Mode::Live, "read"),
            shared.bucket(2, Mode::Live, "read")
        );
        let global = FaultSet::new([Fault::GlobalLimit]);
        assert_eq!(
            global.bucket(1, Mode::Live, "read"),
            global.bucket(2, Mode::Live, "read")
        );
        assert_ne!(
            global.bucket(1, Mode::Live, "read"),
            global.bucket(1, Mode::Live, "write")
        );
        let rw = FaultSet::new([Fault::SharedReadWrite]);
        assert_eq!(
            rw.bucket(1, Mode::Live, "read"),
            rw.bucket(1, Mode::Live, "write")
        );
        assert_ne!(
            rw.bucket(1, Mode::Live, "read"),
            rw.bucket(1, Mode::Live, "search")
        );
    }
}
