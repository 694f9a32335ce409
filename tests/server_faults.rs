//! One test per fault showing its effect, and a matrix showing that each contract fault
//! changes exactly the probes its name promises and nothing else.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use tollgate::server::config::AuthStyle;
use tollgate::server::{Fault, KeyRole, ServerProfile};

/// What a single request shows of the contract: status, content type, the error field,
/// and whether any presented key came back.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Fingerprint {
    status: u16,
    content_type: Option<String>,
    error_field: bool,
    echoes_key: bool,
}

/// Probes of the contract that need no load, by name.
async fn probe_all(server: &Server) -> Vec<(&'static str, Fingerprint)> {
    let created = server.post("/v1/users", PRIMARY, &new_user()).await.json();
    let id = created["id"].as_str().unwrap_or("usr_1").to_string();
    let user_path = format!("/v1/users/{id}");
    let probes: Vec<(&'static str, reqwest::RequestBuilder)> = vec![
        (
            "list users",
            server.request(Method::GET, "/v1/users", PRIMARY),
        ),
        ("get user", server.request(Method::GET, &user_path, PRIMARY)),
        (
            "create user",
            server
                .request(Method::POST, "/v1/users", PRIMARY)
                .json(&new_user()),
        ),
        (
            "create file",
            server
                .request(Method::POST, "/v1/files", PRIMARY)
                .json(&json!({"name": "a", "content": "b"})),
        ),
        (
            "update user",
            server
                .request(Method::PUT, &user_path, PRIMARY)
                .json(&json!({"name": "x"})),
        ),
        (
            "list files no key",
            server.request(Method::GET, "/v1/files", Auth::None),
        ),
        (
            "search no key",
            server.request(Method::GET, "/v1/search?q=a", Auth::None),
        ),
        (
            "x-api-key",
            server.request(
                Method::GET,
                "/v1/users",
                Auth::Styled(AuthStyle::XApiKey, KeyRole::Primary),
            ),
        ),
        (
            "bearer",
            server.request(
                Method::GET,
                "/v1/users",
                Auth::Styled(AuthStyle::Bearer, KeyRole::Primary),
            ),
        ),
        (
            "no key",
            server.request(Method::GET, "/v1/users", Auth::None),
        ),
        (
            "invalid key",
            server.request(Method::GET, "/v1/users", Auth::Invalid),
        ),
        (
            "revoked key",
            server.request(Method::GET, "/v1/users", Auth::Role(KeyRole::Revoked)),
        ),
        (
            "read-only write",
            server
                .request(Method::POST, "/v1/users", Auth::Role(KeyRole::ReadOnly))
                .json(&new_user()),
        ),
        (
            "short password",
            server
                .request(Method::POST, "/v1/users", PRIMARY)
                .json(&json!({"name": "a", "email": unique_email(), "password": "short"})),
        ),
        (
            "unknown user",
            server.request(Method::GET, "/v1/users/usr_999999", PRIMARY),
        ),
        (
            "delete user",
            server.request(Method::DELETE, &user_path, PRIMARY),
        ),
    ];
    let keys: Vec<String> = [KeyRole::Primary, KeyRole::Revoked, KeyRole::ReadOnly]
        .iter()
        .map(|role| server.key(*role).to_string())
        .chain([INVALID_KEY.to_string()])
        .collect();
    let mut prints = Vec::new();
    for (name, request) in probes {
        let answer = server.send(request).await;
        let body: Option<Value> = serde_json::from_str(&answer.text).ok();
        prints.push((
            name,
            Fingerprint {
                status: answer.status,
                content_type: answer.content_type().map(str::to_string),
                error_field: body.is_some_and(|b| b["error"].is_string()),
                echoes_key: keys.iter().any(|k| answer.text.contains(k.as_str())),
            },
        ));
    }
    prints
}

fn changed(
    baseline: &[(&'static str, Fingerprint)],
    faulty: &[(&'static str, Fingerprint)],
) -> BTreeSet<&'static str> {
    baseline
        .iter()
        .zip(faulty)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0)
        .collect()
}

const ERRORS_WITH_KEY: [&str; 5] = [
    "invalid key",
    "revoked key",
    "read-only write",
    "short password",
    "unknown user",
];

#[tokio::test]
async fn each_contract_fault_changes_exactly_its_promise() {
    let conformant = setup(ServerProfile::Ouro).start().await;
    let baseline = probe_all(&conformant).await;
    conformant.stop().await;
    let all_errors: Vec<&str> = ["list files no key", "search no key", "no key"]
        .into_iter()
        .chain(ERRORS_WITH_KEY)
        .collect();
    let expectations: Vec<(Fault, Vec<&str>)> = vec![
        (Fault::Revoked401, vec!["revoked key"]),
        (Fault::AuthBypass, vec!["list files no key"]),
        (Fault::BearerIgnored, vec!["bearer"]),
        (Fault::ErrorShape, all_errors),
        (Fault::WrongStatus, vec!["create user", "create file"]),
        (Fault::EchoKey, ERRORS_WITH_KEY.to_vec()),
        // Faults that show only under load or in timing leave every single request alone.
        (Fault::Slow, vec![]),
        (Fault::Html429, vec![]),
        (Fault::NoRetryAfter, vec![]),
        (Fault::FiveXxUnderLoad, vec![]),
        (Fault::RemainingLies, vec![]),
        (Fault::Sticky429, vec![]),
        (Fault::Limit150, vec![]),
        (Fault::Limit60, vec![]),
        (Fault::SearchUnlimited, vec![]),
        (Fault::Files100, vec![]),
        (Fault::GlobalLimit, vec![]),
        (Fault::SharedReadWrite, vec![]),
        (Fault::TestLiveShared, vec![]),
        (Fault::NoConcurrencyLimit, vec![]),
        (Fault::CountsRejected, vec![]),
        // The 50th and the 101st request are beyond this probe (tests/load_network.rs).
        (Fault::DropsConnections, vec![]),
        (Fault::StopsAnswering, vec![]),
    ];
    assert_eq!(
        expectations.len(),
        Fault::ALL.len(),
        "every fault is in the matrix"
    );
    for (fault, expected) in expectations {
        let server = setup(ServerProfile::Ouro).fault(fault).start().await;
        let prints = probe_all(&server).await;
        server.stop().await;
        let expected: BTreeSet<&str> = expected.into_iter().collect();
        assert_eq!(changed(&baseline, &prints), expected, "fault {fault}");
    }
}

#[tokio::test]
async fn contract_faults_show_the_documented_wrong_answer() {
    let server = setup(ServerProfile::Ouro)
        .fault(Fault::Revoked401)
        .start()
        .await;
    let revoked = server.get("/v1/users", Auth::Role(KeyRole::Revoked)).await;
    assert_eq!(
        (revoked.status, revoked.error()),
        (401, "Unauthorized. Please provide a valid API key.".into())
    );
    server.stop().await;

    let server = setup(ServerProfile::Ouro)
        .fault(Fault::ErrorShape)
        .start()
        .await;
    let body = server.get("/v1/users", Auth::None).await.json();
    assert_eq!(
        body,
        json!({ "message": "Unauthorized. Please provide a valid API key." })
    );
    server.stop().await;

    let server = setup(ServerProfile::Ouro)
        .fault(Fault::EchoKey)
        .start()
        .await;
    let answer = server.get("/v1/users", Auth::Role(KeyRole::Revoked)).await;
    assert_eq!(
        answer.json()["api_key"],
        json!(server.key(KeyRole::Revoked))
    );
    assert_eq!(
        answer.error(),
        "Forbidden. This API key has been revoked or expired."
    );
    server.stop().await;

    let server = setup(ServerProfile::Ouro)
        .fault(Fault::WrongStatus)
        .start()
        .await;
    let created = server.post("/v1/users", PRIMARY, &new_user()).await;
    assert_eq!(created.status, 200);
    assert!(
        created.json()["id"].is_string(),
        "the body is still the created user"
    );
    server.stop().await;

    let server = setup(ServerProfile::Ouro)
        .fault(Fault::AuthBypass)
        .start()
        .await;
    assert_eq!(server.get("/v1/files", Auth::None).await.status, 200);
    assert_eq!(
        server.get("/v1/files", Auth::Invalid).await.status,
        401,
        "a bad key is still refused"
    );
    server.stop().await;

    let server = setup(ServerProfile::Ouro)
        .fault(Fault::BearerIgnored)
        .start()
        .await;
    let bearer = Auth::Styled(AuthStyle::Bearer, KeyRole::Primary);
    assert_eq!(server.get("/v1/users", bearer).await.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn slow_delays_every_response_past_300_ms() {
    let server = setup(ServerProfile::Ouro).fault(Fault::Slow).start().await;
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(server.get("/v1/users", PRIMARY).await.status, 200);
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
    }
    server.stop().await;
}

/// Ten per minute on every class: bursts are exact and nothing refills during a test.
fn tight(fault: Option<Fault>) -> Setup {
    let mut s = setup(ServerProfile::Ouro);
    for class in ["read", "write", "files_read", "files_write", "search"] {
        s = s.limit(&format!("{class}=10/min"));
    }
    match fault {
        Some(f) => s.fault(f),
        None => s,
    }
}

async fn accepted_at_once(fault: Option<Fault>, path: &str) -> u64 {
    let server = tight(fault).start().await;
    let tally = burst(&server, path, PRIMARY, 60).await;
    server.stop().await;
    tally.ok
}

#[tokio::test]
async fn limit_faults_enforce_a_different_rate_than_published() {
    assert_eq!(accepted_at_once(None, "/v1/users").await, 10);
    assert_eq!(
        accepted_at_once(Some(Fault::Limit150), "/v1/users").await,
        15
    );
    assert_eq!(accepted_at_once(Some(Fault::Limit60), "/v1/users").await, 6);
    assert_eq!(
        accepted_at_once(Some(Fault::Files100), "/v1/files").await,
        50
    );
    assert_eq!(
        accepted_at_once(Some(Fault::Files100), "/v1/users").await,
        10
    );
    assert_eq!(
        accepted_at_once(Some(Fault::SearchUnlimited), "/v1/search?q=a").await,
        60
    );
    assert_eq!(
        accepted_at_once(Some(Fault::SearchUnlimited), "/v1/users").await,
        10
    );
    // The published limit in the headers stays what the docs say.
    let server = tight(Some(Fault::Limit150)).start().await;
    assert_eq!(
        server
            .get("/v1/users", PRIMARY)
            .await
            .header("ratelimit-limit"),
        Some("10")
    );
    server.stop().await;
}

/// Saturates the primary key's read bucket, then asks `other` once.
async fn other_after_saturation(fault: Option<Fault>, other: Auth, write: bool) -> u16 {
    let server = tight(fault).start().await;
    burst(&server, "/v1/users", PRIMARY, 12).await;
    let status = if write {
        server.post("/v1/users", other, &new_user()).await.status
    } else {
        server.get("/v1/users", other).await.status
    };
    server.stop().await;
    status
}

#[tokio::test]
async fn bucket_faults_leak_one_saturated_bucket_into_another() {
    let second = Auth::Role(KeyRole::Second);
    let test_mode = Auth::Role(KeyRole::TestMode);
    assert_eq!(other_after_saturation(None, second, false).await, 200);
    assert_eq!(
        other_after_saturation(Some(Fault::GlobalLimit), second, false).await,
        429
    );
    assert_eq!(other_after_saturation(None, test_mode, false).await, 200);
    assert_eq!(
        other_after_saturation(Some(Fault::TestLiveShared), test_mode, false).await,
        429
    );
    assert_eq!(
        other_after_saturation(Some(Fault::TestLiveShared), second, false).await,
        200
    );
    assert_eq!(other_after_saturation(None, PRIMARY, true).await, 201);
    assert_eq!(
        other_after_saturation(Some(Fault::SharedReadWrite), PRIMARY, true).await,
        429
    );
}

/// The first 429 of a saturated read bucket.
async fn first_429(fault: Fault) -> Answer {
    let server = tight(Some(fault)).start().await;
    burst(&server, "/v1/users", PRIMARY, 10).await;
    let answer = server.get("/v1/users", PRIMARY).await;
    server.stop().await;
    answer
}

#[tokio::test]
async fn shape_faults_break_the_429_answer() {
    let html = first_429(Fault::Html429).await;
    assert_eq!(html.status, 429);
    assert!(html.content_type().unwrap().starts_with("text/html"));
    assert!(html.text.starts_with("<html>"));
    assert!(
        html.header("retry-after").is_some(),
        "only the body changes"
    );

    let bare = first_429(Fault::NoRetryAfter).await;
    assert_eq!(
        (bare.status, bare.content_type()),
        (429, Some("application/json"))
    );
    for header in ["retry-after", "ratelimit", "ratelimit-reset"] {
        assert!(bare.header(header).is_none(), "{header} must be gone");
    }
    assert_eq!(
        bare.header("ratelimit-remaining"),
        Some("0"),
        "the rest stays"
    );

    let unavailable = first_429(Fault::FiveXxUnderLoad).await;
    assert_eq!(
        (unavailable.status, unavailable.content_type()),
        (503, Some("application/json"))
    );
    assert_eq!(unavailable.error(), "Service temporarily unavailable.");
}

#[tokio::test]
async fn remaining_lies_never_counts_down() {
    let server = tight(Some(Fault::RemainingLies)).start().await;
    let first = server.get("/v1/users", PRIMARY).await;
    let second = server.get("/v1/users", PRIMARY).await;
    assert_eq!(first.header("ratelimit-remaining"), Some("10"));
    assert_eq!(second.header("ratelimit-remaining"), Some("10"));
    assert_eq!(second.header("ratelimit"), Some("\"read\";r=10;t=12"));
    let rest = burst(&server, "/v1/users", PRIMARY, 10).await;
    assert_eq!(
        (rest.ok, rest.limited),
        (8, 2),
        "the limit itself still holds"
    );
    server.stop().await;
}

#[tokio::test]
async fn sticky_429_outlasts_its_retry_after() {
    for (fault, expected) in [(None, 200), (Some(Fault::Sticky429), 429)] {
        let mut s = setup(ServerProfile::Ouro).limit("read=10/s,burst=1");
        if let Some(fault) = fault {
            s = s.fault(fault);
        }
        let server = s.start().await;
        assert_eq!(server.get("/v1/users", PRIMARY).await.status, 200);
        let limited = server.get("/v1/users", PRIMARY).await;
        assert_eq!(limited.header("retry-after"), Some("1"));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            server.get("/v1/users", PRIMARY).await.status,
            expected,
            "{fault:?}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_concurrency_limit_lets_every_held_request_through() {
    let server = setup(ServerProfile::Ouro)
        .concurrency(Some(3))
        .limit("search=1000/s")
        .test_hooks()
        .fault(Fault::NoConcurrencyLimit)
        .start()
        .await;
    assert_eq!(held_requests(&server, 5, PRIMARY).await, vec![200; 5]);
    server.stop().await;
}
