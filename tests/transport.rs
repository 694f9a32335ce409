//! Real staging setups, on 127.0.0.1 with certificates made here: HTTP/2 negotiated over
//! TLS, h2c with prior knowledge, HTTP/1.1 forced, client certificates (mTLS), and proxies
//! from the environment (never for loopback). Each test runs the CLI as a user does, in
//! front of the reference server, and asserts on what the front or proxy saw.

mod common;

use std::path::{Path, PathBuf};

use common::cli;
use common::front::{Front, Pki, Proxy, TlsFront};
use common::{faulty_server, TempDir};
use serde_json::Value;
use tokio::runtime::Runtime;
use tollgate::server::RunningServer;

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every check of a report by id, with its verdict.
fn verdicts(folder: &Path) -> Vec<(String, String)> {
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("report.json")).unwrap())
            .unwrap();
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn passed(verdicts: &[(String, String)], id: &str) -> bool {
    verdicts.iter().any(|(i, v)| i == id && v == "passed")
}

/// A TLS front offering h2 and HTTP/1.1 before `server`, its certificate issued by `pki`;
/// it asks for a client certificate issued by `clients` when given.
fn tls_front(runtime: &Runtime, server: &RunningServer, pki: &Pki, clients: Option<&Pki>) -> Front {
    runtime.block_on(Front::tls(
        server.addr(),
        TlsFront {
            pki,
            alpn: &["h2", "http/1.1"],
            client_ca: clients,
        },
    ))
}

/// Every connection `front` saw spoke `protocol`, and there was at least one.
fn spoke_only(front: &Front, protocol: &str) {
    let seen = front.seen();
    assert!(
        !seen.is_empty() && seen.iter().all(|p| p == protocol),
        "{seen:?}"
    );
}

fn shown(output: &std::process::Output) -> String {
    format!("{}{}", cli::text(&output.stdout), cli::text(&output.stderr))
}

/// The shipped contract suite and the load phase of one class.
const CONTRACT_AND_READ: [&str; 2] = ["--class", "read"];

/// Behind a TLS terminator that offers h2, the preflight and the contract steps negotiate
/// HTTP/2 while goose's load and its probes keep to HTTP/1.1 (connections, not streams
/// queued behind one connection's cap), and the run passes; under `--http 2` the TLS
/// handshake offers only h2 (the load phase then follows: see the h2c test).
#[test]
fn http2_is_negotiated_over_tls_for_the_contract_and_asked_for_the_load() {
    let (runtime, server, env) = faulty_server(&[]);
    let pki = Pki::new("tollgate test CA");
    let front = tls_front(&runtime, &server, &pki, None);
    let dir = TempDir::new("transport-h2");
    let ca = write(&dir, "ca.pem", &pki.ca_pem());
    let url = format!("https://127.0.0.1:{}", front.addr.port());
    let mut args = vec!["--target", &url, "--ca-cert", s(&ca)];
    args.extend(CONTRACT_AND_READ);
    let (output, folder) = cli::run(&args, &env, &dir.path().join("reports"));
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let mut seen = front.seen();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["h2", "http/1.1"]);
    let judged = verdicts(&folder);
    assert!(passed(&judged, "rate.read.under"), "{judged:?}");
    assert!(passed(&judged, "auth.none.status"), "{judged:?}");

    front.seen.lock().unwrap().clear();
    let args = [
        "--target",
        &url,
        "--ca-cert",
        s(&ca),
        "--http",
        "2",
        "--only",
        "contract",
    ];
    let (output, _) = cli::run(&args, &env, &dir.path().join("reports-h2"));
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    spoke_only(&front, "h2");
}

/// `--http 2` on an http:// target speaks h2c with prior knowledge, load phase included;
/// by default the same target gets HTTP/1.1.
#[test]
fn http2_prior_knowledge_speaks_h2c_and_the_default_does_not() {
    let (runtime, server, env) = faulty_server(&[]);
    let front = runtime.block_on(Front::plain(server.addr()));
    let dir = TempDir::new("transport-h2c");
    let url = format!("http://127.0.0.1:{}", front.addr.port());
    let mut args = vec!["--target", &url, "--http", "2"];
    args.extend(CONTRACT_AND_READ);
    let (output, folder) = cli::run(&args, &env, &dir.path().join("reports"));
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    spoke_only(&front, "h2c");
    assert!(passed(&verdicts(&folder), "rate.read.under"));

    front.seen.lock().unwrap().clear();
    let output = cli::run_command(
        &["--target", &url, "--only", "contract", "--seed", "1"],
        &env,
        &dir.path().join("reports"),
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    spoke_only(&front, "http/1.1");
}

/// `--http 1.1` offers only HTTP/1.1 in the TLS handshake, even to a server that prefers h2.
#[test]
fn http1_can_be_forced_over_tls() {
    let (runtime, server, env) = faulty_server(&[]);
    let pki = Pki::new("tollgate test CA");
    let front = tls_front(&runtime, &server, &pki, None);
    let dir = TempDir::new("transport-h1");
    let ca = write(&dir, "ca.pem", &pki.ca_pem());
    let url = format!("https://127.0.0.1:{}", front.addr.port());
    let args = [
        "--target",
        &url,
        "--ca-cert",
        s(&ca),
        "--http",
        "1.1",
        "--only",
        "contract",
    ];
    let output = cli::run_command(&args, &env, &dir.path().join("reports"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    spoke_only(&front, "http/1.1");
}

/// A server that asks for a client certificate: the run passes with `--cert`/`--key`
/// issued by the CA it trusts; without one, or with one from another CA, the run stops
/// before the contract with a message that says which.
#[test]
fn client_certificates_are_shown_and_their_absence_is_named() {
    let (runtime, server, env) = faulty_server(&[]);
    let pki = Pki::new("tollgate test CA");
    let clients = Pki::new("tollgate client CA");
    let front = tls_front(&runtime, &server, &pki, Some(&clients));
    let dir = TempDir::new("transport-mtls");
    let ca = write(&dir, "ca.pem", &pki.ca_pem());
    let client = clients.issue(&["tollgate-ci"]);
    let cert = write(&dir, "client.pem", &client.cert);
    let key = write(&dir, "client.key", &client.key);
    let stranger = Pki::new("another CA").issue(&["someone"]);
    let stranger_cert = write(&dir, "stranger.pem", &stranger.cert);
    let stranger_key = write(&dir, "stranger.key", &stranger.key);
    let url = format!("https://127.0.0.1:{}", front.addr.port());
    let run = |extra: &[&str]| {
        let mut args = vec!["--target", url.as_str(), "--ca-cert", s(&ca)];
        args.extend(["--only", "contract", "--seed", "1"]);
        args.extend(extra);
        cli::run_command(&args, &env, &dir.path().join("reports"))
            .output()
            .unwrap()
    };

    let shown_cert = run(&["--cert", s(&cert), "--key", s(&key)]);
    assert_eq!(shown_cert.status.code(), Some(0), "{}", shown(&shown_cert));

    let none = run(&[]);
    assert_eq!(none.status.code(), Some(3), "{}", shown(&none));
    assert!(
        cli::text(&none.stderr)
            .contains("the server asks for a client certificate: pass --cert and --key"),
        "{}",
        shown(&none)
    );

    let foreign = run(&["--cert", s(&stranger_cert), "--key", s(&stranger_key)]);
    assert_eq!(foreign.status.code(), Some(3), "{}", shown(&foreign));
    assert!(
        cli::text(&foreign.stderr).contains("the server refused the client certificate"),
        "{}",
        shown(&foreign)
    );

    // A key that is not the certificate's, and a --key given without --cert: usage errors.
    let mismatched = run(&["--cert", s(&cert), "--key", s(&stranger_key)]);
    assert_eq!(mismatched.status.code(), Some(2), "{}", shown(&mismatched));
    let alone = run(&["--key", s(&key)]);
    assert_eq!(alone.status.code(), Some(2), "{}", shown(&alone));
}

/// Something that is not a key file given as `--key` (an API key, by mistake) is refused
/// without being repeated in the message.
#[test]
fn a_key_argument_that_is_no_file_is_not_echoed() {
    let dir = TempDir::new("transport-key-echo");
    let cert = write(&dir, "client.pem", &Pki::new("ca").issue(&["x"]).cert);
    let output = cli::run_command(
        &[
            "--target",
            "http://127.0.0.1:9",
            "--cert",
            s(&cert),
            "--key",
            "sk_live_looks_like_an_api_key",
        ],
        &[],
        &dir.path().join("reports"),
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    assert!(
        !shown(&output).contains("sk_live_looks_like_an_api_key"),
        "{}",
        shown(&output)
    );
}

/// HTTP_PROXY carries an http:// target's requests (the proxy sees them), never a loopback
/// target's, and NO_PROXY exempts the hosts it names.
#[test]
fn http_proxy_is_used_except_for_loopback_and_no_proxy() {
    let (runtime, server, mut env) = faulty_server(&[]);
    let proxy = runtime.block_on(Proxy::start(server.addr()));
    let dir = TempDir::new("transport-proxy");
    let reports = dir.path().join("reports");
    env.push(("HTTP_PROXY".into(), proxy.url.clone()));
    let run = |url: &str, env: &[(String, String)]| {
        // No fixed seed: each run creates resources of its own names on the one server.
        cli::run_command(&["--target", url, "--only", "contract"], env, &reports)
            .output()
            .unwrap()
    };
    // `.invalid` never resolves here: only the proxy can reach it.
    let remote = format!("http://api.invalid:{}", server.addr().port());
    let proxied = run(&remote, &env);
    assert_eq!(proxied.status.code(), Some(0), "{}", shown(&proxied));
    assert!(
        cli::text(&proxied.stderr).contains(&format!("proxy: HTTP_PROXY {}\n", proxy.url)),
        "{}",
        shown(&proxied)
    );
    let heads = proxy.heads();
    assert!(!heads.is_empty(), "the proxy saw nothing");
    assert!(
        heads.iter().all(|h| h.starts_with("GET http://api.invalid:")
            || h.contains(" http://api.invalid:")),
        "{heads:?}"
    );

    proxy.heads.lock().unwrap().clear();
    for loopback in [
        server.base_url(),
        format!("http://localhost:{}", server.addr().port()),
    ] {
        let direct = run(&loopback, &env);
        assert_eq!(direct.status.code(), Some(0), "{}", shown(&direct));
        assert!(!cli::text(&direct.stderr).contains("proxy:"));
    }
    assert_eq!(
        proxy.heads(),
        Vec::<String>::new(),
        "loopback went through the proxy"
    );

    let mut exempt = env.clone();
    exempt.push(("NO_PROXY".into(), "api.invalid".into()));
    let not_proxied = run(&remote, &exempt);
    assert_eq!(
        not_proxied.status.code(),
        Some(3),
        "{}",
        shown(&not_proxied)
    );
    assert!(
        cli::text(&not_proxied.stderr).contains("cannot resolve the host name `api.invalid`"),
        "{}",
        shown(&not_proxied)
    );
    assert_eq!(proxy.heads(), Vec::<String>::new(), "NO_PROXY was ignored");
}

/// HTTPS_PROXY tunnels an https:// target with CONNECT: the proxy learns the host and
/// port, never a request or a key. Its password is shown nowhere.
#[test]
fn https_proxy_tunnels_and_sees_no_key() {
    let (runtime, server, mut env) = faulty_server(&[]);
    let pki = Pki::new("tollgate test CA");
    let front = tls_front(&runtime, &server, &pki, None);
    let proxy = runtime.block_on(Proxy::start(front.addr));
    let dir = TempDir::new("transport-connect");
    let ca = write(&dir, "ca.pem", &pki.ca_pem());
    let with_password = proxy.url.replace("http://", "http://ci:proxy-pass-5f1e@");
    env.push(("HTTPS_PROXY".into(), with_password));
    let url = format!("https://api.invalid:{}", front.addr.port());
    let (output, folder) = cli::run(
        &[
            "--target",
            &url,
            "--ca-cert",
            s(&ca),
            "--only",
            "contract",
            "--seed",
            "1",
        ],
        &env,
        &dir.path().join("reports"),
    );
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let heads = proxy.heads();
    assert!(!heads.is_empty(), "the proxy saw nothing");
    // The proxy's own credentials, and nothing of the request: `ci:proxy-pass-5f1e`.
    let authorization = "Proxy-Authorization: Basic Y2k6cHJveHktcGFzcy01ZjFl";
    for head in &heads {
        assert!(
            head.starts_with(&format!("CONNECT api.invalid:{} ", front.addr.port())),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains(&authorization.to_ascii_lowercase()),
            "{head}"
        );
        assert!(!head.to_ascii_lowercase().contains("x-api-key"), "{head}");
    }
    spoke_only(&front, "h2");
    assert!(
        shown(&output).contains("http://ci:***@127.0.0.1:"),
        "{}",
        shown(&output)
    );
    let mut everything = shown(&output);
    for file in std::fs::read_dir(&folder).unwrap() {
        everything += &std::fs::read_to_string(file.unwrap().path()).unwrap_or_default();
    }
    assert!(!everything.contains("proxy-pass-5f1e"));
}

/// A proxy variable that cannot be used stops the run before anything is sent, naming the
/// variable and not its password.
#[test]
fn an_unusable_proxy_is_a_usage_error() {
    let dir = TempDir::new("transport-bad-proxy");
    let env = vec![(
        "HTTPS_PROXY".to_string(),
        "socks5://u:secret-9@127.0.0.1:1".to_string(),
    )];
    let output = cli::run_command(
        &["--target", "https://api.invalid", "--only", "contract"],
        &env,
        &dir.path().join("reports"),
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    let text = shown(&output);
    assert!(
        text.contains("HTTPS_PROXY: `socks5://` proxies are not supported"),
        "{text}"
    );
    assert!(!text.contains("secret-9"), "{text}");
}
