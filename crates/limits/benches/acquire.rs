//! Latency of one acquire: memory against Redis (the shared server on
//! 127.0.0.1:6379, or `TOOLGATE_TEST_REDIS_URL`), one limit and three.
//! The fixed limits never fill; the sliding one (10 000 per second) may
//! refuse at full speed on the memory store, which is the cheaper path.
//! Redis cases are skipped when no server answers.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use toolgate_limits::{Algorithm, CounterStore, LimitRequest};

fn limits(count: usize) -> Vec<LimitRequest> {
    let all = [
        (
            "c:rate:grant=grt_bench:srv_1",
            Algorithm::Fixed,
            1_000_000_000,
        ),
        ("c:spend:account", Algorithm::Fixed, 1_000_000_000),
        ("c:burst:grant=grt_bench", Algorithm::Sliding, 10_000),
    ];
    all[..count]
        .iter()
        .map(|(key, algorithm, max)| LimitRequest {
            key: (*key).into(),
            window_secs: 1,
            max: *max,
            cost: 1,
            algorithm: *algorithm,
        })
        .collect()
}

fn acquire(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let account = format!("acc_bench_{:08x}", rand::random::<u32>());
    let mut stores = vec![("memory", CounterStore::memory())];
    let url = std::env::var("TOOLGATE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    if let Ok(redis) = CounterStore::redis(&url, Duration::from_secs(1)) {
        if runtime.block_on(redis.ping()).is_ok() {
            stores.push(("redis", redis));
        } else {
            eprintln!("no Redis at {url}: benchmarking memory only");
        }
    }
    let mut group = c.benchmark_group("acquire");
    for (name, store) in &stores {
        for count in [1, 3] {
            let limits = limits(count);
            group.bench_function(format!("{name}/{count}_limits"), |b| {
                b.iter(|| {
                    runtime
                        .block_on(store.acquire(&account, &limits))
                        .expect("acquire")
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, acquire);
criterion_main!(benches);
