//! Calls whose audit record Postgres could not hold as sent must not stop the
//! trail. Through the real gateway, on real Postgres (and Redis for the
//! stream queue), two accounts make ordinary calls with poisons between them:
//! U+0000 in the tool name, in an argument key, in a recorded argument value,
//! and in a refusal reason quoting a value. Every event is stored, the NULs
//! as U+FFFD. Then the test's own database is made to refuse one poison
//! outright (a CHECK constraint on the stored name), so Postgres rejects
//! real events: those are dead-lettered and counted, everything else is
//! stored, and the trail keeps up afterwards — on both queues.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use metrics::LocalRecorderGuard;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_audit::{
    AuditSink, Consumer, RedisQueue, SinkConfig, SinkDrain, StreamConfig, DEAD_LETTERED_METRIC,
};
use toolgate_limits::CounterStore;
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::router;
use toolgate_proxy::test_support::{json_response, proxy_state, serve, Seed, Seeded};
use toolgate_store::audit::{AuditEvent, AuditFilter};
use toolgate_store::ids::AccountId;
use toolgate_store::secrets::SecretKey;
use tower::ServiceExt;

const POLICY: &str = r#"{"version": "1", "default": "allow",
  "tools": {"kept": {"audit_arguments": true},
            "short": {"arguments": {"type": "object", "properties": {"message": {"type": "string", "maxLength": 3}}}}}}"#;

/// Answers every call with an empty result.
async fn upstream(body: String) -> axum::response::Response {
    let message: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    json_response(&json!({"jsonrpc": "2.0", "id": message["id"], "result": {"content": []}}))
}

#[derive(Clone, Copy)]
enum Queue {
    Stream,
    InProcess,
}

struct Gateway {
    router: Router,
    accounts: [Seeded; 2],
    pool: PgPool,
    _drain: SinkDrain,
    consumer: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(consumer) = &self.consumer {
            consumer.abort();
        }
    }
}

async fn gateway(pool: PgPool, queue: Queue) -> Gateway {
    let upstream_addr = serve(Router::new().route("/mcp", post(upstream))).await;
    let url = format!("http://{upstream_addr}/mcp");
    let key = Arc::new(SecretKey::from_bytes([9; 32]));
    let policy: Value = serde_json::from_str(POLICY).unwrap();
    let acme = Seed::new("Acme", &url, &policy).create(&pool, &key).await;
    let globex = Seed::new("Globex", &url, &policy).create(&pool, &key).await;
    let (sink, drain, consumer) = match queue {
        Queue::Stream => {
            let redis = std::env::var("REDIS_URL").unwrap_or("redis://127.0.0.1:6379".to_owned());
            let stream = format!(
                "toolgate:test:audit:{}",
                sqlx::types::Uuid::now_v7().simple()
            );
            let queue = RedisQueue::new(&redis, StreamConfig::new(stream, "control-1")).unwrap();
            let (sink, drain) = AuditSink::redis(queue.clone(), SinkConfig::default());
            let consumer = tokio::spawn(Consumer::new(queue, pool.clone()).run());
            (sink, drain, Some(consumer))
        }
        Queue::InProcess => {
            let (sink, drain) = AuditSink::in_process(pool.clone(), SinkConfig::default());
            (sink, drain, None)
        }
    };
    let state = proxy_state(&pool, key, Limiter::new(CounterStore::memory()), sink);
    Gateway {
        router: router(state),
        accounts: [acme, globex],
        pool,
        _drain: drain,
        consumer,
    }
}

impl Gateway {
    /// A `tools/call` by `account`'s agent, as raw JSON text: the poisons
    /// travel as `\u0000` escapes, as an agent sends them.
    async fn call(&self, account: &Seeded, id: u32, name: &str, arguments: &str) {
        let body = format!(
            r#"{{"jsonrpc": "2.0", "id": {id}, "method": "tools/call", "params": {{"name": "{name}", "arguments": {arguments}}}}}"#
        );
        let request = Request::post(account.path())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {}", account.token()))
            .body(Body::from(body))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }

    /// Ordinary calls with each poison between them, for both accounts in
    /// turn; `round` keeps the ordinary tools' names apart.
    async fn calls_with_poisons(&self, round: &str) {
        let poisons = [
            (r#"de\u0000lete"#, r#"{"message": "x"}"#),
            ("echo", r#"{"pa\u0000th": "x"}"#),
            (
                "kept",
                r#"{"message": "vis\u0000ible", "nested": {"k\u0000": ["\u0000"]}}"#,
            ),
            ("short", r#"{"message": "\u0000\u0000\u0000\u0000"}"#),
        ];
        let mut id = 0;
        for (n, (name, arguments)) in poisons.iter().enumerate() {
            for account in &self.accounts {
                id += 1;
                self.call(account, id, &format!("{round}-{n}"), "{}").await;
                id += 1;
                self.call(account, id, name, arguments).await;
            }
        }
        for account in &self.accounts {
            id += 1;
            self.call(account, id, &format!("{round}-last"), "{}").await;
        }
    }

    /// Waits until `account` has `want` events stored, then a little longer
    /// to catch any extra, and returns them.
    async fn events(&self, account: AccountId, want: usize) -> Vec<AuditEvent> {
        let list = || async {
            toolgate_store::audit::list(&self.pool, account, &AuditFilter::default(), None, 500)
                .await
                .unwrap()
                .items
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stored = list().await.len();
            if stored >= want {
                tokio::time::sleep(Duration::from_millis(300)).await;
                return list().await;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{stored} of {want} events"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn dead_letters(&self) -> Vec<(AccountId, String)> {
        toolgate_store::audit_dead_letters::recent(&self.pool, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|l| {
                let event: AuditEvent = serde_json::from_str(&l.event).unwrap();
                (AccountId(l.account_id.unwrap()), event.tool)
            })
            .collect()
    }
}

/// Whether any string or key in `value` holds U+0000.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// A Prometheus recorder for this test's thread: `#[sqlx::test]` runs each
/// test on a current-thread runtime, so the gateway, the sink and the
/// consumer all count here, and no other test does.
fn local_metrics() -> (PrometheusHandle, LocalRecorderGuard<'static>) {
    let recorder: &'static PrometheusRecorder =
        Box::leak(Box::new(PrometheusBuilder::new().build_recorder()));
    (
        recorder.handle(),
        metrics::set_default_local_recorder(recorder),
    )
}

fn dead_lettered(metrics: &PrometheusHandle) -> u64 {
    metrics
        .render()
        .lines()
        .find_map(|line| {
            line.strip_prefix(DEAD_LETTERED_METRIC)?
                .strip_prefix(' ')?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

async fn one_poison_call_never_stops_the_trail(pool: PgPool, queue: Queue) {
    let (metrics, _guard) = local_metrics();
    let g = gateway(pool, queue).await;

    // 1. Every poison is storable: nothing is refused, nothing set aside.
    g.calls_with_poisons("first").await;
    for account in &g.accounts {
        let events = g.events(account.account, 9).await;
        assert_eq!(events.len(), 9, "{events:#?}");
        let tool = |name: &str| events.iter().find(|e| e.tool == name).unwrap();
        for n in ["0", "1", "2", "3", "last"] {
            tool(&format!("first-{n}"));
        }
        tool("de\u{FFFD}lete");
        assert!(events
            .iter()
            .any(|e| e.tool == "echo" && e.argument_keys == ["pa\u{FFFD}th"]));
        assert_eq!(
            tool("kept").arguments,
            Some(json!({"message": "vis\u{FFFD}ible", "nested": {"k\u{FFFD}": ["\u{FFFD}"]}}))
        );
        // The validator quotes the value as JSON: the reason holds `\u0000`
        // as visible text, never a NUL.
        let short = tool("short");
        assert_eq!(short.decision, toolgate_audit::AuditDecision::Refused);
        assert!(short.reason.as_deref().unwrap().contains("\\u0000"));
        assert!(!holds_nul(&serde_json::to_value(&events).unwrap()));
    }
    assert!(g.dead_letters().await.is_empty());
    assert_eq!(dead_lettered(&metrics), 0);

    // 2. Postgres now refuses a new row whose name holds U+FFFD: the NUL-named
    // calls are refused for their data, found, and set aside; every other
    // event of both accounts is stored.
    sqlx::query!(
        r"ALTER TABLE audit_events ADD CONSTRAINT no_replaced_names CHECK (strpos(tool, U&'\FFFD') = 0) NOT VALID",
    )
    .execute(&g.pool)
    .await
    .unwrap();
    g.calls_with_poisons("second").await;
    for account in &g.accounts {
        let events = g.events(account.account, 9 + 8).await;
        assert_eq!(events.len(), 17, "{events:#?}");
        for n in ["0", "1", "2", "3", "last"] {
            assert!(events.iter().any(|e| e.tool == format!("second-{n}")));
        }
    }
    let mut letters = g.dead_letters().await;
    letters.sort();
    let mut expected: Vec<(AccountId, String)> = g
        .accounts
        .iter()
        .map(|a| (a.account, "de\0lete".to_owned()))
        .collect();
    expected.sort();
    assert_eq!(letters, expected, "kept as sent, NUL and all");
    assert_eq!(dead_lettered(&metrics), 2);

    // 3. And the trail keeps up.
    for (n, account) in g.accounts.iter().enumerate() {
        for id in 0..5 {
            g.call(account, 1000 + id, &format!("after-{n}"), "{}")
                .await;
        }
    }
    for account in &g.accounts {
        assert_eq!(g.events(account.account, 22).await.len(), 22);
    }
    assert_eq!(dead_lettered(&metrics), 2);
}

#[sqlx::test(migrations = "../../migrations")]
async fn one_poison_call_never_stops_the_stream_queue(pool: PgPool) {
    one_poison_call_never_stops_the_trail(pool, Queue::Stream).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn one_poison_call_never_stops_the_in_process_queue(pool: PgPool) {
    one_poison_call_never_stops_the_trail(pool, Queue::InProcess).await;
}
