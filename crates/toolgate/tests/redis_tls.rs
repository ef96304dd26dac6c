//! Redis over TLS (`rediss://`): a gateway whose counters, audit queue and
//! change notifications all go through a TLS-only `redis-server`, trusting a
//! private CA the way a deployment would, through `SSL_CERT_FILE`.

#![allow(clippy::unwrap_used)]

mod fleet;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fleet::{free_port, Fleet, FleetOptions, Outcome};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use serde_json::json;

/// A TLS-only `redis-server` on loopback, stopped when dropped.
struct TlsRedis {
    child: Child,
    port: u16,
    /// The CA that signed the server's certificate, as a PEM file.
    ca_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca, &ca_key)
            .unwrap();
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        let ca_file = write("ca.pem", ca.pem());
        let cert_file = write("server.pem", server.pem());
        let key_file = write("server.key", server_key.serialize_pem());

        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .arg("--tls-cert-file")
            .arg(&cert_file)
            .arg("--tls-key-file")
            .arg(&key_file)
            .arg("--tls-ca-cert-file")
            .arg(&ca_file)
            .args(["--tls-auth-clients", "no", "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (with TLS, as Debian builds it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            ca_file,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_counts_and_queues_through_redis_over_tls() {
    let redis = TlsRedis::start();
    let policy = json!({"version": "1", "default": "allow", "tools": {
        "echo": {"limits": [{"counter": "echo", "window": "day", "max": 2, "scope": "grant"}]}}});
    let fleet = Fleet::start_with(
        "redis_tls",
        &redis.url(),
        1,
        policy,
        FleetOptions {
            command: "serve",
            env: vec![("SSL_CERT_FILE", redis.ca_file.display().to_string())],
            ..FleetOptions::default()
        },
    )
    .await;

    // Ready means Redis answered over TLS.
    let ready = reqwest::get(format!("{}/readyz", fleet.base_url(0)))
        .await
        .unwrap();
    assert!(
        ready.status().is_success(),
        "{}",
        ready.text().await.unwrap()
    );

    // The limit holds: its counter lives in the TLS Redis.
    let handle = fleet.handle();
    assert!(matches!(handle.call(1, "echo").await, Outcome::Admitted));
    assert!(matches!(handle.call(2, "echo").await, Outcome::Admitted));
    assert!(
        matches!(handle.call(3, "echo").await, Outcome::Refused { .. }),
        "the third call is over the limit"
    );
    assert_eq!(fleet.upstream_calls(), 2);

    // The audit events went through the stream on the same server, and the
    // control plane of this `serve` process stored them.
    let pool = sqlx::PgPool::connect(&fleet::fleet_database_url("redis_tls"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stored = sqlx::query_scalar!(r#"SELECT count(*) AS "rows!" FROM audit_events"#)
            .fetch_one(&pool)
            .await
            .unwrap();
        if stored == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "audit events stored: {stored} of 3"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
