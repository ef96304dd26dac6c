//! `toolgate scan`, run as the real binary against a small MCP server on
//! loopback: the table, `--json`, `--policy` (which `policy check` accepts)
//! and a failed discovery.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

const TOKEN: &str = "Bearer scan-test-token";

fn tools() -> Value {
    json!([
        {"name": "read_file", "description": "Reads a file and returns its text.",
         "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}}},
        {"name": "delete_repository", "description": "Permanently deletes a repository.",
         "inputSchema": {"type": "object", "properties": {"repo": {"type": "string"}}}},
        // A name that would clear the screen and turn the text red.
        {"name": "evil\u{1b}[2J\u{1b}[31m", "description": "Harmless.\u{9b}",
         "inputSchema": {"type": "object"}},
    ])
}

async fn mcp(headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if headers.get("authorization").is_none_or(|v| v != TOKEN) {
        return (StatusCode::UNAUTHORIZED, "missing token").into_response();
    }
    let id = &body["id"];
    let result = match body["method"].as_str().unwrap_or_default() {
        "initialize" => json!({"protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}}, "serverInfo": {"name": "fake", "version": "1"}}),
        "notifications/initialized" => return StatusCode::ACCEPTED.into_response(),
        "tools/list" => json!({"tools": tools()}),
        _ => return (StatusCode::NOT_FOUND, "no such method").into_response(),
    };
    Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

/// Serves the fake upstream on a thread of its own; returns its URL.
fn upstream() -> String {
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, Router::new().route("/mcp", post(mcp)))
                .await
                .unwrap();
        });
    });
    format!("http://{}/mcp", rx.recv().unwrap())
}

fn toolgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .args(args)
        .output()
        .expect("run toolgate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("toolgate-scan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn prints_a_table_with_upstream_text_made_safe() {
    let url = upstream();
    let out = toolgate(&[
        "scan",
        &url,
        "--allow-private",
        "--header",
        &format!("Authorization: {TOKEN}"),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("TOOL "), "{stdout}");
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("read_file")[1..3], ["read", "low"], "{stdout}");
    let delete = row("delete_repository");
    assert_eq!(delete[1], "destructive", "{stdout}");
    assert!(matches!(delete[2], "high" | "critical"), "{stdout}");
    assert!(delete.len() > 3, "a reason is shown: {stdout}");
    // Escapes are printed, never sent.
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{9b}'));
    assert!(stdout.contains(r"evil\u{1b}[2J\u{1b}[31m"), "{stdout}");
    assert!(stdout.ends_with("3 tools\n"), "{stdout}");
}

#[test]
fn json_has_definitions_hashes_and_verdicts() {
    let url = upstream();
    let out = toolgate(&[
        "scan",
        &url,
        "--json",
        "--allow-private",
        "--header",
        &format!("Authorization: {TOKEN}"),
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tools = doc["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 3);
    let read = &tools[0];
    assert_eq!(read["definition"]["name"], "read_file");
    assert_eq!(read["definition"]["inputSchema"]["type"], "object");
    assert_eq!(read["hash"].as_str().unwrap().len(), 64 + "sha256:".len());
    assert_eq!(read["verdict"]["category"], "read");
    assert!(read["verdict"]["reasons"][0]["id"].is_string());
    // JSON carries upstream text as it was (escaped by JSON itself).
    assert_eq!(tools[2]["definition"]["name"], "evil\u{1b}[2J\u{1b}[31m");
}

#[test]
fn writes_a_policy_that_policy_check_accepts() {
    let url = upstream();
    let path = temp_file("recommended.json");
    let path_text = path.to_str().unwrap();
    let out = toolgate(&[
        "scan",
        &url,
        "--allow-private",
        "--policy",
        path_text,
        "--header",
        &format!("Authorization: {TOKEN}"),
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let policy: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(policy["version"], "1");
    assert!(
        policy["tools"].get("delete_repository").is_some(),
        "{policy}"
    );
    let check = toolgate(&["policy", "check", path_text]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "stderr: {}",
        text(&check.stderr)
    );
}

#[test]
fn a_failed_discovery_exits_non_zero_with_status_and_detail() {
    let url = upstream();
    // No token: the upstream answers 401.
    let out = toolgate(&["scan", &url, "--allow-private"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot list the tools of ") && stderr.contains("unauthorized"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    // Loopback is refused unless allowed, as the control plane refuses it.
    let out = toolgate(&["scan", &url, "--header", &format!("Authorization: {TOKEN}")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refused_address"),
        "{}",
        text(&out.stderr)
    );

    let out = toolgate(&["scan", &url, "--header", "no colon"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not 'Name: value'"));
}
