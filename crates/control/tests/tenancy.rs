//! Tenants are walled off: every route given another account's ids is a 404,
//! and the other account's data is untouched.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use axum::http::{Method, StatusCode};
use common::{policy, TestApp};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../../migrations")]
async fn another_accounts_ids_are_404_on_every_route(pool: PgPool) {
    let app = TestApp::new(pool);
    let (alice, _) = app.signup("alice@example.com", "Alice Co").await;
    let (mallory, _) = app.signup("mallory@example.com", "Mallory Co").await;

    let server = app.create_server(&alice, "private").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = app
        .call(
            Method::PUT,
            &format!("/v1/servers/{server}/policy"),
            Some(&alice),
            Some(policy("deny")),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let grant = app.create_grant(&alice, "agent").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = app
        .post("/v1/api-keys", &alice, json!({"name": "ci"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts = [
        (Method::GET, format!("/v1/servers/{server}"), None),
        (
            Method::PATCH,
            format!("/v1/servers/{server}"),
            Some(json!({"name": "stolen"})),
        ),
        (Method::DELETE, format!("/v1/servers/{server}"), None),
        (Method::GET, format!("/v1/servers/{server}/policy"), None),
        (
            Method::PUT,
            format!("/v1/servers/{server}/policy"),
            Some(policy("allow")),
        ),
        (
            Method::PUT,
            format!("/v1/servers/{server}/policy"),
            Some(json!({"not": "a policy"})),
        ),
        (
            Method::GET,
            format!("/v1/servers/{server}/policy/versions"),
            None,
        ),
        (Method::GET, format!("/v1/grants/{grant}"), None),
        (Method::DELETE, format!("/v1/grants/{grant}"), None),
        (Method::DELETE, format!("/v1/api-keys/{key}"), None),
        (
            Method::POST,
            "/v1/grants".to_owned(),
            Some(json!({"name": "x", "servers": [server]})),
        ),
    ];
    for (method, path, body) in attempts {
        let r = app.call(method.clone(), &path, Some(&mallory), body).await;
        r.problem(StatusCode::NOT_FOUND);
        assert!(
            !r.raw.contains("private"),
            "{method} {path} leaked data: {}",
            r.raw
        );
    }

    // Lists show only one's own.
    for list in ["/v1/servers", "/v1/grants", "/v1/api-keys"] {
        let r = app.get(list, &mallory).await;
        assert_eq!(r.body["items"], json!([]), "{list}");
    }

    // Alice's data is as she left it.
    let s = app.get(&format!("/v1/servers/{server}"), &alice).await;
    assert_eq!(s.body["name"], "private");
    assert_eq!(
        app.get(&format!("/v1/servers/{server}/policy"), &alice)
            .await
            .body["version"],
        1
    );
    assert_eq!(
        app.get(&format!("/v1/grants/{grant}"), &alice).await.body["status"],
        "active"
    );
    assert_eq!(
        app.get("/v1/api-keys", &alice).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let grants = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM grants"#)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(grants, 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn ids_of_the_wrong_kind_or_shape_are_404(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let grant = app.create_grant(&token, "agent").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/v1/servers/{grant}"),
        "/v1/servers/srv_123".to_owned(),
        "/v1/grants/%00".to_owned(),
    ] {
        app.get(&path, &token).await.problem(StatusCode::NOT_FOUND);
    }
}
