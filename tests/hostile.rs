//! A target that misbehaves on purpose: each case ends in a specific check failure with a
//! clear message — never a hang or a panic.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use tollgate::contract::{self, Target};
use tollgate::event::{StepResult, Verdict};
use tollgate::scenario::parse;
use tollgate::server::KeyRing;

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

fn scenario() -> tollgate::scenario::Scenario {
    let loaded = parse::load(Path::new("tests/scenarios/hostile.yaml"));
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded.scenario.unwrap()
}

fn target(base_url: String) -> Arc<Target> {
    let mut profile = tollgate::profile::load(Path::new("tollgate.yaml"))
        .unwrap()
        .profile
        .unwrap();
    profile.contract.timeout_ms = 500;
    profile.contract.parallel = 1;
    Arc::new(Target::embedded(base_url, &KeyRing::generate(), profile))
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
    let started = Instant::now();
    let steps = contract::collect(target(url), vec![scenario()], "hostile".into(), 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the 500 ms timeouts: {:?}",
        started.elapsed()
    );

    let (id, text) = failure(&steps, "no answer in time");
    assert_eq!(id, "transport.timeout");
    assert!(text.contains("no response within 500 ms"), "{text}");
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
    assert!(!text.is_empty());
}
