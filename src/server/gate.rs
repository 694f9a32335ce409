//! The gate every API request passes: authentication, the concurrency limiter and the
//! per-key, per-class rate limiter, in that order, and the rate headers on the way out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{self, Caller};
use super::config::{HeaderDialect, RetryAfterForm, RouteKind};
use super::response::{ApiError, RATE_LIMITED, TOO_MANY_IN_FLIGHT};
use super::App;
use crate::limits::{Decision, Policy, PolicyState};

/// What kind of request this is, from its method and path (`None` for unknown routes,
/// which the router answers with 404 before the gate sees them).
pub fn route_kind(method: &Method, path: &str) -> Option<RouteKind> {
    let write = !matches!(*method, Method::GET | Method::HEAD);
    let kind = if path == "/v1/search" {
        RouteKind::Search
    } else if path == "/v1/files" || path.starts_with("/v1/files/") {
        if write {
            RouteKind::FilesWrite
        } else {
            RouteKind::FilesRead
        }
    } else if path == "/v1/users" || path.starts_with("/v1/users/") {
        if write {
            RouteKind::Write
        } else {
            RouteKind::Read
        }
    } else {
        return None;
    };
    Some(kind)
}

pub async fn gate(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    // Only the path is logged: a query string may carry a key a client put there by mistake.
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let response = admit(&app, request, next).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), "request");
    // After the decision and outside the in-flight slot: the network, not the server.
    if !app.config.latency.is_zero() {
        tokio::time::sleep(app.config.latency).await;
    }
    response
}

async fn admit(app: &App, mut request: Request, next: Next) -> Response {
    let Some(kind) = route_kind(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let config = &app.config;
    if config
        .faults
        .lets_in_without_key(request.method(), request.uri().path())
        && super::config::any_presented_key(request.headers()).is_none()
    {
        return next.run(request).await;
    }
    let caller = match auth::authenticate(
        config.profile,
        &config.keys,
        &config.faults,
        request.headers(),
        kind.is_write(),
    ) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(config.profile),
    };
    request.extensions_mut().insert(caller);

    let _in_flight = match app.in_flight.acquire(caller) {
        Some(slot) => slot,
        None => return too_many_in_flight(),
    };

    let class = config.profile.class_of(kind);
    let bucket = config.faults.bucket(caller.account, caller.mode, class);
    let policies = app.enforced.policies(bucket.class);
    if policies.is_empty() {
        return next.run(request).await;
    }
    let published = config.limits.policies(class);
    let lie = config.faults.remaining_lies();
    match app.limiter.check(bucket, policies, app.now()) {
        Decision::Allowed(states) => {
            let mut response = next.run(request).await;
            let dialect = config.rate_headers;
            write_rate_headers(response.headers_mut(), published, &states, lie, dialect);
            response
        }
        Decision::Limited {
            states,
            retry_after,
        } => {
            tracing::debug!(class, ?retry_after, "rate limited");
            let mut response =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED).into_response();
            let headers = response.headers_mut();
            write_rate_headers(headers, published, &states, lie, config.rate_headers);
            let value = match config.retry_after {
                RetryAfterForm::Seconds => whole_seconds_at_least_one(retry_after),
                RetryAfterForm::Date => http_date_after(retry_after),
            };
            headers.insert("retry-after", value);
            response
        }
    }
}

fn too_many_in_flight() -> Response {
    let mut response =
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_IN_FLIGHT).into_response();
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("1"));
    response
}

/// Delay-seconds must be a whole number; rounding down would invite a retry that fails.
fn whole_seconds_at_least_one(wait: Duration) -> HeaderValue {
    HeaderValue::from(ceil_seconds(wait).max(1))
}

/// The moment `wait` from now as an HTTP-date, rounded up to a whole second so the date is
/// never earlier than the honest wait.
fn http_date_after(wait: Duration) -> HeaderValue {
    let at = SystemTime::now() + wait;
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let whole = UNIX_EPOCH + Duration::from_secs(ceil_seconds(since));
    HeaderValue::from_str(&httpdate::fmt_http_date(whole)).expect("an HTTP-date is ASCII")
}

fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The rate headers of `dialect`: the IETF draft's `RateLimit-Policy` / `RateLimit` (one
/// item per policy), the older `RateLimit-Limit/-Remaining/-Reset` or `X-RateLimit-*` for
/// the policy closest to running out. The published policies name the quota; the states
/// come from the enforced ones (which differ only under a fault).
fn write_rate_headers(
    headers: &mut HeaderMap,
    published: &[Policy],
    states: &[PolicyState],
    lie: bool,
    dialect: HeaderDialect,
) {
    let pairs: Vec<(&Policy, &PolicyState)> = published.iter().zip(states).collect();
    let remaining =
        |policy: &Policy, state: &PolicyState| if lie { policy.quota } else { state.remaining };
    let Some((policy, state)) = pairs.iter().min_by_key(|(p, s)| remaining(p, s)) else {
        return;
    };
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    if matches!(dialect, HeaderDialect::Both | HeaderDialect::Ietf) {
        let policy_items: Vec<String> = pairs
            .iter()
            .map(|(p, _)| format!("\"{}\";q={};w={}", p.name, p.quota, p.window.as_secs()))
            .collect();
        let state_items: Vec<String> = pairs
            .iter()
            .map(|(p, s)| {
                format!(
                    "\"{}\";r={};t={}",
                    p.name,
                    remaining(p, s),
                    ceil_seconds(s.reset)
                )
            })
            .collect();
        set("ratelimit-policy", policy_items.join(", "));
        set("ratelimit", state_items.join(", "));
    }
    let reset = ceil_seconds(state.reset);
    let epoch = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + state.reset
    };
    let (limit, left, reset_name, reset) = match dialect {
        HeaderDialect::Both | HeaderDialect::Draft => (
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            reset.to_string(),
        ),
        HeaderDialect::XRatelimit => (
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            reset.to_string(),
        ),
        HeaderDialect::XRatelimitEpoch => (
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            ceil_seconds(epoch()).to_string(),
        ),
        HeaderDialect::XRatelimitEpochMs => (
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            epoch().as_millis().to_string(),
        ),
        HeaderDialect::Ietf | HeaderDialect::None => return,
    };
    set(limit, policy.quota.to_string());
    set(left, remaining(policy, state).to_string());
    set(reset_name, reset);
}

/// Requests in flight per key.
#[derive(Debug)]
pub struct InFlight {
    limit: Option<u32>,
    counts: Mutex<HashMap<Caller, u32>>,
}

/// Holds one in-flight slot; gives it back when dropped, whatever path the request took.
pub struct Slot<'a> {
    owner: Option<(&'a InFlight, Caller)>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some((in_flight, caller)) = self.owner {
            let mut counts = in_flight.counts.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(count) = counts.get_mut(&caller) {
                *count -= 1;
            }
        }
    }
}

impl InFlight {
    pub fn new(limit: Option<u32>) -> Self {
        InFlight {
            limit,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for `caller`, or `None` when it already has `limit` requests in flight.
    pub fn acquire(&self, caller: Caller) -> Option<Slot<'_>> {
        let Some(limit) = self.limit else {
            return Some(Slot { owner: None });
        };
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(caller).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            owner: Some((self, caller)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::keys::Mode;

    #[test]
    fn routes_are_classified_by_path_and_method() {
        assert_eq!(route_kind(&Method::GET, "/v1/users"), Some(RouteKind::Read));
        assert_eq!(
            route_kind(&Method::DELETE, "/v1/users/usr_1"),
            Some(RouteKind::Write)
        );
        assert_eq!(
            route_kind(&Method::POST, "/v1/files"),
            Some(RouteKind::FilesWrite)
        );
        assert_eq!(
            route_kind(&Method::GET, "/v1/files/file_2"),
            Some(RouteKind::FilesRead)
        );
        assert_eq!(
            route_kind(&Method::GET, "/v1/search"),
            Some(RouteKind::Search)
        );
        assert_eq!(route_kind(&Method::GET, "/v1/usersx"), None);
    }

    #[test]
    fn in_flight_slots_are_returned_on_drop() {
        let in_flight = InFlight::new(Some(2));
        let caller = Caller {
            account: 1,
            mode: Mode::Live,
        };
        let a = in_flight.acquire(caller).unwrap();
        let _b = in_flight.acquire(caller).unwrap();
        assert!(in_flight.acquire(caller).is_none());
        let other = Caller {
            account: 2,
            mode: Mode::Live,
        };
        assert!(in_flight.acquire(other).is_some());
        drop(a);
        assert!(in_flight.acquire(caller).is_some());
    }

    #[test]
    fn headers_speak_both_dialects_and_pick_the_tightest_policy() {
        let published = vec![
            Policy::new("minute", 100, Duration::from_secs(60)),
            Policy::new("hour", 5000, Duration::from_secs(3600)),
        ];
        let states = vec![
            PolicyState {
                policy_index: 0,
                remaining: 97,
                reset: Duration::from_millis(1800),
            },
            PolicyState {
                policy_index: 1,
                remaining: 4997,
                reset: Duration::from_millis(2100),
            },
        ];
        let mut headers = HeaderMap::new();
        write_rate_headers(
            &mut headers,
            &published,
            &states,
            false,
            HeaderDialect::Both,
        );
        let get = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_string();
        assert_eq!(
            get("ratelimit-policy"),
            "\"minute\";q=100;w=60, \"hour\";q=5000;w=3600"
        );
        assert_eq!(get("ratelimit"), "\"minute\";r=97;t=2, \"hour\";r=4997;t=3");
        assert_eq!(get("ratelimit-limit"), "100");
        assert_eq!(get("ratelimit-remaining"), "97");
        assert_eq!(get("ratelimit-reset"), "2");
        let mut lying = HeaderMap::new();
        write_rate_headers(&mut lying, &published, &states, true, HeaderDialect::Both);
        assert_eq!(lying.get("ratelimit-remaining").unwrap(), "100");
    }

    #[test]
    fn each_dialect_writes_its_own_fields_and_the_tightest_policy() {
        let published = vec![Policy::new("read", 100, Duration::from_secs(1))];
        let states = vec![PolicyState {
            policy_index: 0,
            remaining: 7,
            reset: Duration::from_millis(300),
        }];
        let names = |dialect| {
            let mut headers = HeaderMap::new();
            write_rate_headers(&mut headers, &published, &states, false, dialect);
            let mut names: Vec<String> = headers.keys().map(|k| k.to_string()).collect();
            names.sort();
            (names, headers)
        };
        assert_eq!(
            names(HeaderDialect::Ietf).0,
            ["ratelimit", "ratelimit-policy"]
        );
        assert_eq!(
            names(HeaderDialect::Draft).0,
            ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]
        );
        assert!(names(HeaderDialect::None).0.is_empty());
        let (x, headers) = names(HeaderDialect::XRatelimitEpoch);
        assert_eq!(
            x,
            [
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset"
            ]
        );
        let reset: u64 = headers["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset > 1_700_000_000, "epoch seconds: {reset}");
        let (_, headers) = names(HeaderDialect::XRatelimitEpochMs);
        let reset: u64 = headers["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset > 1_700_000_000_000, "epoch milliseconds: {reset}");
        assert_eq!(headers["x-ratelimit-remaining"], "7");
    }

    #[test]
    fn an_http_date_retry_after_is_never_earlier_than_the_wait() {
        let before = SystemTime::now();
        let value = http_date_after(Duration::from_millis(1500));
        let date = httpdate::parse_http_date(value.to_str().unwrap()).unwrap();
        assert!(date >= before + Duration::from_millis(1500));
        assert!(date <= before + Duration::from_millis(2600));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(whole_seconds_at_least_one(Duration::from_millis(10)), "1");
        assert_eq!(whole_seconds_at_least_one(Duration::from_millis(1001)), "2");
        assert_eq!(whole_seconds_at_least_one(Duration::ZERO), "1");
    }
}
