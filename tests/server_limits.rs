//! The reference server's limiters measured over real sockets.
//!
//! Tolerances come from the GCRA maths: over any span S of arrivals the limiter admits at
//! most `burst + rate·S (+1)`, and under constant over-limit load exactly that many (one per
//! emission interval once the burst is spent). The server sees the client's send times
//! shifted by scheduling jitter δ, so we allow ±(1 + rate·δ) with δ = 100 ms, a generous
//! bound for a loaded 2-core CI machine (typical δ here is a few ms).

mod common;

use std::time::Duration;

use common::*;
use tollgate::server::{KeyRole, ServerProfile};

const JITTER: f64 = 0.100;

/// `burst + rate·span`, with span the time from the first to the last send.
fn expected_accepts(rate: f64, burst: f64, offered_rate: f64, seconds: f64) -> (f64, f64) {
    let sent = (offered_rate * seconds).round();
    let span = (sent - 1.0) / offered_rate;
    (burst + rate * span, 1.0 + rate * JITTER)
}

fn assert_within(label: &str, accepted: u64, (expected, tolerance): (f64, f64)) {
    let accepted = accepted as f64;
    assert!(
        (accepted - expected).abs() <= tolerance,
        "{label}: accepted {accepted}, expected {expected:.1} ± {tolerance:.1}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_at_one_and_a_half_times_the_limit_accepts_burst_plus_rate_times_time() {
    let server = setup(ServerProfile::Ouro).start().await;
    let tally = offer(&server, "/v1/users", PRIMARY, 150.0, Duration::from_secs(3)).await;
    assert!(
        tally.other.is_empty(),
        "only 200 and 429: {:?}",
        tally.other
    );
    assert_eq!(tally.ok + tally.limited, 450);
    assert_within(
        "read 150/s for 3 s",
        tally.ok,
        expected_accepts(100.0, 100.0, 150.0, 3.0),
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_below_the_limit_sees_no_429() {
    let server = setup(ServerProfile::Ouro).start().await;
    let tally = offer(&server, "/v1/users", PRIMARY, 80.0, Duration::from_secs(3)).await;
    assert_eq!((tally.ok, tally.limited), (240, 0), "{tally:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_files_hold_twenty_per_second() {
    let server = setup(ServerProfile::Ouro).start().await;
    let expected = expected_accepts(20.0, 20.0, 40.0, 3.0);
    let (search, files) = tokio::join!(
        offer(
            &server,
            "/v1/search?q=a",
            PRIMARY,
            40.0,
            Duration::from_secs(3)
        ),
        offer(&server, "/v1/files", PRIMARY, 40.0, Duration::from_secs(3)),
    );
    assert_within("search 40/s for 3 s", search.ok, expected);
    assert_within("files 40/s for 3 s", files.ok, expected);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_limit_and_burst_are_enforced() {
    // 50/s with a burst of 5: at 75/s for 2 s, 5 + 50·span.
    let server = setup(ServerProfile::Ouro)
        .limit("read=50/s,burst=5")
        .start()
        .await;
    let tally = offer(&server, "/v1/users", PRIMARY, 75.0, Duration::from_secs(2)).await;
    assert_within(
        "read 75/s for 2 s at 50/s burst 5",
        tally.ok,
        expected_accepts(50.0, 5.0, 75.0, 2.0),
    );
    server.stop().await;
}

#[tokio::test]
async fn rate_headers_count_down_and_the_429_says_when_to_retry() {
    // 10 per minute: no refill during the test, so every number is exact.
    let server = setup(ServerProfile::Ouro)
        .limit("read=10/min")
        .start()
        .await;
    for n in (0..10).rev() {
        let answer = server.get("/v1/users", PRIMARY).await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.header("ratelimit-remaining"),
            Some(n.to_string().as_str())
        );
        assert_eq!(answer.header("ratelimit-limit"), Some("10"));
        assert_eq!(
            answer.header("ratelimit-policy"),
            Some("\"read\";q=10;w=60")
        );
        let reset: u64 = answer.header("ratelimit-reset").unwrap().parse().unwrap();
        let used = 10 - n;
        assert!(
            (6 * used - 1..=6 * used).contains(&reset),
            "reset {reset} after {used} requests"
        );
        assert_eq!(
            answer.header("ratelimit"),
            Some(format!("\"read\";r={n};t={reset}").as_str())
        );
    }
    let limited = server.get("/v1/users", PRIMARY).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.content_type(), Some("application/json"));
    assert!(
        limited.error().contains("Too many requests"),
        "{}",
        limited.error()
    );
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (5..=6).contains(&retry),
        "one slot frees 6 s after the first request: {retry}"
    );
    server.stop().await;
}

#[tokio::test]
async fn waiting_out_retry_after_is_enough_to_be_accepted_again() {
    let server = setup(ServerProfile::Ouro)
        .limit("read=10/s,burst=1")
        .start()
        .await;
    assert_eq!(server.get("/v1/users", PRIMARY).await.status, 200);
    let limited = server.get("/v1/users", PRIMARY).await;
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(retry, 1, "100 ms rounds up to one whole second");
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(server.get("/v1/users", PRIMARY).await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn bearer_v1_allows_100_per_minute_and_publishes_both_windows() {
    let server = setup(ServerProfile::BearerV1).start().await;
    let first = server.get("/v1/users", PRIMARY).await;
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"minute\";q=100;w=60, \"hour\";q=5000;w=3600")
    );
    assert_eq!(first.header("ratelimit-remaining"), Some("99"));
    let rest = burst(&server, "/v1/users", PRIMARY, 101).await;
    // 99 left of the minute's 100, plus at most one slot refilled (one per 600 ms).
    assert!((99..=100).contains(&rest.ok), "{rest:?}");
    assert!(rest.limited >= 1);
    // Writes, files and search share the same "default" bucket in this profile.
    let write = server.post("/v1/users", PRIMARY, &new_user()).await;
    assert_eq!(write.status, 429);
    server.stop().await;
}

#[tokio::test]
async fn buckets_are_per_key_per_class_and_per_mode() {
    let server = setup(ServerProfile::Ouro)
        .limit("read=5/min")
        .limit("files_read=5/min")
        .start()
        .await;
    let saturated = burst(&server, "/v1/users", PRIMARY, 8).await;
    assert_eq!((saturated.ok, saturated.limited), (5, 3));
    // A second account, the test-mode key of the same account, and other classes are unaffected.
    assert_eq!(
        server
            .get("/v1/users", Auth::Role(KeyRole::Second))
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .get("/v1/users", Auth::Role(KeyRole::TestMode))
            .await
            .status,
        200
    );
    assert_eq!(
        server.post("/v1/users", PRIMARY, &new_user()).await.status,
        201
    );
    assert_eq!(server.get("/v1/files", PRIMARY).await.status, 200);
    assert_eq!(server.get("/v1/search?q=x", PRIMARY).await.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limiter_caps_requests_in_flight_per_key() {
    let server = setup(ServerProfile::Ouro)
        .concurrency(Some(3))
        .limit("search=1000/s")
        .test_hooks()
        .start()
        .await;
    let statuses = held_requests(&server, 5, PRIMARY).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
    // Another key has its own allowance, and slots come back when requests finish.
    let (mine, theirs) = tokio::join!(
        held_requests(&server, 3, PRIMARY),
        held_requests(&server, 3, Auth::Role(KeyRole::Second)),
    );
    assert_eq!((mine, theirs), (vec![200; 3], vec![200; 3]));
    server.stop().await;
}
