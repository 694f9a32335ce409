//! Sending one request and reading its answer within bounds (time and size).

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use crate::secret::Secret;
use crate::transport::Transport;

/// Largest response body read; anything beyond is reported, never buffered.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// A request ready to send (again, for retries).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: reqwest::Method,
    /// Path and query, appended to the base URL.
    pub path_and_query: String,
    /// `METHOD /path` for reports: no query string, which may carry a key.
    pub label: String,
    pub headers: Vec<(String, HeaderValueText)>,
    pub json: Option<serde_json::Value>,
    /// Keys this request presents, so responses can be searched for them.
    pub presented: Vec<Secret>,
}

impl Outgoing {
    /// The request on `client`, against `base_url`: for the contract runner and the load.
    pub fn builder(&self, client: &reqwest::Client, base_url: &str) -> reqwest::RequestBuilder {
        let url = format!("{base_url}{}", self.path_and_query);
        self.to(client, self.method.clone(), url, true)
    }

    /// The same headers sent as `method` to `url` (a redirect's next hop), with the body
    /// only when `with_body`.
    fn to(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        url: impl reqwest::IntoUrl,
        with_body: bool,
    ) -> reqwest::RequestBuilder {
        let mut builder = client.request(method, url);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let (Some(json), true) = (&self.json, with_body) {
            builder = builder.json(json);
        }
        builder
    }
}

/// A header value that may hold a secret (so `Debug` must not print it).
#[derive(Clone)]
pub enum HeaderValueText {
    Plain(String),
    Secret(String),
}

impl std::fmt::Debug for HeaderValueText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderValueText::Plain(v) => write!(f, "{v:?}"),
            HeaderValueText::Secret(_) => f.write_str("[redacted]"),
        }
    }
}

impl HeaderValueText {
    fn as_str(&self) -> &str {
        match self {
            HeaderValueText::Plain(v) | HeaderValueText::Secret(v) => v,
        }
    }
}

/// A response read whole.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub latency: Duration,
    /// The same-origin redirects followed to get here, in order.
    pub redirects: Vec<Redirect>,
}

/// One same-origin redirect a step followed: shown in the step, since the answer judged is
/// then the answer to another request (a 303, or a 301/302 on POST, also changes the method).
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    pub status: u16,
    pub from: reqwest::Method,
    pub method: reqwest::Method,
    /// The next hop's path, never its query (it may hold a key).
    pub path: String,
}

impl Redirect {
    pub fn changed_method(&self) -> bool {
        self.from != self.method
    }
}

impl std::fmt::Display for Redirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "↪ {} {} {}", self.status, self.method, self.path)
    }
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type without parameters, lower-cased.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }

    pub fn json(&self) -> Result<serde_json::Value, String> {
        if self.body.is_empty() {
            return Err("the body is empty".into());
        }
        serde_json::from_slice(&self.body).map_err(|e| format!("the body is not JSON ({e})"))
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why no response was read. Each kind has its own check id and a message that says what
/// to do about it.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportError {
    Connect(String),
    /// The host name did not resolve.
    Dns {
        host: String,
        reason: String,
    },
    /// The TLS handshake failed; `hint` says what the user can do.
    Tls {
        reason: String,
        hint: &'static str,
    },
    /// The peer answered, but not in HTTP/1.x.
    NotHttp1(String),
    Timeout(Duration),
    TooLarge,
    /// The body's `Content-Encoding` could not be undone.
    Decode(String),
    /// A redirect to another origin: not followed, so no credential reaches it.
    CrossOrigin {
        from: String,
        to: String,
    },
    Other(String),
}

impl TransportError {
    /// The check id a step fails with.
    pub fn check_id(&self) -> &'static str {
        match self {
            TransportError::Timeout(_) => "transport.timeout",
            TransportError::TooLarge => "transport.body-size",
            TransportError::Dns { .. } => "transport.dns",
            TransportError::Tls { .. } => "transport.tls",
            TransportError::NotHttp1(_) => "transport.protocol",
            TransportError::Decode(_) => "transport.decode",
            TransportError::CrossOrigin { .. } => "transport.redirect",
            TransportError::Connect(_) | TransportError::Other(_) => "transport.error",
        }
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Connect(e) => write!(f, "cannot connect: {e}"),
            TransportError::Dns { host, reason } => {
                write!(f, "cannot resolve the host name `{host}`: {reason}")
            }
            TransportError::Tls { reason, hint } => {
                write!(f, "TLS handshake failed: {reason}; {hint}")
            }
            TransportError::NotHttp1(e) => write!(
                f,
                "the answer is not HTTP/1.x ({e}); the target may speak HTTP/2 only (h2c): \
                 pass --http 2 to speak HTTP/2 with prior knowledge"
            ),
            TransportError::Timeout(t) => write!(f, "no response within {} ms", t.as_millis()),
            TransportError::TooLarge => {
                write!(f, "response body larger than {} MiB", MAX_BODY_BYTES >> 20)
            }
            TransportError::Decode(e) => write!(f, "cannot decode the response body: {e}"),
            TransportError::CrossOrigin { from, to } => write!(
                f,
                "the target redirected from {from} to another origin, {to}: not followed, \
                 so no API key or credential was sent there"
            ),
            TransportError::Other(e) => write!(f, "{e}"),
        }
    }
}

/// Sorts a reqwest error into what the user needs to know. Never uses reqwest's own text:
/// it contains the URL, which may carry a query-string key.
pub fn classify(error: &reqwest::Error, timeout: Duration) -> TransportError {
    if error.is_timeout() {
        return TransportError::Timeout(timeout);
    }
    let mut causes = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(inner) = cause {
        causes.push(inner);
        cause = inner.source();
    }
    if let Some(dns) = causes.iter().find_map(|c| c.downcast_ref::<DnsFailure>()) {
        return TransportError::Dns {
            host: dns.host.clone(),
            reason: dns.reason.clone(),
        };
    }
    if let Some(tls) = causes.iter().find_map(|c| tls_error(*c)) {
        return tls;
    }
    if let Some(redirect) = causes
        .iter()
        .find_map(|c| c.downcast_ref::<CrossOriginRedirect>())
    {
        return TransportError::CrossOrigin {
            from: redirect.from.clone(),
            to: redirect.to.clone(),
        };
    }
    // A hyper error means the connection failed; a decoder's error comes without one.
    let from_connection = causes.iter().any(|c| wrapped::<hyper::Error>(*c).is_some());
    let cut_short = from_connection
        && causes.iter().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::UnexpectedEof)
                || wrapped::<hyper::Error>(*c).is_some_and(|e| e.is_incomplete_message())
        });
    // The innermost cause says what happened (refused, reset, closed).
    let text = causes
        .last()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "unknown error".into());
    if cut_short {
        TransportError::Other(format!(
            "the connection closed before the whole answer arrived ({text})"
        ))
    } else if error.is_decode() && !from_connection {
        TransportError::Decode(text)
    } else if error.is_connect() {
        TransportError::Connect(text)
    } else if text.contains("invalid HTTP version") || text.contains("invalid HTTP status") {
        TransportError::NotHttp1(text)
    } else {
        TransportError::Other(text)
    }
}

/// `cause` as an `E`, also when wrapped in `std::io::Error`s (whose `source()` skips the
/// error they wrap, as they wrap rustls's and hyper's errors in reqwest's chains).
fn wrapped<'a, E: std::error::Error + 'static>(
    cause: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut cause = cause;
    loop {
        if let Some(found) = cause.downcast_ref::<E>() {
            return Some(found);
        }
        cause = cause.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

fn tls_error(cause: &(dyn std::error::Error + 'static)) -> Option<TransportError> {
    let tls = wrapped::<rustls::Error>(cause)?;
    let hint = match tls {
        rustls::Error::InvalidCertificate(_) => {
            "the server's certificate is not trusted; for a staging server behind a private \
             CA, pass --ca-cert with that CA; for a self-signed certificate, pass --insecure \
             (never in production)"
        }
        rustls::Error::NoApplicationProtocol
        | rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol) => {
            "the server accepts none of the protocols offered (ALPN: h2 and HTTP/1.1, or only \
             the one --http names)"
        }
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => {
            "the server asks for a client certificate: pass --cert and --key"
        }
        rustls::Error::AlertReceived(
            rustls::AlertDescription::BadCertificate
            | rustls::AlertDescription::UnknownCA
            | rustls::AlertDescription::CertificateUnknown
            | rustls::AlertDescription::AccessDenied,
        ) => {
            "the server refused the client certificate: check that --cert is issued by a CA \
             the server trusts and is still valid"
        }
        _ => "check that the URL's port serves HTTPS",
    };
    Some(TransportError::Tls {
        reason: tls.to_string(),
        hint,
    })
}

/// A host name that did not resolve, kept as a type so [`classify`] can find it in the chain.
#[derive(Debug)]
pub struct DnsFailure {
    host: String,
    reason: String,
}

impl std::fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot resolve `{}`: {}", self.host, self.reason)
    }
}

impl std::error::Error for DnsFailure {}

/// The system resolver, except for names that RFC 6761 reserves as never resolving
/// (`.invalid`): those fail at once, without a query leaving the machine.
struct Resolver;

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            let failure = |reason: String| -> Box<dyn std::error::Error + Send + Sync> {
                Box::new(DnsFailure {
                    host: host.clone(),
                    reason,
                })
            };
            if host == "invalid" || host.ends_with(".invalid") {
                return Err(failure(
                    "no such host (the .invalid domain never resolves, RFC 6761)".into(),
                ));
            }
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| failure(e.to_string()))?
                .collect();
            if addrs.is_empty() {
                return Err(failure("the name has no addresses".into()));
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// How long an idle connection is kept for reuse.
const POOL_IDLE: Duration = Duration::from_secs(15);

/// Redirects followed before a step fails as a loop.
const MAX_REDIRECTS: usize = 5;

/// A redirect that would leave the target's origin (scheme, host, port).
#[derive(Debug)]
struct CrossOriginRedirect {
    from: String,
    to: String,
}

impl std::fmt::Display for CrossOriginRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "redirect from {} to another origin, {}",
            self.from, self.to
        )
    }
}

impl std::error::Error for CrossOriginRedirect {}

#[derive(Debug)]
struct TooManyRedirects;

impl std::fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "too many redirects (more than {MAX_REDIRECTS})")
    }
}

impl std::error::Error for TooManyRedirects {}

/// A URL as it may be shown: origin and path, never the query (it may hold a key).
fn shown(url: &url::Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// Same-origin redirects only: the run's keys travel in headers reqwest does not know to be
/// secret (`X-API-KEY`), and a redirect must never carry them to another origin. A redirect
/// to another origin fails the step with `transport.redirect`, naming both.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = attempt.previous().first().map(url::Url::origin);
        if origin.as_ref() != Some(&attempt.url().origin()) {
            let from = attempt.previous().last().map(shown).unwrap_or_default();
            let to = shown(attempt.url());
            return attempt.error(CrossOriginRedirect { from, to });
        }
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(TooManyRedirects);
        }
        attempt.follow()
    })
}

/// How every client of a run connects: the same TLS trust, name resolution and redirect
/// rule for the load phase, the probes and the preflight.
pub fn build(transport: &Transport) -> reqwest::Client {
    builder(transport, redirect_policy())
}

/// The contract steps' client: it follows no redirect itself, so [`send`] can follow the
/// same-origin ones and show each in the step.
pub fn build_step_client(transport: &Transport) -> reqwest::Client {
    builder(transport, reqwest::redirect::Policy::none())
}

fn builder(transport: &Transport, redirects: reqwest::redirect::Policy) -> reqwest::Client {
    transport
        .apply(reqwest::Client::builder())
        .redirect(redirects)
        // Servers close idle connections (ours after 30 s); dropping them first means no
        // request is ever written into a connection the server is closing.
        .pool_idle_timeout(POOL_IDLE)
        .dns_resolver(std::sync::Arc::new(Resolver))
        .build()
        .expect("a client from checked transport settings builds")
}

/// Sends `request` and reads its answer, bounded in time and size. On a client that does
/// not follow redirects itself ([`build_step_client`]), same-origin redirects are followed
/// here and recorded in the exchange; one to another origin is never followed.
pub async fn send(
    client: &reqwest::Client,
    base_url: &str,
    request: &Outgoing,
    timeout: Duration,
) -> Result<Exchange, TransportError> {
    let started = Instant::now();
    let mut url = url::Url::parse(&format!("{base_url}{}", request.path_and_query))
        .map_err(|e| TransportError::Other(format!("cannot build the URL: {e}")))?;
    let mut method = request.method.clone();
    let mut redirects = Vec::new();
    let mut response = loop {
        let with_body = method == request.method;
        let builder = request.to(client, method.clone(), url.clone(), with_body);
        let response = builder
            .timeout(timeout.saturating_sub(started.elapsed()))
            .send()
            .await
            .map_err(|e| classify(&e, timeout))?;
        let Some(next) = redirect_target(&response, &url) else {
            break response;
        };
        if next.origin() != url.origin() {
            return Err(TransportError::CrossOrigin {
                from: shown(&url),
                to: shown(&next),
            });
        }
        if redirects.len() >= MAX_REDIRECTS {
            return Err(TransportError::Other(TooManyRedirects.to_string()));
        }
        let status = response.status().as_u16();
        let from = method.clone();
        // What browsers and curl do: a 303 asks for a GET; a 301 or 302 after a POST too.
        if (status == 303 && method != reqwest::Method::HEAD)
            || (matches!(status, 301 | 302) && method == reqwest::Method::POST)
        {
            method = reqwest::Method::GET;
        }
        redirects.push(Redirect {
            status,
            from,
            method: method.clone(),
            path: next.path().to_string(),
        });
        url = next;
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e, timeout))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(TransportError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Exchange {
        status,
        headers,
        body,
        latency: started.elapsed(),
        redirects,
    })
}

/// Where a 301/302/303/307/308 answer with a `Location` points, resolved against `url`.
fn redirect_target(response: &reqwest::Response, url: &url::Url) -> Option<url::Url> {
    if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers().get("location")?.to_str().ok()?;
    url.join(location).ok()
}
