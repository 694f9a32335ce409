//! A target that misbehaves on purpose: each case ends in a specific check failure with a
//! clear message — never a hang or a panic.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use common::cli::{self, tollgate};
use common::{closed_port, TempDir};
use tollgate::contract::{self, Target};
use tollgate::event::{StepResult, Verdict};
use tollgate::scenario::parse;
use tollgate::target::Options;
use tollgate::transport::{HttpVersion, Transport};

/// Routes that each break HTTP or JSON in one way.
fn hostile() -> Router {
    Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        // 50 MB: the client must stop reading at its bound, not buffer it all.
        .route(
            "/huge",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    vec![b'x'; 50 << 20],
                )
            }),
        )
        .route(
            "/text",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "hello, not JSON") }),
        )
        .route(
            "/binary",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    vec![0xff, 0xfe, 0x00, 0x7b],
                )
                    .into_response()
            }),
        )
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route(
            "/wrong-type",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], r#"{"ok":true}"#) }),
        )
        .route("/gzip", get(|| async { gzipped(br#"{"ok":true}"#) }))
        .route("/gzip-bomb", get(|| async { gzip_bomb() }))
        .route(
            "/bad-gzip",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CONTENT_ENCODING, "gzip"),
                    ],
                    "this is not gzip",
                )
            }),
        )
}

fn gzipped(body: &[u8]) -> impl IntoResponse {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).unwrap();
    gzip_response(encoder.finish().unwrap())
}

fn gzip_response(compressed: Vec<u8>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        compressed,
    )
}

/// 50 MB of zeros in about 50 KB: the size bound must apply to what is decoded. Made once,
/// before the clock starts.
fn gzip_bomb() -> impl IntoResponse {
    static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    gzip_response(
        BOMB.get_or_init(|| {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&vec![0u8; 50 << 20]).unwrap();
            encoder.finish().unwrap()
        })
        .clone(),
    )
}

/// A raw server that promises 1000 bytes, sends a few, and closes the connection.
fn resetting_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"partial\":");
            // Dropping the stream closes it mid-body.
        }
    });
    format!("http://{addr}")
}

/// A TLS server with a self-signed certificate for 127.0.0.1 that offers the ALPN protocols
/// `alpn` and answers every request with `{"ok":true}`. On its own thread and runtime, so
/// both in-process runners and the CLI can use it.
fn tls_server(alpn: &[&str]) -> String {
    tls_server_with_cert(alpn).0
}

/// [`tls_server`], and its self-signed certificate in PEM (the CA a client must trust).
fn tls_server_with_cert(alpn: &[&str]) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let pem = certified.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else { return };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = r#"{"ok":true}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    });
    (format!("https://{addr}"), pem)
}

/// A cleartext HTTP/2-only server (h2c with prior knowledge): whatever it is sent, it
/// answers as an HTTP/2 server does to a client that did not open with the preface — its
/// SETTINGS frame, then GOAWAY(PROTOCOL_ERROR) — and closes.
fn h2c_only_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let settings = [0, 0, 0, 4, 0, 0, 0, 0, 0];
            let goaway = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
            let _ = stream.write_all(&settings);
            let _ = stream.write_all(&goaway);
        }
    });
    format!("http://{addr}")
}

/// A second origin that counts every request it gets and keeps the credentials it saw.
async fn elsewhere() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = Router::new().fallback(move |request: axum::extract::Request| {
        let record = record.clone();
        async move {
            let headers = request.headers();
            let credentials = ["x-api-key", "authorization", "cookie"]
                .iter()
                .filter_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
                .collect::<Vec<_>>()
                .join(" ");
            record.lock().unwrap().push(credentials);
            "{}"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// A redirect to another origin never carries a key there: the step fails with
/// `transport.redirect`, naming both URLs, and the other origin sees no request at all.
/// A same-origin redirect is still followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_is_not_followed_and_no_key_leaves() {
    let (other, seen) = elsewhere().await;
    let to_other = format!("{other}/collect?token=should-not-be-shown");
    let app = Router::new()
        .route(
            "/elsewhere",
            get(move || {
                let to = to_other.clone();
                async move { Redirect::temporary(&to) }
            }),
        )
        .route("/same-origin", get(|| async { Redirect::temporary("/ok") }))
        .route(
            "/ok",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"ok":true}"#,
                )
            }),
        )
        .route("/see-other", post(|| async { Redirect::to("/landed") }))
        .route(
            "/temporary",
            post(|| async { Redirect::temporary("/landed") }),
        )
        .route("/landed", get(landed).post(landed));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let steps = contract::collect(
        target(url.clone()),
        vec![scenario_at("tests/scenarios/redirect.yaml")],
        "redirect".into(),
        1,
    )
    .await;
    let (id, text) = failure(&steps, "a redirect to another origin");
    assert_eq!(id, "transport.redirect");
    assert!(text.contains(&format!("{url}/elsewhere")), "{text}");
    assert!(text.contains(&format!("{other}/collect")), "{text}");
    assert!(
        !text.contains("should-not-be-shown"),
        "a query string is never shown: {text}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "the other origin got {:?}",
        seen.lock().unwrap()
    );
    let same = steps
        .iter()
        .find(|s| s.step == "a redirect within the origin")
        .unwrap();
    assert!(
        same.checks.iter().all(|c| c.verdict == Verdict::Passed),
        "{same:?}"
    );
    assert_eq!(same.request, "GET /same-origin ↪ 307 GET /ok");
    // A method change is shown and warned about; 307 keeps the method and the body.
    let see_other = steps
        .iter()
        .find(|s| s.step == "a POST answered with 303")
        .unwrap();
    assert_eq!(see_other.request, "POST /see-other ↪ 303 GET /landed");
    assert_eq!(see_other.verdict(), Verdict::Warning, "{see_other:?}");
    let warning = see_other
        .checks
        .iter()
        .find(|c| c.id == "transport.redirect-method")
        .expect("a warning names the method change");
    assert!(
        warning.message.contains("the request became GET /landed"),
        "{}",
        warning.message
    );
    let kept = steps
        .iter()
        .find(|s| s.step == "a POST answered with 307 keeps its method and body")
        .unwrap();
    assert_eq!(kept.verdict(), Verdict::Passed, "{kept:?}");
    assert_eq!(kept.request, "POST /temporary ↪ 307 POST /landed");
}

/// Answers with the method it received and whether a body came with it.
async fn landed(request: axum::extract::Request) -> impl IntoResponse {
    let method = request.method().to_string();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    axum::Json(serde_json::json!({ "method": method, "body": !body.is_empty() }))
}

fn scenario() -> tollgate::scenario::Scenario {
    scenario_at("tests/scenarios/hostile.yaml")
}

fn scenario_at(path: &str) -> tollgate::scenario::Scenario {
    let loaded = parse::load(Path::new(path));
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded.scenario.unwrap()
}

fn target(base_url: String) -> Arc<Target> {
    target_with(base_url, false)
}

/// A deployment at `base_url` (not one of ours: it holds no key), checked with the
/// default profile and a made-up primary key.
fn target_with(base_url: String, insecure: bool) -> Arc<Target> {
    let mut profile = tollgate::profile::load(Path::new("tollgate.yaml"))
        .unwrap()
        .profile
        .unwrap();
    profile.contract.timeout_ms = 1500;
    profile.contract.parallel = 1;
    let primary = profile.keys.primary.clone();
    let env = |var: &str| (var == primary).then(|| "sk_test_hostile_canary".to_string());
    let options = Options {
        transport: Transport {
            insecure,
            ..Transport::default()
        },
        ..Options::default()
    };
    Arc::new(Target::external(&base_url, profile, env, options).unwrap())
}

fn failure<'a>(steps: &'a [StepResult], step: &str) -> (&'a str, String) {
    let s = steps
        .iter()
        .find(|s| s.step == step)
        .unwrap_or_else(|| panic!("no step {step}"));
    let c = s
        .checks
        .iter()
        .find(|c| c.verdict == Verdict::Failed)
        .unwrap_or_else(|| panic!("{step} did not fail: {s:?}"));
    let text = format!(
        "{} {} {}",
        c.message,
        c.expected.clone().unwrap_or_default(),
        c.actual.clone().unwrap_or_default()
    );
    eprintln!("{step}: {} {text}", c.id);
    (c.id.as_str(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_answer_fails_one_check_with_a_clear_message() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hostile()).await.unwrap() });
    let _ = gzip_bomb();
    let started = Instant::now();
    let steps = contract::collect(target(url), vec![scenario()], "hostile".into(), 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the 1500 ms timeouts: {:?}",
        started.elapsed()
    );

    let (id, text) = failure(&steps, "no answer in time");
    assert_eq!(id, "transport.timeout");
    assert!(text.contains("no response within 1500 ms"), "{text}");
    let (id, text) = failure(&steps, "a 50 MB body");
    assert_eq!(id, "transport.body-size");
    assert!(text.contains("larger than 10 MiB"), "{text}");
    let (id, text) = failure(&steps, "text where JSON is expected");
    assert_eq!(id, "expect.json");
    assert!(text.contains("not JSON"), "{text}");
    let (id, text) = failure(&steps, "invalid UTF-8 where JSON is expected");
    assert_eq!(id, "expect.json");
    assert!(text.contains("not JSON"), "{text}");
    let (id, text) = failure(&steps, "a redirect loop");
    assert_eq!(id, "transport.error");
    assert!(text.contains("too many redirects"), "{text}");
    let (id, text) = failure(&steps, "JSON under the wrong Content-Type");
    assert_eq!(id, "expect.content-type");
    assert!(text.contains("application/json text/html"), "{text}");
    let gzip = steps
        .iter()
        .find(|s| s.step == "a gzip body is decoded")
        .unwrap();
    assert_eq!(gzip.verdict(), Verdict::Passed, "{gzip:?}");
    let (id, text) = failure(&steps, "a gzip bomb");
    assert_eq!(id, "transport.body-size");
    assert!(text.contains("larger than 10 MiB"), "{text}");
    let (id, text) = failure(&steps, "a body that is not the gzip it claims");
    assert_eq!(id, "transport.decode");
    assert!(text.contains("cannot decode the response body"), "{text}");
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_a_transport_error() {
    let steps = contract::collect(
        target(resetting_server()),
        vec![scenario()],
        "reset".into(),
        1,
    )
    .await;
    let (id, text) = failure(&steps, "text where JSON is expected");
    assert_eq!(id, "transport.error", "{text}");
    assert!(
        text.contains("the connection closed before the whole answer arrived"),
        "{text}"
    );
}

/// Failures before any HTTP answer: each names its cause and what to do.
#[tokio::test]
async fn transport_failures_name_their_cause() {
    let cases = [
        (
            closed_port(),
            "transport.error",
            "cannot connect: Connection refused",
        ),
        (
            "http://api.tollgate.invalid".to_string(),
            "transport.dns",
            "cannot resolve the host name `api.tollgate.invalid`: no such host",
        ),
        (
            tls_server(&["http/1.1"]),
            "transport.tls",
            "the server's certificate is not trusted; for a staging server behind a private CA, pass --ca-cert with that CA; for a self-signed certificate, pass --insecure",
        ),
        (
            h2c_only_server(),
            "transport.protocol",
            "the target may speak HTTP/2 only (h2c)",
        ),
    ];
    for (url, expected_id, expected_text) in cases {
        let steps = contract::collect(
            target(url.clone()),
            vec![scenario_at("tests/scenarios/tls.yaml")],
            "transport".into(),
            1,
        )
        .await;
        let (id, text) = failure(&steps, "a JSON answer");
        assert_eq!(id, expected_id, "{url}: {text}");
        assert!(text.contains(expected_text), "{url}: {text}");
        // Which request could not be sent: the step's own line.
        let origin = steps
            .iter()
            .flat_map(|s| &s.checks)
            .find(|c| c.id == expected_id)
            .and_then(|c| c.origin.clone())
            .expect("a transport failure has an origin");
        assert_eq!(origin.file, "tests/scenarios/tls.yaml");
        assert!(origin.line > 0, "{origin}");
    }
}

/// A server that offers only h2 to a run held to HTTP/1.1 (`--http 1.1`): the handshake
/// failure says no protocol was agreed on.
#[tokio::test]
async fn a_tls_server_that_accepts_none_of_the_offered_protocols_is_named() {
    let mut profile = tollgate::profile::load(Path::new("tollgate.yaml"))
        .unwrap()
        .profile
        .unwrap();
    profile.contract.timeout_ms = 1500;
    let primary = profile.keys.primary.clone();
    let env = |var: &str| (var == primary).then(|| "sk_test_hostile_canary".to_string());
    let options = Options {
        transport: Transport {
            insecure: true,
            http: HttpVersion::Http1,
            ..Transport::default()
        },
        ..Options::default()
    };
    let url = tls_server(&["h2"]);
    let insecure = Arc::new(Target::external(&url, profile, env, options).unwrap());
    let steps = contract::collect(
        insecure,
        vec![scenario_at("tests/scenarios/tls.yaml")],
        "h2".into(),
        1,
    )
    .await;
    let (id, text) = failure(&steps, "a JSON answer");
    assert_eq!(id, "transport.tls");
    assert!(
        text.contains("the server accepts none of the protocols offered"),
        "{text}"
    );
}

#[tokio::test]
async fn insecure_accepts_a_self_signed_certificate() {
    let steps = contract::collect(
        target_with(tls_server(&["http/1.1"]), true),
        vec![scenario_at("tests/scenarios/tls.yaml")],
        "insecure".into(),
        1,
    )
    .await;
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].verdict(), Verdict::Passed, "{:?}", steps[0]);
}

/// `--ca-cert` trusts a private CA without --insecure: the step passes against a server
/// whose certificate only that file vouches for; a file without a certificate is refused
/// before anything is sent.
#[test]
fn a_private_ca_is_trusted_through_ca_cert() {
    let (url, pem) = tls_server_with_cert(&["http/1.1"]);
    let dir = TempDir::new("hostile-ca");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let run = |ca: &std::path::Path| {
        cli::run_command(
            &[
                "--target",
                &url,
                "--only",
                "contract",
                "--scenarios",
                "tests/scenarios/tls.yaml",
                "--ca-cert",
                ca.to_str().unwrap(),
            ],
            &primary_key(),
            &dir.path().join("reports"),
        )
        .output()
        .unwrap()
    };
    let trusted = run(&ca);
    assert_eq!(
        trusted.status.code(),
        Some(0),
        "{}{}",
        cli::text(&trusted.stdout),
        cli::text(&trusted.stderr)
    );
    let refused = run(&not_pem);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        cli::text(&refused.stderr).contains("no PEM certificate in it"),
        "{}",
        cli::text(&refused.stderr)
    );
}

/// The primary key the CLI runs here are given.
fn primary_key() -> Vec<(String, String)> {
    vec![("OURO_API_KEY".into(), "tollgate-test-key-7c1d".into())]
}

/// `tollgate run --only contract` against `url` with a primary key, as a user runs it.
fn cli_run(url: &str, extra: &[&str]) -> std::process::Output {
    let reports = TempDir::new("hostile-tls");
    let mut args = vec!["--only", "contract", "--target", url];
    args.extend(["--scenarios", "tests/scenarios/tls.yaml", "--seed", "1"]);
    args.extend(extra);
    cli::run_command(&args, &primary_key(), &reports)
        .output()
        .unwrap()
}

#[test]
fn an_untrusted_certificate_stops_the_run_and_names_insecure() {
    let url = tls_server(&["http/1.1"]);
    let output = cli_run(&url, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach {url}: TLS handshake failed: invalid peer certificate: UnknownIssuer; the server's certificate is not trusted; for a staging server behind a private CA, pass --ca-cert with that CA; for a self-signed certificate, pass --insecure")),
        "{stderr}"
    );

    let output = cli_run(&url, &["--insecure"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: --insecure: TLS certificates are not checked"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_host_is_a_runtime_error_and_plain_http_warns() {
    let output = cli_run("http://api.tollgate.invalid", &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "warning: http://api.tollgate.invalid is plain HTTP: the API keys travel in clear text"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot reach http://api.tollgate.invalid: cannot resolve the host name `api.tollgate.invalid`"),
        "{stderr}"
    );
}

#[test]
fn loopback_http_does_not_warn() {
    let output = cli_run(&closed_port(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(
        stderr.contains("cannot connect: Connection refused"),
        "{stderr}"
    );
}

/// SIGTERM (a CI job's timeout) while a contract step waits on a silent target: the run
/// stops at once, writes its report marked incomplete, and exits 130.
#[test]
fn a_terminated_contract_phase_stops_at_once_and_says_interrupted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, hostile()).await.unwrap();
        });
    });
    let reports = TempDir::new("hostile-term");
    let args = [
        "--only",
        "contract",
        "--target",
        &url,
        "--scenarios",
        "tests/scenarios/hostile.yaml",
    ];
    let child = cli::run_command(&args, &primary_key(), &reports)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first step waits 30 s for an answer that never comes (the timeout is 10 s).
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    cli::signal(&child, "TERM");
    let output = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(output.status.code(), Some(130));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("INTERRUPTED in"), "{stdout}");
    let folder = cli::run_folder(&reports, &output);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["complete"], false);
    assert_eq!(report["stopped_by"], "interrupted");
}

/// `include:` and a symlink that point outside the project are refused by name: the file is
/// never read, so no line of it reaches a diagnostic or a CI log.
#[test]
fn includes_outside_the_project_are_refused_without_printing_them() {
    let dir = TempDir::new("hostile-outside");
    let link = dir.join("_passwd.yaml");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    for (name, include) in [
        ("absolute.yaml", "/etc/passwd".to_string()),
        ("symlink.yaml", "_passwd.yaml".to_string()),
    ] {
        let file = dir.join(name);
        std::fs::write(
            &file,
            format!("name: leak\ninclude: [{include}]\nsteps:\n  - name: s\n    request: {{ method: GET, path: /v1/users }}\n    expect: {{ status: 200 }}\n"),
        )
        .unwrap();
        let output = tollgate(&["lint"]).arg(&file).output().unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(2), "{name}: {all}");
        assert!(all.contains("outside the project folder"), "{name}: {all}");
        assert!(!all.contains("root:"), "{name} printed the file: {all}");
    }
}

/// The peak resident memory, in MiB, of the children this test process has waited for
/// (nextest runs each test in its own process, so these are this test's children only).
fn children_peak_mib() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let usage = unsafe {
        assert_eq!(
            libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()),
            0
        );
        usage.assume_init()
    };
    usage.ru_maxrss as u64 / 1024 // kilobytes on Linux
}

/// `include: [/dev/zero]` (and a `$ref` to it, and a symlink to it inside the project) is
/// refused at once without reading: within a second, the process staying under 100 MB —
/// also when the project folder is `/`, where only the special-file rule stands.
#[test]
fn special_files_pulled_in_are_refused_within_a_second() {
    let dir = TempDir::new("hostile-special");
    std::os::unix::fs::symlink("/dev/zero", dir.join("_zero.yaml")).unwrap();
    let step = "steps:\n  - name: s\n    request: { method: GET, path: /v1/users }\n";
    let files = [
        (
            "include.yaml",
            format!("name: z\ninclude: [/dev/zero]\n{step}    expect: {{ status: 200 }}\n"),
        ),
        (
            "symlink.yaml",
            format!("name: z\ninclude: [_zero.yaml]\n{step}    expect: {{ status: 200 }}\n"),
        ),
        (
            "ref.yaml",
            format!(
                "name: z\n{step}    expect: {{ status: 200, schema: {{ $ref: /dev/zero }} }}\n"
            ),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    for cwd in [Path::new(env!("CARGO_MANIFEST_DIR")), Path::new("/")] {
        for (name, _) in &files {
            let started = Instant::now();
            let output = tollgate(&["lint"])
                .arg(dir.join(name))
                .current_dir(cwd)
                .output()
                .unwrap();
            let elapsed = started.elapsed();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{name} from {cwd:?}: {stderr}"
            );
            assert!(
                stderr.contains("not a regular file") || stderr.contains("outside the project"),
                "{name} from {cwd:?}: {stderr}"
            );
            assert!(elapsed < Duration::from_secs(1), "{name}: {elapsed:?}");
        }
    }
    let peak = children_peak_mib();
    assert!(peak < 100, "a child peaked at {peak} MiB");
}

/// A 3 MB one-line, deeply nested file is rejected with a diagnostic of a few lines: a
/// window of the line around the caret, never the line itself.
#[test]
fn a_huge_one_line_file_gives_a_small_diagnostic() {
    let dir = TempDir::new("hostile-one-line");
    let file = dir.join("nested.yaml");
    let depth = 1_500_000;
    std::fs::write(&file, format!("{}{}", "[".repeat(depth), "]".repeat(depth))).unwrap();
    let output = tollgate(&["lint"]).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        &stderr[..stderr.len().min(500)]
    );
    assert!(
        stderr.contains("nested.yaml:1:"),
        "{}",
        &stderr[..stderr.len().min(500)]
    );
    assert!(stderr.len() < 2048, "a {} byte diagnostic", stderr.len());
}
