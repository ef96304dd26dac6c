//! Observability end to end: a real `toolgate` process exports its spans over
//! OTLP/HTTP to a receiver in this test, with the service name and the
//! account, server, tool and decision of each gateway call, and never the
//! grant token, a password or an argument value; and its `/metrics` counts
//! gateway requests by account, server and decision, with latency
//! histograms and snapshot-cache counters.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod fleet;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use fleet::{Fleet, FleetOptions};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use serde_json::{json, Value};
use toolgate_proxy::test_support::post_mcp;

const REDIS: &str = "redis://127.0.0.1:6379";

/// An argument value that must never leave the process.
const SECRET_ARGUMENT: &str = "argument-value-never-exported";

fn policy() -> Value {
    json!({
        "version": "1",
        "default": "allow",
        "tools": {
            "echo": {"arguments": {"type": "object", "properties": {"message": {"type": "string", "maxLength": 10}}}},
            "wipe": {"action": "deny", "reason": "no wiping"},
            "once": {"limits": [{"counter": "once", "window": "day", "max": 1, "scope": "grant"}]}
        }
    })
}

/// Every export the receiver got: the raw protobuf and its decoding.
type Received = Arc<Mutex<Vec<(Bytes, ExportTraceServiceRequest)>>>;

async fn receive(
    State(received): State<Received>,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    let request = ExportTraceServiceRequest::decode(body.clone()).unwrap();
    received.lock().unwrap().push((body, request));
    (
        [("content-type", "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// An OTLP/HTTP receiver on loopback: its endpoint and what it received.
async fn start_receiver() -> (String, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), received)
}

/// One exported span, flattened: its service, name and string attributes.
#[derive(Debug)]
struct Span {
    service: String,
    name: String,
    attributes: Vec<(String, String)>,
}

impl Span {
    fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn string_value(kv: &KeyValue) -> Option<(String, String)> {
    let value = match kv.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => s.clone(),
        AnyValue::IntValue(i) => i.to_string(),
        AnyValue::BoolValue(b) => b.to_string(),
        other => format!("{other:?}"),
    };
    Some((kv.key.clone(), value))
}

fn spans(received: &Received) -> Vec<Span> {
    let mut out = Vec::new();
    for (_, request) in received.lock().unwrap().iter() {
        for resource_spans in &request.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .filter_map(string_value)
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v)
                .unwrap_or_default();
            for scope in &resource_spans.scope_spans {
                for span in &scope.spans {
                    out.push(Span {
                        service: service.clone(),
                        name: span.name.clone(),
                        attributes: span.attributes.iter().filter_map(string_value).collect(),
                    });
                }
            }
        }
    }
    out
}

/// Waits until the exported spans satisfy `done`.
async fn wait_for(received: &Received, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
    let started = Instant::now();
    loop {
        let spans = spans(received);
        if done(&spans) {
            return spans;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "spans never arrived; got {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The decisions on the exported gateway spans, sorted.
fn gateway_decisions(spans: &[Span]) -> Vec<&str> {
    let mut decisions: Vec<&str> = spans
        .iter()
        .filter(|s| s.name == "gateway")
        .filter_map(|s| s.get("decision"))
        .collect();
    decisions.sort_unstable();
    decisions
}

/// One `tools/call`; the response's `x-request-id`.
async fn call(fleet: &Fleet, token: &str, tool: &str, arguments: Value) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
    let client = reqwest::Client::new();
    let response = post_mcp(&client, &fleet.urls[0], token, body.to_string()).await;
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    response.text().await.unwrap();
    request_id
}

/// One call refused by its argument schema (with an argument value that must
/// stay private), then one to a denied tool.
async fn refused_and_denied_calls(fleet: &Fleet) {
    call(
        fleet,
        &fleet.token,
        "echo",
        json!({"message": SECRET_ARGUMENT}),
    )
    .await;
    call(fleet, &fleet.token, "wipe", json!({})).await;
}

#[tokio::test]
async fn spans_reach_an_otlp_receiver_with_decisions_and_without_secrets() {
    let (endpoint, received) = start_receiver().await;
    let fleet = Fleet::start_with(
        "telemetry_otlp",
        REDIS,
        1,
        policy(),
        FleetOptions {
            command: "serve",
            env: vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
                ("OTEL_BSP_SCHEDULE_DELAY", "200".to_owned()),
                ("RUST_LOG", "info".to_owned()),
            ],
            ..FleetOptions::default()
        },
    )
    .await;

    // A REST request to the control plane.
    let password = "correct-horse-battery-staple";
    let signup = reqwest::Client::new()
        .post(format!("{}/v1/signup", fleet.base_url(0)))
        .json(&json!({"email": "otel@example.com", "password": password, "account": "Otel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let session_token = signup.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Gateway calls: one forwarded, one refused by its argument schema (with
    // an argument value that must stay private), one to a denied tool.
    let forwarded = call(&fleet, &fleet.token, "echo", json!({"message": "hi"})).await;
    refused_and_denied_calls(&fleet).await;

    let spans = wait_for(&received, |spans| {
        gateway_decisions(spans) == ["forwarded", "refused", "unknown_tool"]
            && spans
                .iter()
                .any(|s| s.name == "request" && s.get("path") == Some("/v1/signup"))
    })
    .await;

    assert!(
        spans.iter().all(|s| s.service == "toolgate-serve"),
        "{spans:#?}"
    );
    let call_span = spans
        .iter()
        .find(|s| s.name == "gateway" && s.get("decision") == Some("forwarded"))
        .unwrap();
    assert_eq!(call_span.get("account"), Some(fleet.slug.as_str()));
    assert_eq!(call_span.get("server"), Some("tools"));
    assert_eq!(call_span.get("tool"), Some("echo"));
    assert_eq!(call_span.get("method"), Some("tools/call"));
    assert_eq!(call_span.get("request_id"), Some(forwarded.as_str()));
    let rest_span = spans
        .iter()
        .find(|s| s.name == "request" && s.get("path") == Some("/v1/signup"))
        .unwrap();
    assert_eq!(rest_span.get("method"), Some("POST"));
    assert!(rest_span.get("request_id").is_some_and(|id| id.len() == 36));

    // Nothing secret anywhere in what was exported, byte for byte.
    let received = received.lock().unwrap();
    for (raw, _) in received.iter() {
        for secret in [
            fleet.token.as_str(),
            session_token.as_str(),
            password,
            SECRET_ARGUMENT,
        ] {
            assert!(
                !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "an exported payload holds a secret"
            );
        }
    }
}

/// The samples of `metric` whose labels include every one of `labels`.
fn samples(text: &str, metric: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect()
}

#[tokio::test]
async fn metrics_count_gateway_requests_by_account_server_and_decision() {
    let fleet = Fleet::start("telemetry_metrics", REDIS, 1, policy()).await;
    for _ in 0..3 {
        call(&fleet, &fleet.token, "echo", json!({"message": "hi"})).await;
    }
    refused_and_denied_calls(&fleet).await;
    call(&fleet, "tgg_not_a_grant", "echo", json!({})).await;
    // Admitted, then refused by its limit.
    call(&fleet, &fleet.token, "once", json!({})).await;
    call(&fleet, &fleet.token, "once", json!({})).await;

    let text = reqwest::get(format!("{}/metrics", fleet.base_url(0)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let account = fleet.account.to_string();
    let server = fleet.server.to_string();
    let ours = |decision| {
        [
            ("account", account.as_str()),
            ("server", server.as_str()),
            ("decision", decision),
        ]
    };
    let requests = "toolgate_gateway_requests_total";
    assert_eq!(
        samples(&text, requests, &ours("forwarded")),
        [4.0],
        "{text}"
    );
    assert_eq!(samples(&text, requests, &ours("limited")), [1.0]);
    assert_eq!(samples(&text, requests, &ours("refused")), [1.0]);
    assert_eq!(samples(&text, requests, &ours("unknown_tool")), [1.0]);
    // The bad token never resolved a grant: no account label to trust.
    assert_eq!(
        samples(
            &text,
            requests,
            &[("account", "unknown"), ("decision", "unauthorized")]
        ),
        [1.0]
    );

    // Latency histograms with buckets, by the same labels.
    let duration = "toolgate_gateway_request_duration_seconds";
    assert_eq!(
        samples(&text, &format!("{duration}_count"), &ours("forwarded")),
        [4.0]
    );
    let buckets = samples(&text, &format!("{duration}_bucket"), &ours("forwarded"));
    assert!(buckets.len() > 10, "{text}");
    assert_eq!(
        buckets.last(),
        Some(&4.0),
        "le=\"+Inf\" holds every request"
    );
    assert!(text.contains(&format!("{duration}_bucket{{account=\"{account}\",server=\"{server}\",decision=\"forwarded\",le=\"0.005\"}}")));

    // The snapshot cache: one load, then hits.
    let lookups = "toolgate_snapshot_cache_lookups_total";
    assert!(samples(&text, lookups, &[("result", "hit")])[0] >= 4.0);
    assert_eq!(
        samples(
            &text,
            "toolgate_snapshot_cache_loads_total",
            &[("outcome", "loaded")]
        ),
        [1.0]
    );
    assert!(!text.contains(SECRET_ARGUMENT));
}
