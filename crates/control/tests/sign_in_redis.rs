//! The sign-in throttle on a real Redis: two throttles on one namespace act
//! as two control-plane replicas; keys hold no email or address; the script's
//! backoff matches the in-process arithmetic; an unreachable Redis refuses
//! sign-in with a 503.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::net::IpAddr;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::json;
use sqlx::PgPool;
use toolgate_control::auth::throttle::{Backoff, Throttle, ThrottleSettings};
use toolgate_control::ApiError;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A namespace of this test's own, so runs never share state.
fn namespace(test: &str) -> String {
    format!(
        "toolgate-test-signin-{test}-{}",
        uuid::Uuid::new_v4().simple()
    )
}

fn settings(per_email: u32, per_address: u32, base_ms: u64, max_ms: u64) -> ThrottleSettings {
    let backoff = |free| Backoff {
        free,
        base: Duration::from_millis(base_ms),
        max: Duration::from_millis(max_ms),
        forget: Duration::from_secs(30),
    };
    ThrottleSettings {
        per_email: backoff(per_email),
        per_address: backoff(per_address),
        signups_per_hour: 2,
    }
}

/// Two "replicas" sharing Redis.
fn replicas(ns: &str, settings: ThrottleSettings) -> [Throttle; 2] {
    let url = redis_url();
    [
        Throttle::redis(&url, ns, settings).unwrap(),
        Throttle::redis(&url, ns, settings).unwrap(),
    ]
}

/// The wait of a refused claim, in ms; `None` when it was granted (and then
/// the claim is dropped, as after a wrong password).
async fn claim(throttle: &Throttle, email: &str, client: Option<IpAddr>) -> Option<u64> {
    match throttle.claim_login(email, client).await {
        Ok(_) => None,
        Err(ApiError::TooManyRequests { retry_after, .. }) => Some(retry_after),
        Err(other) => panic!("{other:?}"),
    }
}

async fn keys(ns: &str) -> Vec<(String, i64)> {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut out = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        out.push((key, ttl));
    }
    out.sort();
    out
}

#[tokio::test]
async fn failures_on_either_replica_lock_the_email_on_both() {
    let ns = namespace("email");
    let [a, b] = replicas(&ns, settings(3, 100, 1500, 60_000));
    let client: IpAddr = "198.51.100.7".parse().unwrap();
    // Three failures, alternating replicas: the third locks for 1.5 s.
    for (i, replica) in [&a, &b, &a].into_iter().enumerate() {
        assert_eq!(
            claim(replica, "ada@example.com", Some(client)).await,
            None,
            "{i}"
        );
    }
    assert_eq!(claim(&b, "Ada@Example.com", Some(client)).await, Some(2));
    assert_eq!(claim(&a, "ada@example.com", None).await, Some(2));
    // Another email from the same client is free to try.
    assert_eq!(claim(&b, "bob@example.com", Some(client)).await, None);

    tokio::time::sleep(Duration::from_millis(1600)).await;
    let granted = b
        .claim_login("ada@example.com", Some(client))
        .await
        .unwrap();
    // The right password: forgotten on every replica.
    b.login_succeeded(granted).await;
    for replica in [&a, &b, &a] {
        assert_eq!(claim(replica, "ada@example.com", Some(client)).await, None);
    }

    // Every key is under the namespace and one hash tag, expires, and holds
    // neither the email nor the address.
    let stored = keys(&ns).await;
    assert_eq!(stored.len(), 3, "{stored:?}");
    for (key, ttl) in &stored {
        assert!(key.starts_with(&format!("{ns}:{{signin}}:")), "{key}");
        assert!(*ttl > 0, "{key} must expire: {ttl}");
        for secret in ["ada", "bob", "example", "198.51", "198-51"] {
            assert!(!key[ns.len()..].contains(secret), "{key}");
        }
    }
}

#[tokio::test]
async fn failures_from_one_address_lock_it_across_emails_and_replicas() {
    let ns = namespace("addr");
    let [a, b] = replicas(&ns, settings(100, 4, 5000, 60_000));
    let client: IpAddr = "2001:db8::7".parse().unwrap();
    for i in 0..4 {
        let replica = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            claim(replica, &format!("u{i}@example.com"), Some(client)).await,
            None
        );
    }
    assert_eq!(claim(&a, "u9@example.com", Some(client)).await, Some(5));
    // Its /64 neighbour is the same client; another block is not.
    let neighbour: IpAddr = "2001:db8::8".parse().unwrap();
    let other: IpAddr = "2001:db8:0:1::7".parse().unwrap();
    assert_eq!(claim(&b, "u9@example.com", Some(neighbour)).await, Some(5));
    assert_eq!(claim(&b, "u9@example.com", Some(other)).await, None);
}

#[tokio::test]
async fn the_script_backs_off_as_the_arithmetic_says() {
    let ns = namespace("arith");
    let settings = settings(2, 100, 100, 400);
    let [a, _] = replicas(&ns, settings);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for failures in 1..=6u64 {
        assert_eq!(claim(&a, "ada@example.com", None).await, None, "{failures}");
        // What the claim stored: the count, and the lock's end against
        // Redis's clock.
        let key: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{ns}:*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        let (count, until): (u64, Option<u64>) = redis::cmd("HMGET")
            .arg(&key[0])
            .arg("f")
            .arg("u")
            .query_async(&mut conn)
            .await
            .map(|v: (u64, Option<u64>)| v)
            .unwrap();
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
        let now = secs * 1000 + micros / 1000;
        assert_eq!(count, failures);
        let expected = settings.per_email.lock_after(failures).as_millis() as u64;
        let stored = until.map_or(0, |until| until.saturating_sub(now));
        assert!(
            stored <= expected && stored + 50 >= expected,
            "after {failures} failures: locked {stored} ms, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(expected + 20)).await;
    }
}

#[tokio::test]
async fn sign_ups_are_counted_across_replicas() {
    let ns = namespace("signup");
    let [a, b] = replicas(&ns, settings(5, 20, 1000, 60_000));
    let client: IpAddr = "198.51.100.7".parse().unwrap();
    a.claim_signup(Some(client)).await.unwrap();
    b.claim_signup(Some(client)).await.unwrap();
    match a.claim_signup(Some(client)).await {
        Err(ApiError::TooManyRequests { retry_after, .. }) => {
            assert!((3590..=3600).contains(&retry_after), "{retry_after}");
        }
        other => panic!("{other:?}"),
    }
    b.claim_signup(Some("198.51.100.8".parse().unwrap()))
        .await
        .unwrap();
    // Without a client address nothing is counted.
    a.claim_signup(None).await.unwrap();
}

/// Redis down: sign-in and sign-up fail closed, with a 503 that says so.
#[sqlx::test(migrations = "../../migrations")]
async fn without_redis_sign_in_is_unavailable_not_unthrottled(pool: PgPool) {
    // Nothing listens on port 1.
    let throttle =
        Throttle::redis("redis://127.0.0.1:1", "down", ThrottleSettings::default()).unwrap();
    let app = TestApp::adjusted(pool, |state| state.with_throttle(throttle));
    let r = app
        .call(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": "ada@example.com", "password": "whatever it is"})),
        )
        .await;
    let problem = r.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(problem["type"], "/problems/unavailable");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("sign-in is temporarily unavailable"),
        "{}",
        r.raw
    );
}
