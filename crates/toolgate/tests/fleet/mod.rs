//! A fleet of `toolgate proxy` processes for tests: its own database, a
//! seeded account (server, policy, grant), a counting upstream on loopback,
//! and N replicas sharing Postgres and Redis.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use serde_json::{json, Value};
use toolgate_proxy::test_support::{
    database_url, fresh_database, json_response, post_mcp, serve, Seed,
};
use toolgate_store::ids::{AccountId, GrantId, ServerId};
use toolgate_store::secrets::SecretKey;

pub const SECRET_KEY_HEX: &str = "0707070707070707070707070707070707070707070707070707070707070707";

/// The Redis namespace of a fleet's keys and channels.
pub fn redis_namespace(name: &str) -> String {
    format!("toolgate-test-{name}")
}

/// The Redis Stream a fleet's gateways queue audit events on.
pub fn audit_stream(name: &str) -> String {
    format!("{}:audit", redis_namespace(name))
}

/// The fleet's database.
pub fn fleet_database_url(name: &str) -> String {
    database_url(&format!("toolgate_test_{name}"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How the fleet's processes run.
pub struct FleetOptions {
    /// The `toolgate` subcommand: `proxy`, or `serve` for both planes.
    pub command: &'static str,
    /// Extra environment, applied after (and so overriding) the defaults.
    pub env: Vec<(&'static str, String)>,
    /// Default variables to leave unset.
    pub unset: Vec<&'static str>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            command: "proxy",
            env: Vec::new(),
            unset: Vec::new(),
        }
    }
}

pub struct Fleet {
    children: Vec<Child>,
    pub urls: Vec<String>,
    pub token: String,
    /// The grant `token` belongs to.
    pub grant: GrantId,
    pub account: AccountId,
    pub server: ServerId,
    /// The name the fleet was started with (its database is named after it).
    pub name: String,
    /// The account's slug, as in the gateway URLs.
    pub slug: String,
    redis_url: String,
    namespace: String,
    upstream_calls: Arc<AtomicUsize>,
    client: reqwest::Client,
}

#[derive(Clone)]
pub struct FleetHandle {
    urls: Arc<Vec<String>>,
    token: String,
    client: reqwest::Client,
}

#[derive(Debug)]
pub enum Outcome {
    Admitted,
    Refused { retry_after_ms: u64 },
    Other(String),
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Drops the failed logins and sign-ups that earlier runs of a fleet counted
/// (all from this host) under its fixed namespace.
async fn forget_sign_ins(redis_url: &str, namespace: &str) {
    // Over TLS the fleet trusts a test CA this process does not; those
    // fleets never sign in.
    if redis_url.starts_with("rediss://") {
        return;
    }
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}:{{signin}}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

/// An upstream that answers every tools/call at once and counts them.
async fn start_upstream() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().route(
        "/mcp",
        post(move |body: String| {
            let counter = counter.clone();
            async move {
                let message: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                if message["method"] == "tools/call" {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                let reply = json!({"jsonrpc": "2.0", "id": message["id"], "result": {"content": [{"type": "text", "text": "done"}]}});
                json_response(&reply)
            }
        }),
    );
    (format!("http://{}/mcp", serve(app).await), calls)
}

impl Fleet {
    /// A fleet on a fresh database named after the test.
    pub async fn start(name: &str, redis_url: &str, replicas: usize, policy: Value) -> Fleet {
        Self::start_with(name, redis_url, replicas, policy, FleetOptions::default()).await
    }

    /// [`Fleet::start`], with processes run as `options` say.
    pub async fn start_with(
        name: &str,
        redis_url: &str,
        replicas: usize,
        policy: Value,
        options: FleetOptions,
    ) -> Fleet {
        let database = format!("toolgate_test_{name}");
        let pool = fresh_database(&database, 4).await;
        forget_sign_ins(redis_url, &redis_namespace(name)).await;
        let url = database_url(&database);
        let (upstream, upstream_calls) = start_upstream().await;
        let key = SecretKey::parse(SECRET_KEY_HEX).unwrap();
        let seeded = Seed::new("Fleet", &upstream, &policy)
            .create(&pool, &key)
            .await;
        pool.close().await;

        let mut children = Vec::new();
        let mut urls = Vec::new();
        for _ in 0..replicas {
            let port = free_port();
            let mut command = Command::new(env!("CARGO_BIN_EXE_toolgate"));
            command
                .arg(options.command)
                .env("DATABASE_URL", &url)
                .env("REDIS_URL", redis_url)
                .env("TOOLGATE_LISTEN", format!("127.0.0.1:{port}"))
                .env("TOOLGATE_SECRET_KEY", SECRET_KEY_HEX)
                .env(
                    "TOOLGATE_JWT_SECRET",
                    "fleet-test-jwt-secret-fleet-test-jwt-secret",
                )
                .env("TOOLGATE_ALLOW_PRIVATE_UPSTREAMS", "true")
                // Each fleet's keys, stream and channels are its own.
                .env("TOOLGATE_REDIS_NAMESPACE", redis_namespace(name))
                .env("RUST_LOG", "warn")
                .envs(options.env.iter().map(|(k, v)| (k, v)));
            for variable in &options.unset {
                command.env_remove(variable);
            }
            let child = command
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            children.push(child);
            urls.push(format!("http://127.0.0.1:{port}"));
        }
        let client = reqwest::Client::new();
        for base in &urls {
            wait_ready(&client, base).await;
        }
        Fleet {
            children,
            urls: urls
                .into_iter()
                .map(|u| format!("{u}{}", seeded.path()))
                .collect(),
            token: seeded.token().to_owned(),
            grant: seeded.grants[0].id,
            account: seeded.account,
            server: seeded.server,
            name: name.to_owned(),
            slug: seeded.slug,
            redis_url: redis_url.to_owned(),
            namespace: redis_namespace(name),
            upstream_calls,
            client,
        }
    }

    pub fn handle(&self) -> FleetHandle {
        FleetHandle {
            urls: Arc::new(self.urls.clone()),
            token: self.token.clone(),
            client: self.client.clone(),
        }
    }

    /// Where replica `index` serves everything but the gateway routes.
    pub fn base_url(&self, index: usize) -> &str {
        self.urls[index].split("/mcp/").next().unwrap_or_default()
    }

    pub fn upstream_calls(&self) -> usize {
        self.upstream_calls.load(Ordering::SeqCst)
    }

    /// What Redis holds for a counter of this account (fixed windows).
    pub async fn stored_count(&self, counter: &str) -> i64 {
        let client = redis::Client::open(self.redis_url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let pattern = format!("{}:{{{}}}:{counter}:*", self.namespace, self.account);
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut total = 0;
        for key in keys {
            let count: Option<i64> = redis::cmd("HGET")
                .arg(&key)
                .arg("c")
                .query_async(&mut conn)
                .await
                .unwrap();
            total += count.unwrap_or(0);
        }
        total
    }

    /// The sum, over every replica, of a Prometheus counter's samples whose
    /// labels include `label`.
    pub async fn metric_sum(&self, metric: &str, label: &str) -> f64 {
        let mut total = 0.0;
        for url in &self.urls {
            let base = url.split("/mcp/").next().unwrap();
            let text = self
                .client
                .get(format!("{base}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            total += text
                .lines()
                .filter(|line| line.starts_with(&format!("{metric}{{")) && line.contains(label))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>();
        }
        total
    }

    /// Kills one replica (to simulate a crash) and returns its URL.
    pub fn kill(&mut self, index: usize) {
        let _ = self.children[index].kill();
        let _ = self.children[index].wait();
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("toolgate proxy at {base} did not become ready");
}

impl FleetHandle {
    /// One `tools/call` through replica `i % n` (2026-07-28 style: stateless).
    pub async fn call(&self, i: usize, tool: &str) -> Outcome {
        let url = &self.urls[i % self.urls.len()];
        let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": tool, "arguments": {}}});
        let response = post_mcp(&self.client, url, &self.token, body.to_string()).await;
        let text = response.text().await.unwrap();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let result = &value["result"];
        if result["isError"] == false || (result.is_object() && result.get("isError").is_none()) {
            return Outcome::Admitted;
        }
        let message = result["content"][0]["text"].as_str().unwrap_or("");
        match result["_meta"]["dev.toolgate/refusal"]["retry_after_ms"].as_u64() {
            Some(retry_after_ms) if message.starts_with("Denied by policy: limit") => {
                Outcome::Refused { retry_after_ms }
            }
            _ => Outcome::Other(text),
        }
    }
}
