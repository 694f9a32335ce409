//! How every client of a run reaches the target: the certificate authorities it trusts
//! (`--ca-cert`, `--insecure`), the certificate it shows (`--cert`/`--key`, mTLS), the HTTP
//! version it speaks (`--http`) and the proxies it goes through (`HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, as curl reads them).
//!
//! Everything here is read and checked once, before anything is sent, and then applied to
//! every client of the run alike: preflight, contract steps, probes and the load phase.
//!
//! Invariant: a proxy is never used for a loopback target. The embedded reference server
//! and a service on the same machine are reached directly, so a CI runner's proxy neither
//! sees their keys nor distorts their timing.

use std::path::Path;

use crate::files;

/// The largest certificate or key file read (a CA bundle of a few hundred certificates).
const MAX_PEM_BYTES: u64 = 4 << 20;

/// Names that never go through a proxy, whatever `NO_PROXY` says: loopback, and the
/// unspecified addresses a local server prints (connecting to them reaches this machine).
const LOOPBACK: &str = "localhost, .localhost, localhost., 127.0.0.0/8, ::1, \
                        ::ffff:127.0.0.0/104, 0.0.0.0, ::";

/// Whether `url` names this machine (the [`LOOPBACK`] list): never proxied, and loaded
/// without `--allow-load`.
pub fn is_local(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// The HTTP version a run speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpVersion {
    /// HTTP/1.1, or HTTP/2 where the TLS handshake agrees on it (ALPN).
    #[default]
    Auto,
    /// HTTP/1.1 only.
    #[value(name = "1.1")]
    Http1,
    /// HTTP/2 only: h2 over TLS, and h2c with prior knowledge in clear text.
    #[value(name = "2")]
    Http2,
}

/// The connection settings of a run, shared by every client it builds.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// Accept any TLS certificate (`--insecure`, for self-signed staging servers).
    pub insecure: bool,
    /// Certificate authorities trusted besides the system's (`--ca-cert`).
    pub roots: Vec<reqwest::Certificate>,
    /// The client certificate and its key, for servers that ask for one (mTLS).
    pub identity: Option<reqwest::Identity>,
    pub http: HttpVersion,
    pub proxies: Proxies,
}

impl Transport {
    /// The settings of the load phase's client: HTTP/1.1 unless HTTP/2 was asked for
    /// (see `Target::load_client`).
    pub fn for_load(&self) -> Transport {
        let http = match self.http {
            HttpVersion::Auto => HttpVersion::Http1,
            other => other,
        };
        Transport {
            http,
            ..self.clone()
        }
    }

    /// Applies these settings to a client under construction.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let builder = self
            .roots
            .iter()
            .fold(builder, |b, root| b.add_root_certificate(root.clone()))
            .tls_danger_accept_invalid_certs(self.insecure);
        let builder = match &self.identity {
            Some(identity) => builder.identity(identity.clone()),
            None => builder,
        };
        let builder = match self.http {
            HttpVersion::Auto => builder,
            HttpVersion::Http1 => builder.http1_only(),
            HttpVersion::Http2 => builder.http2_prior_knowledge(),
        };
        self.proxies.apply(builder)
    }
}

/// Proxies from the environment, with loopback always exempt.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    proxies: Vec<Proxy>,
    /// `NO_PROXY` as given, and the loopback names after it.
    no_proxy: String,
    /// Variables whose value cannot be used, and why: an error only for a target that
    /// one of them would have served ([`Proxies::check`]).
    unusable: Vec<(Scheme, String)>,
}

#[derive(Clone)]
struct Proxy {
    /// The variable it came from (`HTTPS_PROXY`).
    variable: &'static str,
    /// Which target URLs it serves.
    serves: Scheme,
    url: url::Url,
}

/// Without the URL's credentials: a `{:?}` of a target must never print them.
impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.variable, shown(&self.url))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
    All,
}

/// The variables read: lower case first, as curl reads them (curl reads no upper-case
/// `HTTP_PROXY` at all, a guard for CGI scripts; tollgate is none, and CI systems often
/// set only the upper-case form, so it is read after the lower-case one).
const VARIABLES: [(&str, &str, Scheme); 3] = [
    ("https_proxy", "HTTPS_PROXY", Scheme::Https),
    ("http_proxy", "HTTP_PROXY", Scheme::Http),
    ("all_proxy", "ALL_PROXY", Scheme::All),
];

impl Proxies {
    /// Reads the proxy variables through `env` (an empty value counts as unset).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Proxies {
        let read = |first: &str, then: &str| {
            let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
            set(first)
                .map(|v| (first.to_string(), v))
                .or_else(|| set(then).map(|v| (then.to_string(), v)))
        };
        let mut proxies = Proxies::default();
        for (first, then, serves) in VARIABLES {
            let Some((name, value)) = read(first, then) else {
                continue;
            };
            match proxy_url(&value) {
                Ok(url) => proxies.proxies.push(Proxy {
                    variable: if name == first { first } else { then },
                    serves,
                    url,
                }),
                Err(why) => proxies.unusable.push((serves, format!("{name}: {why}"))),
            }
        }
        proxies.no_proxy = match read("no_proxy", "NO_PROXY") {
            Some((_, list)) => format!("{list}, {LOOPBACK}"),
            None => LOOPBACK.to_string(),
        };
        proxies
    }

    /// An unusable proxy variable is an error when it would have served `target`: the
    /// user meant that traffic to go through it. For a local target it is ignored (a
    /// `socks5://` ALL_PROXY on a laptop must not stop a run of the embedded server).
    pub fn check(&self, target: &str) -> Result<(), String> {
        let Ok(url) = url::Url::parse(target) else {
            return Ok(());
        };
        if is_local(target) || self.exempts(&url) {
            return Ok(());
        }
        let serves = |scheme: Scheme| match scheme {
            Scheme::All => true,
            Scheme::Http => url.scheme() == "http",
            Scheme::Https => url.scheme() == "https",
        };
        match self.unusable.iter().find(|(scheme, _)| serves(*scheme)) {
            Some((_, why)) => Err(why.clone()),
            None => Ok(()),
        }
    }

    /// The proxy that carries requests to `target`, if any: described without its
    /// password, for the run's header.
    pub fn used_for(&self, target: &str) -> Option<String> {
        let url = url::Url::parse(target).ok()?;
        if is_local(target) || self.exempts(&url) {
            return None;
        }
        let scheme = if url.scheme() == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let proxy = self
            .proxies
            .iter()
            .find(|p| p.serves == scheme)
            .or_else(|| self.proxies.iter().find(|p| p.serves == Scheme::All))?;
        Some(format!("{} {}", proxy.variable, shown(&proxy.url)))
    }

    /// Whether `NO_PROXY` (or the loopback list) exempts `url`, by the matcher reqwest
    /// itself applies.
    fn exempts(&self, url: &url::Url) -> bool {
        let Ok(uri) = url.as_str().parse::<hyper::Uri>() else {
            return false;
        };
        // A stand-in proxy: only whether the host is exempt matters here.
        let matcher = hyper_util::client::proxy::matcher::Matcher::builder()
            .all("http://proxy.invalid".to_string())
            .no(self.no_proxy.clone())
            .build();
        matcher.intercept(&uri).is_none()
    }

    /// Whether any usable proxy is `https://` (its certificate is checked like the
    /// target's, so `--insecure` stops that too).
    pub fn any_https(&self) -> bool {
        self.proxies.iter().any(|p| p.url.scheme() == "https")
    }

    /// The credentials in proxy URLs, as reqwest sends them: secrets the redactor must
    /// know. The password; `user:password` (whose base64 is a Proxy-Authorization the
    /// redactor then also knows); a user name without a password is a token.
    pub fn passwords(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        for url in self.proxies.iter().map(|p| &p.url) {
            let user = percent_decoded(url.username());
            match url.password().map(percent_decoded) {
                Some(password) => {
                    secrets.push(format!("{user}:{password}"));
                    secrets.push(password);
                }
                None if !user.is_empty() => secrets.push(user),
                None => {}
            }
        }
        secrets
    }

    fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        // Our rules, not reqwest's reading of the environment (which would proxy loopback).
        let mut builder = builder.no_proxy();
        let has = |scheme| self.proxies.iter().any(|p| p.serves == scheme);
        for proxy in &self.proxies {
            let built = match proxy.serves {
                Scheme::Http => reqwest::Proxy::http(proxy.url.as_str()),
                Scheme::Https => reqwest::Proxy::https(proxy.url.as_str()),
                // ALL_PROXY only where no scheme's own variable is set, as curl does.
                Scheme::All if has(Scheme::Http) && has(Scheme::Https) => continue,
                Scheme::All if has(Scheme::Http) => reqwest::Proxy::https(proxy.url.as_str()),
                Scheme::All if has(Scheme::Https) => reqwest::Proxy::http(proxy.url.as_str()),
                Scheme::All => reqwest::Proxy::all(proxy.url.as_str()),
            };
            let built = built
                .expect("proxy URLs are checked when read")
                .no_proxy(reqwest::NoProxy::from_string(&self.no_proxy));
            builder = builder.proxy(built);
        }
        builder
    }
}

/// A proxy variable's value as a URL (`proxy:3128` is taken as `http://proxy:3128`, as
/// curl does).
fn proxy_url(value: &str) -> Result<url::Url, String> {
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let url = url::Url::parse(&with_scheme)
        .map_err(|e| format!("`{}` is not a proxy URL ({e})", shown_raw(value)))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(format!(
                "`{other}://` proxies are not supported (http:// or https:// only)"
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{}` names no host", shown_raw(value)));
    }
    // `http://u:12#ab@proxy` is host `u`, port 12 and a fragment: not what was meant.
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{}` is not a proxy URL (a proxy URL has no path, query or fragment; \
             percent-encode `#`, `?` and `/` in a password)",
            shown_raw(value)
        ));
    }
    reqwest::Proxy::all(url.as_str()).map_err(|e| format!("`{}`: {e}", shown(&url)))?;
    Ok(url)
}

/// A proxy URL without its password (or its user name, when that is a bare token).
fn shown(url: &url::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    } else if !url.username().is_empty() {
        let _ = url.set_username("***");
    }
    url.as_str().trim_end_matches('/').to_string()
}

/// A value that failed to parse, with anything between `://` and `@` masked.
fn shown_raw(value: &str) -> String {
    match (value.find("://"), value.rfind('@')) {
        (Some(start), Some(end)) if end > start => {
            format!("{}***{}", &value[..start + 3], &value[end..])
        }
        (None, Some(end)) => format!("***{}", &value[end..]),
        _ => value.to_string(),
    }
}

/// A URL's user-info part as reqwest sends it: percent-decoded, `+` kept.
fn percent_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Reads `--ca-cert`: a PEM bundle with at least one certificate.
pub fn trusted_roots(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = files::read_bounded(path, MAX_PEM_BYTES).map_err(|e| e.to_string())?;
    match reqwest::Certificate::from_pem_bundle(pem.as_bytes()) {
        Ok(roots) if !roots.is_empty() => Ok(roots),
        Ok(_) => Err("no PEM certificate in it".into()),
        Err(e) => Err(format!("not a PEM certificate bundle ({e})")),
    }
}

/// Reads `--cert` and `--key` into the identity a client shows. The key file's content is
/// a secret: no message quotes it.
pub fn client_identity(cert: &Path, key: &Path) -> Result<reqwest::Identity, String> {
    let certs = files::read_bounded(cert, MAX_PEM_BYTES)
        .map_err(|e| format!("--cert `{}`: {e}", cert.display()))?;
    if !certs.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "--cert `{}`: no PEM certificate in it",
            cert.display()
        ));
    }
    if !key.is_file() {
        // Not repeated: a value that names no file may be a secret given by mistake.
        return Err(
            "--key names no file: it takes the path of the PEM private key of \
                    --cert (API keys come from the environment, never from arguments)"
                .into(),
        );
    }
    let private = files::read_bounded(key, MAX_PEM_BYTES)
        .map_err(|e| format!("--key `{}`: {e}", key.display()))?;
    if !private.contains("PRIVATE KEY-----") {
        return Err(format!(
            "--key `{}`: no PEM private key in it",
            key.display()
        ));
    }
    let refused = |e: reqwest::Error| {
        let cause = std::error::Error::source(&e).map_or(e.to_string(), ToString::to_string);
        format!(
            "--cert `{}` and --key `{}` do not make a client identity ({cause})",
            cert.display(),
            key.display()
        )
    };
    let identity =
        reqwest::Identity::from_pem(format!("{certs}\n{private}").as_bytes()).map_err(refused)?;
    // A key that is not the certificate's is only found when a client is built with it.
    reqwest::Client::builder()
        .identity(identity.clone())
        .build()
        .map_err(refused)?;
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Proxies {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxies::from_env(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn lower_case_wins_an_empty_value_is_unset_and_a_bare_host_is_http() {
        let proxies = from(&[
            ("https_proxy", "proxy.corp:3128"),
            ("HTTPS_PROXY", "http://stale:1"),
            ("http_proxy", " "),
            ("HTTP_PROXY", "http://upper:2"),
        ]);
        let https = proxies.used_for("https://api.example.com");
        assert_eq!(https.as_deref(), Some("https_proxy http://proxy.corp:3128"));
        let http = proxies.used_for("http://api.example.com");
        assert_eq!(http.as_deref(), Some("HTTP_PROXY http://upper:2"));
    }

    #[test]
    fn all_proxy_serves_only_the_schemes_without_their_own_variable() {
        let proxies = from(&[("ALL_PROXY", "http://all:1"), ("HTTP_PROXY", "http://h:2")]);
        let http = proxies.used_for("http://api.example.com");
        assert_eq!(http.as_deref(), Some("HTTP_PROXY http://h:2"));
        let https = proxies.used_for("https://api.example.com");
        assert_eq!(https.as_deref(), Some("ALL_PROXY http://all:1"));
    }

    #[test]
    fn local_targets_and_no_proxy_hosts_are_never_proxied() {
        let proxies = from(&[("ALL_PROXY", "http://p:1"), ("NO_PROXY", ".internal.corp")]);
        for local in [
            "http://localhost:8080",
            "http://localhost.:8080",
            "http://api.localhost",
            "http://127.0.0.1:1",
            "http://127.1",
            "http://[::1]:1",
            "http://0.0.0.0:8080",
            "http://[::]:1",
            "http://[::ffff:127.0.0.1]:1",
            "https://db.internal.corp",
        ] {
            assert_eq!(proxies.used_for(local), None, "{local}");
        }
        assert!(proxies.used_for("https://api.example.com").is_some());
    }

    #[test]
    fn credentials_are_never_shown_and_are_decoded_as_reqwest_sends_them() {
        let proxies = from(&[("HTTP_PROXY", "http://ci:a+b%2Bc%40d@proxy:8080")]);
        let line = proxies.used_for("http://api.example.com").unwrap();
        assert_eq!(line, "HTTP_PROXY http://ci:***@proxy:8080");
        assert!(!format!("{proxies:?}").contains("a+b"), "{proxies:?}");
        assert_eq!(proxies.passwords(), ["ci:a+b+c@d", "a+b+c@d"]);
        let token = from(&[("HTTPS_PROXY", "http://tok3n@proxy:1")]);
        let line = token.used_for("https://api.example.com").unwrap();
        assert_eq!(line, "HTTPS_PROXY http://***@proxy:1");
        assert_eq!(token.passwords(), ["tok3n"]);
    }

    #[test]
    fn unusable_proxies_are_errors_only_where_they_would_serve_and_quote_no_password() {
        let socks = from(&[("ALL_PROXY", "socks5://u:secret@proxy:1080")]);
        assert_eq!(socks.check("http://127.0.0.1:8080"), Ok(()));
        let e = socks.check("https://api.example.com").unwrap_err();
        assert!(
            e.contains("ALL_PROXY: `socks5://` proxies are not supported"),
            "{e}"
        );
        let bad = from(&[("HTTP_PROXY", "http://u:pw@[bad")]);
        assert_eq!(bad.check("https://api.example.com"), Ok(()));
        let e = bad.check("http://api.example.com").unwrap_err();
        assert!(
            e.starts_with("HTTP_PROXY: `http://***@[bad` is not a proxy URL"),
            "{e}"
        );
        let fragment = from(&[("HTTPS_PROXY", "http://u:12#ab@proxy")]);
        let e = fragment.check("https://api.example.com").unwrap_err();
        assert!(e.contains("has no path, query or fragment"), "{e}");
        assert!(!e.contains("#ab"), "{e}");
    }
}
