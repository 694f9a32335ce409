//! The embedded reference server (`tollgate serve`): a complete, conformant implementation
//! of the API family tollgate checks, with switchable faults.
//!
//! It is the default target of `tollgate run`, the fixture of the test suite, and — with
//! faults — the proof that every check can fail.
//!
//! A request passes, outermost first: the fault rewriter (only when a response fault is on),
//! the router (unknown routes → 404 JSON), the [`gate`] (auth → concurrency → rate limit →
//! rate headers) and the handler in [`routes`].

pub mod arrivals;
pub mod auth;
pub mod config;
pub mod faults;
pub mod gate;
pub mod keys;
pub mod openapi;
pub mod response;
pub mod routes;
pub mod store;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{middleware, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{LimitOverride, ServerProfile};
pub use faults::{Fault, FaultSet};
pub use keys::{KeyRing, KeyRole};

use crate::limits::Limiter;
use faults::BucketKey;
use gate::InFlight;
use store::Store;

/// Everything a reference server instance needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub profile: ServerProfile,
    pub keys: KeyRing,
    pub limits: config::LimitTable,
    /// The limiter family that enforces the limits.
    pub algorithm: crate::limits::Algorithm,
    pub rate_headers: config::HeaderDialect,
    pub retry_after: config::RetryAfterForm,
    /// Requests in flight allowed per key; `None` disables the concurrency limiter.
    pub concurrency: Option<u32>,
    /// Enables test-only request hooks (`delay_ms` on search).
    pub test_hooks: bool,
    /// Added to every answer after the limiter decided: a network between client and
    /// server, so the harness's verdicts can be proven at staging latencies.
    pub latency: std::time::Duration,
    /// How long a client may take to send a request's head, new or kept-alive connection.
    pub header_read_timeout: std::time::Duration,
    pub faults: FaultSet,
}

impl ServerConfig {
    /// A conformant server of `profile` with its published limits.
    pub fn new(profile: ServerProfile, keys: KeyRing) -> Self {
        ServerConfig {
            profile,
            keys,
            limits: profile.default_limits(),
            algorithm: crate::limits::Algorithm::default(),
            rate_headers: config::HeaderDialect::default(),
            retry_after: config::RetryAfterForm::default(),
            concurrency: Some(DEFAULT_CONCURRENCY),
            test_hooks: false,
            latency: std::time::Duration::ZERO,
            header_read_timeout: HEADER_READ_TIMEOUT,
            faults: FaultSet::default(),
        }
    }
}

/// Requests in flight per key before the concurrency limiter answers 429.
pub const DEFAULT_CONCURRENCY: u32 = 20;

/// Shared state of one server instance.
#[derive(Debug)]
pub struct App {
    pub config: ServerConfig,
    /// The limits really enforced: the published ones unless a fault says otherwise.
    enforced: config::LimitTable,
    limiter: Limiter<BucketKey>,
    in_flight: InFlight,
    store: Mutex<Store>,
    epoch: Instant,
    /// Requests seen by the response-changing faults (`drops-connections` counts them).
    pub(crate) fault_requests: std::sync::atomic::AtomicU64,
}

impl App {
    pub fn new(config: ServerConfig) -> Self {
        let faults = &config.faults;
        let concurrency = config.concurrency.filter(|_| faults.limits_concurrency());
        App {
            enforced: faults.enforced_limits(config.profile, &config.limits),
            limiter: Limiter::new(crate::limits::Rules {
                algorithm: config.algorithm,
                sticky_penalty: faults.sticky_penalty(),
                counts_rejected: faults.counts_rejected(),
            }),
            in_flight: InFlight::new(concurrency),
            store: Mutex::new(Store::new(config.profile.resources())),
            epoch: Instant::now(),
            fault_requests: std::sync::atomic::AtomicU64::new(0),
            config,
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panicking handler cannot leave the store half-written (no await inside), so a
        // poisoned lock is still consistent.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }
}

/// Every gated route as `(method, path)`. The router is built from this list alone, and
/// `openapi.rs` checks that its document names exactly these, so neither can miss a route.
pub const ROUTES: [(&str, &str); 10] = [
    ("GET", "/v1/users"),
    ("POST", "/v1/users"),
    ("GET", "/v1/users/{id}"),
    ("PUT", "/v1/users/{id}"),
    ("DELETE", "/v1/users/{id}"),
    ("GET", "/v1/files"),
    ("POST", "/v1/files"),
    ("GET", "/v1/files/{id}"),
    ("DELETE", "/v1/files/{id}"),
    ("GET", "/v1/search"),
];

fn handler(method: &str, path: &str) -> MethodRouter<Arc<App>> {
    match (method, path) {
        ("GET", "/v1/users") => get(routes::list_users),
        ("POST", "/v1/users") => post(routes::create_user),
        ("GET", "/v1/users/{id}") => get(routes::get_user),
        ("PUT", "/v1/users/{id}") => put(routes::update_user),
        ("DELETE", "/v1/users/{id}") => delete(routes::delete_user),
        ("GET", "/v1/files") => get(routes::list_files),
        ("POST", "/v1/files") => post(routes::create_file),
        ("GET", "/v1/files/{id}") => get(routes::get_file),
        ("DELETE", "/v1/files/{id}") => delete(routes::delete_file),
        ("GET", "/v1/search") => get(routes::search),
        _ => unreachable!("a route in ROUTES without a handler: {method} {path}"),
    }
}

/// The complete HTTP application for `config`.
pub fn router(config: ServerConfig) -> Router {
    let app = Arc::new(App::new(config));
    let mut api = Router::new();
    for (method, path) in ROUTES {
        api = api.route(path, handler(method, path));
    }
    let api = api
        .route_layer(middleware::from_fn_with_state(app.clone(), gate::gate))
        // After the gate's layer, so outside it: no key, no rate limit.
        .route(openapi::PATH, get(openapi::serve))
        .fallback(response::not_found)
        .method_not_allowed_fallback(response::method_not_allowed);
    let api = if app.config.faults.rewrites_responses() {
        api.layer(middleware::from_fn_with_state(
            app.clone(),
            faults::rewrite_responses,
        ))
    } else {
        api
    };
    let router = api.with_state(app.clone());
    let router = if app.config.test_hooks {
        with_arrivals(router)
    } else {
        router
    };
    router.layer(middleware::from_fn(response::json_errors))
}

/// How long a client may take to send a request's head — on a new connection (slowloris)
/// and between requests on a kept-alive one (idle) — before the connection is closed.
/// Longer than the harness keeps an idle connection (`contract::client`), so a client never
/// races the server's close.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Heads beyond this get hyper's bare 431; smaller over-large heads get the JSON one.
const MAX_READ_BUFFER: usize = 1 << 20;

/// Counts every request by the millisecond it arrived and serves the counts at
/// `GET /_tollgate/arrivals?from_ms=&to_ms=` (epoch milliseconds), for `tollgate bench`.
fn with_arrivals(router: Router) -> Router {
    let arrivals = Arc::new(arrivals::Arrivals::default());
    let counted = arrivals.clone();
    let hook = get(
        move |axum::extract::Query(range): axum::extract::Query<ArrivalRange>| async move {
            // Up to and including the current millisecond.
            let to_ms = range.to_ms.unwrap_or_else(|| arrivals::now_ms() + 1);
            let (from_ms, counts) = arrivals.counts(range.from_ms, to_ms);
            axum::Json(serde_json::json!({ "from_ms": from_ms, "counts": counts }))
        },
    );
    router
        .route("/_tollgate/arrivals", hook)
        .layer(middleware::from_fn(
            move |request: axum::extract::Request, next: middleware::Next| {
                if !request.uri().path().starts_with("/_tollgate/") {
                    counted.record(arrivals::now_ms());
                }
                next.run(request)
            },
        ))
}

#[derive(serde::Deserialize)]
struct ArrivalRange {
    from_ms: u64,
    to_ms: Option<u64>,
}

/// Connections the kernel completes before the server accepts them. tokio's `bind` asks
/// for 1,024; a load client that stalls for a moment and then catches up opens hundreds at
/// once, and every connect beyond the queue is dropped and retried by the client's kernel
/// a whole second later (measured at 5,000 requests/s: a second short by up to 60%). Linux
/// caps it at `net.core.somaxconn` (4,096 by default).
const ACCEPT_BACKLOG: u32 = 4096;

/// A listening socket on `addr` with room for bursts of connects ([`ACCEPT_BACKLOG`]).
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As tokio's `bind` does: a restarted server can take its port back at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Serves `config` on `listener` until `shutdown` resolves, then drains open requests.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let header_read_timeout = config.header_read_timeout;
    let router = router(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: keep serving the open connections.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small JSON answers on keep-alive connections: Nagle's algorithm would add delays.
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            if !opened_in_time(&stream, header_read_timeout).await {
                return;
            }
            let connection = connection_builder(header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let _ = watcher.watch(connection).await;
        });
    }
    // Open requests finish; idle connections close at once.
    graceful.shutdown().await;
    Ok(())
}

/// HTTP/1.1, or HTTP/2 for a client that opens with its preface (h2c with prior knowledge,
/// and h2 behind a TLS terminator). Both close what stalls: HTTP/1.1 a head not read within
/// `header_read_timeout`, HTTP/2 a connection that stops answering pings.
fn connection_builder(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(MAX_READ_BUFFER);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(header_read_timeout)
        .keep_alive_timeout(header_read_timeout)
        // Big enough for the gate to answer oversized headers with its JSON 431.
        .max_header_list_size(MAX_READ_BUFFER as u32);
    builder
}

/// Whether the client showed, within `limit`, which protocol it speaks. The auto builder
/// reads the first bytes with no timeout of its own (to tell HTTP/2's preface from
/// HTTP/1.1), so a client that connects and stays silent, or stops inside the preface,
/// would keep its socket forever.
async fn opened_in_time(stream: &TcpStream, limit: Duration) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let decided = async {
        let mut first = [0u8; PREFACE.len()];
        loop {
            let n = match stream.peek(&mut first).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            if n == PREFACE.len() || first[..n] != PREFACE[..n] {
                return true;
            }
            // More of a preface may come: peek returns at once while bytes wait.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(limit, decided).await.unwrap_or(false)
}

/// A server running in this process, on its own task (tests, and `tollgate run` with no
/// target).
pub struct RunningServer {
    addr: SocketAddr,
    keys: KeyRing,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl RunningServer {
    /// Binds 127.0.0.1 on a free port and starts serving; ready when this returns.
    pub async fn start(config: ServerConfig) -> io::Result<Self> {
        let listener = listen(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)))?;
        let addr = listener.local_addr()?;
        let keys = config.keys.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, config, async {
            let _ = stopped.await;
        }));
        Ok(RunningServer {
            addr,
            keys,
            stop: Some(stop),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn key(&self, role: KeyRole) -> &str {
        self.keys.get(role).expect("every role has a key")
    }

    /// The tenant keys it accepts, in order.
    pub fn tenants(&self) -> &[String] {
        self.keys.tenants()
    }

    /// Stops accepting, waits for open requests, and reports a serving error if any.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .map_err(|e| io::Error::other(format!("reference server task failed: {e}")))?
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
