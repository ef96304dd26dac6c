//! Sign-up in `verify` mode: one answer for every email, a single-use link by
//! mail for a new address, a notice for a registered one. Mail goes through
//! a real SMTP conversation with a sink in the test.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::smtp::{Mail, SmtpSink};
use common::{Response, TestApp, PASSWORD, PUBLIC_URL, SMTP_PASSWORD};
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_control::auth::password;
use toolgate_control::mail::{Outbox, RetryPolicy};
use toolgate_control::{Settings, SignupMode};
use toolgate_store::accounts;

const LINK: &str = "/v1/signup/verify?token=";

async fn signup(app: &TestApp, email: &str, password: &str, account: &str) -> Response {
    app.call(
        Method::POST,
        "/v1/signup",
        None,
        Some(json!({"email": email, "password": password, "account": account})),
    )
    .await
}

async fn verify(app: &TestApp, token: &str) -> Response {
    app.call(
        Method::POST,
        "/v1/signup/verify",
        None,
        Some(json!({ "token": token })),
    )
    .await
}

async fn login(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.call(
        Method::POST,
        "/v1/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
    .status
}

/// An account made directly in the store, as if signed up long ago.
async fn registered(app: &TestApp, email: &str) {
    let hash = password::hash(PASSWORD.to_owned()).await.unwrap();
    accounts::create_with_owner(
        &app.pool,
        accounts::NewAccount {
            name: "Existing",
            slug_base: "existing",
            email,
            password_hash: &hash,
        },
    )
    .await
    .unwrap();
}

/// The token in a sign-up mail's link, after checking the link's shape.
fn token_in(mail: &Mail) -> String {
    let text = mail.text();
    let at = text.find(LINK).expect("a sign-up link") + LINK.len();
    let link_start = text[..at].rfind(PUBLIC_URL).unwrap();
    assert_eq!(&text[link_start..at], format!("{PUBLIC_URL}{LINK}"));
    let token: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert!(token.starts_with("tgv_") && token.len() == 47, "{token}");
    token
}

async fn accounts(app: &TestApp) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM accounts"#)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn users(app: &TestApp) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM users"#)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn pending_signups(app: &TestApp) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM pending_signups"#)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../../migrations")]
async fn new_and_registered_emails_get_the_same_answer_in_the_same_time(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = TestApp::verifying(pool, &sink);
    registered(&app, "ada@example.com").await;

    let new = signup(&app, "bob@example.com", PASSWORD, "Bob's").await;
    let taken = signup(&app, "ADA@example.com", "another password", "Mallory").await;
    assert_eq!(new.status, StatusCode::ACCEPTED, "{}", new.raw);
    assert_eq!(taken.status, new.status);
    assert_eq!(taken.raw, new.raw, "the bodies must be byte-identical");
    assert_eq!(new.body["status"], "verification_sent");
    let headers = |r: &Response| {
        let mut names: Vec<_> = r
            .headers
            .iter()
            .filter(|(name, _)| name.as_str() != "x-request-id")
            .map(|(name, value)| format!("{name}: {value:?}"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(headers(&new), headers(&taken));

    async fn median_signup(app: &TestApp, email: impl Fn(usize) -> String) -> Duration {
        let mut times = Vec::new();
        for i in 0..5 {
            let started = Instant::now();
            let r = signup(app, &email(i), PASSWORD, "Timing").await;
            times.push(started.elapsed());
            assert_eq!(r.status, StatusCode::ACCEPTED);
        }
        times.sort();
        times[2]
    }
    let fresh = median_signup(&app, |i| format!("fresh{i}@example.com")).await;
    let known = median_signup(&app, |_| "ada@example.com".to_owned()).await;
    // Argon2 dominates both; a path that skipped it would be ~100x faster.
    assert!(
        known * 3 > fresh && fresh * 3 > known,
        "registered {known:?} vs new {fresh:?}"
    );
    sink.wait_for(12).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_mailed_link_verifies_once_and_yields_a_working_session(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = TestApp::verifying(pool, &sink);
    let r = signup(&app, "Bob@Example.com", PASSWORD, "Bob Corp").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.raw);
    assert_eq!(
        login(&app, "bob@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "no account before the link is used"
    );

    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail.to, vec!["bob@example.com"]);
    assert_eq!(mail.from, "noreply@toolgate.test");
    assert_eq!(mail.subject(), "Finish signing up for Toolgate");
    assert!(
        !mail.text().contains("Bob Corp"),
        "typed text is not mailed"
    );
    assert!(mail
        .text()
        .contains(&format!("\"token\": \"{}\"", token_in(&mail))));
    let token = token_in(&mail);
    let stored = sqlx::query_scalar!("SELECT token_hash FROM pending_signups")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, toolgate_store::secrets::credential_hash(&token));

    // Opening the link (as a mail scanner would) changes nothing.
    let page = app
        .call(Method::GET, &format!("{LINK}{token}"), None, None)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.raw.contains(&format!("value=\"{token}\"")),
        "{}",
        page.raw
    );
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(page.headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(accounts(&app).await, 0);

    let created = verify(&app, &token).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    assert_eq!(created.body["user"]["email"], "bob@example.com");
    assert_eq!(created.body["account"]["name"], "Bob Corp");
    assert_eq!(created.body["account"]["slug"], "bob-corp");
    let session = created.body["token"].as_str().unwrap();
    let me = app.get("/v1/account", session).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.raw);
    assert_eq!(me.body["id"], created.body["account"]["id"]);
    assert_eq!(
        login(&app, "bob@example.com", PASSWORD).await,
        StatusCode::OK
    );

    let again = verify(&app, &token).await;
    let problem = again.problem(StatusCode::BAD_REQUEST);
    assert_eq!(problem["type"], "/problems/invalid-signup-token");
    assert!(problem["detail"].as_str().unwrap().contains("already used"));
    assert_eq!(accounts(&app).await, 1);
    assert_eq!(pending_signups(&app).await, 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_confirmation_page_form_finishes_the_sign_up(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = TestApp::verifying(pool, &sink);
    signup(&app, "carol@example.com", PASSWORD, "Carol").await;
    let token = token_in(&sink.wait_for(1).await[0]);
    let form = Request::builder()
        .method(Method::POST)
        .uri("/v1/signup/verify")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}")))
        .unwrap();
    let created = app.send(form).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    assert_eq!(created.body["user"]["email"], "carol@example.com");
}

#[sqlx::test(migrations = "../../migrations")]
async fn expired_tampered_malformed_and_replaced_tokens_are_refused(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = TestApp::verifying(pool, &sink);
    signup(&app, "dan@example.com", PASSWORD, "Dan").await;
    let first = token_in(&sink.wait_for(1).await[0]);
    signup(&app, "dan@example.com", PASSWORD, "Dan").await;
    let latest = token_in(&sink.wait_for(2).await[1]);
    assert_ne!(first, latest);

    let replaced = verify(&app, &first).await;
    assert_eq!(
        replaced.problem(StatusCode::BAD_REQUEST)["type"],
        "/problems/invalid-signup-token"
    );

    let mut tampered = latest.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    verify(&app, &tampered)
        .await
        .problem(StatusCode::BAD_REQUEST);

    for malformed in ["", "tgv_short", "tgk_x", &format!("{latest}x")] {
        let r = verify(&app, malformed).await;
        assert_eq!(r.error_paths(), vec!["/token"], "{malformed:?}");
    }

    sqlx::query!("UPDATE pending_signups SET expires_at = now() - interval '1 minute'")
        .execute(&app.pool)
        .await
        .unwrap();
    let expired = verify(&app, &latest).await;
    let problem = expired.problem(StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );
    let spent = verify(&app, &latest).await;
    assert!(spent.problem(StatusCode::BAD_REQUEST)["detail"]
        .as_str()
        .unwrap()
        .contains("already used"));
    assert_eq!(accounts(&app).await, 0);
    assert_eq!(users(&app).await, 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_registered_email_gets_a_notice_and_nothing_is_stored(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = TestApp::verifying(pool, &sink);
    registered(&app, "ada@example.com").await;

    let r = signup(&app, "ada@example.com", "an intruder's password", "Mallory").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.raw);
    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail.to, vec!["ada@example.com"]);
    assert_eq!(mail.subject(), "Sign-up attempt with your Toolgate address");
    let text = mail.text();
    assert!(text.contains("already has an account"), "{text}");
    assert!(text.contains("log in"), "{text}");
    assert!(!text.contains("tgv_") && !text.contains(LINK), "{text}");
    assert!(!text.contains("Mallory"));

    assert_eq!(pending_signups(&app).await, 0);
    assert_eq!(accounts(&app).await, 1);
    assert_eq!(
        login(&app, "ada@example.com", "an intruder's password").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "ada@example.com", PASSWORD).await,
        StatusCode::OK
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_address_registered_meanwhile_is_refused_like_a_used_token(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = TestApp::verifying(pool, &sink);
    signup(&app, "eve@example.com", PASSWORD, "Eve").await;
    let token = token_in(&sink.wait_for(1).await[0]);
    registered(&app, "eve@example.com").await;

    let r = verify(&app, &token).await;
    let problem = r.problem(StatusCode::BAD_REQUEST);
    assert_eq!(problem["type"], "/problems/invalid-signup-token");
    assert_eq!(accounts(&app).await, 1);
    assert_eq!(pending_signups(&app).await, 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn invalid_input_is_422_before_anything_is_looked_up(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = TestApp::verifying(pool, &sink);
    let r = signup(&app, "not-an-email", "short", " ").await;
    assert_eq!(r.error_paths(), vec!["/email", "/password", "/account"]);
    assert_eq!(pending_signups(&app).await, 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_refused_delivery_is_retried(pool: PgPool) {
    let sink = SmtpSink::refusing_first(2).await;
    let app = TestApp::verifying(pool, &sink);
    let r = signup(&app, "fay@example.com", PASSWORD, "Fay").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.raw);
    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0].to, vec!["fay@example.com"]);
}

/// Collects everything logged in this process while the test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn tokens_and_the_smtp_password_stay_out_of_logs_and_debug_output(pool: PgPool) {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Global, not per thread: a thread-local subscriber loses events when
    // tests on other threads change which subscribers exist (tracing's
    // interest cache is process-wide). No other test here sets one.
    tracing::subscriber::set_global_default(subscriber)
        .expect("the only test of this binary that installs a subscriber");

    let sink = SmtpSink::start().await;
    let app = TestApp::verifying(pool, &sink);
    signup(&app, "gus@example.com", PASSWORD, "Gus").await;
    let token = token_in(&sink.wait_for(1).await[0]);
    app.call(Method::GET, &format!("{LINK}{token}"), None, None)
        .await;
    let created = verify(&app, &token).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    let session = created.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        sink.logins(),
        vec![format!(" mailer {SMTP_PASSWORD}")],
        "the SMTP password was really used"
    );

    let settings = TestApp::mail_settings(&sink);
    let (outbox, _drain) = Outbox::start(&settings, RetryPolicy::default()).unwrap();
    let shown = format!(
        "{settings:?} {} {:?}",
        settings.smtp,
        Settings {
            public_url: PUBLIC_URL.to_owned(),
            allow_private_upstreams: false,
            signup: SignupMode::Verify(outbox),
        }
    );
    assert!(shown.contains("mailer:***@127.0.0.1"), "{shown}");

    // The outbox logs a delivery once the SMTP exchange ends, which may be
    // after the sink holds the message.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let logged = loop {
        let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        if logged.contains("mail delivered") || std::time::Instant::now() > deadline {
            break logged;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        logged.contains("mail delivered"),
        "logs were captured: {logged}"
    );
    assert!(logged.contains("/v1/signup/verify"), "{logged}");
    for secret in [SMTP_PASSWORD, token.as_str(), session.as_str(), PASSWORD] {
        assert!(!logged.contains(secret), "{secret} logged:\n{logged}");
        assert!(!shown.contains(secret), "{secret} in Debug: {shown}");
    }
    let _: Value = created.body;
}
