//! Window behaviour under a controllable clock (the store's test-only
//! offset), on both stores: fixed windows reset exactly at the calendar
//! boundary; a sliding window never admits more than K in any rolling window.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::slice::from_ref;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::{account, admitted, fixed, refused, sliding};
use toolgate_limits::{CounterStore, Outcome};

on_both_stores!(
    fixed_windows_reset_exactly_at_the_boundary,
    sliding_never_admits_more_than_k_in_any_rolling_window,
);

async fn fixed_windows_reset_exactly_at_the_boundary(store: CounterStore) {
    const WINDOW_MS: i64 = 10_000;
    // Real time keeps running under the offset; if filling took longer than
    // the 50 ms margin, the scenario proves nothing and is run again.
    for _attempt in 0..5 {
        let account = account();
        let limit = fixed("c:boundary:account", 10, 3, 1);
        store.set_clock_offset_ms(0);
        let now = store.now_ms().await.unwrap();
        let boundary = (now.div_euclid(WINDOW_MS) + 1) * WINDOW_MS;
        store.set_clock_offset_ms(boundary - 50 - now);
        let started = Instant::now();

        let mut before = Vec::new();
        for _ in 0..3 {
            before.push(admitted(
                store.acquire(&account, from_ref(&limit)).await.unwrap(),
            ));
        }
        let over = store.acquire(&account, from_ref(&limit)).await.unwrap();
        if started.elapsed() >= Duration::from_millis(40) {
            continue;
        }
        assert!(before.iter().all(|a| a.at_ms() < boundary));
        let (_, retry) = refused(over);
        assert!(
            retry <= Duration::from_millis(50),
            "retry {retry:?} should end at the boundary"
        );

        // Cross the boundary: a fresh window with exactly K again.
        store.advance_clock_ms(60);
        for _ in 0..3 {
            let after = admitted(store.acquire(&account, from_ref(&limit)).await.unwrap());
            assert!(after.at_ms() >= boundary);
        }
        let (_, retry) = refused(store.acquire(&account, from_ref(&limit)).await.unwrap());
        assert!(
            retry > Duration::from_millis(9_000) && retry <= Duration::from_millis(10_000),
            "{retry:?}"
        );
        return;
    }
    panic!("the machine is too slow to fill 3 calls within 40 ms");
}

async fn sliding_never_admits_more_than_k_in_any_rolling_window(store: CounterStore) {
    const WINDOW_MS: i64 = 1_000;
    const K: u64 = 8;
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let account = account();
    let mut log: Vec<(i64, u64)> = Vec::new();
    let mut refusals = 0;
    for _ in 0..300 {
        store.advance_clock_ms(rng.gen_range(0..250));
        let cost = rng.gen_range(1..=3);
        let limit = sliding("c:rolling:account", 1, K, cost);
        match store.acquire(&account, from_ref(&limit)).await.unwrap() {
            Outcome::Admitted(admission) => log.push((admission.at_ms(), cost)),
            Outcome::Refused { retry_after, .. } => {
                refusals += 1;
                if rng.gen_bool(0.5) {
                    // The retry time is enough: waiting exactly that long admits.
                    store.advance_clock_ms(retry_after.as_millis() as i64);
                    let admission = admitted(store.acquire(&account, &[limit]).await.unwrap());
                    log.push((admission.at_ms(), cost));
                }
            }
        }
    }
    // Replay: the busiest rolling windows end at an admission.
    for &(end, _) in &log {
        let in_window: u64 = log
            .iter()
            .filter(|(at, _)| *at > end - WINDOW_MS && *at <= end)
            .map(|(_, c)| c)
            .sum();
        assert!(
            in_window <= K,
            "seed {seed}: {in_window} units in the window ending at {end}"
        );
    }
    assert!(
        log.len() > 50 && refusals > 10,
        "seed {seed}: schedule too tame ({} admitted)",
        log.len()
    );
}
