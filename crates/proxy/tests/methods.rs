//! Only the methods the protocol revision in use defines for a client, and
//! the policy's `extensions`, reach the upstream; the rest get `-32601` (a
//! notification is dropped). Against a real Postgres (fresh database per
//! test) and a recording upstream on loopback.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_audit::AuditSink;
use toolgate_limits::CounterStore;
use toolgate_mcp::headers::ProtocolVersion;
use toolgate_mcp::methods::{client_methods, Call};
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::router;
use toolgate_proxy::test_support::{json_response, proxy_state, serve, Seed};
use toolgate_store::secrets::SecretKey;
use tower::ServiceExt;

type Recorder = Arc<Mutex<Vec<Value>>>;

/// Records every message it receives; answers each request with an empty
/// result and a body without requests with 202.
async fn upstream(State(seen): State<Recorder>, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap();
    let messages = match &body {
        Value::Array(messages) => messages.clone(),
        single => vec![single.clone()],
    };
    seen.lock().unwrap().extend(messages.iter().cloned());
    let answers: Vec<Value> = messages
        .iter()
        .filter(|m| m.get("method").is_some() && m.get("id").is_some())
        .map(|m| json!({"jsonrpc": "2.0", "id": m["id"], "result": {}}))
        .collect();
    match (body.is_array(), answers.first()) {
        (_, None) => StatusCode::ACCEPTED.into_response(),
        (true, _) => json_response(&Value::Array(answers)),
        (false, Some(answer)) => json_response(answer),
    }
}

struct Fixture {
    router: Router,
    seen: Recorder,
    token: String,
    path: String,
}

async fn fixture(pool: PgPool, policy: Value) -> Fixture {
    let seen = Recorder::default();
    let app = Router::new()
        .route("/mcp", post(upstream))
        .with_state(seen.clone());
    let url = format!("http://{}/mcp", serve(app).await);
    let key = Arc::new(SecretKey::from_bytes([7; 32]));
    let seeded = Seed::new("Acme", &url, &policy).create(&pool, &key).await;
    let state = proxy_state(
        &pool,
        key,
        Limiter::new(CounterStore::memory()),
        AuditSink::disabled(),
    );
    Fixture {
        router: router(state),
        seen,
        token: seeded.token().to_owned(),
        path: seeded.path(),
    }
}

fn open_policy() -> Value {
    json!({"version": "1", "default": "allow", "extensions": ["x-vendor/do-thing", "x-vendor/poke"]})
}

impl Fixture {
    /// POSTs `body` with `MCP-Protocol-Version: version` (none when `None`)
    /// and, for a modern single request, the mirrored headers.
    async fn post(&self, version: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut request = Request::post(&self.path)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(version) = version {
            request = request.header("mcp-protocol-version", version);
        }
        if let Some(method) = body["method"].as_str() {
            request = request.header("mcp-method", method);
        }
        let name = match body["method"].as_str() {
            Some("tools/call" | "prompts/get") => body["params"]["name"].as_str(),
            Some("resources/read") => body["params"]["uri"].as_str(),
            _ => None,
        };
        if let Some(name) = name {
            request = request.header("mcp-name", name);
        }
        let request = request.body(Body::from(body.to_string())).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, value)
    }

    /// The methods the upstream has received, in order, and forgets them.
    fn take_seen(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
            .iter()
            .map(|m| m["method"].as_str().unwrap_or("(response)").to_owned())
            .collect()
    }
}

fn request(id: u32, method: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params(method)})
}

fn notification(method: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": {}})
}

/// Parameters the gateway accepts for `method` (the judged methods name
/// what they act on).
fn params(method: &str) -> Value {
    match method {
        "tools/call" | "prompts/get" => json!({"name": "echo", "arguments": {}}),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            json!({"uri": "demo://a"})
        }
        "completion/complete" => {
            json!({"ref": {"type": "ref/prompt", "name": "echo"}, "argument": {"name": "a", "value": ""}})
        }
        _ => json!({}),
    }
}

/// `params._meta` a 2026-07-28 message must carry.
fn modern(mut message: Value) -> Value {
    message["params"]["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    message
}

fn assert_method_not_found(answer: &Value, id: u32, method: &str) {
    assert_eq!(answer["id"], id, "{answer}");
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        format!("Method not found: {method}"),
        "{answer}"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn every_method_a_revision_defines_is_forwarded(pool: PgPool) {
    let f = fixture(pool, open_policy()).await;
    for version in ProtocolVersion::ALL {
        let header = version.as_str();
        for (method, call) in client_methods(version) {
            let (message, expected) = match call {
                Call::Request => (request(1, method), StatusCode::OK),
                Call::Notification => (notification(method), StatusCode::ACCEPTED),
            };
            let message = if version == ProtocolVersion::V2026_07_28 {
                modern(message)
            } else {
                message
            };
            // `initialize` carries no header: what it speaks is negotiated.
            let header = (method != "initialize").then_some(header);
            let (status, answer) = f.post(header, &message).await;
            assert_eq!(status, expected, "{version} {method}: {answer}");
            assert_eq!(f.take_seen(), [method], "{version} {method}");
        }
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn unknown_methods_never_reach_the_upstream(pool: PgPool) {
    let f = fixture(pool, open_policy()).await;
    for (version, method) in [
        (None, "debug/dump"),
        (None, "tools/delete"),
        (None, "Tools/call"),
        (Some("2025-11-25"), "admin/shutdown"),
        // A server's own methods are not the client's to send.
        (Some("2025-11-25"), "sampling/createMessage"),
        (Some("2025-06-18"), "roots/list"),
        // A notification's name called as a request.
        (None, "notifications/initialized"),
    ] {
        let (status, answer) = f.post(version, &request(7, method)).await;
        assert_eq!(status, StatusCode::OK, "{method}");
        assert_method_not_found(&answer, 7, method);
    }
    // A notification cannot be answered: it is dropped, as accepted.
    for method in [
        "notifications/debug",
        "notifications/message",
        "x-other/poke",
    ] {
        let (status, answer) = f.post(Some("2025-11-25"), &notification(method)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{method}");
        assert_eq!(answer, Value::Null);
    }
    assert!(f.take_seen().is_empty());
}

#[sqlx::test(migrations = "../../migrations")]
async fn methods_of_another_revision_are_refused(pool: PgPool) {
    let f = fixture(pool, open_policy()).await;
    for (version, method) in [
        // Tasks arrived in 2025-11-25; without a header a client speaks
        // 2025-03-26.
        (None, "tasks/list"),
        (Some("2025-06-18"), "tasks/get"),
        // 2026-07-28 methods, on a legacy connection.
        (Some("2025-11-25"), "server/discover"),
        (Some("2025-11-25"), "subscriptions/listen"),
        (Some("2024-11-05"), "server/discover"),
    ] {
        let (status, answer) = f.post(version, &request(3, method)).await;
        assert_eq!(status, StatusCode::OK, "{version:?} {method}");
        assert_method_not_found(&answer, 3, method);
    }
    let (status, _) = f
        .post(
            Some("2025-06-18"),
            &notification("notifications/tasks/status"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(f.take_seen().is_empty());

    // 2026-07-28 removed the handshake, ping and logging/setLevel; it
    // answers an unknown method with 404 and the JSON-RPC error.
    for method in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
    ] {
        let (status, answer) = f
            .post(Some("2026-07-28"), &modern(request(4, method)))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
        assert_method_not_found(&answer, 4, method);
    }
    let (status, _) = f
        .post(
            Some("2026-07-28"),
            &modern(notification("notifications/initialized")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(f.take_seen().is_empty());
}

#[sqlx::test(migrations = "../../migrations")]
async fn listed_extensions_are_forwarded_in_every_revision(pool: PgPool) {
    let f = fixture(pool, open_policy()).await;
    for version in [None, Some("2025-06-18"), Some("2025-11-25")] {
        let (status, answer) = f.post(version, &request(5, "x-vendor/do-thing")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, json!({"jsonrpc": "2.0", "id": 5, "result": {}}));
        let (status, _) = f.post(version, &notification("x-vendor/poke")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(f.take_seen(), ["x-vendor/do-thing", "x-vendor/poke"]);
    }
    let (status, answer) = f
        .post(Some("2026-07-28"), &modern(request(6, "x-vendor/do-thing")))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(f.take_seen(), ["x-vendor/do-thing"]);
    // Names are exact.
    let (_, answer) = f.post(None, &request(8, "x-vendor/do-things")).await;
    assert_method_not_found(&answer, 8, "x-vendor/do-things");
    assert!(f.take_seen().is_empty());
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_extension_another_policy_lists_is_unknown(pool: PgPool) {
    let f = fixture(pool, json!({"version": "1", "default": "allow"})).await;
    let (status, answer) = f.post(None, &request(1, "x-vendor/do-thing")).await;
    assert_eq!(status, StatusCode::OK);
    assert_method_not_found(&answer, 1, "x-vendor/do-thing");
    assert!(f.take_seen().is_empty());
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_batch_is_judged_message_by_message(pool: PgPool) {
    let f = fixture(pool, open_policy()).await;
    let batch = json!([
        request(1, "tools/list"),
        request(2, "debug/dump"),
        notification("notifications/debug"),
        request(3, "tasks/list"),
        request(4, "x-vendor/do-thing"),
        notification("notifications/progress"),
        // The client's answer to a server's request has no method.
        {"jsonrpc": "2.0", "id": "s-1", "result": {}},
    ]);
    let (status, answer) = f.post(None, &batch).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        f.take_seen(),
        [
            "tools/list",
            "x-vendor/do-thing",
            "notifications/progress",
            "(response)"
        ]
    );
    let answers = answer.as_array().unwrap();
    let by_id = |id: u32| answers.iter().find(|a| a["id"] == id).unwrap();
    assert_eq!(answers.len(), 4, "{answer}");
    assert!(by_id(1)["result"].is_object(), "{answer}");
    assert_method_not_found(by_id(2), 2, "debug/dump");
    assert_method_not_found(by_id(3), 3, "tasks/list");
    assert_eq!(by_id(4)["result"], json!({}));

    // Nothing left to forward: the refusals alone, or 202 when there are
    // none to give.
    let batch = json!([
        request(1, "debug/dump"),
        notification("notifications/debug")
    ]);
    let (status, answer) = f.post(None, &batch).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer.as_array().unwrap().len(), 1);
    assert_method_not_found(&answer[0], 1, "debug/dump");
    let batch = json!([
        notification("notifications/a"),
        notification("notifications/b")
    ]);
    let (status, answer) = f.post(None, &batch).await;
    assert_eq!((status, answer), (StatusCode::ACCEPTED, Value::Null));
    assert!(f.take_seen().is_empty());
}
