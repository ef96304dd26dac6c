//! Sign-up, login, session tokens and API keys.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::{Duration, Instant};

use axum::http::{header, Method, StatusCode};
use common::{TestApp, JWT_SECRET, PASSWORD, PUBLIC_URL};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../../migrations")]
async fn signup_creates_an_account_and_a_working_session(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, body) = app.signup("Ada@Example.com", "Acme Corp").await;
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["account"]["name"], "Acme Corp");
    assert_eq!(body["account"]["slug"], "acme-corp");
    assert_eq!(
        body["account"]["gateway_base_url"],
        format!("{PUBLIC_URL}/mcp/acme-corp")
    );
    assert!(body["account"]["id"].as_str().unwrap().starts_with("acc_"));
    assert!(body.get("password").is_none() && body["user"].get("password_hash").is_none());

    let me = app.get("/v1/account", &token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], body["account"]["id"]);

    let stored = sqlx::query_scalar!("SELECT password_hash FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_taken_account_slug_gets_a_suffix(pool: PgPool) {
    let app = TestApp::new(pool);
    let (_, first) = app.signup("a@example.com", "Acme").await;
    let (_, second) = app.signup("b@example.com", "Acme").await;
    assert_eq!(first["account"]["slug"], "acme");
    let slug = second["account"]["slug"].as_str().unwrap();
    assert!(slug.starts_with("acme-") && slug.len() > 5, "{slug}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn duplicate_email_is_409_whatever_its_case(pool: PgPool) {
    let app = TestApp::new(pool);
    app.signup("ada@example.com", "One").await;
    let r = app
        .call(
            Method::POST,
            "/v1/signup",
            None,
            Some(json!({"email": "ADA@example.com", "password": PASSWORD, "account": "Two"})),
        )
        .await;
    r.problem(StatusCode::CONFLICT);
    let accounts = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM accounts"#)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        accounts, 1,
        "the failed sign-up left no half-created account"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn invalid_signup_names_every_bad_field(pool: PgPool) {
    let app = TestApp::new(pool);
    let r = app
        .call(
            Method::POST,
            "/v1/signup",
            None,
            Some(json!({"email": "not-an-email", "password": "short", "account": "  "})),
        )
        .await;
    assert_eq!(r.error_paths(), vec!["/email", "/password", "/account"]);
    let messages = r.body["errors"].to_string();
    assert!(messages.contains("at least 10 characters"), "{messages}");

    let r = app
        .call(
            Method::POST,
            "/v1/signup",
            None,
            Some(json!({"email": "ok@example.com", "password": "short", "account": "A"})),
        )
        .await;
    assert_eq!(r.error_paths(), vec!["/password"]);
}

#[sqlx::test(migrations = "../../migrations")]
async fn login_succeeds_with_the_right_password_only(pool: PgPool) {
    let app = TestApp::new(pool);
    app.signup("ada@example.com", "Acme").await;
    let ok = app
        .call(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": "Ada@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.raw);
    let token = ok.body["token"].as_str().unwrap();
    assert_eq!(app.get("/v1/account", token).await.status, StatusCode::OK);

    let wrong = app
        .call(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": "ada@example.com", "password": "wrong password!"})),
        )
        .await;
    let unknown = app
        .call(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": "nobody@example.com", "password": PASSWORD})),
        )
        .await;
    wrong.problem(StatusCode::UNAUTHORIZED);
    unknown.problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.body, unknown.body,
        "an unknown email must be indistinguishable from a wrong password"
    );
}

/// An unknown email must cost a password verification too, or response times
/// reveal which addresses have accounts.
#[sqlx::test(migrations = "../../migrations")]
async fn unknown_user_takes_the_same_time_path_as_a_wrong_password(pool: PgPool) {
    let app = TestApp::new(pool);
    app.signup("ada@example.com", "Acme").await;
    async fn fastest_login(app: &TestApp, email: &str) -> Duration {
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let r = app
                .call(
                    Method::POST,
                    "/v1/login",
                    None,
                    Some(json!({"email": email, "password": "wrong password!"})),
                )
                .await;
            times.push(started.elapsed());
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        // The fastest of five: other tests running on the same cores only
        // ever slow a login down.
        times.into_iter().min().unwrap()
    }
    // Warm the dummy hash first: it is computed once per process.
    fastest_login(&app, "warmup@example.com").await;
    let wrong = fastest_login(&app, "ada@example.com").await;
    let unknown = fastest_login(&app, "nobody@example.com").await;
    // Argon2 dominates both; a path without it would be ~100x faster.
    assert!(
        unknown * 3 > wrong,
        "unknown {unknown:?} vs wrong password {wrong:?}"
    );
}

/// The session id a token names.
fn sid_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

fn token_with(exp_offset: i64, secret: &[u8], user: &str, account: &str, sid: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": user, "acc": account, "sid": sid, "iat": now, "exp": now + exp_offset}),
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[sqlx::test(migrations = "../../migrations")]
async fn expired_tampered_and_forged_tokens_are_401(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, body) = app.signup("ada@example.com", "Acme").await;
    let user = body["user"]["id"].as_str().unwrap();
    let account = body["account"]["id"].as_str().unwrap();

    let sid = sid_of(&token);
    let fresh = token_with(60, JWT_SECRET, user, account, &sid);
    assert_eq!(
        app.get("/v1/account", &fresh).await.status,
        StatusCode::OK,
        "the crafted token is otherwise valid"
    );

    let expired = token_with(-5, JWT_SECRET, user, account, &sid);
    let forged = token_with(
        60,
        b"some-other-secret-some-other-secret",
        user,
        account,
        &sid,
    );
    let mut tampered = token.clone();
    let sig_start = tampered.rfind('.').unwrap() + 1;
    tampered.replace_range(
        sig_start..sig_start + 2,
        if &token[sig_start..sig_start + 2] == "AA" {
            "BB"
        } else {
            "AA"
        },
    );
    let payload = token.split('.').nth(1).unwrap();
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");

    for bad in [expired, forged, tampered, alg_none, "garbage".to_owned()] {
        let r = app.get("/v1/account", &bad).await;
        r.problem(StatusCode::UNAUTHORIZED);
        assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    let missing = app.call(Method::GET, "/v1/account", None, None).await;
    missing.problem(StatusCode::UNAUTHORIZED);
    assert!(missing.headers.contains_key(header::WWW_AUTHENTICATE));
}

#[sqlx::test(migrations = "../../migrations")]
async fn api_keys_authenticate_until_deleted_and_are_shown_once(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let created = app
        .post("/v1/api-keys", &token, json!({"name": "ci"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("tgk_") && secret.starts_with(created.body["prefix"].as_str().unwrap())
    );

    let me = app.get("/v1/account", &secret).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.raw);
    let server = app.create_server(&secret, "via-key").await;
    assert_eq!(server["name"], "via-key");

    let listed = app.get("/v1/api-keys", &token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert!(!listed.raw.contains(&secret), "the secret is never listed");
    assert!(listed.body["items"][0]["last_used_at"].is_string());

    let stored = sqlx::query_scalar!("SELECT secret_hash FROM api_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, toolgate_store::secrets::credential_hash(&secret));

    let deleted = app.delete(&format!("/v1/api-keys/{id}"), &token).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get("/v1/account", &secret)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    app.delete(&format!("/v1/api-keys/{id}"), &token)
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get("/v1/account", "tgk_not-a-real-key")
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = "../../migrations")]
async fn account_can_be_renamed_and_get_a_webhook_secret_once(pool: PgPool) {
    let app = TestApp::with_settings(pool, true);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let r = app
        .call(
            Method::PATCH,
            "/v1/account",
            Some(&token),
            Some(
                json!({"name": "Acme Two", "approval_webhook_url": "https://hooks.example.com/x"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["name"], "Acme Two");
    assert_eq!(
        r.body["slug"], "acme",
        "renaming keeps the slug, so gateway URLs stay stable"
    );
    let secret = r.body["approval_webhook_secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    let me = app.get("/v1/account", &token).await;
    assert_eq!(
        me.body["approval_webhook_url"],
        "https://hooks.example.com/x"
    );
    assert!(!me.raw.contains(secret));
    let sealed =
        sqlx::query_scalar!(r#"SELECT webhook_secret_enc AS "webhook_secret_enc!" FROM accounts"#)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(&secret[6..]));

    let cleared = app
        .call(
            Method::PATCH,
            "/v1/account",
            Some(&token),
            Some(json!({"approval_webhook_url": null})),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert!(cleared.body["approval_webhook_url"].is_null());
    assert_eq!(cleared.body["name"], "Acme Two");
}

#[sqlx::test(migrations = "../../migrations")]
async fn signed_tokens_of_removed_users_or_not_yet_valid_are_401(pool: PgPool) {
    let app = TestApp::new(pool);
    let (ada_token, ada) = app.signup("ada@example.com", "Acme").await;
    let (_, bob) = app.signup("bob@example.com", "Bobs").await;
    let user = ada["user"]["id"].as_str().unwrap();
    let account = ada["account"]["id"].as_str().unwrap();
    let sid = sid_of(&ada_token);
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: serde_json::Value| {
        jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(JWT_SECRET),
        )
        .unwrap()
    };

    // Correctly signed, but not valid for another five minutes.
    let early = sign(
        json!({"sub": user, "acc": account, "sid": sid, "iat": now, "nbf": now + 300, "exp": now + 600}),
    );
    app.get("/v1/account", &early)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    // Correctly signed, naming a user of another account.
    let crossed = sign(
        json!({"sub": user, "acc": bob["account"]["id"], "sid": sid, "iat": now, "exp": now + 600}),
    );
    app.get("/v1/account", &crossed)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    // Correctly signed, from before sessions could be revoked: no session.
    let sessionless = sign(json!({"sub": user, "acc": account, "iat": now, "exp": now + 600}));
    app.get("/v1/account", &sessionless)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    // Correctly signed, naming a session that does not exist.
    let unknown = sign(
        json!({"sub": user, "acc": account, "sid": "ses_0190d0f0a0b07c008000000000000000", "iat": now, "exp": now + 600}),
    );
    app.get("/v1/account", &unknown)
        .await
        .problem(StatusCode::UNAUTHORIZED);

    let valid = sign(
        json!({"sub": user, "acc": account, "sid": sid, "iat": now, "nbf": now, "exp": now + 600}),
    );
    assert_eq!(app.get("/v1/account", &valid).await.status, StatusCode::OK);
    // The user goes; their correctly signed, unexpired token goes with them.
    sqlx::query!("DELETE FROM users WHERE email = 'ada@example.com'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.get("/v1/account", &valid)
        .await
        .problem(StatusCode::UNAUTHORIZED);
}
