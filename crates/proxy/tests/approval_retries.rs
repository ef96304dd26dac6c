//! Hold, then hand back; retries find their approval. A call nobody decides
//! within its `approval_hold` is answered (still pending) and the agent's
//! retries with the same arguments use that approval: held again while
//! pending, spent by exactly one call once approved, told a denial. Against
//! a real Postgres (fresh database per test), an in-process approval bus and
//! counter store, and an upstream on loopback.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_audit::AuditSink;
use toolgate_changes::ApprovalBus;
use toolgate_limits::CounterStore;
use toolgate_proxy::approval::Approvals;
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::router;
use toolgate_proxy::test_support::{json_response, proxy_state, serve, Seed};
use toolgate_store::approvals::{self, ApprovalStatus, Decided, Decider};
use toolgate_store::ids::AccountId;
use toolgate_store::secrets::SecretKey;
use toolgate_store::PageRequest;
use tower::ServiceExt;

type Calls = Arc<Mutex<Vec<Value>>>;

async fn upstream(State(calls): State<Calls>, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap();
    calls
        .lock()
        .unwrap()
        .push(body["params"]["arguments"].clone());
    json_response(&json!({"jsonrpc": "2.0", "id": body["id"],
        "result": {"content": [{"type": "text", "text": "paid"}]}}))
}

struct Fixture {
    router: Router,
    bus: ApprovalBus,
    calls: Calls,
    token: String,
    account: AccountId,
    pool: PgPool,
}

async fn fixture(pool: PgPool) -> Fixture {
    let calls = Calls::default();
    let addr = serve(
        Router::new()
            .route("/mcp", post(upstream))
            .with_state(calls.clone()),
    )
    .await;
    let key = Arc::new(SecretKey::from_bytes([5; 32]));
    // Held for a second, then handed back; one held or forwarded call an hour
    // (an hour, so that no window ends while a test runs).
    let policy = json!({"version": "1", "default": "deny", "tools": {"pay": {
        "action": "require_approval", "approval_timeout": 60, "approval_hold": 1,
        "limits": [{"counter": "pay", "window": "hour", "max": 1, "scope": "grant"}]
    }}});
    let seeded = Seed::new("Acme", &format!("http://{addr}/mcp"), &policy)
        .create(&pool, &key)
        .await;
    let bus = ApprovalBus::in_process();
    let state = toolgate_proxy::ProxyState {
        approvals: Approvals::new(pool.clone(), bus.clone())
            .with_dashboard("https://toolgate.example/"),
        ..proxy_state(
            &pool,
            key,
            Limiter::new(CounterStore::memory()),
            AuditSink::disabled(),
        )
    };
    Fixture {
        router: router(state),
        bus,
        calls,
        token: seeded.token().to_owned(),
        account: seeded.account,
        pool,
    }
}

/// The JSON-RPC message in a held call's SSE answer (or a plain JSON one).
fn message(text: &str) -> Value {
    let data = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .next_back()
        .unwrap_or(text);
    serde_json::from_str(data).unwrap_or_else(|_| panic!("no message in {text:?}"))
}

fn text_of(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

impl Fixture {
    async fn pay(&self, id: u32, amount: u32) -> Value {
        let request = Request::post("/mcp/acme/tools")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {}", self.token))
            .body(Body::from(
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                       "params": {"name": "pay", "arguments": {"amount": amount}}})
                .to_string(),
            ))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        message(&String::from_utf8_lossy(&bytes))
    }

    async fn approvals(&self) -> Vec<approvals::Approval> {
        approvals::list(&self.pool, self.account, None, PageRequest::new(None, None))
            .await
            .unwrap()
            .items
    }

    async fn decide(&self, approval: &approvals::Approval, approve: bool) {
        let by = Decider {
            id: "usr_reviewer",
            uuid: uuid::Uuid::nil(),
        };
        let decided = approvals::decide(&self.pool, self.account, approval.id, approve, by, None)
            .await
            .unwrap();
        assert!(matches!(decided, Decided::Now(_)));
        self.bus.publish(approval.id).await;
    }

    fn upstream_calls(&self) -> Vec<Value> {
        self.calls.lock().unwrap().clone()
    }
}

fn assert_handed_back(answer: &Value, approval: &str) {
    let text = text_of(answer);
    assert_eq!(answer["result"]["isError"], json!(true), "{answer}");
    assert!(text.starts_with("Awaiting approval: "), "{text}");
    assert!(text.contains(approval), "{text}");
    assert!(
        text.contains("again later") && text.contains("same arguments"),
        "{text}"
    );
    assert!(
        text.contains(&format!("https://toolgate.example/approvals/{approval}")),
        "{text}"
    );
    let meta = &answer["result"]["_meta"]["dev.toolgate/approval"];
    assert_eq!(meta["id"], json!(approval), "{answer}");
    assert_eq!(meta["status"], json!("pending"), "{answer}");
    assert_eq!(
        meta["url"],
        json!(format!("https://toolgate.example/approvals/{approval}"))
    );
    assert!(meta["retry_after_ms"].as_u64().unwrap() > 0, "{answer}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_undecided_call_is_handed_back_and_its_retries_find_their_approval(pool: PgPool) {
    let f = fixture(pool).await;

    // Nobody decides within the one-second hold: handed back, still pending.
    let started = Instant::now();
    let first = f.pay(1, 7).await;
    let held = started.elapsed();
    assert!(
        held >= Duration::from_millis(900) && held < Duration::from_secs(5),
        "{held:?}"
    );
    let all = f.approvals().await;
    assert_eq!(all.len(), 1);
    let approval = all[0].clone();
    assert_eq!(approval.status, ApprovalStatus::Pending);
    assert_handed_back(&first, &approval.id.to_string());

    // The retry attaches to it: no second approval, and no unit of its own
    // (the minute's one unit is the first call's, and it is not refused).
    let retry = f.pay(2, 7).await;
    assert_handed_back(&retry, &approval.id.to_string());
    assert_eq!(f.approvals().await.len(), 1, "a retry asks nobody again");

    // Other arguments are another call: it needs its own approval, and the
    // limit the first call holds refuses it before anyone is asked.
    let other = f.pay(3, 8).await;
    assert!(text_of(&other).contains("limit \"pay\" reached"), "{other}");
    assert_eq!(f.approvals().await.len(), 1);
    assert!(f.upstream_calls().is_empty());

    // Approved while nobody waits: the next retry is forwarded, on the
    // units the first call took.
    f.decide(&approval, true).await;
    let paid = f.pay(4, 7).await;
    assert_eq!(text_of(&paid), "paid", "{paid}");
    assert_eq!(f.upstream_calls(), vec![json!({"amount": 7})]);
    let spent = approvals::get(&f.pool, f.account, approval.id)
        .await
        .unwrap();
    assert_eq!(spent.status, ApprovalStatus::Used);

    // Spent: a late duplicate is told so, and not forwarded.
    let late = f.pay(5, 7).await;
    assert_eq!(late["result"]["isError"], json!(true), "{late}");
    assert!(
        text_of(&late).contains("already used by another call"),
        "{late}"
    );
    assert_eq!(f.upstream_calls().len(), 1);
    assert_eq!(f.approvals().await.len(), 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn concurrent_retries_of_an_approved_call_are_forwarded_once(pool: PgPool) {
    let f = Arc::new(fixture(pool).await);
    let first = f.pay(1, 9).await;
    let approval = f.approvals().await.remove(0);
    assert_handed_back(&first, &approval.id.to_string());
    f.decide(&approval, true).await;

    let retries: Vec<_> = (0..3)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move { f.pay(10 + i, 9).await })
        })
        .collect();
    let mut answers = Vec::new();
    for retry in retries {
        answers.push(retry.await.unwrap());
    }
    let paid = answers.iter().filter(|a| text_of(a) == "paid").count();
    let told: Vec<_> = answers
        .iter()
        .filter(|a| text_of(a).contains("already used by another call"))
        .collect();
    assert_eq!(paid, 1, "{answers:?}");
    assert_eq!(told.len(), 2, "{answers:?}");
    assert_eq!(f.upstream_calls().len(), 1);
    assert_eq!(f.approvals().await.len(), 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_denial_after_the_hand_back_is_told_to_the_retry_and_gives_the_units_back(pool: PgPool) {
    let f = fixture(pool).await;
    let first = f.pay(1, 3).await;
    let approval = f.approvals().await.remove(0);
    assert_handed_back(&first, &approval.id.to_string());
    f.decide(&approval, false).await;

    let retry = f.pay(2, 3).await;
    assert!(text_of(&retry).contains("denied this call"), "{retry}");
    assert!(f.upstream_calls().is_empty());

    // The first call's unit went back when the approval was denied (the
    // replica that took it was watching): a new call is held, not limited.
    let deadline = Instant::now() + Duration::from_secs(5);
    let next = loop {
        let next = f.pay(3, 4).await;
        if !text_of(&next).contains("limit") || Instant::now() > deadline {
            break next;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(text_of(&next).starts_with("Awaiting approval: "), "{next}");
    assert_eq!(f.approvals().await.len(), 2);
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_approval_is_spent_by_exactly_one_of_many_racing_claims(pool: PgPool) {
    let f = Arc::new(fixture(pool).await);
    f.pay(1, 11).await;
    let approval = f.approvals().await.remove(0);
    f.decide(&approval, true).await;
    let digest = approvals::arguments_digest(&json!({"amount": 11}));
    let claims: Vec<_> = (0..8)
        .map(|_| {
            let (f, digest) = (f.clone(), digest.clone());
            tokio::spawn(async move {
                approvals::consume(&f.pool, f.account, approval.id, &digest)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for claim in claims {
        won += usize::from(claim.await.unwrap());
    }
    assert_eq!(won, 1, "one conditional UPDATE wins");
    // Other arguments never spend it.
    let other = approvals::arguments_digest(&json!({"amount": 12}));
    assert!(!approvals::consume(&f.pool, f.account, approval.id, &other)
        .await
        .unwrap());
}
