//! Upstream answers the gateway must judge by status and body rather than by
//! `Content-Type` alone. The fake upstream writes raw HTTP/1.1, so each odd
//! combination reaches the gateway exactly as real servers send it:
//! `@hono/node-server` 1.x labels every bodiless answer `text/plain`, chunked
//! and without a length; 2.x sends no type at all.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http::HeaderMap;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use toolgate_audit::AuditSink;
use toolgate_limits::CounterStore;
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::router;
use toolgate_proxy::test_support::{proxy_state, Seed};
use toolgate_store::secrets::SecretKey;
use tower::ServiceExt;

/// `@hono/node-server` 1.x's rendering of `new Response(null, {status})`.
fn hono1_empty(status: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=UTF-8\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"
    )
}

fn json_answer(extra: &str, body: &Value) -> String {
    let body = body.to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The raw answer to one request, chosen by its method and JSON-RPC body.
fn answer(method: &str, body: &str) -> String {
    if method == "DELETE" {
        return hono1_empty("200 OK");
    }
    if method == "GET" {
        return hono1_empty("405 Method Not Allowed");
    }
    if body.starts_with('[') {
        // A batch of notifications, answered "200, JSON, nothing".
        return "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"
            .to_owned();
    }
    let message: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let id = &message["id"];
    match message["method"].as_str().unwrap_or("") {
        "initialize" => json_answer(
            "mcp-session-id: upstream-session-1\r\n",
            &json!({"jsonrpc": "2.0", "id": id, "result": {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "raw", "version": "1"}}}),
        ),
        "notifications/initialized" => hono1_empty("202 Accepted"),
        // @hono/node-server 2.x: no type, chunked, empty.
        "notifications/cancelled" => {
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n".to_owned()
        }
        "notifications/progress" => hono1_empty("204 No Content"),
        "notifications/roots/list_changed" => {
            "HTTP/1.1 202 Accepted\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\nAccepted"
                .to_owned()
        }
        "tools/call" => match message["params"]["name"].as_str().unwrap_or("") {
            "unlabelled" => {
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\noops\r\n0\r\n\r\n"
                    .to_owned()
            }
            "html" => "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 11\r\n\r\n<h1>hi</h1>"
                .to_owned(),
            _ => json_answer(
                "",
                &json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": "ok"}]}}),
            ),
        },
        _ => json_answer("", &json!({"jsonrpc": "2.0", "id": id, "result": {}})),
    }
}

/// Serves [`answer`]s over keep-alive connections; the upstream URL.
async fn start_raw_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let mut request_line = String::new();
                    if read.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let method = request_line.split(' ').next().unwrap_or("").to_owned();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        read.read_line(&mut line).await.unwrap();
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap();
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    read.read_exact(&mut body).await.unwrap();
                    let reply = answer(&method, &String::from_utf8_lossy(&body));
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/mcp")
}

struct Gateway {
    router: Router,
    token: String,
    path: String,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
}

async fn gateway(pool: PgPool) -> Gateway {
    let upstream = start_raw_upstream().await;
    let key = Arc::new(SecretKey::from_bytes([7; 32]));
    let policy = json!({"version": "1", "default": "allow", "tools": {"wipe": {"action": "deny", "reason": "no"}}});
    let seeded = Seed::new("Raw", &upstream, &policy)
        .create(&pool, &key)
        .await;
    let state = proxy_state(
        &pool,
        key,
        Limiter::new(CounterStore::memory()),
        AuditSink::disabled(),
    );
    Gateway {
        router: router(state),
        token: seeded.token().to_owned(),
        path: seeded.path(),
    }
}

impl Gateway {
    async fn send(&self, method: &str, session: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(&self.path)
            .header("authorization", format!("Bearer {}", self.token))
            .header("accept", "application/json, text/event-stream");
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn notify(&self, session: &str, method: &str) -> Reply {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": {}});
        self.send("POST", Some(session), Some(body)).await
    }

    /// Initializes a legacy session; the gateway's (sealed) session id.
    async fn initialize(&self) -> String {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
        let reply = self.send("POST", None, Some(body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.headers["mcp-session-id"].to_str().unwrap().to_owned()
    }
}

fn assert_empty(reply: &Reply, status: StatusCode, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.text);
    assert!(reply.text.is_empty(), "{what}: {}", reply.text);
}

#[sqlx::test(migrations = "../../migrations")]
async fn bodiless_answers_are_empty_whatever_type_they_name(pool: PgPool) {
    let g = gateway(pool).await;
    let session = g.initialize().await;

    let initialized = g.notify(&session, "notifications/initialized").await;
    assert_empty(
        &initialized,
        StatusCode::ACCEPTED,
        "202 text/plain, chunked",
    );
    let progress = g.notify(&session, "notifications/progress").await;
    assert_empty(&progress, StatusCode::NO_CONTENT, "204 text/plain");
    let roots = g.notify(&session, "notifications/roots/list_changed").await;
    assert_empty(&roots, StatusCode::ACCEPTED, "202 text/plain with a body");
    let cancelled = g.notify(&session, "notifications/cancelled").await;
    assert_empty(&cancelled, StatusCode::OK, "200, no type, chunked, empty");

    // The connection survived every one of them.
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {}}});
    let reply = g.send("POST", Some(&session), Some(call)).await;
    assert_eq!(reply.json()["result"]["content"][0]["text"], "ok");
}

#[sqlx::test(migrations = "../../migrations")]
async fn delete_and_get_answers_without_a_body_are_relayed(pool: PgPool) {
    let g = gateway(pool).await;
    let session = g.initialize().await;
    let listen = g.send("GET", Some(&session), None).await;
    assert_empty(
        &listen,
        StatusCode::METHOD_NOT_ALLOWED,
        "GET: 405 text/plain, empty",
    );
    let ended = g.send("DELETE", Some(&session), None).await;
    assert_empty(&ended, StatusCode::OK, "DELETE: 200 text/plain, empty");
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_body_that_is_not_mcp_is_still_an_invalid_response(pool: PgPool) {
    let g = gateway(pool).await;
    let session = g.initialize().await;
    for (id, tool, named) in [
        (2, "unlabelled", "no content type and a 4-byte body"),
        (3, "html", "content type \"text/html\" and a 11-byte body"),
    ] {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}}});
        let reply = g.send("POST", Some(&session), Some(call)).await;
        assert_eq!(reply.status, StatusCode::OK, "answered in-band");
        let body = reply.json();
        assert_eq!(body["id"], id);
        assert_eq!(body["error"]["code"], -31003, "{tool}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{tool}: {message}");
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_zero_length_json_answer_leaves_the_gateways_own_answers(pool: PgPool) {
    let g = gateway(pool).await;
    // 2025-03-26 batches: the notification goes upstream, the denied call
    // is answered here; the upstream's "200, JSON, zero bytes" adds nothing.
    let batch = json!([
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "wipe", "arguments": {}}}
    ]);
    let reply = g.send("POST", None, Some(batch)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let answers = reply.json();
    assert_eq!(answers.as_array().unwrap().len(), 1, "{answers}");
    assert_eq!(answers[0]["id"], 9);
    assert_eq!(answers[0]["error"]["code"], -32602);
}
