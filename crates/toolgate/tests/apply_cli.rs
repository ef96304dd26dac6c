//! `toolgate apply -f DIR` against a real control plane (`toolgate serve`
//! on a fresh database): dry runs write nothing, applying makes the live
//! policies match the files, a second apply changes nothing and creates no
//! version, and a file naming no server stops everything before any write.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use toolgate_proxy::test_support::{admin_url, database_url};

struct Server {
    child: Child,
    base: String,
    database: String,
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

async fn drop_database(name: &str) {
    let pool = sqlx::PgPool::connect(&admin_url()).await.unwrap();
    // Dynamic: a database name is an identifier, which no parameter can be.
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&pool)
        .await
        .unwrap();
}

async fn start(tag: &str) -> Server {
    let database = format!("toolgate_apply_{tag}_{}", std::process::id());
    drop_database(&database).await;
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .arg("serve")
        .env("DATABASE_URL", database_url(&database))
        .env("TOOLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOOLGATE_COUNTERS", "memory")
        .env("TOOLGATE_BUS", "memory")
        .env("TOOLGATE_ALLOW_PRIVATE_UPSTREAMS", "true")
        .env("TOOLGATE_CATALOG_REFRESH_SECS", "0")
        .env_remove("TOOLGATE_JWT_SECRET")
        .env_remove("TOOLGATE_SECRET_KEY")
        .env_remove("TOOLGATE_SIGNUP")
        .env_remove("TOOLGATE_SMTP_URL")
        .env_remove("TOOLGATE_MAIL_FROM")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the toolgate binary starts");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        database,
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

/// An account with servers `names` and an API key; returns the key.
async fn account(server: &Server, names: &[&str]) -> String {
    let client = reqwest::Client::new();
    let signup: Value = client
        .post(format!("{}/v1/signup", server.base))
        .json(&json!({"email": "ops@example.com", "password": "correct horse battery", "account": "Acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["token"].as_str().unwrap().to_owned();
    for name in names {
        let r = client
            .post(format!("{}/v1/servers", server.base))
            .bearer_auth(&token)
            .json(&json!({"name": name, "url": "http://127.0.0.1:9/mcp"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let key: Value = client
        .post(format!("{}/v1/api-keys", server.base))
        .bearer_auth(&token)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    key["secret"].as_str().unwrap().to_owned()
}

/// The policy versions of server `name`, newest first.
async fn versions(server: &Server, key: &str, name: &str) -> Vec<i64> {
    let client = reqwest::Client::new();
    let servers: Value = client
        .get(format!("{}/v1/servers", server.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = servers["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let versions: Value = client
        .get(format!("{}/v1/servers/{id}/policy/versions", server.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect()
}

fn policy_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("toolgate-apply-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).unwrap();
}

/// `toolgate apply -f DIR` with the key in the environment.
fn apply(server: &Server, key: &str, dir: &Path, dry_run: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_toolgate"));
    command
        .args(["apply", "-f", dir.to_str().unwrap(), "--url", &server.base])
        .env("TOOLGATE_API_KEY", key);
    if dry_run {
        command.arg("--dry-run");
    }
    command.output().expect("run toolgate apply")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const GITHUB: &str = r#"{"version": "1", "default": "allow", "tools": {"delete_*": {"action": "deny", "reason": "no deletions"}}}"#;
/// The same document spelled differently: key order and spacing.
const GITHUB_RESPELLED: &str = r#"{
    "tools": {"delete_*": {"reason": "no deletions", "action": "deny"}},
    "default": "allow",
    "version": "1"
}"#;
const GITHUB_TIGHTER: &str = r#"{"version": "1", "default": "deny", "tools": {"get_*": {}, "delete_*": {"action": "deny", "reason": "no deletions"}}}"#;
const PAYMENTS: &str = r#"{"version": "1", "default": "deny", "tools": {"create_charge": {"action": "require_approval"}}}"#;

#[tokio::test]
async fn apply_is_previewed_then_applied_once_and_is_idempotent() {
    let server = start("idem").await;
    let key = account(&server, &["github", "payments"]).await;
    let dir = policy_dir("idem");
    write(&dir, "github.json", GITHUB);
    write(&dir, "payments.json", PAYMENTS);
    // Cases beside the policies are not policies.
    write(&dir, "github.cases.json", r#"{"cases": []}"#);

    // A dry run shows each change and writes nothing.
    let out = apply(&server, &key, &dir, true);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("github: has no policy; would set it to the file:"),
        "{stdout}"
    );
    // Each change is simulated on the server's recorded calls (none yet).
    assert!(
        stdout.contains("simulated on 0 recorded call(s):"),
        "{stdout}"
    );
    assert!(!stdout.contains("simulation unavailable"), "{stdout}");
    assert!(stdout.contains("2 of 2 server(s) would change"), "{stdout}");
    assert!(versions(&server, &key, "github").await.is_empty());
    assert!(versions(&server, &key, "payments").await.is_empty());

    let out = apply(&server, &key, &dir, false);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("github: applied as version 1"), "{stdout}");
    assert!(
        stdout.contains("payments: applied as version 1"),
        "{stdout}"
    );
    assert_eq!(versions(&server, &key, "github").await, vec![1]);

    // Again, and again respelled: nothing changes, no version is created.
    write(&dir, "github.json", GITHUB_RESPELLED);
    for dry_run in [true, false] {
        let out = apply(&server, &key, &dir, dry_run);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
        assert!(stdout.contains("github: unchanged"), "{stdout}");
        assert!(stdout.contains("payments: unchanged"), "{stdout}");
        assert!(stdout.contains("0 of 2 server(s)"), "{stdout}");
    }
    assert_eq!(versions(&server, &key, "github").await, vec![1]);
    assert_eq!(versions(&server, &key, "payments").await, vec![1]);

    // A real change: the dry run shows the diff at its pointers.
    write(&dir, "github.json", GITHUB_TIGHTER);
    let out = apply(&server, &key, &dir, true);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("github: would change (live version 1):"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ~ /default: \"allow\" -> \"deny\""),
        "{stdout}"
    );
    assert!(stdout.contains("  + /tools/get_*: {}"), "{stdout}");
    assert!(stdout.contains("payments: unchanged"), "{stdout}");
    assert_eq!(versions(&server, &key, "github").await, vec![1]);
    let out = apply(&server, &key, &dir, false);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("github: applied as version 2"));
    assert_eq!(versions(&server, &key, "github").await, vec![2, 1]);
    assert_eq!(versions(&server, &key, "payments").await, vec![1]);

    let database = server.database.clone();
    drop(server);
    drop_database(&database).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn nothing_is_applied_when_a_file_names_no_server_or_is_invalid() {
    let server = start("missing").await;
    let key = account(&server, &["github"]).await;
    let dir = policy_dir("missing");
    write(&dir, "github.json", GITHUB);
    write(&dir, "nosuch.json", PAYMENTS);

    let out = apply(&server, &key, &dir, false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("nosuch.json: the account has no server named \"nosuch\""),
        "{stderr}"
    );
    assert!(stderr.contains("nothing applied"), "{stderr}");
    assert!(versions(&server, &key, "github").await.is_empty());

    std::fs::remove_file(dir.join("nosuch.json")).unwrap();
    write(
        &dir,
        "broken.json",
        r#"{"version": "1", "default": "deny", "tools": {"x": {"action": "maybe"}}}"#,
    );
    let out = apply(&server, &key, &dir, false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("broken.json: /tools/x/action: "),
        "{stderr}"
    );
    assert!(versions(&server, &key, "github").await.is_empty());

    // A wrong key is refused, not mistaken for an empty account.
    std::fs::remove_file(dir.join("broken.json")).unwrap();
    let out = apply(&server, "tgk_not-a-real-key", &dir, false);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("refused the API key"),
        "{}",
        text(&out.stderr)
    );

    let database = server.database.clone();
    drop(server);
    drop_database(&database).await;
    let _ = std::fs::remove_dir_all(&dir);
}
