//! Faults injected into a private redis-server on a free port (never the
//! shared one): down at start, killed and restarted, paused past the
//! deadline, its script cache flushed under load.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{account, admitted, fixed, sliding, PrivateRedis};
use toolgate_limits::{BackendError, CounterStore, LimitRequest, Outcome};

const DEADLINE: Duration = Duration::from_millis(300);

/// Acquire until it succeeds (the manager reconnects in the background after
/// the first failure), for at most 5 s.
async fn acquire_eventually(store: &CounterStore, account: &str, limit: &LimitRequest) -> Outcome {
    let started = Instant::now();
    loop {
        match store.acquire(account, std::slice::from_ref(limit)).await {
            Ok(outcome) => return outcome,
            Err(err) if started.elapsed() < Duration::from_secs(5) => {
                assert!(
                    matches!(err, BackendError::Unavailable(_) | BackendError::Timeout),
                    "{err}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("no recovery after 5 s: {err}"),
        }
    }
}

#[tokio::test]
async fn starts_while_redis_is_down_and_recovers_without_a_new_store() {
    let mut server = PrivateRedis::reserve();
    let store = CounterStore::redis(&server.url(), DEADLINE).unwrap();
    let account = account();
    let limit = fixed("c:rate:account", 60, 100, 1);

    let started = Instant::now();
    let err = store
        .acquire(&account, std::slice::from_ref(&limit))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackendError::Unavailable(_) | BackendError::Timeout),
        "{err}"
    );
    assert!(
        started.elapsed() <= DEADLINE + Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert!(store.ping().await.is_err());

    server.up();
    admitted(acquire_eventually(&store, &account, &limit).await);
    store.ping().await.unwrap();

    server.down();
    let started = Instant::now();
    assert!(store
        .acquire(&account, std::slice::from_ref(&limit))
        .await
        .is_err());
    assert!(
        started.elapsed() <= DEADLINE + Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert!(store.ping().await.is_err());
    assert!(
        started.elapsed() <= DEADLINE + Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );

    server.up();
    admitted(acquire_eventually(&store, &account, &limit).await);
    // The restarted server lost its data (no persistence): a fresh count.
    assert_eq!(store.usage(&account, &limit).await.unwrap(), 1);
}

#[tokio::test]
async fn a_paused_server_times_out_within_the_deadline_and_is_never_retried() {
    let server = PrivateRedis::start();
    let store = CounterStore::redis(&server.url(), DEADLINE).unwrap();
    let account = account();
    let limit = fixed("c:rate:account", 60, 100, 1);
    admitted(
        store
            .acquire(&account, std::slice::from_ref(&limit))
            .await
            .unwrap(),
    );

    let mut admin = server.connection().await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1000)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    let started = Instant::now();
    let err = store
        .acquire(&account, std::slice::from_ref(&limit))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Timeout), "{err}");
    assert!(
        started.elapsed() <= DEADLINE + Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );

    // The timed-out script runs once the pause ends: it counts once, not twice.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let usage = loop {
        if let Ok(usage) = store.usage(&account, &limit).await {
            break usage;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        usage, 2,
        "a timed-out call ran once on the server and was not re-sent"
    );
    admitted(
        store
            .acquire(&account, std::slice::from_ref(&limit))
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn one_script_call_per_acquire() {
    let server = PrivateRedis::start();
    let store = CounterStore::redis(&server.url(), DEADLINE).unwrap();
    let account = account();
    let limits = [
        fixed("c:a:account", 60, 1000, 1),
        sliding("c:b:grant=grt_1", 60, 1000, 2),
        fixed("c:c:srv", 1, 1000, 3),
    ];
    admitted(store.acquire(&account, &limits).await.unwrap()); // loads the script once
    let mut admin = server.connection().await;
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut admin)
        .await
        .unwrap();
    for _ in 0..20 {
        admitted(store.acquire(&account, &limits).await.unwrap());
    }
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut admin)
        .await
        .unwrap();
    let calls = |command: &str| {
        stats
            .lines()
            .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
            .map_or(0, |rest| {
                rest.split(',').next().unwrap().parse::<u64>().unwrap()
            })
    };
    // 20 requests, 20 script runs (each reads TIME once), nothing else
    // from the store: the commands left are the ones the script issues.
    assert_eq!(calls("evalsha"), 20, "{stats}");
    assert_eq!(calls("time"), 20, "{stats}");
    let script_commands = [
        "evalsha",
        "time",
        "hmget",
        "hget",
        "hset",
        "hincrby",
        "pexpire",
        "zcount",
        "zrangebyscore",
        "zremrangebyscore",
        "zadd",
    ];
    let others: Vec<&str> = stats
        .lines()
        .filter_map(|line| line.strip_prefix("cmdstat_")?.split(':').next())
        .filter(|command| {
            !script_commands.contains(command) && !["info", "config|resetstat"].contains(command)
        })
        .collect();
    assert!(others.is_empty(), "{others:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn script_flush_never_counts_a_call_twice() {
    let server = PrivateRedis::start();
    let store = CounterStore::redis(&server.url(), Duration::from_secs(2)).unwrap();
    let mut admin = server.connection().await;
    let account = Arc::new(account());
    let limits = [
        fixed("c:spend:account", 3600, 100_000, 3),
        sliding("c:rate:account", 3600, 10_000, 1),
    ];

    // Between calls.
    let mut admitted_calls = 0;
    for _ in 0..20 {
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut admin)
            .await
            .unwrap();
        admitted(store.acquire(&account, &limits).await.unwrap());
        admitted_calls += 1;
    }

    // Under concurrent load, flushing as fast as the server allows.
    let stop = Arc::new(AtomicBool::new(false));
    let flusher = {
        let stop = stop.clone();
        let mut admin = server.connection().await;
        tokio::spawn(async move {
            let mut flushes = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let _: () = redis::cmd("SCRIPT")
                    .arg("FLUSH")
                    .query_async(&mut admin)
                    .await
                    .unwrap();
                flushes += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            flushes
        })
    };
    let count = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, account, limits, count) = (
                store.clone(),
                account.clone(),
                limits.clone(),
                count.clone(),
            );
            tokio::spawn(async move {
                for _ in 0..50 {
                    admitted(store.acquire(&account, &limits).await.unwrap());
                    count.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    assert!(flusher.await.unwrap() > 5, "the flusher barely ran");
    admitted_calls += count.load(Ordering::SeqCst);

    assert_eq!(admitted_calls, 420);
    assert_eq!(
        store.usage(&account, &limits[0]).await.unwrap(),
        3 * admitted_calls
    );
    assert_eq!(
        store.usage(&account, &limits[1]).await.unwrap(),
        admitted_calls
    );
}
