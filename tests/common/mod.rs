//! Helpers shared by the end-to-end tests: start a reference server on 127.0.0.1:0 and
//! talk to it over real sockets; the key variables; and the submodules for the CLI
//! ([`cli`]), temporary folders ([`TempDir`]), the in-process load phase ([`load`]) and the
//! real stacks ([`stacks`]).
//!
//! Every test binary includes this with `mod common;` and uses what it needs: the
//! `allow(dead_code)` here (and in each submodule) keeps the rest quiet.
//! What the helpers need of the crate (key roles, the server's configuration) is named
//! here, once, not in each test binary.
#![allow(dead_code)]

pub mod cli;
pub mod front;
pub mod load;
pub mod stacks;
mod temp;

// Re-exported for the binaries that make temporary folders; unused in the others.
#[allow(unused_imports)]
pub use temp::TempDir;

use std::time::Duration;

use reqwest::{Client, Method, Response};
use serde_json::Value;
use tollgate::server::{
    config::{AuthStyle, HeaderDialect, LimitTable},
    Fault, FaultSet, KeyRing, KeyRole, LimitOverride, RunningServer, ServerConfig, ServerProfile,
};

/// Every variable tollgate reads an API key from (README, "Keys"), with the role of the key
/// the reference server issues for it. The one list the tests use: the CLI builder removes
/// them all, the servers' key environments set them all.
pub const KEY_VARS: [(&str, KeyRole); 5] = [
    ("OURO_API_KEY", KeyRole::Primary),
    ("OURO_API_KEY_2", KeyRole::Second),
    ("OURO_TEST_API_KEY", KeyRole::TestMode),
    ("OURO_API_KEY_READONLY", KeyRole::ReadOnly),
    ("OURO_API_KEY_REVOKED", KeyRole::Revoked),
];

/// Every key of `server` under the variable of [`KEY_VARS`] it is read from.
pub fn key_env(server: &RunningServer) -> Vec<(String, String)> {
    KEY_VARS
        .iter()
        .map(|(var, role)| (var.to_string(), server.key(*role).to_string()))
        .collect()
}

/// A reference server (the Ouro profile) with `faults`, on a runtime of its own, and the
/// environment that gives the CLI its keys. Keep the runtime alive as long as the server.
pub fn faulty_server(
    faults: &[Fault],
) -> (
    tokio::runtime::Runtime,
    RunningServer,
    Vec<(String, String)>,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut config = ServerConfig::new(ServerProfile::Ouro, KeyRing::generate());
    config.faults = FaultSet::new(faults.iter().copied());
    let server = runtime.block_on(RunningServer::start(config)).unwrap();
    let env = key_env(&server);
    (runtime, server, env)
}

pub struct Server {
    pub running: RunningServer,
    pub client: Client,
    pub style: AuthStyle,
}

/// A builder for the server under test.
pub struct Setup {
    config: ServerConfig,
}

pub fn setup(profile: ServerProfile) -> Setup {
    Setup {
        config: ServerConfig::new(profile, KeyRing::generate()),
    }
}

impl Setup {
    pub fn limit(mut self, spec: &str) -> Self {
        let o: LimitOverride = spec.parse().expect("valid limit spec");
        self.config.limits.apply_overrides(&[o]);
        self
    }

    pub fn fault(mut self, fault: Fault) -> Self {
        let mut faults: Vec<Fault> = self.config.faults.iter().collect();
        faults.push(fault);
        self.config.faults = FaultSet::new(faults);
        self
    }

    pub fn concurrency(mut self, limit: Option<u32>) -> Self {
        self.config.concurrency = limit;
        self
    }

    pub fn test_hooks(mut self) -> Self {
        self.config.test_hooks = true;
        self
    }

    /// No rate limit on any class (a limiter in front does the limiting); the concurrency
    /// limiter stays as set.
    pub fn no_rate_limits(mut self) -> Self {
        self.config.limits = LimitTable::default();
        self
    }

    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.header_read_timeout = timeout;
        self
    }

    pub fn rate_headers(mut self, dialect: HeaderDialect) -> Self {
        self.config.rate_headers = dialect;
        self
    }

    pub async fn start(self) -> Server {
        let style = self.config.profile.auth_styles()[0];
        let running = RunningServer::start(self.config)
            .await
            .expect("server starts");
        Server {
            running,
            client: Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            style,
        }
    }
}

/// Which credentials a test request carries.
#[derive(Debug, Clone, Copy)]
pub enum Auth {
    None,
    Role(KeyRole),
    /// A syntactically fine key the server never issued.
    Invalid,
    /// The primary key in a given style, whatever the profile accepts.
    Styled(AuthStyle, KeyRole),
}

pub const INVALID_KEY: &str = "tg_live_0000000000000000000000000000000000000000";

/// A response read whole, for assertions.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    pub fn key(&self, role: KeyRole) -> &str {
        self.running.key(role)
    }

    /// Every key under the variable the harness reads it from (`OURO_API_KEY`, …).
    pub fn key_env(&self) -> Vec<(String, String)> {
        key_env(&self.running)
    }

    pub fn request(&self, method: Method, path: &str, auth: Auth) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        let (style, key) = match auth {
            Auth::None => return builder,
            Auth::Role(role) => (self.style, self.key(role).to_string()),
            Auth::Invalid => (self.style, INVALID_KEY.to_string()),
            Auth::Styled(style, role) => (style, self.key(role).to_string()),
        };
        match style {
            AuthStyle::XApiKey => builder.header("X-API-KEY", key),
            AuthStyle::Bearer => builder.header("Authorization", format!("Bearer {key}")),
            AuthStyle::ApiKeyScheme => builder.header("Authorization", format!("apikey {key}")),
        }
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Answer {
        read(builder.send().await.expect("request reaches the server")).await
    }

    pub async fn get(&self, path: &str, auth: Auth) -> Answer {
        self.send(self.request(Method::GET, path, auth)).await
    }

    pub async fn post(&self, path: &str, auth: Auth, body: &Value) -> Answer {
        self.send(self.request(Method::POST, path, auth).json(body))
            .await
    }

    pub async fn stop(self) {
        self.running.stop().await.expect("clean shutdown");
    }
}

pub async fn read(response: Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body reads");
    Answer {
        status,
        headers,
        text,
    }
}

pub const PRIMARY: Auth = Auth::Role(KeyRole::Primary);

pub fn unique_email() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "user{}-{}@example.com",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn new_user() -> Value {
    serde_json::json!({ "name": "Charlie", "email": unique_email(), "password": "securepassword123" })
}

/// Statuses seen by an open-model load: every request is sent at its own slot of a
/// drift-free schedule (slot k at start + k/rate), whether or not earlier ones answered.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub ok: u64,
    pub limited: u64,
    pub other: Vec<u16>,
}

pub async fn offer(
    server: &Server,
    path: &str,
    auth: Auth,
    rate: f64,
    duration: Duration,
) -> Tally {
    let count = (rate * duration.as_secs_f64()).round() as u64;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count as usize);
    for k in 0..count {
        let slot = start + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(slot).await;
        let request = server.request(Method::GET, path, auth);
        tasks.push(tokio::spawn(async move {
            request.send().await.map(|r| r.status().as_u16())
        }));
    }
    let mut tally = Tally::default();
    for task in tasks {
        match task
            .await
            .expect("task completes")
            .expect("request answered")
        {
            200 => tally.ok += 1,
            429 => tally.limited += 1,
            other => tally.other.push(other),
        }
    }
    tally
}

/// Sends `n` requests one after another and counts how many were accepted.
pub async fn burst(server: &Server, path: &str, auth: Auth, n: usize) -> Tally {
    let mut tally = Tally::default();
    for _ in 0..n {
        match server.get(path, auth).await.status {
            200 => tally.ok += 1,
            429 => tally.limited += 1,
            other => tally.other.push(other),
        }
    }
    tally
}

/// Sends `n` searches at once that each stay open for 1 s; returns their statuses.
pub async fn held_requests(server: &Server, n: usize, auth: Auth) -> Vec<u16> {
    let requests: Vec<_> = (0..n)
        .map(|_| {
            server
                .request(Method::GET, "/v1/search?q=x&delay_ms=1000", auth)
                .send()
        })
        .collect();
    let mut statuses: Vec<u16> = join_statuses(requests).await;
    statuses.sort();
    statuses
}

async fn join_statuses(
    requests: Vec<
        impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
    >,
) -> Vec<u16> {
    let tasks: Vec<_> = requests.into_iter().map(tokio::spawn).collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().unwrap().status().as_u16());
    }
    statuses
}

/// A loopback URL nothing listens on (bound, then released): connections are refused.
pub fn closed_port() -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    url
}
