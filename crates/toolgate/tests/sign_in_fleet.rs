//! Sign-in across two `toolgate control` processes sharing Postgres and
//! Redis: a failed login on one counts on the other, and a session ended on
//! one is refused by the other.

#![allow(clippy::unwrap_used)]

mod fleet;

use std::time::Duration;

use fleet::{Fleet, FleetOptions};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn start(name: &str, env: Vec<(&'static str, String)>) -> Fleet {
    let options = FleetOptions {
        command: "control",
        env,
        ..FleetOptions::default()
    };
    let policy = json!({"version": "1", "default": "allow"});
    Fleet::start_with(name, &redis_url(), 2, policy, options).await
}

struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn post(fleet: &Fleet, replica: usize, path: &str, body: Value) -> Answer {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/{path}", fleet.base_url(replica)))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    Answer {
        status,
        retry_after,
        body: r.json().await.unwrap_or(Value::Null),
    }
}

async fn login(fleet: &Fleet, replica: usize, email: &str, password: &str) -> Answer {
    post(
        fleet,
        replica,
        "login",
        json!({"email": email, "password": password}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_login_on_one_replica_counts_on_the_other() {
    let fleet = start(
        "signin_email",
        vec![
            ("TOOLGATE_LOGIN_FREE_ATTEMPTS", "4".to_owned()),
            ("TOOLGATE_LOGIN_BACKOFF_MS", "1500".to_owned()),
        ],
    )
    .await;
    let signup = post(
        &fleet,
        0,
        "signup",
        json!({"email": "ada@example.com", "password": PASSWORD, "account": "Acme"}),
    )
    .await;
    assert_eq!(signup.status, 201, "{}", signup.body);

    for email in ["ada@example.com", "nobody@example.com"] {
        // Four failures, alternating replicas: the fourth locks the email.
        for i in 0..4 {
            let r = login(&fleet, i % 2, email, "wrong password!").await;
            assert_eq!(r.status, 401, "{email} #{i}: {}", r.body);
        }
        // The fifth is refused by whichever replica answers, before the
        // password is looked at, alike for a registered and an unknown email.
        for replica in [0, 1] {
            let r = login(&fleet, replica, email, PASSWORD).await;
            assert_eq!(r.status, 429, "{email} on {replica}: {}", r.body);
            assert_eq!(r.retry_after, Some(2), "{email} on {replica}");
            assert_eq!(r.body["type"], "/problems/too-many-requests");
            assert_eq!(r.body["status"], 429);
        }
    }

    // After the wait, the right password passes, and the email's failures
    // are forgotten on both replicas.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let r = login(&fleet, 1, "ada@example.com", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["token"].is_string());
    for replica in [0, 1, 0] {
        let r = login(&fleet, replica, "ada@example.com", "wrong password!").await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_address_and_sign_up_limits_hold_across_replicas() {
    let fleet = start(
        "signin_address",
        vec![
            ("TOOLGATE_LOGIN_FREE_ATTEMPTS_PER_ADDRESS", "3".to_owned()),
            ("TOOLGATE_SIGNUPS_PER_HOUR", "2".to_owned()),
        ],
    )
    .await;
    // Two sign-ups from this address, one per replica; the third waits.
    for (replica, email) in [(0, "a@example.com"), (1, "b@example.com")] {
        let body = json!({"email": email, "password": PASSWORD, "account": "Acme"});
        let r = post(&fleet, replica, "signup", body).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let body = json!({"email": "c@example.com", "password": PASSWORD, "account": "Acme"});
    let r = post(&fleet, 0, "signup", body).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(
        (3590..=3600).contains(&r.retry_after.unwrap()),
        "{:?}",
        r.retry_after
    );

    // Failed logins for three different emails from this address lock it.
    for (replica, email) in [
        (0, "x@example.com"),
        (1, "y@example.com"),
        (0, "z@example.com"),
    ] {
        assert_eq!(
            login(&fleet, replica, email, "wrong password!")
                .await
                .status,
            401
        );
    }
    for replica in [0, 1] {
        let r = login(&fleet, replica, "a@example.com", PASSWORD).await;
        assert_eq!(r.status, 429, "{}", r.body);
        assert_eq!(r.retry_after, Some(1));
    }
}

/// A session ended on one process is refused by the other at once: every
/// request checks its session in the shared database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_revoked_on_one_replica_is_refused_by_the_other_within_a_second() {
    let fleet = start("signin_revoke", vec![]).await;
    let signup = post(
        &fleet,
        0,
        "signup",
        json!({"email": "ada@example.com", "password": PASSWORD, "account": "Acme"}),
    )
    .await;
    assert_eq!(signup.status, 201, "{}", signup.body);
    let token = signup.body["token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let account = |replica: usize| {
        client
            .get(format!("{}/v1/account", fleet.base_url(replica)))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(account(1).await.unwrap().status(), 200);

    let out = client
        .post(format!("{}/v1/logout", fleet.base_url(0)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let revoked = std::time::Instant::now();
    loop {
        if account(1).await.unwrap().status() == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "the other replica still serves the revoked token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And a new sign-in on the other replica is a new, working session.
    let again = login(&fleet, 1, "ada@example.com", PASSWORD).await;
    assert_eq!(again.status, 200, "{}", again.body);
}
