//! `GET /v1/audit` and `GET /v1/audit/export`: filters, cursor pagination,
//! NDJSON, bad filters named, and tenants walled off.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::collections::HashSet;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use common::TestApp;
use serde_json::Value;
use sqlx::PgPool;
use toolgate_store::audit::{insert_batch, AuditDecision, AuditEvent, UpstreamOutcome};
use toolgate_store::ids::{AccountId, EventId, GrantId, ServerId};

struct Seeded {
    server_a: ServerId,
    server_b: ServerId,
    grant: GrantId,
}

fn event(account: AccountId, server: ServerId, grant: GrantId, minutes_ago: i64) -> AuditEvent {
    AuditEvent {
        id: EventId::new(),
        at: Utc::now() - Duration::minutes(minutes_ago),
        account,
        server,
        grant: Some(grant),
        session: None,
        kind: toolgate_store::target_kind::TargetKind::Tool,
        tool: "echo".to_owned(),
        decision: AuditDecision::Allowed,
        rule: None,
        policy_version: Some(1),
        reason: None,
        upstream: UpstreamOutcome::Ok,
        latency_ms: 2,
        argument_keys: vec!["message".to_owned()],
        arguments: None,
        shadow: None,
    }
}

/// Seven events for `account`: times 0..7 minutes ago, two servers, two
/// grants, three tools, three decisions.
async fn seed(pool: &PgPool, account: AccountId) -> Seeded {
    let (server_a, server_b, grant, other_grant) = (
        ServerId::new(),
        ServerId::new(),
        GrantId::new(),
        GrantId::new(),
    );
    let mut events = Vec::new();
    for i in 0..7 {
        let mut e = event(
            account,
            if i < 4 { server_a } else { server_b },
            if i % 2 == 0 { grant } else { other_grant },
            i,
        );
        e.tool = ["echo", "add", "wipe"][(i % 3) as usize].to_owned();
        e.decision = [
            AuditDecision::Allowed,
            AuditDecision::Limited,
            AuditDecision::UnknownTool,
        ][(i % 3) as usize];
        events.push(e);
    }
    let mut tx = pool.begin().await.unwrap();
    assert_eq!(insert_batch(&mut tx, &events).await.unwrap(), 7);
    // The same batch again adds nothing.
    assert_eq!(insert_batch(&mut tx, &events).await.unwrap(), 0);
    tx.commit().await.unwrap();
    Seeded {
        server_a,
        server_b,
        grant,
    }
}

async fn account_of(app: &TestApp, token: &str) -> AccountId {
    let me = app.get("/v1/account", token).await;
    me.body["id"].as_str().unwrap().parse().unwrap()
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrations = "../../migrations")]
async fn lists_filter_and_page_newest_first(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let (token, _) = app.signup("alice@example.com", "Alice Co").await;
    let account = account_of(&app, &token).await;
    let seeded = seed(&pool, account).await;

    let all = app.get("/v1/audit", &token).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.raw);
    let items = all.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 7);
    assert!(all.body["next_cursor"].is_null());
    let times: Vec<&str> = items.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert_eq!(items[0]["argument_keys"], serde_json::json!(["message"]));
    assert!(items[0].get("arguments").is_none());

    let count = |path: String| {
        let app = &app;
        let token = &token;
        async move {
            let r = app.get(&path, token).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.raw);
            r.body["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(
        count(format!("/v1/audit?server={}", seeded.server_a)).await,
        4
    );
    assert_eq!(
        count(format!("/v1/audit?server={}", seeded.server_b)).await,
        3
    );
    assert_eq!(count(format!("/v1/audit?grant={}", seeded.grant)).await, 4);
    assert_eq!(count("/v1/audit?tool=add".to_owned()).await, 2);
    assert_eq!(count("/v1/audit?decision=unknown_tool".to_owned()).await, 2);
    assert_eq!(
        count("/v1/audit?decision=limited&tool=add".to_owned()).await,
        2
    );
    let since =
        (Utc::now() - Duration::seconds(150)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(count(format!("/v1/audit?since={since}")).await, 3);
    assert_eq!(count(format!("/v1/audit?until={since}")).await, 4);

    // Pages of 3: 3 + 3 + 1, no event twice, same order as one page.
    let mut seen = Vec::new();
    let mut path = "/v1/audit?limit=3".to_owned();
    loop {
        let page = app.get(&path, &token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
        seen.extend(ids(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/audit?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids(&all.body));
}

#[sqlx::test(migrations = "../../migrations")]
async fn bad_filters_are_named(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("alice@example.com", "Alice Co").await;
    for (query, param) in [
        ("server=xyz", "server"),
        ("grant=srv_0123456789abcdef0123456789abcdef", "grant"),
        ("decision=maybe", "decision"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("cursor=garbage", "cursor"),
        ("limit=0", "limit"),
        (
            "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
            "until",
        ),
    ] {
        for route in ["/v1/audit", "/v1/audit/export"] {
            let r = app.get(&format!("{route}?{query}"), &token).await;
            r.problem(StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(r.error_paths(), vec![param.to_owned()], "{route}?{query}");
        }
    }
    let r = app.get("/v1/audit?limit=many", &token).await;
    r.problem(StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrations = "../../migrations")]
async fn export_streams_ndjson_with_the_same_filters(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let (token, _) = app.signup("alice@example.com", "Alice Co").await;
    let account = account_of(&app, &token).await;
    let seeded = seed(&pool, account).await;
    // More than one export page.
    let many: Vec<AuditEvent> = (0..2100)
        .map(|i| event(account, seeded.server_b, seeded.grant, 60 + i))
        .collect();
    let mut tx = pool.begin().await.unwrap();
    insert_batch(&mut tx, &many).await.unwrap();
    tx.commit().await.unwrap();

    let r = app.get("/v1/audit/export", &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = r
        .raw
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2107);
    let distinct: HashSet<&str> = lines.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(distinct.len(), 2107);

    let r = app
        .get(
            &format!("/v1/audit/export?server={}&tool=echo", seeded.server_a),
            &token,
        )
        .await;
    assert_eq!(r.raw.lines().count(), 2);
    let r = app
        .get("/v1/audit/export?decision=approval_denied", &token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.raw, "");
}

#[sqlx::test(migrations = "../../migrations")]
async fn another_accounts_events_and_ids_filter_to_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let (alice, _) = app.signup("alice@example.com", "Alice Co").await;
    let (mallory, _) = app.signup("mallory@example.com", "Mallory Co").await;
    let seeded = seed(&pool, account_of(&app, &alice).await).await;

    let r = app.get("/v1/audit", &mallory).await;
    assert_eq!(r.body["items"], serde_json::json!([]));
    let r = app
        .get(&format!("/v1/audit?server={}", seeded.server_a), &mallory)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"], serde_json::json!([]));
    let r = app.get("/v1/audit/export", &mallory).await;
    assert_eq!(r.raw, "");
    // A cursor from Alice's pages shows Mallory nothing of Alice's.
    let page = app.get("/v1/audit?limit=1", &alice).await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let r = app
        .get(&format!("/v1/audit?cursor={cursor}"), &mallory)
        .await;
    assert_eq!(r.body["items"], serde_json::json!([]));
    let r = app.get("/v1/audit", "not-a-token").await;
    r.problem(StatusCode::UNAUTHORIZED);
}
