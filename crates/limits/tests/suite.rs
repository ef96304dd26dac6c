//! One suite, run against both stores: the in-memory one and the real
//! redis-server on 127.0.0.1:6379. Every test uses a fresh random account,
//! so tests run in parallel without sharing counters.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::slice::from_ref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{account, admitted, fixed, refused, sliding};
use toolgate_limits::{CounterStore, Outcome};

on_both_stores!(
    k_admitted_then_refused_with_a_sane_retry,
    sliding_k_admitted_then_refused_until_the_oldest_leaves,
    a_refused_call_consumes_nothing_on_any_limit,
    cost_is_a_spend_cap,
    rules_sharing_a_key_share_one_counter,
    release_gives_back_exactly,
    release_after_the_window_moved_leaves_the_new_window_alone,
    zero_cost_checks_and_consumes_nothing,
    concurrent_acquires_admit_exactly_k,
    a_sliding_limit_takes_its_largest_cost_and_gives_it_back,
    invalid_limits_are_rejected_without_io,
);

async fn k_admitted_then_refused_with_a_sane_retry(store: CounterStore) {
    let account = account();
    let limit = fixed("c:rate:grant=grt_1:srv_1", 60, 5, 1);
    for _ in 0..5 {
        admitted(store.acquire(&account, from_ref(&limit)).await.unwrap());
    }
    let (index, retry) = refused(store.acquire(&account, from_ref(&limit)).await.unwrap());
    assert_eq!(index, 0);
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(60),
        "{retry:?}"
    );
    assert_eq!(store.usage(&account, &limit).await.unwrap(), 5);

    // The retry is exact: once it has passed, the window is fresh.
    store.advance_clock_ms(retry.as_millis() as i64);
    admitted(store.acquire(&account, from_ref(&limit)).await.unwrap());
    assert_eq!(store.usage(&account, &limit).await.unwrap(), 1);
}

async fn sliding_k_admitted_then_refused_until_the_oldest_leaves(store: CounterStore) {
    let account = account();
    let limit = sliding("c:rate:grant=grt_1:srv_1", 60, 3, 1);
    let first = admitted(store.acquire(&account, from_ref(&limit)).await.unwrap());
    store.advance_clock_ms(10_000);
    admitted(store.acquire(&account, from_ref(&limit)).await.unwrap());
    admitted(store.acquire(&account, from_ref(&limit)).await.unwrap());
    let (index, retry) = refused(store.acquire(&account, from_ref(&limit)).await.unwrap());
    assert_eq!(index, 0);
    let now = store.now_ms().await.unwrap();
    // The oldest entry leaves 60 s after it was added.
    let expected = first.at_ms() + 60_000 - now;
    assert!(
        (retry.as_millis() as i64 - expected).abs() <= 50,
        "retry {retry:?}, expected ~{expected} ms"
    );
    store.advance_clock_ms(retry.as_millis() as i64);
    admitted(store.acquire(&account, from_ref(&limit)).await.unwrap());
    refused(store.acquire(&account, from_ref(&limit)).await.unwrap());
    assert_eq!(store.usage(&account, &limit).await.unwrap(), 3);
}

async fn a_refused_call_consumes_nothing_on_any_limit(store: CounterStore) {
    let account = account();
    let wide = fixed("c:wide:account", 60, 5, 1);
    let narrow = sliding("c:narrow:grant=grt_1", 60, 2, 1);
    for _ in 0..2 {
        admitted(
            store
                .acquire(&account, &[wide.clone(), narrow.clone()])
                .await
                .unwrap(),
        );
    }
    for _ in 0..3 {
        let (index, _) = refused(
            store
                .acquire(&account, &[wide.clone(), narrow.clone()])
                .await
                .unwrap(),
        );
        assert_eq!(index, 1);
    }
    assert_eq!(
        store.usage(&account, &wide).await.unwrap(),
        2,
        "refused calls must not count on the wide limit"
    );
    assert_eq!(store.usage(&account, &narrow).await.unwrap(), 2);
    // The wide limit alone still has exactly its remaining room.
    for _ in 0..3 {
        admitted(store.acquire(&account, from_ref(&wide)).await.unwrap());
    }
    let (index, _) = refused(
        store
            .acquire(&account, &[narrow.clone(), wide.clone()])
            .await
            .unwrap(),
    );
    assert!(index <= 1);
    assert_eq!(store.usage(&account, &wide).await.unwrap(), 5);
    assert_eq!(store.usage(&account, &narrow).await.unwrap(), 2);
}

async fn cost_is_a_spend_cap(store: CounterStore) {
    let account = account();
    let spend = |cost| fixed("c:spend:account", 86_400, 1000, cost);
    admitted(store.acquire(&account, &[spend(400)]).await.unwrap());
    admitted(store.acquire(&account, &[spend(400)]).await.unwrap());
    refused(store.acquire(&account, &[spend(300)]).await.unwrap());
    admitted(store.acquire(&account, &[spend(200)]).await.unwrap());
    refused(store.acquire(&account, &[spend(1)]).await.unwrap());
    assert_eq!(store.usage(&account, &spend(0)).await.unwrap(), 1000);

    // A single call over the whole cap never fits, and consumes nothing.
    let fresh = common::account();
    let (_, retry) = refused(store.acquire(&fresh, &[spend(u64::MAX)]).await.unwrap());
    assert!(retry <= Duration::from_secs(86_400));
    assert_eq!(store.usage(&fresh, &spend(0)).await.unwrap(), 0);

    let log = |cost| sliding("c:units:account", 60, 10, cost);
    admitted(store.acquire(&fresh, &[log(7)]).await.unwrap());
    refused(store.acquire(&fresh, &[log(4)]).await.unwrap());
    admitted(store.acquire(&fresh, &[log(3)]).await.unwrap());
    assert_eq!(store.usage(&fresh, &log(0)).await.unwrap(), 10);
}

async fn rules_sharing_a_key_share_one_counter(store: CounterStore) {
    let account = account();
    // Two tools' rules name the same counter: one budget between them.
    let shared = fixed("c:shared:account", 60, 3, 1);
    let other = fixed("c:other:account", 60, 100, 1);
    admitted(store.acquire(&account, from_ref(&shared)).await.unwrap());
    admitted(
        store
            .acquire(&account, &[other.clone(), shared.clone()])
            .await
            .unwrap(),
    );
    admitted(store.acquire(&account, from_ref(&shared)).await.unwrap());
    let (index, _) = refused(
        store
            .acquire(&account, &[other.clone(), shared.clone()])
            .await
            .unwrap(),
    );
    assert_eq!(index, 1);
    assert_eq!(store.usage(&account, &other).await.unwrap(), 1);

    // Two limits of one call on one counter add up, and are checked together.
    let both = sliding("c:both:account", 60, 3, 1);
    admitted(
        store
            .acquire(&account, &[both.clone(), both.clone()])
            .await
            .unwrap(),
    );
    refused(
        store
            .acquire(&account, &[both.clone(), both.clone()])
            .await
            .unwrap(),
    );
    assert_eq!(store.usage(&account, &both).await.unwrap(), 2);
}

async fn release_gives_back_exactly(store: CounterStore) {
    let account = account();
    let window = fixed("c:win:account", 3600, 10, 3);
    let log = sliding("c:log:account", 3600, 10, 4);
    let kept = admitted(
        store
            .acquire(&account, &[window.clone(), log.clone()])
            .await
            .unwrap(),
    );
    let given_back = admitted(
        store
            .acquire(&account, &[window.clone(), log.clone()])
            .await
            .unwrap(),
    );
    assert_eq!(given_back.units(), 7);
    store.release(&account, &given_back).await.unwrap();
    assert_eq!(store.usage(&account, &window).await.unwrap(), 3);
    assert_eq!(store.usage(&account, &log).await.unwrap(), 4);
    // Releasing a sliding admission twice removes nothing more.
    store.release(&account, &given_back).await.unwrap();
    assert_eq!(store.usage(&account, &log).await.unwrap(), 4);
    store.release(&account, &kept).await.unwrap();
    assert_eq!(store.usage(&account, &log).await.unwrap(), 0);
    // A fixed counter never goes below zero.
    store.release(&account, &kept).await.unwrap();
    assert_eq!(store.usage(&account, &window).await.unwrap(), 0);
    for _ in 0..3 {
        admitted(store.acquire(&account, from_ref(&window)).await.unwrap());
    }
    refused(store.acquire(&account, from_ref(&window)).await.unwrap());
    assert_eq!(store.usage(&account, &window).await.unwrap(), 9);
}

async fn release_after_the_window_moved_leaves_the_new_window_alone(store: CounterStore) {
    let account = account();
    let limit = fixed("c:moving:account", 60, 5, 2);
    let old = admitted(store.acquire(&account, from_ref(&limit)).await.unwrap());
    store.advance_clock_ms(60_000);
    admitted(store.acquire(&account, from_ref(&limit)).await.unwrap());
    store.release(&account, &old).await.unwrap();
    assert_eq!(store.usage(&account, &limit).await.unwrap(), 2);
}

async fn zero_cost_checks_and_consumes_nothing(store: CounterStore) {
    let account = account();
    let full = fixed("c:full:account", 60, 1, 1);
    admitted(store.acquire(&account, from_ref(&full)).await.unwrap());
    refused(store.acquire(&account, from_ref(&full)).await.unwrap());
    let free = fixed("c:full:account", 60, 1, 0);
    let admission = admitted(store.acquire(&account, from_ref(&free)).await.unwrap());
    assert_eq!(admission.units(), 0);
    store.release(&account, &admission).await.unwrap();
    admitted(store.acquire(&account, &[]).await.unwrap());
    // A zero-cost sliding limit beside a paying one: only the payer counts.
    let other = sliding("c:paid:account", 60, 2, 1);
    let zero = sliding("c:unpaid:account", 60, 1, 0);
    admitted(
        store
            .acquire(&account, &[zero.clone(), other.clone()])
            .await
            .unwrap(),
    );
    assert_eq!(store.usage(&account, &zero).await.unwrap(), 0);
    assert_eq!(store.usage(&account, &other).await.unwrap(), 1);
    assert_eq!(store.usage(&account, &full).await.unwrap(), 1);
}

async fn concurrent_acquires_admit_exactly_k(store: CounterStore) {
    for limit in [
        fixed("c:hot:account", 60, 50, 1),
        sliding("c:hot:account", 60, 50, 1),
    ] {
        let account = Arc::new(account());
        let admitted_count = Arc::new(AtomicU64::new(0));
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (store, account, limit) = (store.clone(), account.clone(), limit.clone());
                let (admitted_count, barrier) = (admitted_count.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    for _ in 0..25 {
                        if let Outcome::Admitted(_) =
                            store.acquire(&account, from_ref(&limit)).await.unwrap()
                        {
                            admitted_count.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            admitted_count.load(Ordering::SeqCst),
            50,
            "{:?}",
            limit.algorithm
        );
        assert_eq!(store.usage(&account, &limit).await.unwrap(), 50);
    }
}

async fn invalid_limits_are_rejected_without_io(store: CounterStore) {
    let account = account();
    for limit in [
        fixed("c:x", 0, 1, 1),
        fixed("c:x", 60, 0, 1),
        sliding("c:x", 60, 10_001, 1),
    ] {
        let err = store.acquire(&account, &[limit]).await.unwrap_err();
        assert!(
            matches!(err, toolgate_limits::BackendError::InvalidRequest(_)),
            "{err}"
        );
    }
    assert!(store
        .acquire("bad{tag}", &[fixed("c:x", 60, 1, 1)])
        .await
        .is_err());
}

async fn a_sliding_limit_takes_its_largest_cost_and_gives_it_back(store: CounterStore) {
    let account = account();
    let limit = sliding("c:bulk:account", 60, 10_000, 10_000);
    let admission = admitted(store.acquire(&account, from_ref(&limit)).await.unwrap());
    assert_eq!(store.usage(&account, &limit).await.unwrap(), 10_000);
    refused(
        store
            .acquire(&account, &[sliding("c:bulk:account", 60, 10_000, 1)])
            .await
            .unwrap(),
    );
    store.release(&account, &admission).await.unwrap();
    assert_eq!(store.usage(&account, &limit).await.unwrap(), 0);
}
