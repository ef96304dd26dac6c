//! Discovery against real HTTP upstreams on loopback: an axum MCP server per
//! test, in one of several behaviours, and the status each attempt ends in.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use toolgate_discovery::{Discoverer, Era, Limits, Status};
use toolgate_netguard::OutboundGuard;

#[derive(Clone, Copy)]
enum Upstream {
    /// `initialize` + session, SSE answers, tools on three pages, resources.
    Legacy,
    /// `server/discover`, JSON answers, prompts.
    Modern,
    /// 401 without the right `Authorization`.
    NeedsToken,
    /// An HTML page for everything.
    Html,
    /// Answers after a minute.
    Slow,
    /// 10,000 tools on one page.
    ManyTools,
    /// Tools with 100 KB descriptions.
    HugeDescriptions,
    /// Control characters, HTML and NUL in descriptions.
    OddText,
}

fn tool(name: &str, description: &str) -> Value {
    json!({"name": name, "description": description,
           "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}}})
}

fn answer(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn sse(message: &Value) -> Response {
    let body = format!(
        ": keep-alive\n\nevent: message\ndata: {}\n\nevent: message\ndata: {}\n\n",
        json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}}),
        message
    );
    ([("content-type", "text/event-stream")], body).into_response()
}

fn json_answer(message: Value) -> Response {
    ([("content-type", "application/json")], message.to_string()).into_response()
}

async fn legacy(headers: HeaderMap, body: Value) -> Response {
    let id = &body["id"];
    let method = body["method"].as_str().unwrap_or_default();
    let session_ok = headers.get("mcp-session-id").is_some_and(|v| v == "s-1");
    match method {
        // Like servers that list some tools only to clients able to use
        // them, this one wants every capability declared.
        "initialize"
            if ["roots", "sampling", "elicitation"]
                .iter()
                .any(|c| !body["params"]["capabilities"][c].is_object()) =>
        {
            (StatusCode::BAD_REQUEST, "declare every capability").into_response()
        }
        "initialize" => {
            let mut r = sse(&answer(
                id,
                json!({"protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}, "resources": {}},
                "serverInfo": {"name": "fake", "version": "1"}}),
            ));
            r.headers_mut()
                .insert("mcp-session-id", "s-1".parse().unwrap());
            r
        }
        _ if !session_ok => (StatusCode::BAD_REQUEST, "Bad Request: no session").into_response(),
        "notifications/initialized" => StatusCode::ACCEPTED.into_response(),
        "tools/list" => {
            assert_eq!(headers["mcp-protocol-version"], "2025-06-18");
            let page = match body["params"]["cursor"].as_str() {
                None => json!({"tools": [tool("read_file", "Reads a file")], "nextCursor": "p2"}),
                Some("p2") => {
                    json!({"tools": [tool("write_file", "Writes a file")], "nextCursor": "p3"})
                }
                Some(_) => {
                    json!({"tools": [tool("delete_file", "Deletes a file"), {"description": "no name"}]})
                }
            };
            sse(&answer(id, page))
        }
        "resources/list" => sse(&answer(
            id,
            json!({"resources": [
            {"uri": "file:///etc/motd", "name": "motd", "mimeType": "text/plain"}]}),
        )),
        _ => json_answer(
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "nope"}}),
        ),
    }
}

async fn modern(headers: HeaderMap, body: Value) -> Response {
    let id = &body["id"];
    let meta = &body["params"]["_meta"];
    if meta["io.modelcontextprotocol/protocolVersion"] != "2026-07-28"
        || !meta["io.modelcontextprotocol/clientCapabilities"]["elicitation"].is_object()
        || headers["mcp-protocol-version"] != "2026-07-28"
        || headers["mcp-method"] != body["method"].as_str().unwrap_or_default()
    {
        return (StatusCode::BAD_REQUEST, "bad meta").into_response();
    }
    match body["method"].as_str().unwrap_or_default() {
        "server/discover" => json_answer(answer(
            id,
            json!({"resultType": "complete",
            "supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}, "prompts": {}}}),
        )),
        "tools/list" => json_answer(answer(
            id,
            json!({"tools": [tool("search", "Searches")],
            "ttlMs": 300000, "cacheScope": "public"}),
        )),
        "prompts/list" => json_answer(answer(
            id,
            json!({"prompts": [{"name": "summarise",
            "arguments": [{"name": "text"}]}]}),
        )),
        _ => (StatusCode::NOT_FOUND, "no").into_response(),
    }
}

async fn simple_tools(body: &Value, tools: Vec<Value>) -> Response {
    let id = &body["id"];
    match body["method"].as_str().unwrap_or_default() {
        "initialize" => json_answer(answer(
            id,
            json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}}),
        )),
        "notifications/initialized" => StatusCode::ACCEPTED.into_response(),
        "tools/list" => json_answer(answer(id, json!({"tools": tools}))),
        _ => (StatusCode::NOT_FOUND, "").into_response(),
    }
}

async fn serve(kind: Upstream) -> String {
    let handler = move |headers: HeaderMap, body: String| async move {
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        match kind {
            Upstream::Legacy => legacy(headers, body).await,
            Upstream::Modern => modern(headers, body).await,
            Upstream::NeedsToken
                if headers
                    .get("authorization")
                    .is_none_or(|v| v != "Bearer right") =>
            {
                (
                    StatusCode::UNAUTHORIZED,
                    [("www-authenticate", "Bearer")],
                    "",
                )
                    .into_response()
            }
            Upstream::NeedsToken => simple_tools(&body, vec![tool("echo", "Echoes")]).await,
            Upstream::Html => (
                [("content-type", "text/html")],
                "<html><body>Welcome</body></html>",
            )
                .into_response(),
            Upstream::Slow => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                StatusCode::OK.into_response()
            }
            Upstream::ManyTools => {
                let tools = (0..10_000).map(|i| tool(&format!("t{i}"), "x")).collect();
                simple_tools(&body, tools).await
            }
            Upstream::HugeDescriptions => {
                let tools = (0..100)
                    .map(|i| tool(&format!("t{i}"), &"d".repeat(100_000)))
                    .collect();
                simple_tools(&body, tools).await
            }
            Upstream::OddText => {
                let odd = "Reads\u{1b}[31m <script>alert(1)</script> \u{0}\u{7}\r\nend";
                simple_tools(&body, vec![tool("odd\u{1b}name", odd)]).await
            }
        }
    };
    let app = Router::new().route("/mcp", post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/mcp")
}

fn loopback_discoverer(deadline: Duration) -> Discoverer {
    let limits = Limits {
        deadline,
        ..Limits::default()
    };
    Discoverer::new(OutboundGuard::new(true), limits).unwrap()
}

fn no_headers() -> BTreeMap<String, String> {
    BTreeMap::new()
}

#[tokio::test]
async fn a_legacy_server_is_listed_page_by_page_over_its_session() {
    let url = serve(Upstream::Legacy).await;
    let found = loopback_discoverer(Duration::from_secs(5))
        .discover(&url, &no_headers())
        .await
        .unwrap();
    assert_eq!(found.era, Era::Legacy);
    let names: Vec<_> = found.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["read_file", "write_file", "delete_file"]);
    assert_eq!(found.resources.len(), 1);
    assert_eq!(found.resources[0].key(), "file:///etc/motd");
    assert!(found.prompts.is_empty(), "prompts were not advertised");
    assert_eq!(found.notes.len(), 1, "{:?}", found.notes);
}

#[tokio::test]
async fn a_modern_server_is_asked_with_meta_and_headers() {
    let url = serve(Upstream::Modern).await;
    let found = loopback_discoverer(Duration::from_secs(5))
        .discover(&url, &no_headers())
        .await
        .unwrap();
    assert_eq!(found.era, Era::Modern);
    assert_eq!(found.tools[0].name, "search");
    assert_eq!(found.prompts[0].name, "summarise");
    assert!(found.resources.is_empty());
}

#[tokio::test]
async fn credentials_decide_between_unauthorized_and_ok() {
    let url = serve(Upstream::NeedsToken).await;
    let discoverer = loopback_discoverer(Duration::from_secs(5));
    let failure = discoverer.discover(&url, &no_headers()).await.unwrap_err();
    assert_eq!(failure.status, Status::Unauthorized);
    let headers = BTreeMap::from([("authorization".to_owned(), "Bearer right".to_owned())]);
    let found = discoverer.discover(&url, &headers).await.unwrap();
    assert_eq!(found.tools[0].name, "echo");
}

#[tokio::test]
async fn an_html_page_is_not_mcp() {
    let url = serve(Upstream::Html).await;
    let failure = loopback_discoverer(Duration::from_secs(5))
        .discover(&url, &no_headers())
        .await
        .unwrap_err();
    assert_eq!(failure.status, Status::NotMcp, "{failure}");
    assert!(failure.detail.contains("text/html"), "{failure}");
}

#[tokio::test]
async fn a_slow_server_times_out_at_the_deadline() {
    let url = serve(Upstream::Slow).await;
    let started = Instant::now();
    let failure = loopback_discoverer(Duration::from_millis(500))
        .discover(&url, &no_headers())
        .await
        .unwrap_err();
    assert_eq!(failure.status, Status::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn too_many_tools_or_bytes_are_too_large() {
    for kind in [Upstream::ManyTools, Upstream::HugeDescriptions] {
        let url = serve(kind).await;
        let failure = loopback_discoverer(Duration::from_secs(10))
            .discover(&url, &no_headers())
            .await
            .unwrap_err();
        assert_eq!(failure.status, Status::TooLarge, "{failure}");
    }
}

#[tokio::test]
async fn odd_text_is_kept_as_text() {
    let url = serve(Upstream::OddText).await;
    let found = loopback_discoverer(Duration::from_secs(5))
        .discover(&url, &no_headers())
        .await
        .unwrap();
    let description = found.tools[0].description.as_deref().unwrap();
    assert!(description.contains("<script>") && description.contains('\u{1b}'));
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let failure = loopback_discoverer(Duration::from_secs(5))
        .discover(&format!("http://{addr}/mcp"), &no_headers())
        .await
        .unwrap_err();
    assert_eq!(failure.status, Status::Unreachable, "{failure}");
}

#[tokio::test]
async fn the_guard_refuses_loopback_unless_allowed() {
    let url = serve(Upstream::Modern).await;
    let discoverer = Discoverer::new(OutboundGuard::new(false), Limits::default()).unwrap();
    let failure = discoverer.discover(&url, &no_headers()).await.unwrap_err();
    assert_eq!(failure.status, Status::RefusedAddress);
    let by_name = url.replace("127.0.0.1", "localhost");
    let failure = discoverer
        .discover(&by_name, &no_headers())
        .await
        .unwrap_err();
    assert_eq!(failure.status, Status::RefusedAddress, "{failure}");
}
