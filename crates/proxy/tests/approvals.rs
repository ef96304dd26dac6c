//! Limits before people: a held call takes its limit units before anyone
//! is asked, so a call a limit refuses is refused at once without an
//! approval, and a denied call gives its units back. Against a real Postgres
//! (fresh database per test), an in-process approval bus and counter store,
//! and an upstream on loopback.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::{Arc, Mutex};
use std::time::Duration;

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

type Calls = Arc<Mutex<usize>>;

async fn upstream(State(calls): State<Calls>, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap();
    *calls.lock().unwrap() += 1;
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
    let key = Arc::new(SecretKey::from_bytes([4; 32]));
    // One held or forwarded call a minute.
    let policy = json!({"version": "1", "default": "deny", "tools": {"pay": {
        "action": "require_approval", "approval_timeout": 60,
        "limits": [{"counter": "pay", "window": "minute", "max": 1, "scope": "grant"}]
    }}});
    let seeded = Seed::new("Acme", &format!("http://{addr}/mcp"), &policy)
        .create(&pool, &key)
        .await;
    let bus = ApprovalBus::in_process();
    let state = toolgate_proxy::ProxyState {
        approvals: Approvals::new(pool.clone(), bus.clone()),
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

impl Fixture {
    /// Calls `pay` and reads the whole answer (a held call's stream ends
    /// once decided).
    async fn pay(&self, id: u32) -> String {
        let request = Request::post("/mcp/acme/tools")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {}", self.token))
            .body(Body::from(
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                       "params": {"name": "pay", "arguments": {"amount": id}}})
                .to_string(),
            ))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    async fn approvals(&self) -> Vec<approvals::Approval> {
        approvals::list(&self.pool, self.account, None, PageRequest::new(None, None))
            .await
            .unwrap()
            .items
    }

    /// Waits for the `n`th approval to be recorded, and returns it.
    async fn pending(&self, n: usize) -> approvals::Approval {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let all = self.approvals().await;
            if all.len() >= n {
                return all
                    .into_iter()
                    .find(|a| a.status == ApprovalStatus::Pending)
                    .unwrap();
            }
            assert!(tokio::time::Instant::now() < deadline, "no approval {n}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_limit_is_acquired_before_a_person_is_asked_and_given_back_on_deny(pool: PgPool) {
    let f = Arc::new(fixture(pool).await);

    // The first call takes the minute's one unit and waits for a person.
    let first = tokio::spawn({
        let f = f.clone();
        async move { f.pay(1).await }
    });
    let held = f.pending(1).await;

    // A second call is over the limit: refused at once, nobody asked.
    let refused = f.pay(2).await;
    assert!(refused.contains("limit \\\"pay\\\" reached"), "{refused}");
    assert_eq!(
        f.approvals().await.len(),
        1,
        "no approval for a refused call"
    );

    // Denied: the first call's unit goes back.
    f.decide(&held, false).await;
    let denied = first.await.unwrap();
    assert!(denied.contains("denied this call"), "{denied}");
    assert_eq!(*f.calls.lock().unwrap(), 0);

    // So the next call is held (not limited), and once approved it is
    // forwarded on the unit it took, without a second look at the limit.
    let third = tokio::spawn({
        let f = f.clone();
        async move { f.pay(3).await }
    });
    let held = f.pending(2).await;
    f.decide(&held, true).await;
    let paid = third.await.unwrap();
    assert!(paid.contains("paid"), "{paid}");
    assert_eq!(*f.calls.lock().unwrap(), 1);

    // The unit is spent: the next call is refused at once.
    let refused = f.pay(4).await;
    assert!(refused.contains("limit \\\"pay\\\" reached"), "{refused}");
    assert_eq!(f.approvals().await.len(), 2);
}
