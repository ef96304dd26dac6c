//! What auditing costs an allowed `tools/call` through the gateway: the added
//! latency at p50/p90/p99 against the same call with auditing off, both
//! measured in one run.
//!
//! Two gateways serve real HTTP on loopback from one process, in front of one
//! in-process upstream that answers at once; they differ only in their audit
//! sink: off, or a Redis Stream (the production path) drained into Postgres
//! by a consumer running alongside, as a control plane would. Calls alternate
//! off, on, off, … on one connection each, so drift hits both alike. At the
//! end every audited call must be a row.
//!
//! `DATABASE_URL` (a server where the bench may create `toolgate_bench_audit`),
//! `REDIS_URL`, `BENCH_CALLS` (calls per gateway, default 3000). Writes
//! `bench/results/audit.md`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use serde_json::{json, Value};
use toolgate_audit::{AuditSink, Consumer, RedisQueue, SinkConfig, StreamConfig};
use toolgate_changes::ApprovalBus;
use toolgate_limits::CounterStore;
use toolgate_proxy::approval::Approvals;
use toolgate_proxy::cache::SnapshotCache;
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::session::SessionSealer;
use toolgate_proxy::upstream::UpstreamClient;
use toolgate_proxy::{router, ProxyState};
use toolgate_store::secrets::SecretKey;
use toolgate_store::{accounts, db, grants, policies, servers};

const DATABASE: &str = "toolgate_bench_audit";
const WARMUP_CALLS: usize = 300;
const COMMAND: &str = "DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
     CARGO_TARGET_DIR=/work/target cargo bench -p toolgate-proxy --bench audit_overhead";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn main() {
    let calls: usize = env_or("BENCH_CALLS", "3000").parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(calls));
}

async fn start_upstream() -> String {
    let app = axum::Router::new().route(
        "/mcp",
        post(|body: String| async move {
            let message: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let reply = json!({"jsonrpc": "2.0", "id": message["id"],
                               "result": {"content": [{"type": "text", "text": "ok"}]}});
            ([("content-type", "application/json")], reply.to_string())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/mcp")
}

async fn serve(state: ProxyState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    format!("http://{addr}")
}

async fn call(client: &reqwest::Client, url: &str, token: &str, id: usize) -> Duration {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"message": "hi", "n": 1}}})
    .to_string();
    let started = Instant::now();
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let elapsed = started.elapsed();
    assert!(text.contains("\"result\""), "not served: {text}");
    elapsed
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn run(calls: usize) {
    let redis_url = env_or("REDIS_URL", "redis://127.0.0.1:6379");
    let admin_url = env_or(
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    );
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(&format!(
        "DROP DATABASE IF EXISTS \"{DATABASE}\" WITH (FORCE)"
    ))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    let base = admin_url.rsplit_once('/').map_or(&*admin_url, |(b, _)| b);
    let url = format!("{base}/{DATABASE}");
    db::create_database_if_missing(&url).await.unwrap();
    let pool = db::connect(&url, 8).await.unwrap();
    db::migrate(&pool).await.unwrap();

    let key = Arc::new(SecretKey::from_bytes([7; 32]));
    let upstream = start_upstream().await;
    let (account, _) = accounts::create_with_owner(
        &pool,
        accounts::NewAccount {
            name: "Bench",
            slug_base: "bench",
            email: "bench@example.com",
            password_hash: "x",
        },
    )
    .await
    .unwrap();
    let server = servers::create(
        &pool,
        &key,
        account.id,
        servers::NewServer {
            name: "tools",
            url: &upstream,
            headers: &BTreeMap::new(),
            timeout_ms: Some(10_000),
        },
    )
    .await
    .unwrap();
    let policy = json!({"version": "1", "default": "deny", "tools": {"echo": {}}});
    policies::put(&pool, account.id, server.id, &policy, None)
        .await
        .unwrap();
    let (_, token) = grants::create(
        &pool,
        account.id,
        grants::NewGrant {
            name: "bench",
            servers: None,
            expires_at: None,
        },
    )
    .await
    .unwrap();

    let stream = format!("toolgate:bench:audit:{}", std::process::id());
    let queue = RedisQueue::new(&redis_url, StreamConfig::new(stream.clone(), "bench")).unwrap();
    tokio::spawn(Consumer::new(queue.clone(), pool.clone()).run());
    let state = |audit: AuditSink| ProxyState {
        cache: Arc::new(SnapshotCache::new(
            pool.clone(),
            key.clone(),
            Duration::from_secs(3600),
        )),
        upstream: UpstreamClient::new(true).unwrap(),
        sealer: Arc::new(SessionSealer::new(&[3; 32])),
        limiter: Limiter::new(CounterStore::memory()),
        approvals: Approvals::new(pool.clone(), ApprovalBus::in_process()),
        audit,
    };
    let path = format!("/mcp/{}/tools", account.slug);
    let off = format!("{}{path}", serve(state(AuditSink::disabled())).await);
    let on = format!(
        "{}{path}",
        serve(state(
            AuditSink::redis(queue.clone(), SinkConfig::default()).0
        ))
        .await
    );
    let (client_off, client_on) = (reqwest::Client::new(), reqwest::Client::new());

    for i in 0..WARMUP_CALLS {
        call(&client_off, &off, &token, i).await;
        call(&client_on, &on, &token, i).await;
    }
    let warmed_rows = WARMUP_CALLS as i64;
    let (mut t_off, mut t_on) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for i in 0..calls {
        t_off.push(call(&client_off, &off, &token, i).await.as_nanos() as f64 / 1000.0);
        t_on.push(call(&client_on, &on, &token, i).await.as_nanos() as f64 / 1000.0);
    }
    t_off.sort_by(f64::total_cmp);
    t_on.sort_by(f64::total_cmp);

    // Every audited call becomes a row.
    let want = warmed_rows + calls as i64;
    let started = Instant::now();
    let stored = loop {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
            .fetch_one(&pool)
            .await
            .unwrap();
        if stored >= want || started.elapsed() > Duration::from_secs(30) {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(stored, want, "audited calls vs rows");

    let mut report = String::new();
    writeln!(report, "# Audit overhead on an allowed `tools/call`\n").unwrap();
    writeln!(
        report,
        "{calls} calls per gateway after {WARMUP_CALLS} warm-up calls each, alternating; \
         loopback HTTP, an upstream that answers at once, the Redis Stream sink with a \
         consumer writing to Postgres alongside. Rows stored: {stored} of {want}.\n"
    )
    .unwrap();
    writeln!(report, "| | p50 µs | p90 µs | p99 µs | mean µs |").unwrap();
    writeln!(report, "|---|---|---|---|---|").unwrap();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    for (name, t) in [("audit off", &t_off), ("audit on", &t_on)] {
        writeln!(
            report,
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
            percentile(t, 0.5),
            percentile(t, 0.9),
            percentile(t, 0.99),
            mean(t)
        )
        .unwrap();
    }
    writeln!(
        report,
        "| **added** | {:+.0} | {:+.0} | {:+.0} | {:+.0} |",
        percentile(&t_on, 0.5) - percentile(&t_off, 0.5),
        percentile(&t_on, 0.9) - percentile(&t_off, 0.9),
        percentile(&t_on, 0.99) - percentile(&t_off, 0.99),
        mean(&t_on) - mean(&t_off)
    )
    .unwrap();
    writeln!(report, "\nReproduce: `{COMMAND}`").unwrap();
    print!("{report}");
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/results/audit.md");
    std::fs::write(out, &report).unwrap();

    let mut conn = redis::Client::open(redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut conn)
        .await
        .unwrap();
}
