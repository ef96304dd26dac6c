//! What the gateway benches share: their runtime, a fresh seeded database
//! and an upstream that is never the bottleneck.

use std::future::Future;

use axum::routing::post;
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_proxy::test_support::{fresh_database, json_response, serve, Seed, Seeded};
use toolgate_store::secrets::SecretKey;

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Runs `bench` on a multi-threaded runtime with the number of calls asked
/// for in `BENCH_CALLS` (default 3000).
pub fn run<F: Future<Output = ()>>(bench: impl FnOnce(usize) -> F) {
    let calls: usize = env_or("BENCH_CALLS", "3000").parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(calls));
}

/// An upstream that answers every call at once; its MCP URL.
pub async fn start_upstream() -> String {
    let app = axum::Router::new().route(
        "/mcp",
        post(|body: String| async move {
            let message: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let reply = json!({"jsonrpc": "2.0", "id": message["id"],
                               "result": {"content": [{"type": "text", "text": "ok"}]}});
            json_response(&reply)
        }),
    );
    format!("http://{}/mcp", serve(app).await)
}

/// A fresh `database` with one account whose server at `upstream` has
/// `policy`, and one grant.
pub async fn seed(
    database: &str,
    max_connections: u32,
    upstream: &str,
    key: &SecretKey,
    policy: &Value,
) -> (PgPool, Seeded) {
    let pool = fresh_database(database, max_connections).await;
    let seeded = Seed::new("Bench", upstream, policy)
        .create(&pool, key)
        .await;
    (pool, seeded)
}

pub async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
