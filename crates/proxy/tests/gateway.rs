//! The gateway router against a real Postgres (fresh database per test) and
//! a scripted upstream on loopback: authentication, enforcement, header
//! hygiene, session binding and every upstream failure mode.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_audit::AuditSink;
use toolgate_limits::CounterStore;
use toolgate_proxy::cache::SnapshotCache;
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::test_support::{json_response, proxy_state, serve, Seed};
use toolgate_proxy::upstream::UpstreamClient;
use toolgate_proxy::{router, ProxyState};
use toolgate_store::ids::AccountId;
use toolgate_store::secrets::SecretKey;
use tower::ServiceExt;

/// What the scripted upstream saw.
#[derive(Default)]
struct Seen {
    requests: Vec<(HeaderMap, String)>,
}

type Recorder = Arc<Mutex<Seen>>;

async fn upstream_handler(
    State(seen): State<Recorder>,
    headers: HeaderMap,
    body: String,
) -> Response {
    seen.lock().unwrap().requests.push((headers, body.clone()));
    let message: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Some(batch) = message.as_array() {
        let answers: Vec<Value> = batch
            .iter()
            .map(|m| json!({"jsonrpc": "2.0", "id": m["id"], "result": {"content": [{"type": "text", "text": m["params"]["arguments"]["message"]}]}}))
            .collect();
        return json_response(&Value::Array(answers));
    }
    let id = message["id"].clone();
    match message["method"].as_str() {
        Some("initialize") => (
            [("content-type", "application/json"), ("mcp-session-id", "upstream-session-1")],
            json!({"jsonrpc": "2.0", "id": id, "result": {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "scripted", "version": "1"}}}).to_string(),
        )
            .into_response(),
        Some("tools/list") => (
            [("content-type", "text/event-stream")],
            format!(
                "event: message\ndata: {}\n\n",
                json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
                    {"name": "echo", "inputSchema": {"type": "object"}},
                    {"name": "get-env", "inputSchema": {"type": "object"}},
                    {"name": "slow", "inputSchema": {"type": "object"}}
                ]}})
            ),
        )
            .into_response(),
        Some("tools/call") => match message["params"]["name"].as_str() {
            Some("slow") => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                StatusCode::OK.into_response()
            }
            Some("huge") => {
                // Over the gateway's 1 MiB settling copy, sent without a
                // length so that it streams through.
                let head = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":""#);
                let chunks = std::iter::once(head)
                    .chain(std::iter::repeat_n("x".repeat(64 * 1024), 32))
                    .chain(std::iter::once(r#""}]}}"#.to_owned()))
                    .map(Ok::<_, std::io::Error>);
                (
                    [("content-type", "application/json")],
                    axum::body::Body::from_stream(futures_util::stream::iter(chunks)),
                )
                    .into_response()
            }
            Some("failing") => json_response(&json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": "tool crashed"}})),
            Some("garbage") => (StatusCode::INTERNAL_SERVER_ERROR, [("content-type", "text/html")], "<h1>oops</h1>").into_response(),
            Some("unauthorized") => (StatusCode::UNAUTHORIZED, [("www-authenticate", "Bearer")], "").into_response(),
            _ => json_response(&json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": message["params"]["arguments"]["message"]}]}})),
        },
        None => StatusCode::ACCEPTED.into_response(),
        Some(_) => json_response(&json!({"jsonrpc": "2.0", "id": id, "result": {}})),
    }
}

async fn start_upstream() -> (String, Recorder) {
    let seen = Recorder::default();
    let app = Router::new()
        .route("/mcp", post(upstream_handler))
        .with_state(seen.clone());
    (format!("http://{}/mcp", serve(app).await), seen)
}

struct Fixture {
    router: Router,
    cache: Arc<SnapshotCache>,
    seen: Recorder,
    token: String,
    other_token: String,
    account: AccountId,
    pool: PgPool,
}

const POLICY: &str = r#"{"version": "1", "default": "allow", "hide": ["get-env"],
  "tools": {"echo": {"arguments": {"type": "object", "properties": {"message": {"type": "string", "maxLength": 10}}}},
            "wipe": {"action": "deny", "reason": "no"},
            "failing": {"limits": [{"counter": "failing", "window": "day", "max": 2, "scope": "grant"}]},
            "counted": {"limits": [{"counter": "counted", "window": "day", "max": 2, "scope": "grant"}]},
            "huge": {"limits": [{"counter": "huge", "window": "day", "max": 2, "scope": "grant"}]}}}"#;

async fn fixture(pool: PgPool, upstream_url: Option<&str>, timeout_ms: i32) -> Fixture {
    let (url, seen) = match upstream_url {
        Some(url) => (url.to_owned(), Recorder::default()),
        None => start_upstream().await,
    };
    let key = Arc::new(SecretKey::from_bytes([9; 32]));
    let policy = serde_json::from_str(POLICY).unwrap();
    let seeded = Seed {
        upstream_headers: [("x-upstream-key".to_owned(), "upstream-secret".to_owned())]
            .into_iter()
            .collect(),
        timeout_ms,
        grants: &["agent", "other"],
        ..Seed::new("Acme", &url, &policy)
    }
    .create(&pool, &key)
    .await;
    let state = proxy_state(
        &pool,
        key,
        Limiter::new(CounterStore::memory()),
        AuditSink::disabled(),
    );
    Fixture {
        router: router(state.clone()),
        cache: state.cache,
        seen,
        token: seeded.grants[0].token.clone(),
        other_token: seeded.grants[1].token.clone(),
        account: seeded.account,
        pool,
    }
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

impl Fixture {
    async fn post_with(&self, token: Option<&str>, body: &str, extra: &[(&str, &str)]) -> Reply {
        let mut request = Request::post("/mcp/acme/tools")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    async fn post(&self, body: Value) -> Reply {
        self.post_with(Some(&self.token), &body.to_string(), &[])
            .await
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    fn upstream_calls(&self) -> usize {
        self.seen.lock().unwrap().requests.len()
    }
}

fn call(id: u32, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

#[sqlx::test(migrations = "../../migrations")]
async fn allowed_calls_pass_with_the_upstreams_credentials_only(pool: PgPool) {
    let f = fixture(pool, None, 2000).await;
    let body = call(1, "echo", json!({"message": "hello"})).to_string();
    let reply = f
        .post_with(
            Some(&f.token),
            &body,
            &[("cookie", "c=1"), ("origin", "https://agent.example")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["result"]["content"][0]["text"], "hello");

    let seen = f.seen.lock().unwrap();
    let (headers, forwarded) = &seen.requests[0];
    assert_eq!(forwarded, &body, "allowed calls go through byte for byte");
    assert_eq!(headers["x-upstream-key"], "upstream-secret");
    assert!(
        !headers.contains_key("authorization")
            && !headers.contains_key("cookie")
            && !headers.contains_key("origin")
    );
    assert!(headers
        .values()
        .all(|v| !v.to_str().unwrap_or("").contains(&f.token)));
    assert_eq!(
        headers["host"],
        format!(
            "127.0.0.1:{}",
            headers["host"]
                .to_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
        )
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn tool_lists_are_filtered_and_refusals_stay_local(pool: PgPool) {
    let f = fixture(pool, None, 2000).await;
    let list = f
        .post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.headers["x-accel-buffering"], "no");
    assert!(
        list.text.contains("\"echo\"")
            && list.text.contains("\"slow\"")
            && !list.text.contains("get-env"),
        "{}",
        list.text
    );

    let before = f.upstream_calls();
    let hidden = f.post(call(2, "get-env", json!({}))).await.json();
    assert_eq!(hidden["error"]["code"], -32602);
    assert_eq!(hidden["error"]["message"], "Unknown tool: get-env");
    let denied = f.post(call(3, "wipe", json!({}))).await.json();
    assert_eq!(denied["error"]["message"], "Unknown tool: wipe");
    let refused = f
        .post(call(
            4,
            "echo",
            json!({"message": "much too long for the schema"}),
        ))
        .await
        .json();
    assert_eq!(refused["result"]["isError"], true);
    let text = refused["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Denied by policy:") && text.contains("/message"),
        "{text}"
    );
    assert_eq!(
        f.upstream_calls(),
        before,
        "refused calls never reach the upstream"
    );

    let batch = json!([
        call(5, "echo", json!({"message": "ok"})),
        call(6, "get-env", json!({}))
    ]);
    let reply = f
        .post_with(
            Some(&f.token),
            &batch.to_string(),
            &[("mcp-protocol-version", "2025-03-26")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let answers = reply.json();
    assert_eq!(answers.as_array().unwrap().len(), 2);
    assert_eq!(answers[0]["result"]["content"][0]["text"], "ok");
    assert_eq!(answers[1]["error"]["message"], "Unknown tool: get-env");
    let last = f.seen.lock().unwrap().requests.last().unwrap().1.clone();
    assert!(
        !last.contains("get-env"),
        "the refused call was smuggled upstream: {last}"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn sessions_are_bound_to_the_grant_that_opened_them(pool: PgPool) {
    let f = fixture(pool, None, 2000).await;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let reply = f.post(init).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let session = reply.headers["mcp-session-id"].to_str().unwrap().to_owned();
    assert!(
        session.starts_with("upstream-session-1.") && session.len() > 25,
        "{session}"
    );

    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let headers = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    let ok = f.post_with(Some(&f.token), &list, &headers).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(
        f.seen.lock().unwrap().requests.last().unwrap().0["mcp-session-id"],
        "upstream-session-1"
    );

    let calls = f.upstream_calls();
    let stolen = f.post_with(Some(&f.other_token), &list, &headers).await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND, "{}", stolen.text);
    assert_eq!(stolen.json()["error"]["code"], -32001);
    let forged = f
        .post_with(
            Some(&f.token),
            &list,
            &[
                ("mcp-session-id", "upstream-session-1"),
                ("mcp-protocol-version", "2025-06-18"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND);
    assert_eq!(f.upstream_calls(), calls);
}

#[sqlx::test(migrations = "../../migrations")]
async fn agents_without_a_valid_grant_are_401(pool: PgPool) {
    let f = fixture(pool, None, 2000).await;
    let body = call(1, "echo", json!({"message": "x"})).to_string();
    for token in [None, Some("tgg_unknown"), Some("not-even-a-grant")] {
        let reply = f.post_with(token, &body, &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(reply.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        assert!(reply.json()["error"]["message"].is_string());
    }
    assert_eq!(f.upstream_calls(), 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn changes_apply_when_the_account_is_invalidated(pool: PgPool) {
    let f = fixture(pool, None, 2000).await;
    let body = call(1, "echo", json!({"message": "x"})).to_string();
    assert_eq!(
        f.post_with(Some(&f.token), &body, &[]).await.status,
        StatusCode::OK
    );
    sqlx::query!("UPDATE grants SET revoked_at = now()")
        .execute(&f.pool)
        .await
        .unwrap();
    // Served from the snapshot: no Postgres on the hot path.
    assert_eq!(
        f.post_with(Some(&f.token), &body, &[]).await.status,
        StatusCode::OK
    );
    f.cache.invalidate(f.account);
    assert_eq!(
        f.post_with(Some(&f.token), &body, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn bad_requests_get_json_rpc_errors_not_500s(pool: PgPool) {
    let f = fixture(pool, None, 2000).await;
    let cases: [(&str, StatusCode, i64); 5] = [
        ("{\"jsonrpc\":", StatusCode::BAD_REQUEST, -32700),
        ("[]", StatusCode::BAD_REQUEST, -32600),
        (
            "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"x\"}",
            StatusCode::BAD_REQUEST,
            -32600,
        ),
        (
            "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}",
            StatusCode::BAD_REQUEST,
            -32600,
        ),
        ("42", StatusCode::BAD_REQUEST, -32600),
    ];
    for (body, status, code) in cases {
        let reply = f.post_with(Some(&f.token), body, &[]).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        assert_eq!(reply.json()["error"]["code"], code, "{body}");
    }
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{{\"p\":\"{}\"}}}}",
        "x".repeat(4 * 1024 * 1024)
    );
    assert_eq!(
        f.post_with(Some(&f.token), &huge, &[]).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    let mismatch = call(7, "echo", json!({"message": "x"})).to_string();
    let reply = f
        .post_with(Some(&f.token), &mismatch, &[("mcp-name", "other-tool")])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], -32020);

    let plain = f
        .send(
            Request::post("/mcp/acme/tools")
                .header("authorization", format!("Bearer {}", f.token))
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(plain.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for path in ["/mcp/nobody/tools", "/mcp/acme/nothing"] {
        let reply = f
            .send(
                Request::post(path)
                    .header("authorization", format!("Bearer {}", f.token))
                    .header("content-type", "application/json")
                    .body(Body::from(mismatch.clone()))
                    .unwrap(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(f.upstream_calls(), 0, "none of these reached the upstream");
}

#[sqlx::test(migrations = "../../migrations")]
async fn upstream_failures_are_errors_the_client_can_show(pool: PgPool) {
    let f = fixture(pool, None, 500).await;
    let slow = f.post(call(1, "slow", json!({}))).await;
    assert_eq!(slow.status, StatusCode::OK);
    assert_eq!(slow.json()["error"]["code"], -31002);
    assert_eq!(slow.json()["id"], 1);

    let garbage = f.post(call(2, "garbage", json!({}))).await.json();
    assert_eq!(garbage["error"]["code"], -31003);
    assert!(garbage["error"]["message"]
        .as_str()
        .unwrap()
        .contains("HTTP 500"));

    let unauthorized = f.post(call(3, "unauthorized", json!({}))).await;
    assert_eq!(
        unauthorized.status,
        StatusCode::OK,
        "the agent's own credentials are fine"
    );
    assert!(!unauthorized.headers.contains_key("www-authenticate"));
    assert!(unauthorized.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("credentials"));
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_unreachable_upstream_is_named_without_secrets(pool: PgPool) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = fixture(
        pool,
        Some(&format!("http://127.0.0.1:{port}/mcp?key=query-secret")),
        1000,
    )
    .await;
    let reply = f
        .post(call(1, "echo", json!({"message": "x"})))
        .await
        .json();
    assert_eq!(reply["error"]["code"], -31001);
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("unreachable"), "{message}");
    assert!(
        !message.contains("query-secret") && !message.contains("upstream-secret"),
        "{message}"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn internal_upstreams_are_refused_when_private_addresses_are_off(pool: PgPool) {
    let f = fixture(pool.clone(), None, 1000).await;
    let state = ProxyState {
        upstream: UpstreamClient::new(false).unwrap(),
        ..proxy_state(
            &pool,
            Arc::new(SecretKey::from_bytes([9; 32])),
            Limiter::new(CounterStore::memory()),
            AuditSink::disabled(),
        )
    };
    let strict = Fixture {
        router: router(state),
        ..f
    };
    let reply = strict
        .post(call(1, "echo", json!({"message": "x"})))
        .await
        .json();
    assert_eq!(reply["error"]["code"], -31001);
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not allowed"));
    assert_eq!(strict.upstream_calls(), 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn limits_refuse_with_a_retry_time_and_failed_calls_give_units_back(pool: PgPool) {
    let f = fixture(pool, None, 2000).await;
    for i in 0..2 {
        let ok = f
            .post(call(i, "counted", json!({"message": "x"})))
            .await
            .json();
        assert!(ok["result"].get("isError").is_none(), "{ok}");
    }
    let refused = f
        .post(call(3, "counted", json!({"message": "x"})))
        .await
        .json();
    assert_eq!(refused["result"]["isError"], true);
    let text = refused["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Denied by policy: limit \"counted\" reached (2 per day); retry in"),
        "{text}"
    );
    let meta = &refused["result"]["_meta"]["dev.toolgate/refusal"];
    assert_eq!(meta["rule"], "/tools/counted/limits/0");
    assert!(meta["retry_after_ms"].as_u64().unwrap() > 0);

    // The upstream answers every "failing" call with a JSON-RPC error: each
    // gives its unit back, so the limit of 2 never bites.
    let before = f.upstream_calls();
    for i in 10..15 {
        let answer = f.post(call(i, "failing", json!({}))).await.json();
        assert_eq!(answer["error"]["message"], "tool crashed", "{answer}");
        // Give-back runs off the request path; let it land.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        f.upstream_calls() - before,
        5,
        "failed calls consumed nothing"
    );
}

/// An answer too large to keep a copy of still counts as served: its units
/// are not given back (which would let the limit over-admit).
#[sqlx::test(migrations = "../../migrations")]
async fn limited_calls_with_answers_too_large_to_read_keep_their_units(pool: PgPool) {
    let f = fixture(pool, None, 2000).await;
    for i in 0..2 {
        let answer = f.post(call(i, "huge", json!({}))).await.json();
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert_eq!(text.len(), 32 * 64 * 1024, "relayed whole");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = f.post(call(3, "huge", json!({}))).await.json();
    assert_eq!(refused["result"]["isError"], true, "{refused}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn every_response_carries_a_request_id_kept_if_sent(pool: PgPool) {
    let f = fixture(pool, None, 2000).await;
    let body = call(1, "echo", json!({"message": "hi"})).to_string();

    let sent = f
        .post_with(Some(&f.token), &body, &[("x-request-id", "trace-me-42")])
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert_eq!(sent.headers["x-request-id"], "trace-me-42");

    // Made here when absent, different each time, also on refusals and errors.
    let mut made = Vec::new();
    for (token, body) in [
        (Some(f.token.as_str()), body.clone()),
        (
            Some(f.token.as_str()),
            call(2, "wipe", json!({})).to_string(),
        ),
        (None, body.clone()),
    ] {
        let reply = f.post_with(token, &body, &[]).await;
        let id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        made.push(id);
    }
    made.sort();
    made.dedup();
    assert_eq!(made.len(), 3);
}

/// HTTPS upstreams are spoken to over TLS: here the upstream answers plain
/// HTTP on an https:// URL, so the handshake fails and says so.
#[sqlx::test(migrations = "../../migrations")]
async fn https_upstreams_are_reached_over_tls(pool: PgPool) {
    let (url, _) = start_upstream().await;
    let https = url.replacen("http://", "https://", 1);
    let f = fixture(pool, Some(&https), 2000).await;
    let reply = f
        .post(call(1, "echo", json!({"message": "x"})))
        .await
        .json();
    assert_eq!(reply["error"]["code"], -31001, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap().to_lowercase();
    assert!(
        !message.contains("scheme"),
        "TLS must be available: {message}"
    );
    assert!(
        message.contains("tls")
            || message.contains("handshake")
            || message.contains("corrupt message"),
        "{message}"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn arguments_the_upstream_could_read_otherwise_never_reach_it(pool: PgPool) {
    let f = fixture(pool, None, 2000).await;
    let raw = |name: &str, arguments: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"{name}","arguments":{arguments}}}}}"#
        )
    };
    for (name, arguments, problem, pointer) in [
        // `echo` is judged by a schema; `counted` only by its counter.
        (
            "echo",
            r#"{"message":"hi","message":"far too long"}"#,
            "duplicate_key",
            "/message",
        ),
        (
            "counted",
            r#"{"rows":[{"id":1},{"id":1,"\u0069d":2}]}"#,
            "duplicate_key",
            "/rows/1/id",
        ),
        (
            "echo",
            r#"{"message":"hi","n":10.0000000000000000001}"#,
            "inexact_number",
            "/n",
        ),
        (
            "echo",
            r#"{"message":"hi","n":1e400}"#,
            "inexact_number",
            "/n",
        ),
    ] {
        let reply = f
            .post_with(Some(&f.token), &raw(name, arguments), &[])
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let answer = reply.json();
        assert_eq!(answer["result"]["isError"], true, "{arguments}: {answer}");
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(
            text.starts_with("Denied by policy: ") && text.contains(pointer),
            "{text}"
        );
        let detail = &answer["result"]["_meta"]["dev.toolgate/refusal"];
        assert_eq!(
            (detail["problem"].as_str(), detail["argument"].as_str()),
            (Some(problem), Some(pointer))
        );
    }
    assert_eq!(
        f.upstream_calls(),
        0,
        "no ambiguous call reached the upstream"
    );

    // A repeated envelope member, even one the gateway does not read, is not
    // a message at all.
    let reply = f
        .post_with(
            Some(&f.token),
            r#"{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"cursor":"a","cursor":"b"}}"#,
            &[],
        )
        .await;
    assert_eq!(reply.json()["error"]["code"], -32600, "{}", reply.text);

    // Exact numbers in any spelling go through byte for byte; an unjudged
    // tool's numbers are nobody's business but the upstream's.
    for (name, arguments) in [
        ("echo", r#"{"message":"hi","n":[0.1,1e2,-0,100,2.5E-3]}"#),
        ("counted", r#"{"n":10.0000000000000000001}"#),
    ] {
        let body = raw(name, arguments);
        let reply = f.post_with(Some(&f.token), &body, &[]).await;
        assert!(
            reply.json()["result"]["isError"].is_null(),
            "{}",
            reply.text
        );
        let seen = f.seen.lock().unwrap();
        assert_eq!(seen.requests.last().unwrap().1, body);
    }
}
