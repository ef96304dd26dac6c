//! The address guard at dial time: a gateway with private upstreams NOT
//! allowed checks the addresses it is about to connect to, whatever the
//! upstream's URL looked like when it was registered. A recording upstream
//! on loopback proves nothing reached it.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_audit::AuditSink;
use toolgate_limits::CounterStore;
use toolgate_netguard::{OutboundGuard, Resolve, Resolving};
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::test_support::{json_response, proxy_state, Seed};
use toolgate_proxy::upstream::UpstreamClient;
use toolgate_proxy::{router, ProxyState};
use toolgate_store::secrets::SecretKey;
use tower::ServiceExt;

/// DNS whose answers the test changes.
#[derive(Default)]
struct Dns(Mutex<HashMap<String, IpAddr>>);

impl Dns {
    fn answer(&self, host: &str, ip: &str) {
        let ip = ip.parse().unwrap();
        self.0.lock().unwrap().insert(host.to_owned(), ip);
    }
}

impl Resolve for Dns {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolving<'a> {
        let answer = self.0.lock().unwrap().get(host).copied();
        Box::pin(async move {
            answer
                .map(|ip| vec![ip])
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
        })
    }
}

/// An MCP upstream on loopback that counts the connections it accepts.
struct Recorder {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Recorder {
    async fn start() -> Self {
        let echo = post(|body: String| async move {
            let call: Value = serde_json::from_str(&body).unwrap();
            json_response(&json!({"jsonrpc": "2.0", "id": call["id"],
                "result": {"content": [{"type": "text", "text": "reached"}]}}))
        });
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let listener = listener.tap_io(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let app = Router::new().route("/mcp", echo);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { port, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

const POLICY: &str = r#"{"version": "1", "default": "allow"}"#;

/// Seeds an account whose one server is at `url`, and a gateway whose
/// upstream connections `guard` admits; returns the agent's token.
async fn seed(pool: &PgPool, url: &str) -> String {
    let key = SecretKey::from_bytes([7; 32]);
    let policy = serde_json::from_str(POLICY).unwrap();
    let seeded = Seed::new("Tenant", url, &policy).create(pool, &key).await;
    seeded.token().to_owned()
}

fn gateway(pool: &PgPool, guard: OutboundGuard) -> Router {
    let state = ProxyState {
        upstream: UpstreamClient::with_guard(guard).unwrap(),
        ..proxy_state(
            pool,
            Arc::new(SecretKey::from_bytes([7; 32])),
            Limiter::new(CounterStore::memory()),
            AuditSink::disabled(),
        )
    };
    router(state)
}

async fn call_tool(gateway: &Router, token: &str) -> (StatusCode, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "echo", "arguments": {}}});
    let request = Request::post("/mcp/tenant/tools")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = gateway.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_name_that_turns_internal_after_registration_is_refused_when_called(pool: PgPool) {
    let upstream = Recorder::start().await;
    let dns = Arc::new(Dns::default());
    dns.answer("mcp.tenant.example", "93.184.216.34");
    let strict = OutboundGuard::new(false).with_resolver(dns.clone());

    // Registration runs the same guard and sees a public address.
    let url = format!("http://mcp.tenant.example:{}/mcp", upstream.port);
    let url = strict
        .check_url(&url)
        .await
        .expect("registration accepts it");
    let token = seed(&pool, url.as_str()).await;

    // Then the name is pointed at loopback, where the recorder listens.
    dns.answer("mcp.tenant.example", "127.0.0.1");
    let (status, reply) = call_tool(&gateway(&pool, strict), &token).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["error"]["code"], -31001, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "the upstream MCP server's address is not allowed: \
         127.0.0.1 is in 127.0.0.0/8 (Loopback, RFC 1122 §3.2.1.3)"
    );
    assert_eq!(upstream.connections(), 0, "nothing reached the listener");

    // The same answer, with private upstreams allowed, does reach it: the
    // refusal above was the guard's.
    let lenient = OutboundGuard::new(true).with_resolver(dns);
    let (_, reply) = call_tool(&gateway(&pool, lenient), &token).await;
    assert_eq!(reply["result"]["content"][0]["text"], "reached", "{reply}");
    assert_eq!(upstream.connections(), 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn literal_ipv6_forms_of_loopback_are_refused_when_called(pool: PgPool) {
    let upstream = Recorder::start().await;
    // Stored as is, as if registered when private upstreams were allowed.
    let url = format!("http://[::ffff:127.0.0.1]:{}/mcp", upstream.port);
    let token = seed(&pool, &url).await;
    let (_, reply) = call_tool(&gateway(&pool, OutboundGuard::new(false)), &token).await;
    assert_eq!(reply["error"]["code"], -31001, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not allowed") && message.contains("carries the IPv4 address 127.0.0.1"),
        "{message}"
    );
    assert_eq!(upstream.connections(), 0, "nothing reached the listener");
}
