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

/// Names that never go through a proxy, whatever `NO_PROXY` says.
const LOOPBACK: &str = "localhost, .localhost, 127.0.0.0/8, ::1";

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
}

#[derive(Debug, Clone)]
struct Proxy {
    /// The variable it came from (`HTTPS_PROXY`).
    variable: &'static str,
    /// Which target URLs it serves.
    serves: Scheme,
    url: url::Url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
    All,
}

/// The variables read, in curl's order of precedence (upper case first, then lower).
const VARIABLES: [(&str, &str, Scheme); 3] = [
    ("HTTPS_PROXY", "https_proxy", Scheme::Https),
    ("HTTP_PROXY", "http_proxy", Scheme::Http),
    ("ALL_PROXY", "all_proxy", Scheme::All),
];

impl Proxies {
    /// Reads the proxy variables through `env`. An unusable proxy URL is an error, not a
    /// proxy silently skipped: the user meant the traffic to go through it.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Proxies, String> {
        let read = |upper: &str, lower: &str| {
            env(upper)
                .or_else(|| env(lower))
                .filter(|v| !v.trim().is_empty())
        };
        let mut proxies = Vec::new();
        for (upper, lower, serves) in VARIABLES {
            let Some(value) = read(upper, lower) else {
                continue;
            };
            let url = proxy_url(&value).map_err(|why| format!("{upper}: {why}"))?;
            proxies.push(Proxy {
                variable: upper,
                serves,
                url,
            });
        }
        let no_proxy = match read("NO_PROXY", "no_proxy") {
            Some(list) => format!("{list}, {LOOPBACK}"),
            None => LOOPBACK.to_string(),
        };
        Ok(Proxies { proxies, no_proxy })
    }

    /// One line per proxy for the run's header, without credentials.
    pub fn describe(&self) -> Vec<String> {
        self.proxies
            .iter()
            .map(|p| {
                let what = match p.serves {
                    Scheme::Http => "http:// targets",
                    Scheme::Https => "https:// targets",
                    Scheme::All => "targets no other variable covers",
                };
                format!("{} {} for {what}", p.variable, shown(&p.url))
            })
            .collect()
    }

    /// The passwords in proxy URLs: secrets the redactor must know.
    pub fn passwords(&self) -> Vec<String> {
        self.proxies
            .iter()
            .filter_map(|p| p.url.password())
            .map(percent_decoded)
            .collect()
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
    reqwest::Proxy::all(url.as_str()).map_err(|e| format!("`{}`: {e}", shown(&url)))?;
    Ok(url)
}

/// A proxy URL without its password.
fn shown(url: &url::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
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

fn percent_decoded(text: &str) -> String {
    url::form_urlencoded::parse(format!("p={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_string())
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

    fn from(vars: &[(&str, &str)]) -> Result<Proxies, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxies::from_env(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn upper_case_wins_and_a_bare_host_is_http() {
        let proxies = from(&[
            ("HTTPS_PROXY", "proxy.corp:3128"),
            ("https_proxy", "http://other:1"),
        ])
        .unwrap();
        assert_eq!(
            proxies.describe(),
            ["HTTPS_PROXY http://proxy.corp:3128 for https:// targets"]
        );
    }

    #[test]
    fn loopback_is_always_exempt() {
        assert_eq!(from(&[]).unwrap().no_proxy, LOOPBACK);
        let proxies = from(&[("no_proxy", "internal.corp")]).unwrap();
        assert_eq!(proxies.no_proxy, format!("internal.corp, {LOOPBACK}"));
    }

    #[test]
    fn credentials_are_never_shown_but_are_known_to_the_redactor() {
        let proxies = from(&[("HTTP_PROXY", "http://ci:s%40cret@proxy:8080")]).unwrap();
        let line = proxies.describe().join("");
        assert!(
            !line.contains("s%40cret") && !line.contains("s@cret"),
            "{line}"
        );
        assert!(line.contains("http://ci:***@proxy:8080"), "{line}");
        assert_eq!(proxies.passwords(), ["s@cret"]);
    }

    #[test]
    fn unusable_proxies_are_errors_that_quote_no_password() {
        let socks = from(&[("ALL_PROXY", "socks5://proxy:1080")]).unwrap_err();
        assert!(
            socks.contains("`socks5://` proxies are not supported"),
            "{socks}"
        );
        let bad = from(&[("HTTP_PROXY", "http://u:pw@[bad")]).unwrap_err();
        assert!(
            bad.starts_with("HTTP_PROXY: `http://***@[bad` is not a proxy URL"),
            "{bad}"
        );
        assert!(!bad.contains("pw"), "{bad}");
    }
}
