//! The dashboard's serving and its browser session: the page and its assets
//! with strict headers, the cookie session and the CSRF proof it needs.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{TestApp, PASSWORD};
use serde_json::json;
use sqlx::PgPool;

fn cookies(r: &common::Response) -> Vec<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Signs in through `POST /v1/session`; returns the `Cookie` header value
/// and the CSRF proof.
async fn browser_session(app: &TestApp, email: &str) -> (String, String) {
    let r = app
        .call(
            Method::POST,
            "/v1/session",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(
        r.body.get("token").is_none(),
        "the session never goes in the body"
    );
    let set = cookies(&r);
    let session = set
        .iter()
        .find(|c| c.starts_with("toolgate_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let pair = |c: &String| c.split(';').next().unwrap().to_owned();
    let jar = set.iter().map(pair).collect::<Vec<_>>().join("; ");
    (jar, r.body["csrf_token"].as_str().unwrap().to_owned())
}

async fn with_cookie(
    app: &TestApp,
    method: Method,
    path: &str,
    jar: &str,
    csrf: Option<&str>,
    body: Option<serde_json::Value>,
) -> common::Response {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::COOKIE, jar);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    let body = match body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    app.send(request.body(body).unwrap()).await
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_dashboard_is_served_with_strict_headers(pool: PgPool) {
    let app = TestApp::new(pool);
    for path in ["/", "/signin", "/servers/srv_x/policy", "/approvals/apr_1"] {
        let r = app.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.raw.contains("/assets/app.js"), "{path}: {}", r.raw);
        let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
    let r = app.call(Method::GET, "/assets/app.js", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .contains("javascript"));
    // Unknown files and paths stay problems, not the page.
    app.call(Method::GET, "/assets/nope.js", None, None)
        .await
        .problem(StatusCode::NOT_FOUND);
    app.call(Method::GET, "/v1/nowhere", None, None)
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_cookie_session_needs_its_csrf_proof_to_change_anything(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let (jar, csrf) = browser_session(&app, "ada@example.com").await;

    // Reading needs the cookie only.
    let r = with_cookie(&app, Method::GET, "/v1/account", &jar, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    // Writing needs the proof too: missing or another session's is 403.
    let grant = json!({"name": "ci"});
    let r = with_cookie(
        &app,
        Method::POST,
        "/v1/grants",
        &jar,
        None,
        Some(grant.clone()),
    )
    .await;
    let problem = r.problem(StatusCode::FORBIDDEN);
    assert!(problem["detail"].as_str().unwrap().contains("X-CSRF-Token"));
    let forged = toolgate_control::auth::cookie::csrf_token("another.session.token");
    let r = with_cookie(
        &app,
        Method::POST,
        "/v1/grants",
        &jar,
        Some(&forged),
        Some(grant.clone()),
    )
    .await;
    r.problem(StatusCode::FORBIDDEN);
    let r = with_cookie(
        &app,
        Method::POST,
        "/v1/grants",
        &jar,
        Some(&csrf),
        Some(grant),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    // The Bearer API is unchanged (and needs no proof).
    let r = app.post("/v1/grants", &token, json!({"name": "bot"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);

    // Signing out needs the proof, then clears both cookies.
    let r = with_cookie(&app, Method::DELETE, "/v1/session", &jar, None, None).await;
    r.problem(StatusCode::FORBIDDEN);
    let r = with_cookie(&app, Method::DELETE, "/v1/session", &jar, Some(&csrf), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let cleared = cookies(&r);
    assert_eq!(cleared.len(), 2);
    assert!(
        cleared.iter().all(|c| c.contains("Max-Age=0")),
        "{cleared:?}"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_wrong_password_sets_no_cookie(pool: PgPool) {
    let app = TestApp::new(pool);
    app.signup("ada@example.com", "Acme").await;
    let r = app
        .call(
            Method::POST,
            "/v1/session",
            None,
            Some(json!({"email": "ada@example.com", "password": "wrong password!"})),
        )
        .await;
    r.problem(StatusCode::UNAUTHORIZED);
    assert!(cookies(&r).is_empty());
    // An API key in the cookie is not a session.
    let r = with_cookie(
        &app,
        Method::GET,
        "/v1/account",
        "toolgate_session=tgk_abc",
        None,
        None,
    )
    .await;
    r.problem(StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_browser_switches_account_with_new_cookies_and_its_old_session_ends(pool: PgPool) {
    let app = TestApp::new(pool);
    let (acme, _) = app.signup("ada@example.com", "Acme").await;
    let (bob, _) = app.signup("bob@example.com", "Bobs").await;
    // Bob joins Acme as a viewer: he now belongs to two accounts.
    let invitation = app
        .post(
            "/v1/invitations",
            &acme,
            json!({"email": "bob@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(invitation.status, StatusCode::CREATED, "{}", invitation.raw);
    let r = app
        .post(
            "/v1/invitations/accept",
            &bob,
            json!({"token": invitation.body["token"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let acme_id = r.body["account_id"].as_str().unwrap().to_owned();

    let (jar, csrf) = browser_session(&app, "bob@example.com").await;
    let switch = json!({"account_id": acme_id});
    // Without the proof: refused.
    let r = with_cookie(
        &app,
        Method::POST,
        "/v1/session/switch",
        &jar,
        None,
        Some(switch.clone()),
    )
    .await;
    r.problem(StatusCode::FORBIDDEN);
    let r = with_cookie(
        &app,
        Method::POST,
        "/v1/session/switch",
        &jar,
        Some(&csrf),
        Some(switch),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["role"], "viewer");
    let pair = |c: &String| c.split(';').next().unwrap().to_owned();
    let new_jar = cookies(&r).iter().map(pair).collect::<Vec<_>>().join("; ");
    // The new cookies act in Acme; the old session has ended.
    let me = with_cookie(&app, Method::GET, "/v1/account", &new_jar, None, None).await;
    assert_eq!(me.body["id"], acme_id.as_str(), "{}", me.raw);
    with_cookie(&app, Method::GET, "/v1/account", &jar, None, None)
        .await
        .problem(StatusCode::UNAUTHORIZED);
}
