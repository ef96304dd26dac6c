//! Every POST, PUT and PATCH answers bad bodies with a 4xx problem+json:
//! malformed JSON, wrong types, unknown fields, oversize bodies, no JSON
//! content type. Never a 500, and nothing is written.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;

struct Route {
    method: Method,
    path: String,
    wrong_types: Value,
    unknown_field: Value,
}

fn route(method: Method, path: &str, wrong_types: Value, unknown_field: Value) -> Route {
    Route {
        method,
        path: path.to_owned(),
        wrong_types,
        unknown_field,
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn bad_bodies_are_4xx_problems_everywhere(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let server = app.create_server(&token, "github").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let routes = [
        route(
            Method::POST,
            "/v1/signup",
            json!({"email": 1, "password": true, "account": []}),
            json!({"email": "b@example.com", "password": "long enough pw", "account": "B", "admin": true}),
        ),
        route(
            Method::POST,
            "/v1/login",
            json!({"email": ["x"], "password": 5}),
            json!({"email": "ada@example.com", "password": "x", "remember": true}),
        ),
        route(
            Method::PATCH,
            "/v1/account",
            json!({"name": 7}),
            json!({"slug": "hijack"}),
        ),
        route(
            Method::POST,
            "/v1/api-keys",
            json!({"name": {"a": 1}}),
            json!({"name": "k", "scopes": ["all"]}),
        ),
        route(
            Method::POST,
            "/v1/servers",
            json!({"name": "s", "url": 42, "headers": ["a"]}),
            json!({"name": "s", "url": "https://93.184.216.34/", "tls": false}),
        ),
        route(
            Method::PATCH,
            &format!("/v1/servers/{server}"),
            json!({"timeout_ms": "fast"}),
            json!({"owner": "me"}),
        ),
        route(
            Method::PUT,
            &format!("/v1/servers/{server}/policy"),
            json!({"version": 1, "default": true, "tools": []}),
            json!({"version": "1", "default": "deny", "rules": {}}),
        ),
        route(
            Method::POST,
            "/v1/grants",
            json!({"name": "g", "servers": "all", "expires_at": 12}),
            json!({"name": "g", "admin": true}),
        ),
    ];

    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
    for r in &routes {
        let what = format!("{} {}", r.method, r.path);
        let malformed = send(&app, r, &token, "application/json", "{\"name\": ").await;
        assert_problem(&malformed, StatusCode::BAD_REQUEST, &what);
        let trailing = send(&app, r, &token, "application/json", "{} {}").await;
        assert_problem(&trailing, StatusCode::BAD_REQUEST, &what);

        let wrong = app
            .call(
                r.method.clone(),
                &r.path,
                Some(&token),
                Some(r.wrong_types.clone()),
            )
            .await;
        assert_problem(&wrong, StatusCode::UNPROCESSABLE_ENTITY, &what);
        assert!(
            wrong.body["errors"][0]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with('/')),
            "{what}: {}",
            wrong.raw
        );

        let not_object = app
            .call(
                r.method.clone(),
                &r.path,
                Some(&token),
                Some(json!([1, 2, 3])),
            )
            .await;
        assert_problem(&not_object, StatusCode::UNPROCESSABLE_ENTITY, &what);

        let unknown = app
            .call(
                r.method.clone(),
                &r.path,
                Some(&token),
                Some(r.unknown_field.clone()),
            )
            .await;
        assert_problem(&unknown, StatusCode::UNPROCESSABLE_ENTITY, &what);
        assert!(
            unknown.raw.contains("unknown field"),
            "{what}: {}",
            unknown.raw
        );

        let oversize = send(&app, r, &token, "application/json", &big).await;
        assert_problem(&oversize, StatusCode::PAYLOAD_TOO_LARGE, &what);

        let not_json = send(&app, r, &token, "text/plain", "{}").await;
        assert_problem(&not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE, &what);
        let no_type = send_raw(&app, r, &token, None, "{}").await;
        assert_problem(&no_type, StatusCode::UNSUPPORTED_MEDIA_TYPE, &what);
    }

    // Nothing above was written.
    let counts = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM accounts) AS "accounts!",
                  (SELECT count(*) FROM servers) AS "servers!",
                  (SELECT count(*) FROM grants) AS "grants!",
                  (SELECT count(*) FROM api_keys) AS "api_keys!",
                  (SELECT count(*) FROM policy_versions) AS "policy_versions!""#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (
            counts.accounts,
            counts.servers,
            counts.grants,
            counts.api_keys,
            counts.policy_versions
        ),
        (1, 1, 0, 0, 0)
    );
    let me = app.get("/v1/account", &token).await;
    assert_eq!(me.body["slug"], "acme");
}

#[sqlx::test(migrations = "../../migrations")]
async fn unknown_routes_and_methods_are_problems(pool: PgPool) {
    let app = TestApp::new(pool);
    let r = app.call(Method::GET, "/v1/nope", None, None).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "unknown route");
    assert_eq!(r.body["type"], "/problems/no-route");
    let r = app.call(Method::DELETE, "/v1/signup", None, None).await;
    assert_problem(&r, StatusCode::METHOD_NOT_ALLOWED, "wrong method");
}

async fn send(
    app: &TestApp,
    r: &Route,
    token: &str,
    content_type: &str,
    body: &str,
) -> common::Response {
    send_raw(app, r, token, Some(content_type), body).await
}

async fn send_raw(
    app: &TestApp,
    r: &Route,
    token: &str,
    content_type: Option<&str>,
    body: &str,
) -> common::Response {
    let mut builder = Request::builder()
        .method(r.method.clone())
        .uri(&r.path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    app.send(builder.body(Body::from(body.to_owned())).unwrap())
        .await
}

fn assert_problem(r: &common::Response, status: StatusCode, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.raw);
    assert_eq!(
        r.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{what}"
    );
    assert_eq!(r.body["status"], status.as_u16(), "{what}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_key_given_twice_is_refused_at_its_pointer(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let server = app.create_server(&token, "github").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Which of two values a reader keeps is not what the sender can be
    // assumed to have meant: nothing is stored.
    let policy = Route {
        method: Method::PUT,
        path: format!("/v1/servers/{server}/policy"),
        wrong_types: Value::Null,
        unknown_field: Value::Null,
    };
    let r = send(
        &app,
        &policy,
        &token,
        "application/json",
        r#"{"version": "1", "default": "deny", "tools": {"t": {}, "t": {"action": "deny"}}}"#,
    )
    .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "duplicate tool");
    assert_eq!(r.body["errors"][0]["path"], "/tools/t", "{}", r.raw);
    let stored = app
        .get(&format!("/v1/servers/{server}/policy"), &token)
        .await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND);

    let keys = route(Method::POST, "/v1/api-keys", Value::Null, Value::Null);
    let r = send(
        &app,
        &keys,
        &token,
        "application/json",
        r#"{"name": "a", "name": "b"}"#,
    )
    .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "duplicate name");
    assert_eq!(r.body["errors"][0]["path"], "/name", "{}", r.raw);
}
