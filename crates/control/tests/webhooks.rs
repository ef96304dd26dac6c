//! Approval notifications: a new approval is POSTed to the account's webhook
//! with a signature the receiver can verify using the secret from
//! `PATCH /v1/account`, and a failed delivery is retried.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;
use common::{Dns, TestApp, PUBLIC_URL};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::PgPool;
use toolgate_control::webhooks::{DeliveryPolicy, WebhookDispatcher};
use toolgate_netguard::OutboundGuard;
use toolgate_store::approvals::{self, NotifyState};
use toolgate_store::ids::ApprovalId;
use toolgate_store::secrets::SecretKey;
use toolgate_store::webhook_events::{self, DeliveryState};

#[derive(Clone, Default)]
struct Receiver {
    deliveries: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

/// Fails the first delivery with HTTP 500, accepts the rest.
async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut deliveries = receiver.deliveries.lock().unwrap();
    deliveries.push((headers, body));
    if deliveries.len() == 1 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

async fn start_receiver() -> (String, Receiver) {
    let receiver = Receiver::default();
    let router = Router::new()
        .route("/hooks/approvals", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/approvals", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, receiver)
}

/// A receiver on loopback that also counts the connections it accepts;
/// returns its port.
async fn start_counting_receiver() -> (u16, Receiver, Arc<AtomicUsize>) {
    let receiver = Receiver::default();
    let router = Router::new()
        .route("/hooks/approvals", post(receive))
        .with_state(receiver.clone());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let listener = listener.tap_io(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (port, receiver, connections)
}

/// The verification recipe documented in the README.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = headers["toolgate-signature"].to_str().unwrap();
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = Some(t.to_owned()),
            Some(("v1", v)) => signatures.push(hex::decode(v).unwrap()),
            _ => {}
        }
    }
    let timestamp = timestamp.unwrap();
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    if !(0..300).contains(&age) {
        return false;
    }
    signatures.iter().any(|signature| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    })
}

/// The approval's notification state and how many deliveries were started.
async fn notify_state(pool: &PgPool, approval_id: ApprovalId) -> (NotifyState, i32) {
    let stored = sqlx::query!(
        r#"SELECT notify_state AS "notify_state: NotifyState", notify_attempts
           FROM approvals WHERE id = $1"#,
        approval_id.0,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (stored.notify_state, stored.notify_attempts)
}

/// Sets the account's webhook to `url`; returns its signing secret.
async fn hook_up(app: &TestApp, token: &str, url: &str) -> String {
    let patched = app
        .call(
            axum::http::Method::PATCH,
            "/v1/account",
            Some(token),
            Some(json!({"approval_webhook_url": url})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.raw);
    let secret = patched.body["approval_webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    secret
}

/// Runs a dispatcher until `receiver` has two deliveries (its first
/// answer is a failure, so the second is the retry), and a little longer
/// to catch a third; returns them all.
async fn two_deliveries(
    pool: &PgPool,
    key: Arc<SecretKey>,
    receiver: &Receiver,
) -> Vec<(HeaderMap, Bytes)> {
    let dispatcher = WebhookDispatcher::new(
        pool.clone(),
        key,
        PUBLIC_URL,
        true,
        DeliveryPolicy {
            poll_every: Duration::from_millis(50),
            first_retry: Duration::from_millis(300),
            ..DeliveryPolicy::default()
        },
    )
    .unwrap();
    let running = tokio::spawn(dispatcher.run());
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while receiver.deliveries.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "two deliveries within 10 s");
    // The outbox records the success, so nothing more is sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.abort();
    let deliveries = receiver.deliveries.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 2, "one failure, one retry, then no more");
    deliveries
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_new_approval_is_delivered_signed_and_retried_after_a_failure(pool: PgPool) {
    let key = Arc::new(SecretKey::generate());
    // The receiver is on loopback.
    let app = TestApp::with_key(pool.clone(), key.clone(), true);
    let (receiver_url, receiver) = start_receiver().await;
    let t = app.tenant("ada@example.com").await;
    let secret = hook_up(&app, &t.token, &receiver_url).await;

    let arguments = json!({"amount": 4200});
    let approval_id = app
        .hold(&t, arguments.clone(), Duration::from_secs(300))
        .await;

    let deliveries = two_deliveries(&pool, key, &receiver).await;
    for (headers, body) in &deliveries {
        assert!(verify(&secret, headers, body), "the signature verifies");
        assert!(!verify("whsec_wrong", headers, body));
        assert_eq!(headers["content-type"], "application/json");
    }
    // One event, delivered twice: the same id and body each time.
    let (first_headers, first_body) = &deliveries[0];
    let (second_headers, second_body) = &deliveries[1];
    assert_eq!(
        first_headers["toolgate-event-id"],
        second_headers["toolgate-event-id"]
    );
    assert_eq!(first_body, second_body);
    let event: Value = serde_json::from_slice(second_body).unwrap();
    assert_eq!(event["type"], "approval.requested");
    assert_eq!(
        event["id"],
        second_headers["toolgate-event-id"].to_str().unwrap()
    );
    let data = &event["data"];
    assert_eq!(data["approval_id"], approval_id.to_string());
    assert_eq!(data["server_name"], "payments");
    assert_eq!(data["tool"], "create_charge");
    assert_eq!(data["arguments"], arguments);
    assert!(data["expires_at"].is_string());
    assert_eq!(
        data["approve"]["url"],
        format!("{PUBLIC_URL}/v1/approvals/{approval_id}/approve")
    );
    let stored = notify_state(&pool, approval_id).await;
    assert_eq!(stored, (NotifyState::Delivered, 2));
}

#[sqlx::test(migrations = "../../migrations")]
async fn without_a_webhook_nothing_is_queued(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let t = app.tenant("ada@example.com").await;
    app.hold(&t, json!({}), Duration::from_secs(300)).await;
    let claimed = approvals::claim_notifications(&pool, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(claimed.is_empty());
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_webhook_name_that_turns_internal_after_registration_is_not_delivered(pool: PgPool) {
    let key = Arc::new(SecretKey::generate());
    let dns = Arc::new(Dns::default());
    dns.answer("hooks.tenant.example", "93.184.216.34");
    let app = TestApp::with_resolver(pool.clone(), key.clone(), dns.clone());
    let (port, receiver, connections) = start_counting_receiver().await;
    let t = app.tenant("ada@example.com").await;

    // Registration sees a public address.
    let url = format!("http://hooks.tenant.example:{port}/hooks/approvals");
    let patched = app
        .call(
            axum::http::Method::PATCH,
            "/v1/account",
            Some(&t.token),
            Some(json!({"approval_webhook_url": url})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.raw);

    // Then the name is pointed at loopback, where the receiver listens.
    dns.answer("hooks.tenant.example", "127.0.0.1");
    let approval_id = app.hold(&t, json!({}), Duration::from_secs(300)).await;
    let policy = DeliveryPolicy {
        first_retry: Duration::ZERO,
        ..DeliveryPolicy::default()
    };
    let strict = OutboundGuard::new(false).with_resolver(dns.clone());
    let dispatcher = WebhookDispatcher::with_guard(
        pool.clone(),
        key.clone(),
        PUBLIC_URL,
        strict,
        policy.clone(),
    )
    .unwrap();
    assert_eq!(dispatcher.tick().await, 1, "one delivery tried");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "nothing reached the receiver"
    );
    assert_eq!(
        notify_state(&pool, approval_id).await,
        (NotifyState::Pending, 1),
        "failed, to retry"
    );

    // The same answer, with private addresses allowed, does reach it: the
    // refusal above was the guard's.
    let lenient = OutboundGuard::new(true).with_resolver(dns);
    let dispatcher =
        WebhookDispatcher::with_guard(pool.clone(), key, PUBLIC_URL, lenient, policy).unwrap();
    assert_eq!(dispatcher.tick().await, 1);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert_eq!(receiver.deliveries.lock().unwrap().len(), 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_webhook_on_an_internal_address_is_refused_at_registration(pool: PgPool) {
    let dns = Arc::new(Dns::default());
    dns.answer("hooks.tenant.example", "10.0.0.7");
    let app = TestApp::with_resolver(pool, Arc::new(SecretKey::generate()), dns);
    let t = app.tenant("ada@example.com").await;
    for url in [
        "http://hooks.tenant.example/hooks",
        "http://[::ffff:169.254.169.254]/latest",
        "http://[64:ff9b::a00:1]/hooks",
    ] {
        let refused = app
            .call(
                axum::http::Method::PATCH,
                "/v1/account",
                Some(&t.token),
                Some(json!({"approval_webhook_url": url})),
            )
            .await;
        assert_eq!(refused.error_paths(), ["/approval_webhook_url"], "{url}");
        assert!(
            refused.raw.contains("TOOLGATE_ALLOW_PRIVATE_UPSTREAMS"),
            "{}",
            refused.raw
        );
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_account_event_is_delivered_signed_and_retried_like_an_approval(pool: PgPool) {
    let key = Arc::new(SecretKey::generate());
    let app = TestApp::with_key(pool.clone(), key.clone(), true);
    let (receiver_url, receiver) = start_receiver().await;
    let t = app.tenant("ada@example.com").await;
    let secret = hook_up(&app, &t.token, &receiver_url).await;
    let data = json!({"tool": "read_file", "seen_by": "discovery"});
    let mut tx = pool.begin().await.unwrap();
    let id = webhook_events::enqueue(
        &mut tx,
        t.account,
        webhook_events::TOOL_DEFINITION_CHANGED,
        &data,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let deliveries = two_deliveries(&pool, key, &receiver).await;
    for (headers, body) in &deliveries {
        assert!(verify(&secret, headers, body), "the signature verifies");
        assert_eq!(
            headers["toolgate-event-id"],
            format!("evt_{}", id.simple()).as_str()
        );
    }
    let event: Value = serde_json::from_slice(&deliveries[1].1).unwrap();
    assert_eq!(event["type"], "tool.definition_changed");
    assert_eq!(event["data"], data);
    let stored = webhook_events::recent(&pool, t.account, 10).await.unwrap();
    assert_eq!(stored[0].state, DeliveryState::Delivered);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_slack_webhook_gets_an_incoming_webhook_message_with_links_to_the_approval(pool: PgPool) {
    let key = Arc::new(SecretKey::generate());
    let app = TestApp::with_key(pool.clone(), key.clone(), true);
    let (receiver_url, receiver) = start_receiver().await;
    let t = app.tenant("ada@example.com").await;

    // A format nobody knows is refused at its pointer; slack is kept.
    let bad = app
        .call(
            axum::http::Method::PATCH,
            "/v1/account",
            Some(&t.token),
            Some(json!({"approval_webhook_format": "teams"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.raw);
    assert!(bad.raw.contains("approval_webhook_format"), "{}", bad.raw);
    let patched = app
        .call(
            axum::http::Method::PATCH,
            "/v1/account",
            Some(&t.token),
            Some(json!({"approval_webhook_url": receiver_url, "approval_webhook_format": "slack"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.raw);
    assert_eq!(patched.body["approval_webhook_format"], "slack");
    let secret = patched.body["approval_webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();

    // The catalog knows the tool: the message carries its risk.
    sqlx::query(
        "INSERT INTO catalog_tools (id, account_id, server_id, name, hash, definition)
         VALUES ($1, $2, $3, 'create_charge', 'h', $4)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(t.account.0)
    .bind(t.server.0)
    .bind(json!({"name": "create_charge",
        "description": "Charge the customer's card and transfer the money",
        "inputSchema": {"type": "object", "properties": {"amount": {"type": "integer"}}}}))
    .execute(&pool)
    .await
    .unwrap();
    let long = "x".repeat(2000);
    let arguments = json!({"amount": 4200, "note": "<!channel> & `rm`", "pad": long});
    let approval_id = app
        .hold(&t, arguments.clone(), Duration::from_secs(300))
        .await;

    let deliveries = two_deliveries(&pool, key, &receiver).await;
    let (headers, body) = &deliveries[1];
    assert!(verify(&secret, headers, body), "still signed");
    let message: Value = serde_json::from_slice(body).unwrap();
    let page = format!("{PUBLIC_URL}/approvals/{approval_id}");
    let text = message["text"].as_str().unwrap();
    assert!(
        text.contains("create_charge") && text.contains(&page),
        "{text}"
    );
    let blocks = message["blocks"].as_array().unwrap();
    let all = serde_json::to_string(blocks).unwrap();
    assert!(!all.contains("<!channel>"), "agent text cannot ping: {all}");
    assert!(all.contains("&lt;!channel&gt; &amp;"), "{all}");
    let fields = blocks[1]["fields"].as_array().unwrap();
    let risk = fields[2]["text"].as_str().unwrap();
    assert!(risk.starts_with("*Risk*\n"), "{risk}");
    assert!(!risk.contains("unknown"), "the catalog's verdict: {risk}");
    let summary = blocks[2]["text"]["text"].as_str().unwrap();
    assert!(
        summary.contains("4200") && summary.contains('…'),
        "{summary}"
    );
    assert!(
        summary.chars().count() < 600,
        "truncated: {}",
        summary.len()
    );
    let buttons = blocks[3]["elements"].as_array().unwrap();
    assert_eq!(buttons[0]["url"], format!("{page}?decision=approve"));
    assert_eq!(buttons[1]["url"], format!("{page}?decision=deny"));

    // The link opens the approval's page in the dashboard.
    let opened = app
        .call(
            axum::http::Method::GET,
            &format!("/approvals/{approval_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.raw);
    assert!(opened.headers[axum::http::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}
