//! End to end: two `toolgate proxy` replicas queue audit events on a Redis
//! Stream while a `toolgate control` process moves them into Postgres; the
//! control process is killed (SIGKILL) mid-load and restarted, and every call
//! is still exactly one row.

#![allow(clippy::unwrap_used)]

mod fleet;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet::{
    audit_stream, fleet_database_url, free_port, redis_namespace, Fleet, Outcome, SECRET_KEY_HEX,
};
use serde_json::json;

const NAME: &str = "audit_kill";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn start_control(port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .arg("control")
        .env("DATABASE_URL", fleet_database_url(NAME))
        .env("REDIS_URL", redis_url())
        .env("TOOLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOOLGATE_SECRET_KEY", SECRET_KEY_HEX)
        .env(
            "TOOLGATE_JWT_SECRET",
            "fleet-test-jwt-secret-fleet-test-jwt-secret",
        )
        .env("TOOLGATE_REDIS_NAMESPACE", redis_namespace(NAME))
        .env("TOOLGATE_AUDIT_CONSUMER", "control-e2e")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

async fn rows(pool: &sqlx::PgPool, decision: Option<&str>) -> i64 {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "rows!" FROM audit_events WHERE ($1::text IS NULL OR decision = $1)"#,
        decision,
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_control_plane_mid_load_loses_and_duplicates_nothing() {
    // Start from an empty stream: a previous run's leftovers are not ours.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(audit_stream(NAME))
        .query_async(&mut conn)
        .await
        .unwrap();

    let policy = json!({"version": "1", "default": "allow",
        "tools": {"wipe": {"action": "deny", "reason": "no"}}});
    let fleet = Fleet::start(NAME, &redis_url(), 2, policy).await;
    let port = free_port();
    let mut control = start_control(port);

    const CALLS: usize = 1200;
    const WORKERS: usize = 8;
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let handle = fleet.handle();
        let (next, done) = (next.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= CALLS {
                    return;
                }
                let tool = if i % 4 == 0 { "wipe" } else { "echo" };
                let outcome = handle.call(i, tool).await;
                match (tool, outcome) {
                    ("echo", Outcome::Admitted) | ("wipe", Outcome::Other(_)) => {}
                    (tool, other) => panic!("{tool}: {other:?}"),
                }
                done.fetch_add(1, Ordering::SeqCst);
                // Spread the load over a few seconds.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }

    let pool = sqlx::PgPool::connect(&fleet_database_url(NAME))
        .await
        .unwrap();
    // Kill the control plane once it has stored some events and calls are
    // still flowing.
    let started = Instant::now();
    while rows(&pool, None).await < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no events stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    control.kill().unwrap();
    control.wait().unwrap();
    let at_kill = done.load(Ordering::SeqCst);
    assert!(at_kill < CALLS, "the load ended before the kill");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut control = start_control(port);

    for worker in workers {
        worker.await.unwrap();
    }
    let started = Instant::now();
    while rows(&pool, None).await < CALLS as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} of {CALLS} events stored",
            rows(&pool, None).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Anything redelivered would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rows(&pool, None).await, CALLS as i64);
    assert_eq!(rows(&pool, Some("unknown_tool")).await, (CALLS / 4) as i64);
    assert_eq!(rows(&pool, Some("allowed")).await, (CALLS * 3 / 4) as i64);
    assert_eq!(fleet.upstream_calls(), CALLS * 3 / 4);
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(audit_stream(NAME))
        .arg("toolgate-audit")
        .query_async(&mut conn)
        .await
        .unwrap();
    match pending {
        redis::Value::Array(items) => assert_eq!(items[0], redis::Value::Int(0)),
        other => panic!("XPENDING: {other:?}"),
    }
    eprintln!("killed the control plane after {at_kill} of {CALLS} calls");
    control.kill().unwrap();
    control.wait().unwrap();
}
