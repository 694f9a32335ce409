//! Every endpoint and documented status of the reference server, over real sockets.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

use tollgate::server::ServerProfile;

#[tokio::test]
async fn users_lifecycle_create_get_update_list_delete() {
    let server = setup(ServerProfile::Ouro).start().await;
    let user = new_user();
    let created = server.post("/v1/users", PRIMARY, &user).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.content_type(), Some("application/json"));
    let body = created.json();
    let id = body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("usr_"));
    assert_eq!(body["email"], user["email"]);
    assert!(body.get("password").is_none());

    let fetched = server.get(&format!("/v1/users/{id}"), PRIMARY).await;
    assert_eq!(
        (fetched.status, fetched.json()["name"].clone()),
        (200, json!("Charlie"))
    );

    let update = server
        .request(Method::PUT, &format!("/v1/users/{id}"), PRIMARY)
        .json(&json!({ "name": "Charles" }));
    let updated = server.send(update).await;
    assert_eq!(
        (updated.status, updated.json()["name"].clone()),
        (200, json!("Charles"))
    );

    let listed = server.get("/v1/users?limit=100", PRIMARY).await;
    assert_eq!(listed.status, 200);
    assert!(listed.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["id"] == json!(id)));

    let deleted = server
        .send(server.request(Method::DELETE, &format!("/v1/users/{id}"), PRIMARY))
        .await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.text.is_empty(), "204 has an empty body");
    assert_eq!(deleted.content_type(), None);

    let gone = server.get(&format!("/v1/users/{id}"), PRIMARY).await;
    assert_eq!(
        (gone.status, gone.error()),
        (404, "User not found.".to_string())
    );
    let again = server
        .send(server.request(Method::DELETE, &format!("/v1/users/{id}"), PRIMARY))
        .await;
    assert_eq!(again.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn user_validation_answers_400_with_the_documented_messages() {
    let server = setup(ServerProfile::Ouro).start().await;
    let user = new_user();
    assert_eq!(server.post("/v1/users", PRIMARY, &user).await.status, 201);
    let duplicate = server
        .post(
            "/v1/users",
            PRIMARY,
            &json!({ "name": "C2", "email": user["email"], "password": "securepassword123" }),
        )
        .await;
    // A taken email conflicts with the data: 409 (bearer-v1 keeps its document's 400).
    assert_eq!(
        (duplicate.status, duplicate.error()),
        (409, "Email address is already in use.".into())
    );
    let short = server
        .post(
            "/v1/users",
            PRIMARY,
            &json!({ "name": "C", "email": unique_email(), "password": "short" }),
        )
        .await;
    assert_eq!(
        (short.status, short.error()),
        (400, "Password must be at least 8 characters long.".into())
    );
    let missing = server
        .post(
            "/v1/users",
            PRIMARY,
            &json!({ "name": "C", "password": "longenough" }),
        )
        .await;
    assert_eq!(
        (missing.status, missing.error()),
        (400, "Missing required parameter: email.".into())
    );
    let wrong_type = server
        .post(
            "/v1/users",
            PRIMARY,
            &json!({ "name": 7, "email": unique_email(), "password": "longenough" }),
        )
        .await;
    assert_eq!(wrong_type.status, 400);
    assert_eq!(wrong_type.content_type(), Some("application/json"));
    server.stop().await;
}

#[tokio::test]
async fn malformed_and_missing_bodies_are_json_400s() {
    let server = setup(ServerProfile::Ouro).start().await;
    for body in ["{\"name\": ", "not json at all", ""] {
        let answer = server
            .send(
                server
                    .request(Method::POST, "/v1/users", PRIMARY)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(answer.status, 400, "body {body:?}");
        assert_eq!(answer.content_type(), Some("application/json"));
        assert!(answer.json()["error"].is_string());
    }
    // Invalid UTF-8 in a body is a 400 as well, not a panic or a text/plain rejection.
    let bytes = server
        .send(
            server
                .request(Method::POST, "/v1/files", PRIMARY)
                .body(vec![0xff, 0xfe, 0x00]),
        )
        .await;
    assert_eq!(
        (bytes.status, bytes.content_type()),
        (400, Some("application/json"))
    );
    server.stop().await;
}

#[tokio::test]
async fn list_pagination_is_validated_and_applied() {
    let server = setup(ServerProfile::Ouro).start().await;
    for _ in 0..3 {
        assert_eq!(
            server.post("/v1/users", PRIMARY, &new_user()).await.status,
            201
        );
    }
    let page = server
        .get("/v1/users?limit=2&offset=1", PRIMARY)
        .await
        .json();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        (
            page["limit"].clone(),
            page["offset"].clone(),
            page["total"].clone()
        ),
        (json!(2), json!(1), json!(3))
    );
    for bad in ["limit=0", "limit=101", "limit=abc", "offset=-3", "offset=x"] {
        let answer = server.get(&format!("/v1/users?{bad}"), PRIMARY).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert!(
            answer.error().starts_with("Invalid parameter"),
            "{bad}: {}",
            answer.error()
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn files_list_create_get_delete() {
    let server = setup(ServerProfile::Ouro).start().await;
    let created = server
        .post(
            "/v1/files",
            PRIMARY,
            &json!({ "name": "notes.txt", "content": "hello" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let body = created.json();
    assert_eq!(
        (body["size"].clone(), body["content_type"].clone()),
        (json!(5), json!("text/plain"))
    );
    let id = body["id"].as_str().unwrap().to_string();
    let fetched = server.get(&format!("/v1/files/{id}"), PRIMARY).await;
    assert_eq!(
        (fetched.status, fetched.json()["content"].clone()),
        (200, json!("hello"))
    );
    let listed = server.get("/v1/files", PRIMARY).await.json();
    assert_eq!(listed["total"], json!(1));
    let missing = server
        .post("/v1/files", PRIMARY, &json!({ "content": "x" }))
        .await;
    assert_eq!(
        (missing.status, missing.error()),
        (400, "Missing required parameter: name.".into())
    );
    let deleted = server
        .send(server.request(Method::DELETE, &format!("/v1/files/{id}"), PRIMARY))
        .await;
    assert_eq!((deleted.status, deleted.text.as_str()), (204, ""));
    assert_eq!(
        server.get(&format!("/v1/files/{id}"), PRIMARY).await.status,
        404
    );
    assert_eq!(server.get("/v1/files/nonsense", PRIMARY).await.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn search_requires_q_and_finds_users_and_files() {
    let server = setup(ServerProfile::Ouro).start().await;
    server.post("/v1/users", PRIMARY, &json!({ "name": "Tollgate Tester", "email": unique_email(), "password": "longenough" })).await;
    server
        .post(
            "/v1/files",
            PRIMARY,
            &json!({ "name": "tollgate.yaml", "content": "" }),
        )
        .await;
    let found = server.get("/v1/search?q=tollgate", PRIMARY).await;
    assert_eq!(found.status, 200);
    let kinds: Vec<_> = found.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["object"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("user"), json!("file")]);
    for query in ["", "?q=", "?q=%20"] {
        let answer = server.get(&format!("/v1/search{query}"), PRIMARY).await;
        assert_eq!(
            (answer.status, answer.error()),
            (400, "Missing required parameter: q.".into()),
            "{query}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn idempotency_key_replays_the_same_request_and_rejects_a_different_one() {
    let server = setup(ServerProfile::Ouro).start().await;
    let user = new_user();
    let post = |body: &serde_json::Value, key: &str| {
        server
            .request(Method::POST, "/v1/users", PRIMARY)
            .header("Idempotency-Key", key)
            .json(body)
    };
    let first = server.send(post(&user, "idem-1")).await;
    assert_eq!(first.status, 201);
    let replay = server.send(post(&user, "idem-1")).await;
    assert_eq!(replay.status, 201, "a replay is not a duplicate-email 409");
    assert_eq!(replay.json()["id"], first.json()["id"]);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let conflict = server.send(post(&new_user(), "idem-1")).await;
    assert_eq!(conflict.status, 409);
    assert!(conflict.error().contains("Idempotency-Key"));
    // Keys are per caller: another account may use the same key freely.
    let other = server
        .send(
            server
                .request(
                    Method::POST,
                    "/v1/users",
                    Auth::Role(tollgate::server::KeyRole::Second),
                )
                .header("Idempotency-Key", "idem-1")
                .json(&new_user()),
        )
        .await;
    assert_eq!(other.status, 201);
    let listed = server.get("/v1/users", PRIMARY).await.json();
    assert_eq!(listed["total"], json!(2), "the replay created nothing");
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let server = setup(ServerProfile::Ouro).start().await;
    let unknown = server.get("/v2/nothing", PRIMARY).await;
    assert_eq!(
        (unknown.status, unknown.content_type()),
        (404, Some("application/json"))
    );
    assert_eq!(unknown.error(), "Not found.");
    let method = server
        .send(server.request(Method::PATCH, "/v1/search", PRIMARY))
        .await;
    assert_eq!(
        (method.status, method.content_type()),
        (405, Some("application/json"))
    );
    assert!(method.json()["error"].is_string());
    server.stop().await;
}

/// Invariant 1 holds for answers axum or the gate produce too: a body over the limit is a
/// JSON 413 and an over-large header section a JSON 431.
#[tokio::test]
async fn over_large_bodies_and_headers_answer_in_the_error_shape() {
    let server = setup(ServerProfile::Ouro).start().await;
    let huge = "x".repeat(3 << 20);
    let body = server
        .send(
            server
                .request(Method::POST, "/v1/files", PRIMARY)
                .header("content-type", "application/json")
                .body(format!(r#"{{"name":"a","content":"{huge}"}}"#)),
        )
        .await;
    assert_eq!(body.status, 413, "{}", body.text);
    assert_eq!(body.content_type(), Some("application/json"));
    assert!(body.error().contains("too large"), "{}", body.text);

    let headers = server
        .send(
            server
                .request(Method::GET, "/v1/users", PRIMARY)
                .header("x-padding", "y".repeat(40 * 1024)),
        )
        .await;
    assert_eq!(headers.status, 431, "{}", headers.text);
    assert_eq!(headers.content_type(), Some("application/json"));
    assert!(headers.error().contains("header"), "{}", headers.text);
    server.stop().await;
}

/// A client that sends half a request head (slowloris), or keeps a connection open without
/// a next request, is disconnected after the header-read timeout.
#[tokio::test]
async fn slow_and_idle_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let timeout = Duration::from_millis(300);
    let server = setup(ServerProfile::Ouro)
        .header_read_timeout(timeout)
        .start()
        .await;
    let addr = server.url("").trim_start_matches("http://").to_string();

    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /v1/users HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "a half-sent head kept its connection open");

    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /v1/does-not-exist HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "an idle kept-alive connection stayed open");
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 404"));

    // Before a byte tells HTTP/1.1 from HTTP/2: silence, and a preface that stops halfway.
    for opening in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
        let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
        silent.write_all(opening).await.unwrap();
        let mut buf = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "{opening:?} kept its connection open");
    }
    server.stop().await;
}
