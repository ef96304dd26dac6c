//! Grants: tokens shown once, stored hashed, scoped to servers, revocable.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../../migrations")]
async fn grant_token_is_shown_once_and_stored_as_a_hash(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let created = app
        .post("/v1/grants", &token, json!({"name": "support-agent"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    let grant_token = created.body["token"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(grant_token.starts_with("tgg_") && grant_token.len() > 40);
    assert!(
        created.body["servers"].is_null(),
        "no servers listed: every server"
    );
    assert_eq!(created.body["status"], "active");

    let fetched = app.get(&format!("/v1/grants/{id}"), &token).await;
    let listed = app.get("/v1/grants", &token).await;
    for r in [&fetched, &listed] {
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            !r.raw.contains(&grant_token),
            "the token is never shown again: {}",
            r.raw
        );
        assert!(!r.raw.contains("\"token\""));
    }

    let stored = sqlx::query!("SELECT token_hash, prefix FROM grants")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let prefix = stored.prefix;
    assert_eq!(
        stored.token_hash,
        toolgate_store::secrets::credential_hash(&grant_token)
    );
    assert!(grant_token.starts_with(&prefix) && prefix.len() < grant_token.len() / 2);
    let row_text = sqlx::query_scalar!(r#"SELECT row_to_json(g)::text AS "row!" FROM grants g"#)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        !row_text.contains(&grant_token[prefix.len()..]),
        "no column holds the token: {row_text}"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn grants_can_be_limited_to_servers_and_expire(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let s1 = app.create_server(&token, "one").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let s2 = app.create_server(&token, "two").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let expires = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let created = app
        .post(
            "/v1/grants",
            &token,
            json!({"name": "scoped", "servers": [s2, s1], "expires_at": expires}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    let mut servers: Vec<String> = serde_json::from_value(created.body["servers"].clone()).unwrap();
    servers.sort();
    let mut expected = vec![s1.clone(), s2.clone()];
    expected.sort();
    assert_eq!(servers, expected);

    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let r = app
        .post(
            "/v1/grants",
            &token,
            json!({"name": "old", "expires_at": past}),
        )
        .await;
    assert_eq!(r.error_paths(), vec!["/expires_at"]);
    let r = app
        .post("/v1/grants", &token, json!({"name": "none", "servers": []}))
        .await;
    assert_eq!(r.error_paths(), vec!["/servers"]);
    let r = app
        .post(
            "/v1/grants",
            &token,
            json!({"name": "bad", "servers": ["srv_nope"]}),
        )
        .await;
    assert_eq!(r.error_paths(), vec!["/servers/0"]);
    let unknown = toolgate_store::ids::ServerId::new().to_string();
    app.post(
        "/v1/grants",
        &token,
        json!({"name": "ghost", "servers": [s1, unknown]}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    let count = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM grants"#)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "failed creations leave nothing behind");
}

#[sqlx::test(migrations = "../../migrations")]
async fn revocation_marks_the_grant_and_is_idempotent(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let id = app.create_grant(&token, "agent").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = app.delete(&format!("/v1/grants/{id}"), &token).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let fetched = app.get(&format!("/v1/grants/{id}"), &token).await;
    assert_eq!(fetched.body["status"], "revoked");
    let first = fetched.body["revoked_at"].as_str().unwrap().to_owned();
    let again = app.delete(&format!("/v1/grants/{id}"), &token).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/v1/grants/{id}"), &token).await.body["revoked_at"],
        first.as_str()
    );
    let stored = sqlx::query_scalar!("SELECT revoked_at FROM grants")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(stored.is_some());
}
