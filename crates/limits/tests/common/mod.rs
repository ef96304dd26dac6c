//! Helpers shared by the integration tests: stores, limits, a private
//! redis-server.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generates `memory::<test>` and `redis::<test>` (the shared server) for
/// each `async fn <test>(store: CounterStore)` named.
#[allow(unused_macros)]
macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test(crate::common::memory_store()).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test(crate::common::redis_store()).await
                }
            )*
        }
    };
}

use toolgate_limits::{Admission, Algorithm, CounterStore, LimitRequest, Outcome};

/// The machine's shared Redis; tests use a fresh random account each.
pub fn redis_url() -> String {
    std::env::var("TOOLGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn memory_store() -> CounterStore {
    CounterStore::memory()
}

pub fn redis_store() -> CounterStore {
    CounterStore::redis(&redis_url(), Duration::from_secs(2)).unwrap()
}

pub async fn raw_redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

pub fn account() -> String {
    format!("acc_test_{:016x}", rand::random::<u64>())
}

pub fn fixed(key: &str, window_secs: u64, max: u64, cost: u64) -> LimitRequest {
    LimitRequest {
        key: key.into(),
        window_secs,
        max,
        cost,
        algorithm: Algorithm::Fixed,
    }
}

pub fn sliding(key: &str, window_secs: u64, max: u64, cost: u64) -> LimitRequest {
    LimitRequest {
        key: key.into(),
        window_secs,
        max,
        cost,
        algorithm: Algorithm::Sliding,
    }
}

#[track_caller]
pub fn admitted(outcome: Outcome) -> Admission {
    match outcome {
        Outcome::Admitted(admission) => admission,
        Outcome::Refused { index, retry_after } => {
            panic!("refused by limit {index}, retry after {retry_after:?}")
        }
    }
}

#[track_caller]
pub fn refused(outcome: Outcome) -> (usize, Duration) {
    match outcome {
        Outcome::Refused { index, retry_after } => (index, retry_after),
        Outcome::Admitted(admission) => panic!("admitted: {admission:?}"),
    }
}

/// A redis-server of our own on a free port, killed when dropped. Faults
/// are injected here, never into the shared server on 6379.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// A free port with nothing listening on it yet.
    pub fn reserve() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self { port, child: None }
    }

    pub fn start() -> Self {
        let mut server = Self::reserve();
        server.up();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Start (or restart) the server and wait until it answers.
    pub fn up(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        let started = Instant::now();
        let client = redis::Client::open(self.url()).unwrap();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(mut connection) = client.get_connection() {
                if redis::cmd("PING").query::<String>(&mut connection).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("private redis-server on {} did not start", self.port);
    }

    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.down();
    }
}
