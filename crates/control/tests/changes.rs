//! Every committed write a gateway replica caches announces its account on
//! the change bus; reads and refused writes announce nothing.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{policy, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_changes::{Change, Subscription};
use toolgate_store::ids::AccountId;

/// The changes announced so far (an in-process publish completes before the
/// response is sent, so nothing is still on its way).
async fn announced(subscription: &mut Subscription) -> Vec<Change> {
    let mut changes = Vec::new();
    while let Ok(change) =
        tokio::time::timeout(Duration::from_millis(20), subscription.recv()).await
    {
        changes.push(change);
    }
    changes
}

fn account_id(signup: &Value) -> AccountId {
    signup["account"]["id"].as_str().unwrap().parse().unwrap()
}

#[sqlx::test(migrations = "../../migrations")]
async fn each_cached_write_announces_its_account_and_nothing_else_does(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, signup) = app.signup("ada@example.com", "Acme").await;
    let (other_token, other_signup) = app.signup("bob@example.com", "Globex").await;
    let (acme, globex) = (account_id(&signup), account_id(&other_signup));
    let mut changes = app.changes.subscribe();

    let server = app.create_server(&token, "github").await;
    assert_eq!(announced(&mut changes).await, [Change::Account(acme)]);
    let server = format!("/v1/servers/{}", server["id"].as_str().unwrap());
    let grant = app.create_grant(&token, "agent").await;
    assert_eq!(announced(&mut changes).await, [Change::Account(acme)]);
    let grant = format!("/v1/grants/{}", grant["id"].as_str().unwrap());
    let other_grant = app.create_grant(&other_token, "agent").await;
    assert_eq!(announced(&mut changes).await, [Change::Account(globex)]);
    let other_grant = format!("/v1/grants/{}", other_grant["id"].as_str().unwrap());

    let mut call = async |method: Method, path: &str, body: Option<Value>, status: StatusCode| {
        let r = app.call(method.clone(), path, Some(&token), body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.raw);
        announced(&mut changes).await
    };
    let (ok, unprocessable) = (StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_server = json!({"name": "Bad Name", "url": "https://93.184.216.34/mcp"});
    let policy_path = format!("{server}/policy");

    // Refused writes and reads announce nothing.
    let none: [Change; 0] = [];
    assert_eq!(
        call(Method::POST, "/v1/servers", Some(bad_server), unprocessable).await,
        none
    );
    let bad_timeout = Some(json!({"timeout_ms": 1}));
    assert_eq!(
        call(Method::PATCH, &server, bad_timeout, unprocessable).await,
        none
    );
    let bad_policy = Some(json!({"version": "2"}));
    assert_eq!(
        call(Method::PUT, &policy_path, bad_policy, unprocessable).await,
        none
    );
    let bad_grant = Some(json!({"name": ""}));
    assert_eq!(
        call(Method::POST, "/v1/grants", bad_grant, unprocessable).await,
        none
    );
    let bad_name = Some(json!({"name": ""}));
    assert_eq!(
        call(Method::PATCH, "/v1/account", bad_name, unprocessable).await,
        none
    );
    let not_found = StatusCode::NOT_FOUND;
    assert_eq!(
        call(Method::DELETE, &other_grant, None, not_found).await,
        none
    );
    assert_eq!(call(Method::GET, &server, None, ok).await, none);
    assert_eq!(call(Method::GET, "/v1/grants", None, ok).await, none);

    // Committed writes announce the account.
    let acme = [Change::Account(acme)];
    let timeout = Some(json!({"timeout_ms": 5000}));
    assert_eq!(call(Method::PATCH, &server, timeout, ok).await, acme);
    assert_eq!(
        call(Method::PUT, &policy_path, Some(policy("deny")), ok).await,
        acme
    );
    let gone = StatusCode::NO_CONTENT;
    assert_eq!(call(Method::DELETE, &grant, None, gone).await, acme);
    let name = Some(json!({"name": "Acme Inc"}));
    assert_eq!(call(Method::PATCH, "/v1/account", name, ok).await, acme);
    assert_eq!(call(Method::DELETE, &server, None, gone).await, acme);
}
