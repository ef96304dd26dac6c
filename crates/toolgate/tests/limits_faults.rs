//! The counter store goes away mid-load: limits that fail closed refuse with
//! a reason that says so, limits that fail open let calls through, readiness
//! says degraded, and everything recovers when Redis returns, without a
//! restart of the gateway.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod fleet;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fleet::{free_port, Fleet, Outcome};
use serde_json::{json, Value};

struct PrivateRedis {
    child: Child,
}

impl PrivateRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        PrivateRedis { child }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn policy() -> Value {
    json!({
        "version": "1",
        "default": "deny",
        "tools": {
            "guarded": {"limits": [{"counter": "guarded", "window": "day", "max": 1000, "scope": "grant"}]},
            "relaxed": {"limits": [{"counter": "relaxed", "window": "day", "max": 1000, "scope": "grant", "on_backend_error": "open"}]}
        }
    })
}

async fn readiness(fleet: &Fleet) -> Value {
    let base = fleet.urls[0].split("/mcp/").next().unwrap().to_owned();
    reqwest::get(format!("{base}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_down_fails_closed_or_open_per_rule_and_recovers() {
    let port = free_port();
    let mut redis = PrivateRedis::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let fleet = Fleet::start("limits_faults", &url, 1, policy()).await;
    let agent = fleet.handle();
    for i in 0..5 {
        assert!(matches!(agent.call(i, "guarded").await, Outcome::Admitted));
        assert!(matches!(agent.call(i, "relaxed").await, Outcome::Admitted));
    }
    assert_eq!(readiness(&fleet).await["counters"], "up");

    redis.stop();
    let started = Instant::now();
    let closed = agent.call(10, "guarded").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a down store is noticed within the deadline"
    );
    match closed {
        Outcome::Other(text) => {
            let value: Value = serde_json::from_str(&text).unwrap();
            let message = value["result"]["content"][0]["text"].as_str().unwrap();
            assert!(
                message.starts_with("Denied by policy: rate limits cannot be checked right now"),
                "{message}"
            );
            assert_eq!(value["result"]["isError"], true);
        }
        other => panic!("a fail-closed limit must refuse while Redis is down, got {other:?}"),
    }
    assert!(
        matches!(agent.call(11, "relaxed").await, Outcome::Admitted),
        "fail-open limits let calls through"
    );
    let ready = readiness(&fleet).await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["counters"], "down");

    let _redis = PrivateRedis::start(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if matches!(agent.call(20, "guarded").await, Outcome::Admitted) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not recover when Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(readiness(&fleet).await["status"], "ok");
}
