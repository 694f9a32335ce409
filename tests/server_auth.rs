//! Every auth style and key kind, with the exact documented bodies and headers.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use tollgate::server::config::AuthStyle;
use tollgate::server::{KeyRole, ServerProfile};

const UNAUTHORIZED: &str = r#"{"error":"Unauthorized. Please provide a valid API key."}"#;

/// Each profile's 401 body: the users v1 document's own example for bearer-v1.
fn unauthorized(profile: ServerProfile) -> String {
    serde_json::json!({ "error": profile.unauthorized_message() }).to_string()
}
const REVOKED: &str = r#"{"error":"Forbidden. This API key has been revoked or expired."}"#;

/// Which styles each profile accepts, and the challenge its 401 carries.
const PROFILES: [(ServerProfile, &[AuthStyle], &str); 4] = [
    (
        ServerProfile::Ouro,
        &[AuthStyle::XApiKey, AuthStyle::Bearer],
        "Bearer",
    ),
    (ServerProfile::XApiKey, &[AuthStyle::XApiKey], "ApiKey"),
    (ServerProfile::BearerV1, &[AuthStyle::Bearer], "Bearer"),
    (ServerProfile::ApiKey, &[AuthStyle::ApiKeyScheme], "apikey"),
];

const ALL_STYLES: [AuthStyle; 3] = [
    AuthStyle::XApiKey,
    AuthStyle::Bearer,
    AuthStyle::ApiKeyScheme,
];

#[tokio::test]
async fn each_profile_accepts_exactly_its_styles() {
    for (profile, accepted, _) in PROFILES {
        let server = setup(profile).start().await;
        for style in ALL_STYLES {
            let answer = server
                .get("/v1/users", Auth::Styled(style, KeyRole::Primary))
                .await;
            let expected = if accepted.contains(&style) { 200 } else { 401 };
            assert_eq!(answer.status, expected, "{profile} with {style:?}");
            if expected == 401 {
                assert_eq!(
                    answer.text,
                    unauthorized(profile),
                    "{profile} with {style:?}"
                );
            }
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn missing_and_unknown_keys_get_401_with_a_matching_challenge() {
    for (profile, _, scheme) in PROFILES {
        let server = setup(profile).start().await;
        let missing = server.get("/v1/users", Auth::None).await;
        assert_eq!(
            (missing.status, missing.text.clone()),
            (401, unauthorized(profile)),
            "{profile}"
        );
        assert_eq!(missing.content_type(), Some("application/json"));
        assert_eq!(
            missing.header("www-authenticate"),
            Some(format!("{scheme} realm=\"tollgate\"").as_str())
        );

        let invalid = server.get("/v1/users", Auth::Invalid).await;
        assert_eq!(
            (invalid.status, invalid.text.clone()),
            (401, unauthorized(profile)),
            "{profile}"
        );
        assert_eq!(
            invalid.header("www-authenticate"),
            Some(format!("{scheme} realm=\"tollgate\", error=\"invalid_token\"").as_str())
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn revoked_keys_get_403_on_reads_and_writes() {
    let server = setup(ServerProfile::Ouro).start().await;
    let revoked = Auth::Role(KeyRole::Revoked);
    let read = server.get("/v1/users", revoked).await;
    assert_eq!((read.status, read.text.as_str()), (403, REVOKED));
    assert_eq!(read.content_type(), Some("application/json"));
    let write = server.post("/v1/users", revoked, &new_user()).await;
    assert_eq!((write.status, write.text.as_str()), (403, REVOKED));
    server.stop().await;
}

#[tokio::test]
async fn read_only_keys_read_but_get_403_on_every_write() {
    let server = setup(ServerProfile::Ouro).start().await;
    let readonly = Auth::Role(KeyRole::ReadOnly);
    assert_eq!(server.get("/v1/users", readonly).await.status, 200);
    assert_eq!(server.get("/v1/search?q=a", readonly).await.status, 200);
    assert_eq!(server.get("/v1/files", readonly).await.status, 200);
    let writes = [
        server
            .request(Method::POST, "/v1/users", readonly)
            .json(&new_user()),
        server
            .request(Method::PUT, "/v1/users/usr_1", readonly)
            .json(&json!({ "name": "x" })),
        server.request(Method::DELETE, "/v1/users/usr_1", readonly),
        server
            .request(Method::POST, "/v1/files", readonly)
            .json(&json!({ "name": "a", "content": "b" })),
        server.request(Method::DELETE, "/v1/files/file_1", readonly),
    ];
    for write in writes {
        let answer = server.send(write).await;
        assert_eq!(answer.status, 403);
        assert_eq!(
            answer.json(),
            json!({ "error": "Forbidden. This API key is read-only and cannot perform write operations." })
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn test_mode_and_second_keys_work_and_a_key_in_the_query_string_is_ignored() {
    let server = setup(ServerProfile::Ouro).start().await;
    assert_eq!(
        server
            .get("/v1/users", Auth::Role(KeyRole::TestMode))
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .get("/v1/users", Auth::Role(KeyRole::Second))
            .await
            .status,
        200
    );
    let key = server.key(KeyRole::Primary).to_string();
    for param in ["api_key", "apikey", "key", "access_token"] {
        let answer = server
            .get(&format!("/v1/users?{param}={key}"), Auth::None)
            .await;
        assert_eq!(answer.status, 401, "?{param}=");
    }
    // The wrong scheme for a real key is no key at all.
    let wrong_scheme = server
        .send(
            server
                .client
                .get(server.url("/v1/users"))
                .header("Authorization", format!("Basic {key}")),
        )
        .await;
    assert_eq!(wrong_scheme.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn every_route_requires_a_key_and_answers_json() {
    let server = setup(ServerProfile::Ouro).start().await;
    let routes = [
        (Method::GET, "/v1/users"),
        (Method::POST, "/v1/users"),
        (Method::GET, "/v1/users/usr_1"),
        (Method::PUT, "/v1/users/usr_1"),
        (Method::DELETE, "/v1/users/usr_1"),
        (Method::GET, "/v1/files"),
        (Method::POST, "/v1/files"),
        (Method::GET, "/v1/files/file_1"),
        (Method::DELETE, "/v1/files/file_1"),
        (Method::GET, "/v1/search?q=x"),
    ];
    for (method, path) in routes {
        let answer = server
            .send(server.request(method.clone(), path, Auth::None))
            .await;
        assert_eq!(
            (answer.status, answer.text.as_str()),
            (401, UNAUTHORIZED),
            "{method} {path}"
        );
    }
    server.stop().await;
}
