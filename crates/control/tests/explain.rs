//! `POST /v1/servers/{id}/policy/explain`: the live policy's decision with
//! its trace, and each limit's usage read from the gateway's Redis counters
//! without consuming any.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{Tenant, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_limits::{holder_key, Algorithm, CounterStore, Holder, LimitRequest, Outcome};

fn redis_url() -> String {
    std::env::var("TOOLGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Counters in a namespace of their own, so parallel tests never meet.
fn counters() -> CounterStore {
    let namespace = format!("tg-explain-test-{}", uuid::Uuid::new_v4().simple());
    CounterStore::redis_in(&redis_url(), Duration::from_secs(2), &namespace).unwrap()
}

fn document() -> Value {
    json!({
        "version": "1",
        "default": "deny",
        "hide": ["debug_*"],
        "tools": {
            "get_*": {},
            "get_user*": {"action": "require_approval"},
            "get_user_email": {"action": "deny", "reason": "no emails"},
            "create_charge": {
                "arguments": {"type": "object", "properties": {"amount": {"type": "integer", "maximum": 50000}}},
                "limits": [
                    {"counter": "spend", "window": "day", "max": 100000, "scope": "account", "cost": "/amount"},
                    {"counter": "charges", "window": "hour", "max": 50, "scope": "server"},
                    {"counter": "per_session", "window": "minute", "max": 5, "scope": "session"}
                ]
            },
            "*": {"limits": [{"counter": "calls", "window": "minute", "max": 600, "scope": "grant"}]}
        }
    })
}

async fn setup(app: &TestApp) -> (Tenant, String) {
    let t = app.tenant("ada@example.com").await;
    let path = format!("/v1/servers/{}/policy", t.server);
    let r = app
        .call(
            axum::http::Method::PUT,
            &path,
            Some(&t.token),
            Some(document()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    (t, format!("{path}/explain"))
}

/// Consumes `cost` units of `counter` as the gateway would.
async fn consume(
    store: &CounterStore,
    t: &Tenant,
    counter: &str,
    holder: Holder<'_>,
    window_secs: u64,
    cost: u64,
) {
    let request = LimitRequest {
        key: holder_key(counter, holder),
        window_secs,
        max: 1_000_000,
        cost,
        algorithm: Algorithm::Fixed,
    };
    let outcome = store
        .acquire(&t.account.to_string(), &[request])
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Admitted(_)));
}

fn limit<'a>(body: &'a Value, counter: &str) -> &'a Value {
    body["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["counter"] == counter)
        .unwrap_or_else(|| panic!("no limit {counter} in {body}"))
}

#[sqlx::test(migrations = "../../migrations")]
async fn limits_carry_their_current_usage_from_redis(pool: PgPool) {
    let store = counters();
    let app = TestApp::with_counters(pool, store.clone());
    let (t, path) = setup(&app).await;
    consume(&store, &t, "spend", Holder::Account, 86_400, 1_200).await;
    consume(
        &store,
        &t,
        "charges",
        Holder::Server { server: &t.server },
        3_600,
        2,
    )
    .await;
    for _ in 0..3 {
        let grant = Holder::Grant {
            server: &t.server,
            grant: &t.grant,
        };
        consume(&store, &t, "calls", grant, 60, 1).await;
    }

    let body = json!({"tool": "create_charge", "arguments": {"amount": 300}, "grant": t.grant});
    let r = app.post(&path, &t.token, body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["policy_version"], 1);
    assert_eq!(r.body["decision"]["decision"], "allow");
    assert_eq!(r.body["decided_by"], "/tools/create_charge");
    assert_eq!(limit(&r.body, "spend")["usage"], 1200);
    assert_eq!(limit(&r.body, "spend")["cost"], 300);
    assert_eq!(limit(&r.body, "charges")["usage"], 2);
    assert_eq!(limit(&r.body, "calls")["usage"], 3);
    assert_eq!(limit(&r.body, "calls")["from"], "every_call");
    let session = limit(&r.body, "per_session");
    assert!(session["usage"].is_null());
    assert!(session["usage_note"].as_str().unwrap().contains("session"));

    // Explaining consumed nothing.
    let again = app.post(&path, &t.token, body).await;
    assert_eq!(limit(&again.body, "spend")["usage"], 1200);
    assert_eq!(limit(&again.body, "calls")["usage"], 3);

    // Without a grant, a grant's usage cannot be told.
    let r = app
        .post(
            &path,
            &t.token,
            json!({"tool": "create_charge", "arguments": {"amount": 1}}),
        )
        .await;
    let calls = limit(&r.body, "calls");
    assert!(calls["usage"].is_null());
    assert!(calls["usage_note"]
        .as_str()
        .unwrap()
        .contains("pass `grant`"));
    assert_eq!(limit(&r.body, "spend")["usage"], 1200);
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_trace_shows_precedence_hiding_and_schema_errors(pool: PgPool) {
    let app = TestApp::with_counters(pool, counters());
    let (t, path) = setup(&app).await;

    let r = app
        .post(&path, &t.token, json!({"tool": "get_username"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["decision"]["decision"], "require_approval");
    let matched: Vec<(&str, &str)> = r.body["matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["key"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        matched,
        vec![
            ("get_user*", "decides"),
            ("get_*", "outranked"),
            ("*", "adds_limits")
        ]
    );

    let r = app
        .post(&path, &t.token, json!({"tool": "get_user_email"}))
        .await;
    assert_eq!(r.body["decided_by"], "/tools/get_user_email");
    assert_eq!(r.body["matched"][0]["source"], "exact");
    assert_eq!(
        r.body["matched"][1]["why"],
        "matches, but the exact key beats every glob"
    );
    assert_eq!(r.body["visible"], false);

    let r = app
        .post(&path, &t.token, json!({"tool": "debug_dump"}))
        .await;
    assert_eq!(r.body["decision"]["kind"], "hidden");
    assert_eq!(r.body["matched"][0]["source"], "hide_glob");
    assert_eq!(r.body["decided_by"], "/hide/0");

    let r = app
        .post(
            &path,
            &t.token,
            json!({"tool": "create_charge", "arguments": {"amount": 60000}}),
        )
        .await;
    assert_eq!(r.body["decision"]["decision"], "refuse");
    assert_eq!(r.body["schema_errors"][0]["path"], "/amount");
    assert_eq!(
        r.body["schema_errors"][0]["pointer"],
        "/tools/create_charge/arguments/properties/amount/maximum"
    );
    assert_eq!(limit(&r.body, "spend")["counted"], false);

    let r = app
        .post(&path, &t.token, json!({"tool": "list_repos"}))
        .await;
    assert_eq!(r.body["decided_by"], "/default");
    let get = r.body["not_matched"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "get_*")
        .unwrap();
    assert_eq!(get["why"], "\"list_repos\" does not start with \"get_\"");

    let r = app
        .post(
            &path,
            &t.token,
            json!({"tool": "file:///x", "kind": "resource"}),
        )
        .await;
    assert_eq!(r.body["kind"], "resource");
    assert_eq!(r.body["decision"]["kind"], "unknown");
}

#[sqlx::test(migrations = "../../migrations")]
async fn bad_input_is_refused_precisely_and_tenants_are_walled_off(pool: PgPool) {
    let app = TestApp::new(pool);
    let (t, path) = setup(&app).await;
    let (other, _) = app.signup("eve@example.com", "Evil").await;

    for (body, at) in [
        (json!({"tool": "get_x", "arguments": [1]}), "/arguments"),
        (json!({"tool": ""}), "/tool"),
        (json!({"tool": "x".repeat(1025)}), "/tool"),
        (json!({"tool": "get_x", "kind": "tools"}), "/kind"),
        (json!({"tool": "get_x", "grant": "nope"}), "/grant"),
        (json!({"tool": "get_x", "argumnets": {}}), ""),
        (json!({}), ""),
    ] {
        let r = app.post(&path, &t.token, body.clone()).await;
        let paths = r.error_paths();
        assert!(
            paths
                .iter()
                .any(|p| p == at || (at.is_empty() && !p.is_empty()) || p.is_empty()),
            "{body}: {paths:?}"
        );
    }
    // Another account's server, and another account's grant, are 404.
    app.post(&path, &other, json!({"tool": "get_x"}))
        .await
        .problem(StatusCode::NOT_FOUND);
    let foreign = app.create_grant(&other, "theirs").await;
    app.post(
        &path,
        &t.token,
        json!({"tool": "get_x", "grant": foreign["id"]}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);

    // A process that cannot see the counters says so instead of guessing.
    let r = app
        .post(
            &path,
            &t.token,
            json!({"tool": "create_charge", "arguments": {"amount": 1}}),
        )
        .await;
    let spend = limit(&r.body, "spend");
    assert!(spend["usage"].is_null());
    assert!(spend["usage_note"].as_str().unwrap().contains("cannot see"));
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_server_without_a_policy_shows_nothing_callable(pool: PgPool) {
    let app = TestApp::new(pool);
    let t = app.tenant("ada@example.com").await;
    let r = app
        .post(
            &format!("/v1/servers/{}/policy/explain", t.server),
            &t.token,
            json!({"tool": "echo"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(r.body["policy_version"].is_null());
    assert_eq!(r.body["decision"]["kind"], "unknown");
    assert_eq!(r.body["matched"][0]["source"], "default");
}

/// A member with `role`'s session token, through an invitation.
async fn member(app: &TestApp, admin: &str, email: &str, role: &str) -> String {
    let invited = app
        .post(
            "/v1/invitations",
            admin,
            json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.raw);
    let accepted = app
        .call(
            axum::http::Method::POST,
            "/v1/invitations/accept",
            None,
            Some(json!({"token": invited.body["token"], "password": common::PASSWORD})),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.raw);
    accepted.body["token"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrations = "../../migrations")]
async fn explaining_needs_permission_to_read_policies(pool: PgPool) {
    let app = TestApp::new(pool);
    let (t, path) = setup(&app).await;
    let viewer = member(&app, &t.token, "vic@example.com", "viewer").await;
    let approver = member(&app, &t.token, "amy@example.com", "approver").await;
    let r = app.post(&path, &viewer, json!({"tool": "get_x"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    app.post(&path, &approver, json!({"tool": "get_x"}))
        .await
        .problem(StatusCode::FORBIDDEN);
}
