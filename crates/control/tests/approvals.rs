//! Approvals through the REST API: listing with arguments, one decision per
//! approval (whoever races), the decision announced on the bus after commit,
//! expiry, spending an approval once and only on its own arguments, tenancy.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::json;
use sqlx::PgPool;
use toolgate_changes::{ApprovalBus, ApprovalSignal};
use toolgate_store::approvals;

const MINUTE: Duration = Duration::from_secs(60);

#[sqlx::test(migrations = "../../migrations")]
async fn an_approval_is_listed_decided_once_announced_and_spent_once(pool: PgPool) {
    let bus = ApprovalBus::in_process();
    let app = TestApp::with_approvals(pool, bus.clone());
    let t = app.tenant("ada@example.com").await;
    let arguments = json!({"amount": 4200, "currency": "eur"});
    let id = app.hold(&t, arguments.clone(), MINUTE).await;

    let pending = app.get("/v1/approvals?status=pending", &t.token).await;
    assert_eq!(pending.status, StatusCode::OK, "{}", pending.raw);
    let items = pending.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.to_string());
    assert_eq!(items[0]["arguments"], arguments);
    assert_eq!(items[0]["tool"], "create_charge");
    assert_eq!(items[0]["server_name"], "payments");
    assert_eq!(items[0]["status"], "pending");

    let mut decisions = bus.subscribe();
    let path = format!("/v1/approvals/{id}/approve");
    let approved = app
        .post(&path, &t.token, json!({"reason": "expected invoice"}))
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.raw);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["decided_by_name"], "ada@example.com");
    assert!(approved.body["decided_by"]
        .as_str()
        .unwrap()
        .starts_with("usr_"));
    assert_eq!(approved.body["reason"], "expected invoice");
    let heard = tokio::time::timeout(Duration::from_secs(1), decisions.recv())
        .await
        .unwrap();
    assert_eq!(heard, ApprovalSignal::Decided(id));

    // Decided once: neither a second approve nor a deny changes it.
    for action in ["approve", "deny"] {
        let again = app
            .call(
                Method::POST,
                &format!("/v1/approvals/{id}/{action}"),
                Some(&t.token),
                None,
            )
            .await;
        let problem = again.problem(StatusCode::CONFLICT);
        assert!(
            problem["detail"].as_str().unwrap().contains("approved"),
            "{problem}"
        );
    }
    assert!(
        app.get("/v1/approvals?status=pending", &t.token).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Spent only on its own arguments, and only once.
    let other = approvals::arguments_digest(&json!({"amount": 999_999, "currency": "eur"}));
    assert!(!approvals::consume(&app.pool, t.account, id, &other)
        .await
        .unwrap());
    let own = approvals::arguments_digest(&json!({"currency": "eur", "amount": 4200}));
    assert!(approvals::consume(&app.pool, t.account, id, &own)
        .await
        .unwrap());
    assert!(!approvals::consume(&app.pool, t.account, id, &own)
        .await
        .unwrap());
    let used = app.get(&format!("/v1/approvals/{id}"), &t.token).await;
    assert_eq!(used.body["status"], "used");
    assert!(used.body["used_at"].is_string());
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_denial_keeps_its_reason_and_other_accounts_see_nothing(pool: PgPool) {
    let app = TestApp::with_approvals(pool, ApprovalBus::in_process());
    let t = app.tenant("ada@example.com").await;
    let other = app.tenant("bob@example.com").await;
    let id = app.hold(&t, json!({"amount": 1}), MINUTE).await;

    for (method, path) in [
        (Method::GET, format!("/v1/approvals/{id}")),
        (Method::POST, format!("/v1/approvals/{id}/approve")),
        (Method::POST, format!("/v1/approvals/{id}/deny")),
        (Method::GET, "/v1/approvals/apv_nope".to_owned()),
    ] {
        let r = app.call(method, &path, Some(&other.token), None).await;
        r.problem(StatusCode::NOT_FOUND);
    }
    let listed = app.get("/v1/approvals", &other.token).await;
    assert!(listed.body["items"].as_array().unwrap().is_empty());
    app.get("/v1/approvals?status=maybe", &t.token)
        .await
        .problem(StatusCode::BAD_REQUEST);

    // An API key decides as itself.
    let key = app
        .post("/v1/api-keys", &t.token, json!({"name": "ci"}))
        .await;
    let key_secret = key.body["secret"].as_str().unwrap().to_owned();
    let denied = app
        .post(
            &format!("/v1/approvals/{id}/deny"),
            &key_secret,
            json!({"reason": "  not this month  "}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::OK, "{}", denied.raw);
    assert_eq!(denied.body["status"], "denied");
    assert_eq!(denied.body["reason"], "not this month");
    assert_eq!(denied.body["decided_by_name"], "ci");
    assert!(denied.body["decided_by"]
        .as_str()
        .unwrap()
        .starts_with("key_"));
    let listed = app.get("/v1/approvals?status=denied", &t.token).await;
    assert_eq!(listed.body["items"][0]["id"], id.to_string());
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_expired_approval_cannot_be_decided(pool: PgPool) {
    let app = TestApp::with_approvals(pool, ApprovalBus::in_process());
    let t = app.tenant("ada@example.com").await;
    let id = app.hold(&t, json!({}), Duration::ZERO).await;
    let r = app
        .call(
            Method::POST,
            &format!("/v1/approvals/{id}/approve"),
            Some(&t.token),
            None,
        )
        .await;
    assert!(r.problem(StatusCode::CONFLICT)["detail"]
        .as_str()
        .unwrap()
        .contains("expired"));
    let listed = app.get("/v1/approvals?status=expired", &t.token).await;
    assert_eq!(listed.body["items"][0]["id"], id.to_string());
    assert!(
        app.get("/v1/approvals?status=pending", &t.token).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn racing_reviewers_get_one_decision(pool: PgPool) {
    let app = TestApp::with_approvals(pool, ApprovalBus::in_process());
    let t = app.tenant("ada@example.com").await;
    for _ in 0..5 {
        let id = app.hold(&t, json!({"n": 1}), MINUTE).await;
        let approve = format!("/v1/approvals/{id}/approve");
        let deny = format!("/v1/approvals/{id}/deny");
        let (a, d, a2) = tokio::join!(
            app.call(Method::POST, &approve, Some(&t.token), None),
            app.call(Method::POST, &deny, Some(&t.token), None),
            app.call(Method::POST, &approve, Some(&t.token), None),
        );
        let wins = [&a, &d, &a2]
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        let conflicts = [&a, &d, &a2]
            .iter()
            .filter(|r| r.status == StatusCode::CONFLICT)
            .count();
        assert_eq!((wins, conflicts), (1, 2));
        // Abandoning or expiring after the decision changes nothing.
        assert!(!approvals::abandon(&app.pool, t.account, id).await.unwrap());
        assert!(!approvals::expire(&app.pool, t.account, id).await.unwrap());
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_approval_whose_arguments_hold_nul_is_recorded_and_bound_to_them(pool: PgPool) {
    let app = TestApp::new(pool);
    let t = app.tenant("ada@example.com").await;
    // An agent's arguments may carry U+0000 anywhere; Postgres text cannot.
    let arguments = json!({"note\u{0}": "a\u{0}b", "nested": [{"k": "\u{0}"}]});
    let id = app.hold(&t, arguments.clone(), MINUTE).await;

    let shown = app.get(&format!("/v1/approvals/{id}"), &t.token).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.raw);
    assert_eq!(
        shown.body["arguments"],
        json!({"note\u{FFFD}": "a\u{FFFD}b", "nested": [{"k": "\u{FFFD}"}]})
    );
    // The approval is bound to what the agent sent, not to the record.
    assert_eq!(
        shown.body["arguments_digest"],
        approvals::arguments_digest(&arguments)
    );
    app.post(&format!("/v1/approvals/{id}/approve"), &t.token, json!({}))
        .await;
    let recorded = approvals::arguments_digest(&shown.body["arguments"]);
    assert!(!approvals::consume(&app.pool, t.account, id, &recorded)
        .await
        .unwrap());
    let sent = approvals::arguments_digest(&arguments);
    assert!(approvals::consume(&app.pool, t.account, id, &sent)
        .await
        .unwrap());
}
