//! Resources and prompts under the policy, against a real Postgres (fresh
//! database per test) and a scripted upstream on loopback: lists filtered,
//! reads, subscriptions and gets refused locally, limits, and the integrity
//! checks that keep a body from saying one thing to the policy and another
//! to the upstream.

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
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::router;
use toolgate_proxy::test_support::{json_response, proxy_state, serve, Seed};
use toolgate_store::secrets::SecretKey;
use tower::ServiceExt;

type Recorder = Arc<Mutex<Vec<String>>>;

async fn upstream(State(seen): State<Recorder>, body: String) -> Response {
    seen.lock().unwrap().push(body.clone());
    let message: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Some(batch) = message.as_array() {
        let answers: Vec<Value> = batch
            .iter()
            .map(|m| json!({"jsonrpc": "2.0", "id": m["id"], "result": {"contents": [{"uri": m["params"]["uri"], "text": "x"}]}}))
            .collect();
        return json_response(&Value::Array(answers));
    }
    let id = message["id"].clone();
    let result = match message["method"].as_str() {
        Some("resources/list") => json!({"resources": [
            {"uri": "demo://open/a", "name": "a"},
            {"uri": "demo://open/secret", "name": "secret"},
            {"uri": "demo://closed/x", "name": "x"},
            {"uri": "demo://limited", "name": "limited"}
        ], "nextCursor": "2"}),
        Some("resources/templates/list") => {
            // As an SSE stream: filtered event by event.
            let result = json!({"resourceTemplates": [
                {"uriTemplate": "demo://open/{id}", "name": "open"},
                {"uriTemplate": "demo://closed/{id}", "name": "closed"}
            ]});
            let event = json!({"jsonrpc": "2.0", "id": id, "result": result});
            return (
                [("content-type", "text/event-stream")],
                format!("event: message\ndata: {event}\n\n"),
            )
                .into_response();
        }
        Some("prompts/list") => json!({"prompts": [
            {"name": "greet", "arguments": [{"name": "name"}]},
            {"name": "secret-prompt"}
        ]}),
        Some("resources/read") => {
            json!({"contents": [{"uri": message["params"]["uri"], "text": "content"}]})
        }
        Some("prompts/get") => {
            json!({"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}]})
        }
        Some(_) => json!({}),
        None => return StatusCode::ACCEPTED.into_response(),
    };
    json_response(&json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "tools": {"echo": {}},
  "resources": {
    "demo://open/*": {},
    "demo://open/secret": {"action": "deny", "reason": "not for agents"},
    "demo://limited": {"limits": [{"counter": "reads", "window": "day", "max": 2, "scope": "grant"}]}
  },
  "prompts": {
    "greet": {"arguments": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}}}
  }
}"#;

struct Fixture {
    router: Router,
    seen: Recorder,
    token: String,
    path: String,
}

async fn fixture(pool: PgPool, policy: &str) -> Fixture {
    let seen = Recorder::default();
    let app = Router::new()
        .route("/mcp", post(upstream))
        .with_state(seen.clone());
    let url = format!("http://{}/mcp", serve(app).await);
    let key = Arc::new(SecretKey::from_bytes([7; 32]));
    let policy: Value = serde_json::from_str(policy).unwrap();
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

impl Fixture {
    async fn post_with(&self, body: &str, extra: &[(&str, &str)]) -> (StatusCode, String) {
        let mut request = Request::post(&self.path)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {}", self.token));
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::from(body.to_owned())).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn post(&self, body: Value) -> Value {
        let (status, text) = self.post_with(&body.to_string(), &[]).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let json = text
            .lines()
            .find_map(|line| line.strip_prefix("data: "))
            .unwrap_or(&text);
        serde_json::from_str(json).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }

    fn upstream_saw(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn read(id: u32, uri: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "resources/read", "params": {"uri": uri}})
}

fn get(id: u32, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "prompts/get", "params": {"name": name, "arguments": arguments}})
}

fn list(id: u32, method: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method})
}

#[sqlx::test(migrations = "../../migrations")]
async fn resource_and_prompt_lists_are_filtered(pool: PgPool) {
    let f = fixture(pool, POLICY).await;
    let resources = f.post(list(1, "resources/list")).await;
    let uris: Vec<&str> = resources["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris, ["demo://open/a", "demo://limited"]);
    assert_eq!(resources["result"]["nextCursor"], "2");

    let templates = f.post(list(2, "resources/templates/list")).await;
    assert_eq!(
        templates["result"]["resourceTemplates"],
        json!([{"uriTemplate": "demo://open/{id}", "name": "open"}])
    );

    let prompts = f.post(list(3, "prompts/list")).await;
    assert_eq!(
        prompts["result"]["prompts"],
        json!([{"name": "greet", "arguments": [{"name": "name"}]}])
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn refused_reads_and_gets_never_reach_the_upstream(pool: PgPool) {
    let f = fixture(pool, POLICY).await;
    let allowed = f.post(read(1, "demo://open/a")).await;
    assert_eq!(allowed["result"]["contents"][0]["text"], "content");
    let greeted = f.post(get(2, "greet", json!({"name": "Ada"}))).await;
    assert_eq!(greeted["result"]["messages"][0]["role"], "user");
    let before = f.upstream_saw().len();

    for (id, uri) in [
        (3, "demo://open/secret"),
        (4, "demo://closed/x"),
        (5, "file:///etc/passwd"),
    ] {
        let answer = f.post(read(id, uri)).await;
        assert_eq!(
            answer["error"],
            json!({"code": -32002, "message": format!("Resource not found: {uri}"), "data": {"uri": uri}}),
            "{uri}"
        );
        assert_eq!(answer["id"], id);
    }
    for (id, verb) in [(6, "resources/subscribe"), (7, "resources/unsubscribe")] {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": verb, "params": {"uri": "demo://closed/x"}});
        assert_eq!(f.post(body).await["error"]["code"], -32002, "{verb}");
    }
    let hidden = f.post(get(8, "secret-prompt", json!({}))).await;
    assert_eq!(
        hidden["error"],
        json!({"code": -32602, "message": "Unknown prompt: secret-prompt"})
    );
    let rejected = f
        .post(get(9, "greet", json!({"name": "far too long"})))
        .await;
    assert_eq!(rejected["error"]["code"], -31010);
    let message = rejected["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Denied by policy: arguments rejected at /name"),
        "{message}"
    );
    assert_eq!(
        rejected["error"]["data"]["dev.toolgate/refusal"]["rule"],
        "/prompts/greet/arguments/properties/name/maxLength"
    );
    assert_eq!(f.upstream_saw().len(), before, "refusals stay local");

    // A visible resource may be subscribed to.
    let body = json!({"jsonrpc": "2.0", "id": 10, "method": "resources/subscribe", "params": {"uri": "demo://open/a"}});
    assert_eq!(f.post(body).await["result"], json!({}));
    assert_eq!(f.upstream_saw().len(), before + 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn resource_reads_are_limited_like_calls(pool: PgPool) {
    let f = fixture(pool, POLICY).await;
    for id in 1..=2 {
        let answer = f.post(read(id, "demo://limited")).await;
        assert!(answer.get("result").is_some(), "{answer}");
    }
    let refused = f.post(read(3, "demo://limited")).await;
    assert_eq!(refused["error"]["code"], -31010);
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Denied by policy: limit \"reads\" reached (2 per day); retry in"),
        "{message}"
    );
    let detail = &refused["error"]["data"]["dev.toolgate/refusal"];
    assert_eq!(detail["rule"], "/resources/demo:~1~1limited/limits/0");
    assert!(detail["retry_after_ms"].as_u64().unwrap() > 0);
    assert_eq!(f.upstream_saw().len(), 2);
}

#[sqlx::test(migrations = "../../migrations")]
async fn bodies_cannot_smuggle_a_refused_read_or_get(pool: PgPool) {
    let f = fixture(pool, POLICY).await;
    // A batch: the hidden read is answered locally, never forwarded.
    let batch = json!([
        read(1, "demo://open/a"),
        read(2, "demo://closed/x"),
        get(3, "secret-prompt", json!({}))
    ]);
    let (status, text) = f
        .post_with(
            &batch.to_string(),
            &[("mcp-protocol-version", "2025-03-26")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answers: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answers[0]["result"]["contents"][0]["uri"], "demo://open/a");
    assert_eq!(answers[1]["error"]["code"], -32002);
    assert_eq!(
        answers[2]["error"]["message"],
        "Unknown prompt: secret-prompt"
    );
    let forwarded = f.upstream_saw().concat();
    assert!(
        !forwarded.contains("demo://closed/x") && !forwarded.contains("secret-prompt"),
        "smuggled upstream: {forwarded}"
    );

    // Duplicated or escaped keys, and names that are not strings.
    for body in [
        r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"demo://open/a","uri":"demo://closed/x"}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"demo://open/a","\u0075ri":"demo://closed/x"}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"greet","name":"secret-prompt"}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":["demo://closed/x"]}}"#,
        r#"{"jsonrpc":"2.0","method":"resources/read","params":{"uri":"demo://closed/x"}}"#,
    ] {
        let (status, text) = f.post_with(body, &[]).await;
        let answer: Value = serde_json::from_str(&text).unwrap();
        let code = answer["error"]["code"].as_i64().unwrap();
        assert!(matches!(code, -32600 | -32602), "{body}: {status} {text}");
    }

    // Mcp-Name must name what the body names.
    let (status, text) = f
        .post_with(
            &read(5, "demo://open/a").to_string(),
            &[
                ("mcp-method", "resources/read"),
                ("mcp-name", "demo://closed/x"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(
        text.contains("-32020") && text.contains("params.uri"),
        "{text}"
    );
    let (status, text) = f
        .post_with(
            &get(6, "greet", json!({})).to_string(),
            &[("mcp-method", "prompts/get"), ("mcp-name", "secret-prompt")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");

    let forwarded = f.upstream_saw().concat();
    assert!(!forwarded.contains("demo://closed/x") && !forwarded.contains("secret-prompt"));
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_default_allow_policy_without_sections_keeps_resources_and_prompts_open(pool: PgPool) {
    let f = fixture(
        pool,
        r#"{"version": "1", "default": "allow", "hide": ["get-env"]}"#,
    )
    .await;
    let resources = f.post(list(1, "resources/list")).await;
    assert_eq!(
        resources["result"]["resources"].as_array().unwrap().len(),
        4
    );
    assert!(f
        .post(read(2, "demo://closed/x"))
        .await
        .get("result")
        .is_some());
    assert!(f
        .post(get(3, "secret-prompt", json!({})))
        .await
        .get("result")
        .is_some());
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_default_deny_policy_without_sections_hides_and_refuses_them(pool: PgPool) {
    let f = fixture(
        pool,
        r#"{"version": "1", "default": "deny", "tools": {"echo": {}}}"#,
    )
    .await;
    let resources = f.post(list(1, "resources/list")).await;
    assert_eq!(resources["result"]["resources"], json!([]));
    let prompts = f.post(list(2, "prompts/list")).await;
    assert_eq!(prompts["result"]["prompts"], json!([]));
    assert_eq!(
        f.post(read(3, "demo://open/a")).await["error"]["code"],
        -32002
    );
    assert_eq!(
        f.post(get(4, "greet", json!({}))).await["error"]["code"],
        -32602
    );
    assert_eq!(f.upstream_saw().len(), 2, "only the lists went upstream");
}

#[sqlx::test(migrations = "../../migrations")]
async fn prompt_arguments_the_upstream_could_read_otherwise_never_reach_it(pool: PgPool) {
    let f = fixture(pool, POLICY).await;
    let before = f.upstream_saw().len();
    // Raw text: a JSON value cannot hold a repeated key or an inexact number.
    let repeated = r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"greet","arguments":{"name":"Ada","name":"a name far too long"}}}"#;
    let (status, text) = f.post_with(repeated, &[]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"]["code"], -31010, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Denied by policy: the arguments repeat the key \"name\""),
        "{answer}"
    );
    let detail = &answer["error"]["data"]["dev.toolgate/refusal"];
    assert_eq!(detail["problem"], "duplicate_key");
    assert_eq!(detail["argument"], "/name");
    assert_eq!(f.upstream_saw().len(), before, "the refusal stays local");
}

#[sqlx::test(migrations = "../../migrations")]
async fn completions_are_only_for_prompts_and_templates_the_agent_can_see(pool: PgPool) {
    let f = fixture(pool, POLICY).await;
    let complete = |id: u32, reference: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "completion/complete",
            "params": {"ref": reference, "argument": {"name": "name", "value": "A"}}})
    };
    let visible = f
        .post(complete(1, json!({"type": "ref/prompt", "name": "greet"})))
        .await;
    assert_eq!(visible["result"], json!({}), "{visible}");
    let template = f
        .post(complete(
            2,
            json!({"type": "ref/resource", "uri": "demo://open/{id}"}),
        ))
        .await;
    assert_eq!(template["result"], json!({}), "{template}");
    let before = f.upstream_saw().len();
    assert_eq!(before, 2);

    let hidden = f
        .post(complete(
            3,
            json!({"type": "ref/prompt", "name": "secret-prompt"}),
        ))
        .await;
    assert_eq!(
        hidden["error"],
        json!({"code": -32602, "message": "Unknown prompt: secret-prompt"})
    );
    let closed = f
        .post(complete(
            4,
            json!({"type": "ref/resource", "uri": "demo://closed/{id}"}),
        ))
        .await;
    assert_eq!(closed["error"]["code"], -32002, "{closed}");
    // A `ref` that names nothing, or names twice, cannot be judged.
    for (id, reference) in [
        (5, r#"{"type":"ref/prompt"}"#),
        (
            6,
            r#"{"type":"ref/prompt","name":"greet","name":"secret-prompt"}"#,
        ),
        (
            7,
            r#"{"type":"ref/prompt","name":"greet","n\u0061me":"secret-prompt"}"#,
        ),
        (8, r#"{"type":"ref/tool","name":"greet"}"#),
        (9, r#""greet""#),
    ] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"completion/complete","params":{{"ref":{reference},"argument":{{"name":"n","value":""}}}}}}"#
        );
        // Refused as the peek refuses any request it cannot judge.
        let (status, text) = f.post_with(&body, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["error"]["code"], -32602, "{reference}: {answer}");
    }
    let missing = r#"{"jsonrpc":"2.0","id":10,"method":"completion/complete","params":{"argument":{"name":"n","value":""}}}"#;
    let (_, text) = f.post_with(missing, &[]).await;
    assert!(text.contains("-32602"), "{text}");
    assert_eq!(f.upstream_saw().len(), before, "refusals stay local");
}
