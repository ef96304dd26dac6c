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

/// Queues an event for the account's webhook, if it has one when queued
/// (otherwise the event is kept, undelivered, as `none`).
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    account_id: AccountId,
    kind: &str,
    data: &Value,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhook_events (id, account_id, type, data, state, next_at)
         SELECT $1, a.id, $3, $4,
                CASE WHEN a.approval_webhook_url IS NULL THEN 'none' ELSE 'pending' END, now()
         FROM accounts a WHERE a.id = $2",
    )
    .bind(id)
    .bind(account_id)
    .bind(kind)
    .bind(storable_json(data).as_ref())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// An event due for delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
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
}

/// Leases up to `limit` due events for `lease`, as
/// [`crate::approvals::claim_notifications`] does for approvals.
pub async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<DueEvent>, StoreError> {
    Ok(sqlx::query_as::<_, DueEvent>(
        "WITH due AS (
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
         SELECT e.id, e.account_id, e.type AS kind, e.data, e.created_at, e.attempts AS attempt,
                a.approval_webhook_url AS url, a.webhook_secret_enc AS secret_enc
         FROM e JOIN accounts a ON a.id = e.account_id",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
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
    let state = delivery_state(delivered, retry_at);
    sqlx::query("UPDATE webhook_events SET state = $2, next_at = $3 WHERE id = $1")
        .bind(id)
        .bind(state)
        .bind(retry_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// An outbox row's state after a delivery: delivered; `pending` again to be
/// retried at `retry_at`; or `failed` (given up).
pub(crate) fn delivery_state(delivered: bool, retry_at: Option<DateTime<Utc>>) -> &'static str {
    match (delivered, retry_at) {
        (true, _) => "delivered",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    }
}

/// An account's events, newest first (for its owners and for tests).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub id: Uuid,
    pub kind: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
    pub state: String,
}

pub async fn recent(
    pool: &PgPool,
    account_id: AccountId,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    Ok(sqlx::query_as::<_, StoredEvent>(
        "SELECT id, type AS kind, data, created_at, state FROM webhook_events
         WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(account_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
