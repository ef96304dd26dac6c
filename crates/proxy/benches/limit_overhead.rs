//! What a rate limit costs a `tools/call` through the gateway: Redis round
//! trips per limited call (one script call) and the added latency at
//! p50/p90/p99 against a call without limits, both measured in one run.
//!
//! The gateway serves real HTTP on loopback with Redis counters, in front of
//! an in-process upstream that answers at once. One policy has a tool `free`
//! (no limits) and a tool `limited` (one fixed limit that is never reached),
//! so the only difference between the two calls is the limit check. Calls
//! alternate free, limited, free, … on one connection, so drift (other load,
//! CPU frequency) hits both alike; a concurrent phase, free and limited in
//! alternating rounds, then reports throughput.
//! Round trips come from Redis `INFO commandstats`, read around each phase:
//! script invocations (`EVALSHA`, `EVAL` after `NOSCRIPT`) and any command the
//! acquire script does not run itself are round trips; commands run inside
//! the script are reported separately.
//!
//! `DATABASE_URL` (a server where the bench may create `toolgate_bench_limits`),
//! `REDIS_URL`, `BENCH_CALLS` (calls per tool, default 3000). Writes
//! `bench/results/limits.md`. Other clients of the same Redis during the run
//! would show up in the command counts (the full breakdown is printed).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{env_or, percentile, redis_connection, seed, start_upstream};
use serde_json::{json, Value};
use toolgate_audit::AuditSink;
use toolgate_limits::{Algorithm, CounterStore, LimitRequest};
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::router;
use toolgate_proxy::test_support::{post_mcp, proxy_state, serve};
use toolgate_store::secrets::SecretKey;

const DATABASE: &str = "toolgate_bench_limits";
const WARMUP_CALLS: usize = 300;
const IN_FLIGHT: usize = 16;
/// The concurrent phase alternates free and limited this many times.
const ROUNDS: usize = 5;
const COMMAND: &str = "DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
     CARGO_TARGET_DIR=/work/target cargo bench -p toolgate-proxy --bench limit_overhead";
/// The commands the acquire script runs inside Redis; anything else the
/// gateway sends is a round trip of its own.
const ACQUIRE_SCRIPT: &str = include_str!("../../limits/src/scripts/acquire.lua");

fn policy() -> Value {
    json!({"version": "1", "default": "deny", "tools": {
        "free": {},
        "limited": {"limits": [{"counter": "bench", "window": "day",
                                "max": 1_000_000_000_u64, "scope": "grant"}]}
    }})
}

fn main() {
    common::run(run);
}

/// One client's view of the gateway: a `tools/call` of `tool`.
#[derive(Clone)]
struct Agent {
    client: reqwest::Client,
    url: Arc<str>,
    token: Arc<str>,
}

impl Agent {
    /// Calls `tool` and returns the time until the whole answer arrived.
    async fn call(&self, id: usize, tool: &str) -> Duration {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": tool, "arguments": {}}})
        .to_string();
        let started = Instant::now();
        let response = post_mcp(&self.client, &self.url, &self.token, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        let elapsed = started.elapsed();
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let served = status.is_success()
            && answer["result"].is_object()
            && answer["result"]["isError"] != true;
        assert!(served, "{tool} was not served ({status}): {text}");
        elapsed
    }
}

/// Redis commands executed so far, by name (`INFO commandstats`).
async fn command_counts(redis: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(redis)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter_map(|line| {
            let (name, stats) = line.split_once(':')?;
            let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// What Redis executed between readings, without the bench's own `INFO`.
#[derive(Default)]
struct Commands {
    by_name: BTreeMap<String, u64>,
}

impl Commands {
    fn between(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Self {
        let mut commands = Self::default();
        commands.add(before, after);
        commands
    }

    fn add(&mut self, before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) {
        for (name, n) in after {
            let n = n - before.get(name).copied().unwrap_or(0);
            if name != "info" && n > 0 {
                *self.by_name.entry(name.clone()).or_default() += n;
            }
        }
    }

    fn total(&self) -> u64 {
        self.by_name.values().sum()
    }

    /// Commands a client sent: script invocations and anything the acquire
    /// script does not run itself.
    fn round_trips(&self, inside_script: &BTreeSet<String>) -> u64 {
        self.by_name
            .iter()
            .filter(|(name, _)| !inside_script.contains(name.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    fn breakdown(&self) -> String {
        if self.by_name.is_empty() {
            return "none".to_owned();
        }
        let parts: Vec<String> = self
            .by_name
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        parts.join(", ")
    }
}

fn script_commands() -> BTreeSet<String> {
    ACQUIRE_SCRIPT
        .split("redis.call('")
        .skip(1)
        .filter_map(|rest| rest.split_once('\''))
        .map(|(name, _)| name.to_lowercase())
        .collect()
}

fn micros(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}

/// `calls` calls of `tool` from `IN_FLIGHT` concurrent clients; how long they took.
async fn concurrently(agent: &Agent, tool: &'static str, calls: usize) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (agent, next) = (agent.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if id >= calls {
                        break;
                    }
                    agent.call(id, tool).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    started.elapsed()
}

async fn run(calls: usize) {
    let redis_url = env_or("REDIS_URL", "redis://127.0.0.1:6379");
    let key = Arc::new(SecretKey::from_bytes([7; 32]));
    let upstream = start_upstream().await;
    let (pool, seeded) = seed(DATABASE, 4, &upstream, &key, &policy()).await;

    let limiter =
        Limiter::new(CounterStore::redis(&redis_url, Duration::from_millis(250)).unwrap());
    let state = proxy_state(&pool, key, limiter.clone(), AuditSink::disabled());
    let gateway = serve(router(state)).await;

    let mut redis = redis_connection(&redis_url).await;
    let redis_version: String = redis::cmd("INFO")
        .arg("server")
        .query_async::<String>(&mut redis)
        .await
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:").map(str::to_owned))
        .unwrap_or_default();
    let inside_script = script_commands();
    let url: Arc<str> = format!("http://{gateway}{}", seeded.path()).into();
    let sequential = Agent {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap(),
        url: url.clone(),
        token: seeded.token().into(),
    };

    // Warm-up: the snapshot loads, connections open, the script is cached.
    for i in 0..WARMUP_CALLS {
        sequential.call(i, "free").await;
        sequential.call(i, "limited").await;
    }

    // Sequential, interleaved: the latency of each call.
    let before = command_counts(&mut redis).await;
    let (mut free, mut limited) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for i in 0..calls {
        free.push(micros(sequential.call(2 * i, "free").await));
        limited.push(micros(sequential.call(2 * i + 1, "limited").await));
    }
    let interleaved = Commands::between(&before, &command_counts(&mut redis).await);
    // Each limited call against the free call just before it.
    let mut paired: Vec<f64> = free.iter().zip(&limited).map(|(f, l)| l - f).collect();
    for values in [&mut free, &mut limited, &mut paired] {
        values.sort_by(f64::total_cmp);
    }

    // Concurrent: throughput of each tool alone, commands counted per phase.
    let concurrent = Agent {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(IN_FLIGHT)
            .build()
            .unwrap(),
        url,
        token: seeded.token().into(),
    };
    // Phases alternate in rounds, so drift hits both tools alike.
    concurrently(&concurrent, "free", WARMUP_CALLS).await;
    let (mut free_time, mut limited_time) = (Duration::ZERO, Duration::ZERO);
    let (mut free_phase, mut limited_phase) = (Commands::default(), Commands::default());
    for round in 0..ROUNDS {
        let share = calls / ROUNDS + usize::from(round < calls % ROUNDS);
        let before = command_counts(&mut redis).await;
        free_time += concurrently(&concurrent, "free", share).await;
        let middle = command_counts(&mut redis).await;
        limited_time += concurrently(&concurrent, "limited", share).await;
        let after = command_counts(&mut redis).await;
        free_phase.add(&before, &middle);
        limited_phase.add(&middle, &after);
    }
    let free_rate = calls as f64 / free_time.as_secs_f64();
    let limited_rate = calls as f64 / limited_time.as_secs_f64();

    // Every limited call was served (checked per call); the counter holds
    // exactly one unit per call.
    let counter = LimitRequest {
        key: format!(
            "bench:server:{}:grant:{}",
            seeded.server, seeded.grants[0].id
        ),
        window_secs: 86_400,
        max: 1_000_000_000,
        cost: 1,
        algorithm: Algorithm::Fixed,
    };
    let counted = limiter
        .store()
        .usage(&seeded.account.to_string(), &counter)
        .await
        .unwrap();
    let expected = WARMUP_CALLS + 2 * calls;
    let counter_line = format!(
        "Counter after the run: {counted} (limited calls made: {expected}; differs only if the UTC day turned during the run)"
    );

    let n = calls as f64;
    let mut table = String::new();
    let mut row = |cells: &[String]| {
        writeln!(table, "| {} |", cells.join(" | ")).unwrap();
    };
    row(&[
        "".into(),
        "free".into(),
        "limited".into(),
        "limited − free".into(),
        "limited / free".into(),
    ]);
    row(&[
        "---".into(),
        "---:".into(),
        "---:".into(),
        "---:".into(),
        "---:".into(),
    ]);
    for (label, q) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)] {
        let (f, l) = (percentile(&free, q), percentile(&limited, q));
        row(&[
            format!("{label} latency (µs)"),
            format!("{f:.0}"),
            format!("{l:.0}"),
            format!("{:+.0}", l - f),
            format!("{:.2}", l / f),
        ]);
    }
    row(&[
        "median of paired differences (µs)".into(),
        "".into(),
        "".into(),
        format!("{:+.0}", percentile(&paired, 0.5)),
        "".into(),
    ]);
    row(&[
        "Redis round trips per call (sequential)".into(),
        "—".into(),
        format!("{:.2}", interleaved.round_trips(&inside_script) as f64 / n),
        "".into(),
        "".into(),
    ]);
    row(&[
        "Redis round trips per call (concurrent, per phase)".into(),
        format!("{:.2}", free_phase.total() as f64 / n),
        format!(
            "{:.2}",
            limited_phase.round_trips(&inside_script) as f64 / n
        ),
        "".into(),
        "".into(),
    ]);
    row(&[
        "Redis commands executed per call, incl. inside the script".into(),
        format!("{:.2}", free_phase.total() as f64 / n),
        format!("{:.2}", limited_phase.total() as f64 / n),
        "".into(),
        "".into(),
    ]);
    row(&[
        format!("throughput, {IN_FLIGHT} in flight (calls/s)"),
        format!("{free_rate:.0}"),
        format!("{limited_rate:.0}"),
        "".into(),
        format!("{:.2}", limited_rate / free_rate),
    ]);

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut report = String::new();
    writeln!(report, "# Rate-limit overhead on `tools/call`\n").unwrap();
    writeln!(
        report,
        "{} · {cores} CPUs ({cpu}) · Redis {redis_version} on {redis_url} · {calls} calls per tool\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
    )
    .unwrap();
    writeln!(report, "`{COMMAND}`\n").unwrap();
    writeln!(
        report,
        "Gateway, client, upstream in one process over loopback HTTP; `limited` has one fixed \
         limit (scope grant, never reached), `free` none. Latency: {calls} calls of each, \
         interleaved on one connection, one in flight, after {WARMUP_CALLS} warm-up pairs. \
         Throughput: {calls} calls of each, {IN_FLIGHT} in flight, free and limited \
         alternating in {ROUNDS} rounds. Round trips: commands the gateway sent to Redis (`INFO commandstats`), not counting \
         those the acquire script runs inside Redis.\n"
    )
    .unwrap();
    report.push_str(&table);
    writeln!(
        report,
        "\nRedis commands, sequential phase ({calls} free + {calls} limited calls): {}",
        interleaved.breakdown()
    )
    .unwrap();
    writeln!(
        report,
        "\nRedis commands, concurrent free phase ({calls} calls): {}",
        free_phase.breakdown()
    )
    .unwrap();
    writeln!(
        report,
        "\nRedis commands, concurrent limited phase ({calls} calls): {}",
        limited_phase.breakdown()
    )
    .unwrap();
    writeln!(report, "\n{counter_line}").unwrap();
    println!("\n{report}");

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("limits.md"), &report).unwrap();
    println!("written to bench/results/limits.md");
}
