//! The gateway's audit trail against a real Postgres and a scripted upstream:
//! N calls of mixed outcomes make exactly N events with the right decisions
//! and upstream outcomes, and argument values appear only where the policy
//! opts in.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_audit::{AuditSink, SinkConfig};
use toolgate_limits::CounterStore;
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::router;
use toolgate_proxy::test_support::{json_response, proxy_state, serve, Seed};
use toolgate_store::audit::{AuditEvent, AuditFilter};
use toolgate_store::ids::AccountId;
use toolgate_store::secrets::SecretKey;
use tower::ServiceExt;

const POLICY: &str = r#"{"version": "1", "default": "allow", "hide": ["secret_*"],
  "tools": {"echo": {"arguments": {"type": "object", "properties": {"message": {"type": "string", "maxLength": 10}}}},
            "wipe": {"action": "deny", "reason": "no wiping"},
            "counted": {"limits": [{"counter": "counted", "window": "day", "max": 2, "scope": "grant"}]},
            "kept": {"audit_arguments": true}}}"#;

/// Answers `failing` with a JSON-RPC error, `garbage` with HTML, `streamed`
/// as SSE, a batch with one result per request, anything else with its
/// `message` argument.
async fn upstream(body: String) -> axum::response::Response {
    let message: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Some(batch) = message.as_array() {
        let answers: Vec<Value> = batch
            .iter()
            .filter(|m| m.get("id").is_some())
            .map(|m| json!({"jsonrpc": "2.0", "id": m["id"], "result": {"content": []}}))
            .collect();
        return json_response(&Value::Array(answers));
    }
    let id = message["id"].clone();
    match message["params"]["name"].as_str() {
        Some("failing") => json_response(
            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": "tool crashed"}}),
        ),
        Some("garbage") => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "text/html")],
            "<h1>oops</h1>",
        )
            .into_response(),
        Some("streamed") => (
            [("content-type", "text/event-stream")],
            format!(
                "event: message\ndata: {}\n\n",
                json!({"jsonrpc": "2.0", "id": id, "result": {"content": []}})
            ),
        )
            .into_response(),
        _ => json_response(
            &json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": message["params"]["arguments"]["message"]}]}}),
        ),
    }
}

struct Fixture {
    router: Router,
    token: String,
    account: AccountId,
    pool: PgPool,
}

async fn fixture(pool: PgPool) -> Fixture {
    let upstream_addr = serve(Router::new().route("/mcp", post(upstream))).await;
    let key = Arc::new(SecretKey::from_bytes([9; 32]));
    let policy = serde_json::from_str(POLICY).unwrap();
    let seeded = Seed {
        timeout_ms: 2000,
        ..Seed::new("Acme", &format!("http://{upstream_addr}/mcp"), &policy)
    }
    .create(&pool, &key)
    .await;
    let audit = AuditSink::in_process(pool.clone(), SinkConfig::default()).0;
    let state = proxy_state(&pool, key, Limiter::new(CounterStore::memory()), audit);
    Fixture {
        router: router(state),
        token: seeded.token().to_owned(),
        account: seeded.account,
        pool,
    }
}

impl Fixture {
    async fn post(&self, body: Value) -> (StatusCode, String) {
        let request = Request::post("/mcp/acme/tools")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {}", self.token))
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The account's stored events, newest first.
    async fn stored_events(&self) -> Vec<AuditEvent> {
        toolgate_store::audit::list(&self.pool, self.account, &AuditFilter::default(), None, 200)
            .await
            .unwrap()
            .items
    }

    /// Waits until `want` events are stored, then a little longer to catch
    /// any extra, and returns them all.
    async fn events(&self, want: usize) -> Vec<AuditEvent> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stored = self.stored_events().await.len();
            if stored >= want {
                tokio::time::sleep(Duration::from_millis(300)).await;
                return self.stored_events().await;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{stored} of {want} events"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn call(id: u32, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

#[sqlx::test(migrations = "../../migrations")]
async fn every_call_decision_is_one_event_with_the_right_decision(pool: PgPool) {
    let f = fixture(pool).await;
    // (tool, arguments, decision, upstream outcome)
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("echo", json!({"message": "hi"}), "allowed", "ok"),
        (
            "echo",
            json!({"message": "far too long"}),
            "refused",
            "not_called",
        ),
        ("wipe", json!({}), "unknown_tool", "not_called"),
        ("secret_keys", json!({}), "unknown_tool", "not_called"),
        ("counted", json!({"message": "1"}), "allowed", "ok"),
        ("counted", json!({"message": "2"}), "allowed", "ok"),
        ("counted", json!({"message": "3"}), "limited", "not_called"),
        (
            "failing",
            json!({"password": "hunter2"}),
            "allowed",
            "jsonrpc_error",
        ),
        ("garbage", json!({}), "allowed", "transport_error"),
        ("streamed", json!({}), "allowed", "ok"),
        (
            "kept",
            json!({"message": "visible", "n": 1}),
            "allowed",
            "ok",
        ),
    ];
    let mut id = 0;
    for (tool, arguments, _, _) in &cases {
        id += 1;
        let (status, text) = f.post(call(id, tool, arguments.clone())).await;
        assert_eq!(status, StatusCode::OK, "{tool}: {text}");
    }
    // A batch: each call in it is its own event; the notification is none.
    let batch = json!([
        call(100, "echo", json!({"message": "a"})),
        call(101, "wipe", json!({})),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]);
    let (status, _) = f.post(batch).await;
    assert_eq!(status, StatusCode::OK);
    // Not tools/call: no event.
    f.post(json!({"jsonrpc": "2.0", "id": 200, "method": "tools/list"}))
        .await;

    let events = f.events(cases.len() + 2).await;
    assert_eq!(events.len(), cases.len() + 2, "{events:#?}");

    let mut expected: HashMap<(String, String, String), usize> = HashMap::new();
    for (tool, _, decision, upstream) in &cases {
        *expected
            .entry((tool.to_string(), decision.to_string(), upstream.to_string()))
            .or_default() += 1;
    }
    *expected
        .entry(("echo".into(), "allowed".into(), "ok".into()))
        .or_default() += 1;
    *expected
        .entry(("wipe".into(), "unknown_tool".into(), "not_called".into()))
        .or_default() += 1;
    let mut got: HashMap<(String, String, String), usize> = HashMap::new();
    for e in &events {
        let decision = serde_json::to_value(e.decision).unwrap();
        let upstream = serde_json::to_value(e.upstream).unwrap();
        *got.entry((
            e.tool.clone(),
            decision.as_str().unwrap().to_owned(),
            upstream.as_str().unwrap().to_owned(),
        ))
        .or_default() += 1;
    }
    assert_eq!(got, expected);

    let by_tool = |tool: &str| events.iter().find(|e| e.tool == tool).unwrap();
    let wipe = by_tool("wipe");
    assert_eq!(wipe.reason.as_deref(), Some("no wiping"));
    assert_eq!(wipe.rule.as_deref(), Some("/tools/wipe"));
    assert_eq!(wipe.policy_version, Some(1));
    let limited = events
        .iter()
        .find(|e| e.decision == toolgate_audit::AuditDecision::Limited)
        .unwrap();
    assert_eq!(limited.rule.as_deref(), Some("/tools/counted/limits/0"));
    assert!(limited.reason.as_deref().unwrap().contains("counted"));
    let refused = events
        .iter()
        .find(|e| e.decision == toolgate_audit::AuditDecision::Refused)
        .unwrap();
    assert!(refused.reason.as_deref().unwrap().contains("/message"));
    assert_eq!(by_tool("streamed").rule.as_deref(), Some("/default"));
}

#[sqlx::test(migrations = "../../migrations")]
async fn argument_values_are_recorded_only_where_the_policy_opts_in(pool: PgPool) {
    let f = fixture(pool.clone()).await;
    f.post(call(1, "echo", json!({"message": "s3cr3t"}))).await;
    f.post(call(
        2,
        "failing",
        json!({"password": "hunter2", "user": "bob"}),
    ))
    .await;
    f.post(call(3, "wipe", json!({"token": "tok-123"}))).await;
    f.post(call(4, "kept", json!({"message": "visible"}))).await;
    let events = f.events(4).await;
    assert_eq!(events.len(), 4);

    let stored = sqlx::query_scalar!(
        r#"SELECT string_agg(row_to_json(a)::text, E'\n') AS "rows!"
           FROM audit_events a WHERE account_id = $1"#,
        f.account.0,
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    for secret in ["s3cr3t", "hunter2", "bob", "tok-123"] {
        assert!(!stored.contains(secret), "{secret} stored: {stored}");
    }
    let failing = events.iter().find(|e| e.tool == "failing").unwrap();
    let mut keys = failing.argument_keys.clone();
    keys.sort();
    assert_eq!(keys, ["password", "user"]);
    assert_eq!(failing.arguments, None);
    let kept = events.iter().find(|e| e.tool == "kept").unwrap();
    assert_eq!(kept.arguments, Some(json!({"message": "visible"})));
}
