//! Sign-in hardening through the router: failed logins throttled per email
//! and per client address, sign-ups per address, the client address behind
//! trusted proxies, and password strength. (The same rules on Redis, shared
//! by replicas: `sign_in_redis.rs` and the binary's `sign_in_fleet.rs`.)

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use common::{Response, TestApp, PASSWORD};
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_control::auth::client_addr::TrustedProxies;
use toolgate_control::auth::throttle::{Backoff, Throttle, ThrottleSettings};

const CLIENT: &str = "198.51.100.7:50000";
const OTHER_CLIENT: &str = "203.0.113.9:50000";

fn settings(per_email: u32, per_address: u32, base_ms: u64) -> ThrottleSettings {
    let backoff = |free| Backoff {
        free,
        base: Duration::from_millis(base_ms),
        max: Duration::from_secs(60),
        forget: Duration::from_secs(60),
    };
    ThrottleSettings {
        per_email: backoff(per_email),
        per_address: backoff(per_address),
        signups_per_hour: 2,
    }
}

fn app(pool: PgPool, settings: ThrottleSettings) -> TestApp {
    TestApp::adjusted(pool, |state| {
        state.with_throttle(Throttle::in_process(settings))
    })
}

/// A JSON POST arriving over a socket from `peer`, with `forwarded_for`
/// as `X-Forwarded-For` when given.
async fn post_from(
    app: &TestApp,
    peer: &str,
    forwarded_for: Option<&str>,
    path: &str,
    body: Value,
) -> Response {
    let mut request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    if let Some(forwarded) = forwarded_for {
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
    }
    let peer: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    app.send(request).await
}

async fn login(app: &TestApp, peer: &str, email: &str, password: &str) -> Response {
    let body = json!({"email": email, "password": password});
    post_from(app, peer, None, "/v1/login", body).await
}

async fn signup(app: &TestApp, peer: &str, email: &str, password: &str) -> Response {
    let body = json!({"email": email, "password": password, "account": "Acme"});
    post_from(app, peer, None, "/v1/signup", body).await
}

/// Asserts a 429 problem with a whole-second `Retry-After`; returns it.
fn retry_after(r: &Response) -> u64 {
    r.problem(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.body["type"], "/problems/too-many-requests");
    r.headers
        .get(header::RETRY_AFTER)
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_failure_after_the_free_ones_is_429_and_the_right_password_passes_after_the_wait(
    pool: PgPool,
) {
    // Each wait leaves a login (an argon2 verification) ample time.
    let app = app(pool, settings(3, 100, 1500));
    assert_eq!(
        signup(&app, CLIENT, "ada@example.com", PASSWORD)
            .await
            .status,
        StatusCode::CREATED
    );
    for _ in 0..3 {
        let r = login(&app, CLIENT, "ada@example.com", "wrong password!").await;
        r.problem(StatusCode::UNAUTHORIZED);
    }
    let locked = login(&app, CLIENT, "Ada@Example.com", "wrong password!").await;
    assert_eq!(retry_after(&locked), 2);
    assert!(
        locked.body["detail"]
            .as_str()
            .unwrap()
            .ends_with("try again in 2 seconds"),
        "{}",
        locked.raw
    );
    // While locked, not even the right password is looked at.
    let right = login(&app, CLIENT, "ada@example.com", PASSWORD).await;
    retry_after(&right);

    tokio::time::sleep(Duration::from_millis(1550)).await;
    let r = login(&app, CLIENT, "ada@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    // The success forgot the email's failures: a slip is a 401 again.
    for _ in 0..2 {
        let r = login(&app, CLIENT, "ada@example.com", "wrong password!").await;
        r.problem(StatusCode::UNAUTHORIZED);
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_backoff_doubles_with_each_failure_after_the_free_ones(pool: PgPool) {
    let app = app(pool, settings(1, 100, 1000));
    let email = "nobody@example.com";
    // The first failure locks for 1 s.
    login(&app, CLIENT, email, "wrong password!")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        retry_after(&login(&app, CLIENT, email, "wrong password!").await),
        1
    );
    tokio::time::sleep(Duration::from_millis(1050)).await;
    // The lock passed; this failure locks for 2 s: still locked after 1.
    login(&app, CLIENT, email, "wrong password!")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(
        retry_after(&login(&app, CLIENT, email, "wrong password!").await),
        1
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    login(&app, CLIENT, email, "wrong password!")
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_locked_unknown_email_answers_exactly_as_a_locked_registered_one(pool: PgPool) {
    let app = app(pool, settings(2, 100, 5000));
    app.signup("ada@example.com", "Acme").await;
    let mut answers = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..2 {
            login(&app, CLIENT, email, "wrong password!")
                .await
                .problem(StatusCode::UNAUTHORIZED);
        }
        let r = login(&app, CLIENT, email, "wrong password!").await;
        assert_eq!(retry_after(&r), 5);
        answers.push((
            r.status,
            r.headers.get(header::RETRY_AFTER).cloned(),
            r.body,
        ));
    }
    assert_eq!(
        answers[0], answers[1],
        "a lock must not tell whether the email is registered"
    );
    // Unparseable addresses are counted too, by what was typed.
    for _ in 0..2 {
        login(&app, CLIENT, "not an email", "wrong password!")
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    retry_after(&login(&app, CLIENT, "NOT AN EMAIL ", "x").await);
}

#[sqlx::test(migrations = "../../migrations")]
async fn failures_from_one_address_lock_it_across_emails(pool: PgPool) {
    let app = app(pool, settings(100, 4, 5000));
    app.signup("ada@example.com", "Acme").await;
    for i in 0..4 {
        let email = format!("guess{i}@example.com");
        login(&app, CLIENT, &email, "wrong password!")
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    // A fifth email from the same address waits; even a right password.
    retry_after(&login(&app, CLIENT, "guess9@example.com", "wrong password!").await);
    retry_after(&login(&app, CLIENT, "ada@example.com", PASSWORD).await);
    // Another address is not held up.
    let r = login(&app, OTHER_CLIENT, "ada@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    // The same client by its IPv6 /64 neighbour is the same client.
    let v6 = "[2001:db8:1:2::1]:1";
    for i in 0..4 {
        let email = format!("six{i}@example.com");
        login(&app, v6, &email, "wrong password!")
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    retry_after(&login(&app, "[2001:db8:1:2:ffff::9]:2", "x@example.com", "y").await);
}

#[sqlx::test(migrations = "../../migrations")]
async fn successes_do_not_count_against_the_address(pool: PgPool) {
    let app = app(pool, settings(100, 3, 5000));
    app.signup("ada@example.com", "Acme").await;
    // An office behind one address signing in all day is never held up.
    for _ in 0..10 {
        let r = login(&app, CLIENT, "ada@example.com", PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    }
    // But successes do not wash failures away either.
    for i in 0..2 {
        let email = format!("guess{i}@example.com");
        login(&app, CLIENT, &email, "wrong password!")
            .await
            .problem(StatusCode::UNAUTHORIZED);
        assert_eq!(
            login(&app, CLIENT, "ada@example.com", PASSWORD)
                .await
                .status,
            StatusCode::OK
        );
    }
    login(&app, CLIENT, "guess3@example.com", "wrong")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    retry_after(&login(&app, CLIENT, "guess4@example.com", "wrong").await);
}

#[sqlx::test(migrations = "../../migrations")]
async fn sign_ups_per_address_are_limited(pool: PgPool) {
    let app = app(pool, settings(5, 20, 1000));
    // Refused sign-ups (a weak password) are not counted.
    let weak = signup(&app, CLIENT, "weak@example.com", "password1234").await;
    assert_eq!(weak.error_paths(), ["/password"]);
    for email in ["a@example.com", "b@example.com"] {
        assert_eq!(
            signup(&app, CLIENT, email, PASSWORD).await.status,
            StatusCode::CREATED
        );
    }
    let third = signup(&app, CLIENT, "c@example.com", PASSWORD).await;
    let wait = retry_after(&third);
    assert!((3590..=3600).contains(&wait), "{wait}");
    assert!(third.body["detail"]
        .as_str()
        .unwrap()
        .starts_with("too many sign-ups"));
    let other = signup(&app, OTHER_CLIENT, "c@example.com", PASSWORD).await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.raw);
}

#[sqlx::test(migrations = "../../migrations")]
async fn behind_trusted_proxies_the_forwarded_client_is_counted(pool: PgPool) {
    let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
    let app = TestApp::adjusted(pool, |state| {
        state
            .with_throttle(Throttle::in_process(settings(100, 2, 5000)))
            .with_trusted_proxies(proxies)
    });
    let proxy = "10.0.0.1:443";
    let attempt = |forwarded: &'static str, email: &'static str| {
        let body = json!({"email": email, "password": "wrong password!"});
        let app = &app;
        async move { post_from(app, proxy, Some(forwarded), "/v1/login", body).await }
    };
    // The client forges a left-most entry each time; the proxy appends the
    // address it saw, which is what counts.
    attempt("1.1.1.1, 198.51.100.7", "a@example.com")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    attempt("2.2.2.2, 198.51.100.7", "b@example.com")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    retry_after(&attempt("3.3.3.3, 198.51.100.7", "c@example.com").await);
    // Another client behind the same proxy is not held up.
    attempt("198.51.100.8", "d@example.com")
        .await
        .problem(StatusCode::UNAUTHORIZED);

    // From an untrusted peer the header is ignored: the peer is the client.
    let direct = |forwarded: &'static str, email: &'static str| {
        let body = json!({"email": email, "password": "wrong password!"});
        let app = &app;
        async move { post_from(app, OTHER_CLIENT, Some(forwarded), "/v1/login", body).await }
    };
    direct("192.0.2.1", "e@example.com")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    direct("192.0.2.2", "f@example.com")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    retry_after(&direct("192.0.2.3", "g@example.com").await);
}

#[sqlx::test(migrations = "../../migrations")]
async fn weak_passwords_are_refused_with_advice_at_their_pointer(pool: PgPool) {
    let app = TestApp::new(pool);
    for (password, says) in [
        ("password1234", "is too easy to guess: this is "),
        ("qazwsxedcrfv", "is too easy to guess"),
        (
            "acmecorp2026!",
            "must not contain your email or the account's name",
        ),
        ("lovelace2026!", "is too easy to guess"),
        ("short", "must be at least 10 characters"),
    ] {
        let body =
            json!({"email": "lovelace@acmecorp.com", "password": password, "account": "AcmeCorp"});
        let r = app
            .call(axum::http::Method::POST, "/v1/signup", None, Some(body))
            .await;
        assert_eq!(r.error_paths(), ["/password"], "{password}");
        let message = r.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with(says), "{password}: {message}");
        assert!(
            !message.contains(password),
            "the password is never echoed: {message}"
        );
    }
    app.signup("lovelace@acmecorp.com", "AcmeCorp").await;
}

/// The account's trail records the same client address the throttle counts.
#[sqlx::test(migrations = "../../migrations")]
async fn the_trail_records_the_client_behind_trusted_proxies(pool: PgPool) {
    let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
    let app = TestApp::adjusted(pool, |state| state.with_trusted_proxies(proxies));
    app.signup("ada@example.com", "Acme").await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD});
    let r = post_from(
        &app,
        "10.0.0.1:443",
        Some("1.1.1.1, 198.51.100.7"),
        "/v1/login",
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let token = r.body["token"].as_str().unwrap();
    let events = app.get("/v1/account/events", token).await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.raw);
    let ips: Vec<&Value> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| &event["ip"])
        .collect();
    assert!(ips.contains(&&json!("198.51.100.7")), "{ips:?}");
    assert!(
        !ips.contains(&&json!("10.0.0.1")) && !ips.contains(&&json!("1.1.1.1")),
        "{ips:?}"
    );
}
