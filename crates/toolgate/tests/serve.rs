//! The real binary against the machine's PostgreSQL: `toolgate serve` creates
//! its database, migrates it, serves the API, and keeps its generated
//! development secrets across restarts.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use toolgate_proxy::test_support::{admin_url, database_url};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(database: &str, port: u16) -> Server {
    start_with(database, port, &[], Stdio::null()).await
}

/// Starts `toolgate serve` with extra `env`, its logs (stdout) to `logs`.
async fn start_with(database: &str, port: u16, env: &[(&str, &str)], logs: Stdio) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .arg("serve")
        .env("DATABASE_URL", database_url(database))
        .env("TOOLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("TOOLGATE_JWT_SECRET")
        .env_remove("TOOLGATE_SECRET_KEY")
        .env_remove("TOOLGATE_SIGNUP")
        .env_remove("TOOLGATE_SMTP_URL")
        .env_remove("TOOLGATE_MAIL_FROM")
        .envs(env.iter().copied())
        .stdout(logs)
        .stderr(Stdio::null())
        .spawn()
        .expect("the toolgate binary starts");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = reqwest::get(format!("{}/readyz", server.base)).await {
            if r.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("toolgate serve did not become ready");
}

async fn drop_database(name: &str) {
    let pool = sqlx::PgPool::connect(&admin_url()).await.unwrap();
    // Dynamic: a database name is an identifier, which no parameter can be.
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn serve_creates_its_database_and_keeps_sessions_across_restarts() {
    let database = format!("toolgate_serve_test_{}", std::process::id());
    drop_database(&database).await;
    let port = free_port();
    let client = reqwest::Client::new();

    let server = start(&database, port).await;
    let health: Value = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let signup = client
        .post(format!("{}/v1/signup", server.base))
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery", "account": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let body: Value = signup.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        body["account"]["gateway_base_url"],
        format!("http://127.0.0.1:{port}/mcp/acme")
    );
    drop(server);

    // A restart generates nothing new: the session token still verifies.
    let server = start(&database, port).await;
    let me = client
        .get(format!("{}/v1/account", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    drop(server);
    drop_database(&database).await;
}

#[tokio::test]
async fn migrate_creates_and_migrates_then_exits() {
    let database = format!("toolgate_migrate_test_{}", std::process::id());
    drop_database(&database).await;
    for _ in 0..2 {
        let status = Command::new(env!("CARGO_BIN_EXE_toolgate"))
            .arg("migrate")
            .env("DATABASE_URL", database_url(&database))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "migrate is idempotent");
    }
    let pool = sqlx::PgPool::connect(&database_url(&database))
        .await
        .unwrap();
    let tables = sqlx::query_scalar!(
        r#"SELECT count(*) AS "tables!" FROM information_schema.tables
           WHERE table_schema = 'public'
             AND table_name IN ('accounts', 'servers', 'grants', 'policy_versions')"#,
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 4);
    pool.close().await;
    drop_database(&database).await;
}

#[test]
fn invalid_configuration_names_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .arg("serve")
        .env("TOOLGATE_SECRET_KEY", "too-short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TOOLGATE_SECRET_KEY"), "{stderr}");
}

#[test]
fn sign_up_settings_are_checked_at_start_without_echoing_the_smtp_password() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("TOOLGATE_SIGNUP", "verify")], "TOOLGATE_SMTP_URL"),
        (
            &[(
                "TOOLGATE_SMTP_URL",
                "https://mailer:hunter2-secret@mail.example.com",
            )],
            "TOOLGATE_SMTP_URL",
        ),
        (
            &[(
                "TOOLGATE_SMTP_URL",
                "smtps://mailer:hunter2-secret@mail.example.com",
            )],
            "TOOLGATE_MAIL_FROM",
        ),
        (
            &[
                (
                    "TOOLGATE_SMTP_URL",
                    "smtps://mailer:hunter2-secret@mail.example.com",
                ),
                ("TOOLGATE_MAIL_FROM", "not an address"),
            ],
            "TOOLGATE_MAIL_FROM",
        ),
    ];
    for (env, named) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_toolgate"))
            .arg("serve")
            .env_remove("TOOLGATE_SIGNUP")
            .env_remove("TOOLGATE_SMTP_URL")
            .env_remove("TOOLGATE_MAIL_FROM")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{env:?} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{env:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{env:?}: {stderr}");
    }
}

/// With SMTP configured, sign-up answers 202 and mails from the background;
/// without it, sign-up is open and the process says loudly what that means.
#[tokio::test]
async fn the_sign_up_mode_follows_the_smtp_settings() {
    let database = format!("toolgate_signup_mode_test_{}", std::process::id());
    drop_database(&database).await;
    let client = reqwest::Client::new();
    let signup = |base: String| {
        let client = client.clone();
        async move {
            client
                .post(format!("{base}/v1/signup"))
                .json(&json!({"email": "ada@example.com", "password": "correct horse battery", "account": "Acme"}))
                .send()
                .await
                .unwrap()
        }
    };

    // Nothing listens on the SMTP port: delivery fails and is retried.
    let smtp_port = free_port();
    let smtp_url = format!("smtp://mailer:hunter2-secret@127.0.0.1:{smtp_port}");
    let logs = tempfile::NamedTempFile::new().unwrap();
    let server = start_with(
        &database,
        free_port(),
        &[
            ("TOOLGATE_SMTP_URL", &smtp_url),
            ("TOOLGATE_MAIL_FROM", "Toolgate <noreply@example.com>"),
        ],
        Stdio::from(logs.reopen().unwrap()),
    )
    .await;
    let accepted = signup(server.base.clone()).await;
    assert_eq!(accepted.status(), 202);
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(body["status"], "verification_sent");
    let started = Instant::now();
    let logged = loop {
        let logged = std::fs::read_to_string(logs.path()).unwrap();
        if logged.contains("mail delivery failed") || started.elapsed() > Duration::from_secs(10) {
            break logged;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(server);
    assert!(logged.contains("TOOLGATE_SIGNUP=verify"), "{logged}");
    assert!(
        logged.contains("mail delivery failed; retrying"),
        "{logged}"
    );
    assert!(!logged.contains("hunter2"), "{logged}");
    assert!(!logged.contains("tgv_"), "{logged}");

    let logs = tempfile::NamedTempFile::new().unwrap();
    let server = start_with(
        &database,
        free_port(),
        &[],
        Stdio::from(logs.reopen().unwrap()),
    )
    .await;
    assert_eq!(signup(server.base.clone()).await.status(), 201);
    drop(server);
    let logged = std::fs::read_to_string(logs.path()).unwrap();
    assert!(logged.contains("TOOLGATE_SIGNUP=open"), "{logged}");
    drop_database(&database).await;
}
