//! Account events for the account's webhook: each new approval
//! (`approval.requested`), and each tool withheld because the upstream
//! changed its definition (`tool.definition_changed`) or because it waits
//! for review (`tool.awaiting_review`). Each is POSTed signed, and retried
//! with exponential backoff until it is delivered or the attempts run out.
//!
//! Approvals keep their outbox in the `approvals` table itself: a gateway
//! queues the notification in the same statement that records the approval.
//! Other events are queued in `webhook_events`, in the transaction that
//! records what happened. Every
//! control-plane replica runs a [`WebhookDispatcher`] that leases due rows
//! (`FOR UPDATE SKIP LOCKED`), so a notification is delivered by one replica
//! at a time and survives a crash of any of them. Delivery never runs on an
//! API or gateway request's path.
//!
//! Signature: `Toolgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`,
//! keyed with the account's `whsec_…` secret (its UTF-8 bytes, as shown
//! once), over `"<t>.<body>"`. `Toolgate-Event-Id` is the same on every
//! attempt at one notification, so a receiver can drop duplicates.
//!
//! Every delivery passes the address guard when it connects: the webhook's
//! name is resolved then, each answer checked, and only admitted addresses
//! dialled; a refused delivery fails (and is retried) like any other.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use sqlx::PgPool;
use toolgate_netguard::OutboundGuard;
use toolgate_store::accounts::WebhookFormat;
use toolgate_store::approvals::{self, Notification};
use toolgate_store::secrets::SecretKey;
use toolgate_store::webhook_events::{self, DueEvent};

mod slack;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "toolgate-signature";
/// Header carrying the event id, stable across retries.
pub const EVENT_ID_HEADER: &str = "toolgate-event-id";
/// The event type of a new approval.
pub const APPROVAL_REQUESTED: &str = "approval.requested";

/// How deliveries are paced.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// How often the outbox is checked for due notifications.
    pub poll_every: Duration,
    /// Delay before the first retry; doubled after each failure.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: i32,
    /// Longest wait for a receiver's answer.
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            poll_every: Duration::from_millis(500),
            first_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(300),
            max_attempts: 8,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Delivers due approval notifications.
#[derive(Clone)]
pub struct WebhookDispatcher {
    pool: PgPool,
    secret_key: Arc<SecretKey>,
    client: reqwest::Client,
    guard: OutboundGuard,
    /// Base of the approve/deny hints in each notification.
    public_url: String,
    policy: DeliveryPolicy,
}

impl WebhookDispatcher {
    /// A dispatcher resolving with the system's resolver; `allow_private` is
    /// `TOOLGATE_ALLOW_PRIVATE_UPSTREAMS`.
    pub fn new(
        pool: PgPool,
        secret_key: Arc<SecretKey>,
        public_url: &str,
        allow_private: bool,
        policy: DeliveryPolicy,
    ) -> Result<Self, reqwest::Error> {
        let guard = OutboundGuard::new(allow_private);
        Self::with_guard(pool, secret_key, public_url, guard, policy)
    }

    /// A dispatcher whose connections `guard` admits.
    pub fn with_guard(
        pool: PgPool,
        secret_key: Arc<SecretKey>,
        public_url: &str,
        guard: OutboundGuard,
        policy: DeliveryPolicy,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            // A redirect could lead anywhere, including past the guard.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.timeout)
            .timeout(policy.timeout)
            // Names are resolved by the guard, and only the addresses it
            // admitted are dialled.
            .dns_resolver(Arc::new(guard.clone()))
            .build()?;
        Ok(Self {
            pool,
            secret_key,
            client,
            guard,
            public_url: public_url.trim_end_matches('/').to_owned(),
            policy,
        })
    }

    /// Delivers due notifications until the task is dropped.
    pub async fn run(self) {
        loop {
            self.tick().await;
            tokio::time::sleep(self.policy.poll_every).await;
        }
    }

    /// One pass over the outbox; returns how many deliveries were tried.
    pub async fn tick(&self) -> usize {
        // The lease outlasts one attempt, so no other replica starts the
        // same delivery meanwhile.
        let lease = self.policy.timeout * 3;
        let due = match approvals::claim_notifications(&self.pool, 32, lease).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "cannot read the approval notification outbox");
                Vec::new()
            }
        };
        let events = match webhook_events::claim(&self.pool, 32, lease).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "cannot read the webhook event outbox");
                Vec::new()
            }
        };
        let count = due.len() + events.len();
        let approvals = join_all(due.into_iter().map(|n| self.deliver_approval(n)));
        let others = join_all(events.into_iter().map(|e| self.deliver_event(e)));
        futures_util::future::join(approvals, others).await;
        count
    }

    async fn deliver_approval(&self, n: Notification) {
        let payload = match n.format {
            WebhookFormat::Generic => self.payload(&n),
            WebhookFormat::Slack => slack::approval_message(&self.public_url, &n),
        };
        let outcome = self
            .deliver(n.url.as_deref(), n.secret_enc.as_deref(), &payload)
            .await;
        let retry_at = self.next_attempt(
            APPROVAL_REQUESTED,
            &event_id(n.approval_id.0),
            n.attempt,
            &outcome,
        );
        if let Err(error) =
            approvals::record_notification(&self.pool, n.approval_id, outcome.is_ok(), retry_at)
                .await
        {
            tracing::warn!(approval = %n.approval_id, %error, "cannot record an approval webhook delivery");
        }
    }

    async fn deliver_event(&self, e: DueEvent) {
        let payload = json!({
            "id": event_id(e.id),
            "type": e.kind,
            "created_at": e.created_at,
            "data": e.data,
        });
        let payload = match e.format {
            WebhookFormat::Generic => payload,
            WebhookFormat::Slack => slack::event_message(&payload),
        };
        let outcome = self
            .deliver(e.url.as_deref(), e.secret_enc.as_deref(), &payload)
            .await;
        let retry_at = self.next_attempt(&e.kind, &event_id(e.id), e.attempt, &outcome);
        if let Err(error) =
            webhook_events::record(&self.pool, e.id, outcome.is_ok(), retry_at).await
        {
            tracing::warn!(event = %event_id(e.id), %error, "cannot record a webhook delivery");
        }
    }

    /// When to try again after `outcome`; `None` when delivered or given up.
    fn next_attempt(
        &self,
        kind: &str,
        id: &str,
        attempt: i32,
        outcome: &Result<(), String>,
    ) -> Option<chrono::DateTime<Utc>> {
        match outcome {
            Ok(()) => None,
            Err(error) if attempt >= self.policy.max_attempts => {
                tracing::warn!(kind, event = id, attempt, %error, "webhook failed; giving up");
                None
            }
            Err(error) => {
                let delay = self.retry_delay(attempt);
                tracing::info!(kind, event = id, attempt, %error, ?delay, "webhook failed; will retry");
                chrono::Duration::from_std(delay)
                    .ok()
                    .map(|delay| Utc::now() + delay)
            }
        }
    }

    fn retry_delay(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(20);
        self.policy
            .first_retry
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.policy.max_retry)
    }

    async fn deliver(
        &self,
        url: Option<&str>,
        secret_enc: Option<&[u8]>,
        payload: &serde_json::Value,
    ) -> Result<(), String> {
        let (Some(url), Some(sealed)) = (url, secret_enc) else {
            return Err("the account no longer has a webhook".to_owned());
        };
        let secret = self
            .secret_key
            .open(sealed)
            .map_err(|e| format!("cannot open the signing secret: {e}"))?;
        let url = toolgate_netguard::parse_url(url)?;
        // A literal address skips the resolver, so it is checked here.
        self.guard
            .admit_literal(&url)
            .map_err(|refused| format!("the webhook's address is not allowed: {refused}"))?;
        let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        let id = match payload["id"].as_str() {
            Some(id) => id.to_owned(),
            // A Slack message has no id of its own: the event's rides along.
            None => payload["metadata"]["event_payload"]["event_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        let timestamp = Utc::now().timestamp();
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "Toolgate-Webhooks/1")
            .header(SIGNATURE_HEADER, signature(&secret, timestamp, &body))
            .header(EVENT_ID_HEADER, id)
            .body(body)
            .send()
            .await
            // Without the URL: it may carry a token in its query.
            .map_err(|e| match toolgate_netguard::find_refusal(&e) {
                Some(refused) => format!("the webhook's address is not allowed: {refused}"),
                None => format!("request failed: {}", e.without_url()),
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the receiver answered HTTP {}",
                response.status().as_u16()
            ))
        }
    }

    fn payload(&self, n: &Notification) -> serde_json::Value {
        let approval = n.approval_id;
        json!({
            "id": event_id(n.approval_id.0),
            "type": APPROVAL_REQUESTED,
            "created_at": n.created_at,
            "data": {
                "approval_id": approval,
                "account_id": n.account_id,
                "server_id": n.server_id,
                "server_name": n.server_name,
                "grant_id": n.grant_id,
                "tool": n.tool,
                "arguments": n.arguments,
                "expires_at": n.expires_at,
                "approve": {"method": "POST", "url": format!("{}/v1/approvals/{approval}/approve", self.public_url)},
                "deny": {"method": "POST", "url": format!("{}/v1/approvals/{approval}/deny", self.public_url)},
            }
        })
    }
}

/// One id per event, the same on every attempt.
fn event_id(id: uuid::Uuid) -> String {
    format!("evt_{}", id.simple())
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_an_hmac_of_timestamp_dot_body() {
        // Known answer, computed independently:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let got = signature(b"whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            got,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_ne!(got, signature(b"whsec_other", 1_700_000_000, br#"{"a":1}"#));
    }
}
