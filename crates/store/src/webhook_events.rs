//! The outbox of account events other than new approvals (whose outbox is
//! the `approvals` table): queued in the transaction that records what
//! happened, leased and delivered by the control plane's webhook dispatcher.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::StoreError;
use crate::ids::AccountId;
use crate::storable::storable_json;

/// A tool's definition is no longer the one pinned: it changed, as
/// discovery or the gateway saw it. The tool is withheld from agents.
pub const TOOL_DEFINITION_CHANGED: &str = "tool.definition_changed";
/// A tool was first seen on a server whose new tools wait for review.
pub const TOOL_AWAITING_REVIEW: &str = "tool.awaiting_review";

/// Where an event's delivery stands (`webhook_events.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum DeliveryState {
    /// The account had no webhook when the event was queued: kept, never sent.
    None,
    /// Due, or leased to a dispatcher.
    Pending,
    Delivered,
    /// Given up after the last retry.
    Failed,
}

/// Queues an event for the account's webhook, if it has one when queued
/// (otherwise the event is kept, undelivered, as `none`).
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    account_id: AccountId,
    kind: &str,
    data: &Value,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    let data = storable_json(data);
    sqlx::query!(
        "INSERT INTO webhook_events (id, account_id, type, data, state, next_at)
         SELECT $1, a.id, $3, $4,
                CASE WHEN a.approval_webhook_url IS NULL THEN 'none' ELSE 'pending' END, now()
         FROM accounts a WHERE a.id = $2",
        id,
        account_id.0,
        kind,
        data.as_ref(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// An event due for delivery.
#[derive(Debug, Clone)]
pub struct DueEvent {
    pub id: Uuid,
    pub account_id: AccountId,
    pub kind: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
    /// How many deliveries have been started, this one included.
    pub attempt: i32,
    pub url: Option<String>,
    /// The sealed signing secret.
    pub secret_enc: Option<Vec<u8>>,
    pub format: crate::accounts::WebhookFormat,
}

/// Leases up to `limit` due events for `lease`, as
/// [`crate::approvals::claim_notifications`] does for approvals.
pub async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<DueEvent>, StoreError> {
    Ok(sqlx::query_as!(
        DueEvent,
        r#"WITH due AS (
             SELECT id FROM webhook_events
             WHERE state = 'pending' AND next_at <= now()
             ORDER BY next_at LIMIT $1
             FOR UPDATE SKIP LOCKED
         ), e AS (
             UPDATE webhook_events SET attempts = attempts + 1,
                                       next_at = now() + make_interval(secs => $2)
             WHERE id IN (SELECT id FROM due)
             RETURNING *
         )
         SELECT e.id AS "id!", e.account_id AS "account_id!: AccountId", e.type AS "kind!",
                e.data AS "data!", e.created_at AS "created_at!", e.attempts AS "attempt!",
                a.approval_webhook_url AS url, a.webhook_secret_enc AS secret_enc,
                a.approval_webhook_format AS "format: crate::accounts::WebhookFormat"
         FROM e JOIN accounts a ON a.id = e.account_id"#,
        limit,
        lease.as_secs_f64(),
    )
    .fetch_all(pool)
    .await?)
}

/// Records a delivery's outcome: delivered; to retry at `retry_at`; or
/// given up (`retry_at` `None`).
pub async fn record(
    pool: &PgPool,
    id: Uuid,
    delivered: bool,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let state = match (delivered, retry_at) {
        (true, _) => DeliveryState::Delivered,
        (false, Some(_)) => DeliveryState::Pending,
        (false, None) => DeliveryState::Failed,
    };
    sqlx::query!(
        "UPDATE webhook_events SET state = $2, next_at = $3 WHERE id = $1",
        id,
        state as _,
        retry_at,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// An account's events, newest first (for its owners and for tests).
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: Uuid,
    pub kind: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
    pub state: DeliveryState,
}

pub async fn recent(
    pool: &PgPool,
    account_id: AccountId,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    Ok(sqlx::query_as!(
        StoredEvent,
        r#"SELECT id, type AS kind, data, created_at, state AS "state: DeliveryState"
           FROM webhook_events
           WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"#,
        account_id.0,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_states_are_stored_by_the_names_the_check_constraint_allows() {
        crate::stored_enum::assert_stored_as(
            &[
                DeliveryState::None,
                DeliveryState::Pending,
                DeliveryState::Delivered,
                DeliveryState::Failed,
            ],
            &["none", "pending", "delivered", "failed"],
        );
    }
}
