//! Rate limits across a fleet: three `toolgate proxy` processes sharing
//! Postgres and the real Redis, many concurrent agents, one limit of K per
//! window. Exactly K calls are admitted, the stored count is K, every other
//! call is refused with a retry time, and a call refused by one of two limits
//! consumes neither.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod fleet;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fleet::{Fleet, Outcome};
use serde_json::json;

const REDIS: &str = "redis://127.0.0.1:6379";

fn policy() -> serde_json::Value {
    json!({
        "version": "1",
        "default": "deny",
        "tools": {
            "one": {"limits": [{"counter": "k1", "window": "day", "max": 1, "scope": "grant"}]},
            "seven": {"limits": [{"counter": "k7", "window": "day", "max": 7, "scope": "grant"}]},
            "fifty": {"limits": [{"counter": "k50", "window": "day", "max": 50, "scope": "server"}]},
            "pair": {"limits": [
                {"counter": "pair_wide", "window": "day", "max": 30, "scope": "grant"},
                {"counter": "pair_narrow", "window": "day", "max": 20, "scope": "account"}
            ]}
        }
    })
}

/// Fires `calls` calls of `tool` from `concurrency` tasks spread over every
/// replica; returns (admitted, refused with a retry time).
async fn storm(fleet: &Fleet, tool: &str, calls: usize, concurrency: usize) -> (usize, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let admitted = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (next, admitted, refused) = (next.clone(), admitted.clone(), refused.clone());
        let fleet = fleet.handle();
        let tool = tool.to_owned();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= calls {
                    break;
                }
                match fleet.call(i, &tool).await {
                    Outcome::Admitted => admitted.fetch_add(1, Ordering::SeqCst),
                    Outcome::Refused { retry_after_ms } => {
                        assert!(retry_after_ms > 0, "a refusal says when to retry");
                        refused.fetch_add(1, Ordering::SeqCst)
                    }
                    Outcome::Other(text) => panic!("unexpected answer: {text}"),
                };
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    (
        admitted.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_k_calls_are_admitted_across_three_replicas() {
    let fleet = Fleet::start("limits_fleet", REDIS, 3, policy()).await;
    for (tool, k, counter) in [("one", 1, "k1"), ("seven", 7, "k7"), ("fifty", 50, "k50")] {
        let calls = k * 3 + 60;
        let (admitted, refused) = storm(&fleet, tool, calls, 64).await;
        assert_eq!(admitted, k, "{tool}: admitted");
        assert_eq!(refused, calls - k, "{tool}: refused");
        assert_eq!(
            fleet.stored_count(counter).await,
            k as i64,
            "{tool}: stored count"
        );
    }
    assert!(
        fleet.upstream_calls() == 1 + 7 + 50,
        "only admitted calls reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_refused_by_one_limit_consumes_none() {
    let fleet = Fleet::start("limits_pair", REDIS, 3, policy()).await;
    let (admitted, refused) = storm(&fleet, "pair", 120, 64).await;
    assert_eq!(admitted, 20);
    assert_eq!(refused, 100);
    assert_eq!(fleet.stored_count("pair_narrow").await, 20);
    assert_eq!(
        fleet.stored_count("pair_wide").await,
        20,
        "refused calls consumed nothing of the wider limit"
    );
}

/// `SCRIPT FLUSH` empties Redis's script cache; the next call must load the
/// script again without running it twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn script_flush_mid_load_counts_nothing_twice() {
    let fleet = Fleet::start("limits_flush", REDIS, 3, policy()).await;
    let flusher = tokio::spawn(async {
        let client = redis::Client::open(REDIS).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        for _ in 0..40 {
            let _: () = redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async(&mut conn)
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
    let (admitted, refused) = storm(&fleet, "fifty", 200, 64).await;
    flusher.await.unwrap();
    assert_eq!(admitted, 50);
    assert_eq!(refused, 150);
    assert_eq!(fleet.stored_count("k50").await, 50);
    assert_eq!(fleet.upstream_calls(), 50);
}
