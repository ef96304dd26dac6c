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

mod common;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{env_or, percentile, redis_connection, seed, start_upstream};
use serde_json::json;
use toolgate_audit::{AuditSink, Consumer, RedisQueue, SinkConfig, StreamConfig};
use toolgate_limits::CounterStore;
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::router;
use toolgate_proxy::test_support::{post_mcp, proxy_state, serve};
use toolgate_store::secrets::SecretKey;

const DATABASE: &str = "toolgate_bench_audit";
const WARMUP_CALLS: usize = 300;
const COMMAND: &str = "DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
     CARGO_TARGET_DIR=/work/target cargo bench -p toolgate-proxy --bench audit_overhead";

fn main() {
    common::run(run);
}

async fn call(client: &reqwest::Client, url: &str, token: &str, id: usize) -> Duration {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"message": "hi", "n": 1}}})
    .to_string();
    let started = Instant::now();
    let response = post_mcp(client, url, token, body).await;
    let text = response.text().await.unwrap();
    let elapsed = started.elapsed();
    assert!(text.contains("\"result\""), "not served: {text}");
    elapsed
}

async fn run(calls: usize) {
    let redis_url = env_or("REDIS_URL", "redis://127.0.0.1:6379");
    let key = Arc::new(SecretKey::from_bytes([7; 32]));
    let upstream = start_upstream().await;
    let policy = json!({"version": "1", "default": "deny", "tools": {"echo": {}}});
    let (pool, seeded) = seed(DATABASE, 8, &upstream, &key, &policy).await;
    let token = seeded.token();

    let stream = format!("toolgate:bench:audit:{}", std::process::id());
    let queue = RedisQueue::new(&redis_url, StreamConfig::new(stream.clone(), "bench")).unwrap();
    tokio::spawn(Consumer::new(queue.clone(), pool.clone()).run());
    let gateway = |audit| async {
        let state = proxy_state(
            &pool,
            key.clone(),
            Limiter::new(CounterStore::memory()),
            audit,
        );
        format!("http://{}{}", serve(router(state)).await, seeded.path())
    };
    let off = gateway(AuditSink::disabled()).await;
    let on = gateway(AuditSink::redis(queue.clone(), SinkConfig::default()).0).await;
    let (client_off, client_on) = (reqwest::Client::new(), reqwest::Client::new());

    for i in 0..WARMUP_CALLS {
        call(&client_off, &off, token, i).await;
        call(&client_on, &on, token, i).await;
    }
    let warmed_rows = WARMUP_CALLS as i64;
    let (mut t_off, mut t_on) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for i in 0..calls {
        t_off.push(call(&client_off, &off, token, i).await.as_nanos() as f64 / 1000.0);
        t_on.push(call(&client_on, &on, token, i).await.as_nanos() as f64 / 1000.0);
    }
    t_off.sort_by(f64::total_cmp);
    t_on.sort_by(f64::total_cmp);

    // Every audited call becomes a row.
    let want = warmed_rows + calls as i64;
    let started = Instant::now();
    let stored = loop {
        let stored = sqlx::query_scalar!(r#"SELECT count(*) AS "rows!" FROM audit_events"#)
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

    let mut conn = redis_connection(&redis_url).await;
    let _: i64 = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut conn)
        .await
        .unwrap();
}
