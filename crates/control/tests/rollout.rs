//! The rollout routes against a real Postgres: simulation bounds, ranges and
//! validation; shadows set, replaced, promoted and removed; tenants walled off.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use common::{Tenant, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_store::audit::{AuditDecision, AuditEvent, UpstreamOutcome};
use toolgate_store::ids::EventId;
use toolgate_store::target_kind::TargetKind;

/// `n` allowed `echo` calls of the tenant's grant, one a minute, the last
/// one a minute ago.
async fn record(app: &TestApp, t: &Tenant, n: i64) {
    let events: Vec<AuditEvent> = (0..n)
        .map(|i| AuditEvent {
            id: EventId::new(),
            at: Utc::now() - Duration::minutes(n - i),
            account: t.account,
            server: t.server,
            grant: Some(t.grant),
            session: None,
            kind: TargetKind::Tool,
            tool: "echo".to_owned(),
            decision: AuditDecision::Allowed,
            rule: Some("/tools/echo".to_owned()),
            policy_version: Some(1),
            reason: None,
            upstream: UpstreamOutcome::Ok,
            latency_ms: 1,
            argument_keys: vec![],
            arguments: None,
            shadow: None,
        })
        .collect();
    let mut tx = app.pool.begin().await.unwrap();
    toolgate_store::audit::insert_batch(&mut tx, &events)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> common::Response {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

fn deny_echo() -> Value {
    json!({"version": "1", "default": "deny", "tools": {"echo": {"action": "deny"}}})
}

#[sqlx::test(migrations = "../../migrations")]
async fn simulations_are_bounded_and_say_so(pool: PgPool) {
    let app = TestApp::new(pool);
    let t = app.tenant("sim@example.com").await;
    let policy = format!("/v1/servers/{}/policy", t.server);
    assert_eq!(
        put(&app, &policy, &t.token, common::policy("deny"))
            .await
            .status,
        StatusCode::OK
    );
    record(&app, &t, 5).await;
    let simulate = format!("/v1/servers/{}/policy/simulate", t.server);

    let all = app
        .post(&simulate, &t.token, json!({"document": deny_echo()}))
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.raw);
    assert_eq!(all.body["events"], 5);
    assert_eq!(all.body["live"]["version"], 1);
    assert_eq!(all.body["live"]["totals"], json!({"allowed": 5}));
    assert_eq!(all.body["candidate"]["totals"], json!({"unknown_tool": 5}));
    assert_eq!(all.body["changes"][0]["count"], 5);
    assert_eq!(all.body["changes"][0]["rule"], "/tools/echo");
    assert_eq!(
        all.body["changes"][0]["examples"].as_array().unwrap().len(),
        3
    );
    assert_eq!(all.body["bounded"]["truncated"], false);
    assert!(all.body["bounded"].get("replayed_until").is_none());

    let two = app
        .post(
            &simulate,
            &t.token,
            json!({"document": deny_echo(), "max_events": 2}),
        )
        .await;
    assert_eq!(two.status, StatusCode::OK, "{}", two.raw);
    assert_eq!(two.body["events"], 2);
    assert_eq!(two.body["bounded"]["truncated"], true);
    assert!(two.body["bounded"]["replayed_until"].is_string());

    // Exactly as many as there are: nothing left unread.
    let five = app
        .post(
            &simulate,
            &t.token,
            json!({"document": deny_echo(), "max_events": 5}),
        )
        .await;
    assert_eq!(five.body["bounded"]["truncated"], false);

    // A range that holds the last two calls only.
    let since = Utc::now() - Duration::seconds(150);
    let recent = app
        .post(
            &simulate,
            &t.token,
            json!({"document": deny_echo(), "since": since}),
        )
        .await;
    assert_eq!(recent.body["events"], 2, "{}", recent.raw);
}

#[sqlx::test(migrations = "../../migrations")]
async fn bad_simulations_name_every_problem_and_other_accounts_get_404(pool: PgPool) {
    let app = TestApp::new(pool);
    let t = app.tenant("bad@example.com").await;
    let simulate = format!("/v1/servers/{}/policy/simulate", t.server);
    let now = Utc::now();
    let r = app
        .post(
            &simulate,
            &t.token,
            json!({"document": {"version": "1", "default": "maybe", "tools": {"x": {"action": "nope"}}},
                   "since": now, "until": now - Duration::hours(1), "max_events": 0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    let paths = r.error_paths();
    for expected in [
        "/document/default",
        "/document/tools/x/action",
        "/until",
        "/max_events",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} in {paths:?}"
        );
    }
    let r = app
        .post(
            &simulate,
            &t.token,
            json!({"document": deny_echo(), "since": "yesterday"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    assert_eq!(r.error_paths(), vec!["/since"]);
    let r = app.post(&simulate, &t.token, json!({"since": now})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);

    // No policy yet: the live side is closed, version null.
    let r = app
        .post(&simulate, &t.token, json!({"document": deny_echo()}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["live"]["version"], Value::Null);

    let other = app.tenant("other@example.com").await;
    let foreign = app
        .post(&simulate, &other.token, json!({"document": deny_echo()}))
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let shadow = format!("/v1/servers/{}/policy/shadow", t.server);
    assert_eq!(
        put(&app, &shadow, &other.token, deny_echo()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&shadow, &other.token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&format!("{shadow}/promote"), &other.token, json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_shadow_is_set_reported_promoted_and_removed(pool: PgPool) {
    let app = TestApp::new(pool);
    let t = app.tenant("shadow@example.com").await;
    let policy = format!("/v1/servers/{}/policy", t.server);
    let shadow = format!("/v1/servers/{}/policy/shadow", t.server);
    put(&app, &policy, &t.token, common::policy("deny")).await;
    assert_eq!(
        app.get(&shadow, &t.token).await.status,
        StatusCode::NOT_FOUND
    );

    let bad = put(
        &app,
        &shadow,
        &t.token,
        json!({"version": "1", "default": "maybe"}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_paths(), vec!["/default"]);
    for missing in [
        json!({"version": 7}),
        json!({"version": -1}),
        json!({"version": 1.5}),
    ] {
        let r = put(&app, &shadow, &t.token, missing.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{missing}: {}",
            r.raw
        );
        assert_eq!(r.error_paths(), vec!["/version"]);
    }
    let by_version = put(&app, &shadow, &t.token, json!({"version": 1})).await;
    assert_eq!(by_version.status, StatusCode::OK, "{}", by_version.raw);
    assert_eq!(by_version.body["from_version"], 1);
    let set = put(&app, &shadow, &t.token, deny_echo()).await;
    assert_eq!(set.body["from_version"], Value::Null);
    assert_eq!(set.body["policy"], deny_echo());

    let report = app.get(&shadow, &t.token).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.raw);
    assert_eq!(report.body["shadow"]["policy"], deny_echo());
    assert_eq!(report.body["events"], 0);
    let bad_range = app.get(&format!("{shadow}?since=soon"), &t.token).await;
    assert_eq!(bad_range.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_range.error_paths(), vec!["since"]);

    let promoted = app
        .post(&format!("{shadow}/promote"), &t.token, json!({}))
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.raw);
    assert_eq!(promoted.body["version"], 2);
    assert_eq!(app.get(&policy, &t.token).await.body["policy"], deny_echo());
    assert_eq!(
        app.get(&shadow, &t.token).await.status,
        StatusCode::NOT_FOUND
    );
    let again = app
        .post(&format!("{shadow}/promote"), &t.token, json!({}))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    put(&app, &shadow, &t.token, json!({"version": 1})).await;
    assert_eq!(
        app.delete(&shadow, &t.token).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&shadow, &t.token).await.status,
        StatusCode::NOT_FOUND
    );
}

/// A role that may not read argument values cannot read them through a
/// candidate either: its simulation replays calls as if none were recorded.
#[sqlx::test(migrations = "../../migrations")]
async fn a_simulation_shows_values_only_to_roles_that_may_read_them(pool: PgPool) {
    let app = TestApp::new(pool);
    let t = app.tenant("ada@example.com").await;
    let event = AuditEvent {
        id: EventId::new(),
        at: Utc::now() - Duration::minutes(1),
        account: t.account,
        server: t.server,
        grant: Some(t.grant),
        session: None,
        kind: TargetKind::Tool,
        tool: "echo".to_owned(),
        decision: AuditDecision::Allowed,
        rule: Some("/tools/echo".to_owned()),
        policy_version: Some(1),
        reason: None,
        upstream: UpstreamOutcome::Ok,
        latency_ms: 1,
        argument_keys: vec!["message".to_owned()],
        arguments: Some(json!({"message": "secret-value"})),
        shadow: None,
    };
    let mut tx = app.pool.begin().await.unwrap();
    toolgate_store::audit::insert_batch(&mut tx, &[event])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Does the recorded message start with "s"?
    let probe = json!({"document": {"version": "1", "default": "deny", "tools": {"echo": {
        "arguments": {"type": "object", "properties": {"message": {"type": "string", "pattern": "^s"}}}
    }}}});
    let path = format!("/v1/servers/{}/policy/simulate", t.server);
    let admin = app.post(&path, &t.token, probe.clone()).await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.raw);
    assert_eq!(
        admin.body["candidate"]["totals"]["allowed"], 1,
        "{}",
        admin.raw
    );

    let viewer = app
        .post(
            "/v1/api-keys",
            &t.token,
            json!({"name": "look", "role": "viewer"}),
        )
        .await;
    let key = viewer.body["secret"].as_str().unwrap();
    let seen = app.post(&path, key, probe).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.raw);
    assert!(
        seen.body["candidate"]["totals"]["allowed"].is_null(),
        "{}",
        seen.raw
    );
    assert_eq!(seen.body["unjudged"][0]["count"], 1, "{}", seen.raw);
}
