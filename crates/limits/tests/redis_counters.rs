//! Redis-only checks that read the keys themselves, on the shared server:
//! a refused call leaves every key byte-identical, every committed key has a
//! TTL, and several independent stores (replicas) admit exactly K together.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{account, admitted, fixed, raw_redis, redis_url, refused, sliding};
use toolgate_limits::{counter_key, CounterStore, Outcome, DEFAULT_NAMESPACE};

async fn dump(connection: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("DUMP")
        .arg(key)
        .query_async(connection)
        .await
        .unwrap()
}

async fn pttl(connection: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(connection)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refused_call_leaves_every_key_byte_identical() {
    let store = common::redis_store();
    let mut redis = raw_redis().await;
    let account = account();
    let wide = fixed("c:wide:account", 60, 10, 1);
    let narrow = sliding("c:narrow:grant=grt_1", 60, 2, 1);
    let untouched = fixed("c:untouched:account", 60, 10, 1);
    let keys: Vec<String> = [&wide, &narrow, &untouched]
        .iter()
        .map(|l| counter_key(DEFAULT_NAMESPACE, &account, l))
        .collect();
    for _ in 0..2 {
        admitted(
            store
                .acquire(&account, &[wide.clone(), narrow.clone()])
                .await
                .unwrap(),
        );
    }
    for key in &keys[..2] {
        let ttl = pttl(&mut redis, key).await;
        assert!(ttl > 0 && ttl <= 61_000, "{key}: PTTL {ttl}");
    }
    let mut before = Vec::new();
    for key in &keys {
        before.push(dump(&mut redis, key).await);
    }
    assert!(before[2].is_none());
    let (index, _) = refused(
        store
            .acquire(&account, &[untouched.clone(), wide.clone(), narrow.clone()])
            .await
            .unwrap(),
    );
    assert_eq!(index, 2);
    for (key, before) in keys.iter().zip(&before) {
        assert_eq!(
            &dump(&mut redis, key).await,
            before,
            "{key} changed on a refused call"
        );
    }
    let count: u64 = redis::cmd("HGET")
        .arg(&keys[0])
        .arg("c")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(count, 2);
    let members: u64 = redis::cmd("ZCARD")
        .arg(&keys[1])
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(members, 2);
}

#[tokio::test]
async fn every_counter_of_an_account_shares_one_hash_tag() {
    let account = account();
    let keys = [
        fixed("c:a:grant=grt_1:srv_1", 60, 1, 1),
        sliding(&"x".repeat(300), 1, 1, 1),
    ]
    .map(|limit| counter_key(DEFAULT_NAMESPACE, &account, &limit));
    for key in keys {
        assert!(key.starts_with(&format!("tg:{{{account}}}:")), "{key}");
        assert_eq!(key.matches('{').count(), 1, "{key}");
    }
}

/// Three stores with their own connections stand for three gateway
/// replicas; 8 tasks each race on one limit of K.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_together_admit_exactly_k() {
    let replicas: Vec<CounterStore> = (0..3)
        .map(|_| CounterStore::redis(&redis_url(), Duration::from_secs(2)).unwrap())
        .collect();
    let mut redis = raw_redis().await;
    for k in [1, 17, 50] {
        for limit in [
            fixed("c:fleet:account", 60, k, 1),
            sliding("c:fleet:account", 60, k, 1),
        ] {
            let account = Arc::new(account());
            let admitted_count = Arc::new(AtomicU64::new(0));
            let barrier = Arc::new(tokio::sync::Barrier::new(24));
            let mut tasks = Vec::new();
            for store in &replicas {
                for _ in 0..8 {
                    let (store, account, limit) = (store.clone(), account.clone(), limit.clone());
                    let (admitted_count, barrier) = (admitted_count.clone(), barrier.clone());
                    tasks.push(tokio::spawn(async move {
                        barrier.wait().await;
                        for _ in 0..5 {
                            let outcome = store
                                .acquire(&account, std::slice::from_ref(&limit))
                                .await
                                .unwrap();
                            if let Outcome::Admitted(_) = outcome {
                                admitted_count.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }));
                }
            }
            for task in tasks {
                task.await.unwrap();
            }
            assert_eq!(
                admitted_count.load(Ordering::SeqCst),
                k,
                "{:?}",
                limit.algorithm
            );
            let key = counter_key(DEFAULT_NAMESPACE, &account, &limit);
            let stored: u64 = match limit.algorithm {
                toolgate_limits::Algorithm::Fixed => redis::cmd("HGET")
                    .arg(&key)
                    .arg("c")
                    .query_async(&mut redis)
                    .await
                    .unwrap(),
                toolgate_limits::Algorithm::Sliding => redis::cmd("ZCARD")
                    .arg(&key)
                    .query_async(&mut redis)
                    .await
                    .unwrap(),
            };
            assert_eq!(stored, k, "{key}");
        }
    }
}
