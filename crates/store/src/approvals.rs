//! Approvals: a person's decision on one held `tools/call`, and the outbox of
//! its webhook notification.
//!
//! Every transition is one conditional `UPDATE … WHERE status = …`, so two
//! reviewers, a reviewer and a timeout, or two replicas racing on one approval
//! cannot both win: exactly one UPDATE matches the row.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use toolgate_strictjson::canonical::canonical_text;

use crate::error::StoreError;
use crate::ids::{AccountId, ApprovalId, GrantId, ServerId};
use crate::page::{Page, PageRequest};
use crate::storable::{storable_json, storable_str};
use crate::target_kind::TargetKind;

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a person; the agent's call is held open.
    Pending,
    /// Approved; the held call is about to be forwarded.
    Approved,
    Denied,
    /// Nobody decided before the rule's `approval_timeout`.
    Expired,
    /// The agent went away while waiting.
    Abandoned,
    /// Approved, and the call it was for has been forwarded (once).
    Used,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Abandoned => "abandoned",
            Self::Used => "used",
        }
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApprovalStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "expired" => Self::Expired,
            "abandoned" => Self::Abandoned,
            "used" => Self::Used,
            other => return Err(format!("unknown approval status {other:?}")),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Approval {
    pub id: ApprovalId,
    pub server_id: ServerId,
    pub server_name: String,
    pub grant_id: GrantId,
    /// What `tool` names: a tool, a resource (by URI) or a prompt.
    pub kind: TargetKind,
    /// The tool's name, the resource's URI or the prompt's name.
    pub tool: String,
    pub arguments: Value,
    pub arguments_digest: String,
    pub status: ApprovalStatus,
    /// The deciding user's or API key's prefixed id.
    pub decided_by: Option<String>,
    /// The decider's email or API key name.
    pub decided_by_name: Option<String>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub used_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ApprovalRow {
    id: ApprovalId,
    server_id: ServerId,
    server_name: String,
    grant_id: GrantId,
    kind: String,
    tool: String,
    arguments: Value,
    arguments_digest: String,
    status: String,
    decided_by: Option<String>,
    decided_by_name: Option<String>,
    reason: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
    used_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApprovalRow> for Approval {
    type Error = StoreError;

    fn try_from(row: ApprovalRow) -> Result<Self, StoreError> {
        Ok(Approval {
            id: row.id,
            server_id: row.server_id,
            server_name: row.server_name,
            grant_id: row.grant_id,
            kind: TargetKind::parse(&row.kind).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown target kind {:?}", row.kind))
            })?,
            tool: row.tool,
            arguments: row.arguments,
            arguments_digest: row.arguments_digest,
            status: row.status.parse().map_err(StoreError::Corrupt)?,
            decided_by: row.decided_by,
            decided_by_name: row.decided_by_name,
            reason: row.reason,
            created_at: row.created_at,
            expires_at: row.expires_at,
            decided_at: row.decided_at,
            used_at: row.used_at,
        })
    }
}

/// A pending approval past its expiry reads as expired even before the
/// replica holding its call records it (that replica may have died).
const COLUMNS: &str = "a.id, a.server_id, s.name AS server_name, a.grant_id, a.kind, a.tool, a.arguments,
        a.arguments_digest,
        CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN 'expired' ELSE a.status END AS status,
        a.decided_by, a.decided_by_name, a.reason, a.created_at, a.expires_at, a.decided_at, a.used_at";

/// The hex SHA-256 of the arguments' canonical JSON (object keys sorted at
/// every level, no insignificant whitespace), so that two spellings of the
/// same arguments have one digest.
pub fn arguments_digest(arguments: &Value) -> String {
    let canonical = canonical_text(arguments);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

pub struct NewApproval<'a> {
    pub server: ServerId,
    pub grant: GrantId,
    pub kind: TargetKind,
    pub tool: &'a str,
    pub arguments: &'a Value,
    pub timeout: Duration,
}

/// Records a pending approval. Its webhook notification is queued in the
/// same statement when the account has a webhook.
pub async fn create(
    pool: &PgPool,
    account_id: AccountId,
    new: NewApproval<'_>,
) -> Result<Approval, StoreError> {
    let timeout_secs = i64::try_from(new.timeout.as_secs()).unwrap_or(i64::MAX);
    let row = sqlx::query_as::<_, ApprovalRow>(&format!(
        "WITH a AS (
             INSERT INTO approvals (id, account_id, server_id, grant_id, tool, arguments,
                                    arguments_digest, expires_at, notify_state, notify_next_at, kind)
             SELECT $1, acc.id, $3, $4, $5, $6, $7, now() + make_interval(secs => $8),
                    CASE WHEN acc.approval_webhook_url IS NULL THEN 'none' ELSE 'pending' END,
                    now(), $9
             FROM accounts acc WHERE acc.id = $2
             RETURNING *
         )
         SELECT {COLUMNS} FROM a JOIN servers s ON s.id = a.server_id"
    ))
    .bind(ApprovalId::new())
    .bind(account_id)
    .bind(new.server)
    .bind(new.grant)
    // Stored as the audit trail stores text (NUL made storable); the digest
    // binds the approval to the arguments exactly as the agent sent them.
    .bind(storable_str(new.tool).as_ref())
    .bind(storable_json(new.arguments).as_ref())
    .bind(arguments_digest(new.arguments))
    .bind(timeout_secs as f64)
    .bind(new.kind.as_str())
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)?;
    row.try_into()
}

pub async fn get(
    pool: &PgPool,
    account_id: AccountId,
    id: ApprovalId,
) -> Result<Approval, StoreError> {
    sqlx::query_as::<_, ApprovalRow>(&format!(
        "SELECT {COLUMNS} FROM approvals a JOIN servers s ON s.id = a.server_id
         WHERE a.account_id = $1 AND a.id = $2"
    ))
    .bind(account_id)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// The account's approvals, newest first, optionally of one status.
pub async fn list(
    pool: &PgPool,
    account_id: AccountId,
    status: Option<ApprovalStatus>,
    page: PageRequest<ApprovalId>,
) -> Result<Page<Approval>, StoreError> {
    let rows = sqlx::query_as::<_, ApprovalRow>(&format!(
        "SELECT * FROM (
             SELECT {COLUMNS} FROM approvals a JOIN servers s ON s.id = a.server_id
             WHERE a.account_id = $1 AND ($2::uuid IS NULL OR a.id < $2)
         ) listed
         WHERE ($3::text IS NULL OR listed.status = $3)
         ORDER BY listed.id DESC LIMIT $4"
    ))
    .bind(account_id)
    .bind(page.after)
    .bind(status.map(ApprovalStatus::as_str))
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    let approvals = rows
        .into_iter()
        .map(Approval::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(approvals, page.limit, |a| a.id.to_string()))
}

/// Who decides, as stored with the decision.
pub struct Decider<'a> {
    /// The user's or API key's prefixed id.
    pub id: &'a str,
    /// The UUID behind it, to look up a name a person recognises.
    pub uuid: Uuid,
}

/// The result of a decision attempt.
#[derive(Debug)]
pub enum Decided {
    /// This call made the decision.
    Now(Approval),
    /// The approval was no longer pending (decided, expired, abandoned or
    /// used): nothing changed.
    Already(Approval),
}

/// Approves or denies a pending, unexpired approval.
pub async fn decide(
    pool: &PgPool,
    account_id: AccountId,
    id: ApprovalId,
    approve: bool,
    by: Decider<'_>,
    reason: Option<&str>,
) -> Result<Decided, StoreError> {
    let row = sqlx::query_as::<_, ApprovalRow>(&format!(
        "WITH a AS (
             UPDATE approvals SET
                 status = CASE WHEN $3 THEN 'approved' ELSE 'denied' END,
                 decided_by = $4,
                 decided_by_name = COALESCE(
                     (SELECT email FROM users WHERE id = $5 AND account_id = $1),
                     (SELECT name FROM api_keys WHERE id = $5 AND account_id = $1),
                     $4),
                 reason = $6,
                 decided_at = now()
             WHERE account_id = $1 AND id = $2 AND status = 'pending' AND expires_at > now()
             RETURNING *
         )
         SELECT {COLUMNS} FROM a JOIN servers s ON s.id = a.server_id"
    ))
    .bind(account_id)
    .bind(id)
    .bind(approve)
    .bind(by.id)
    .bind(by.uuid)
    .bind(reason)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(Decided::Now(row.try_into()?)),
        None => Ok(Decided::Already(get(pool, account_id, id).await?)),
    }
}

/// One conditional transition; true when this call made it.
async fn transition(
    pool: &PgPool,
    account_id: AccountId,
    id: ApprovalId,
    set: &str,
    condition: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(&format!(
        "UPDATE approvals SET {set} WHERE account_id = $1 AND id = $2 AND {condition}"
    ))
    .bind(account_id)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that nobody decided in time.
pub async fn expire(
    pool: &PgPool,
    account_id: AccountId,
    id: ApprovalId,
) -> Result<bool, StoreError> {
    transition(
        pool,
        account_id,
        id,
        "status = 'expired'",
        "status = 'pending'",
    )
    .await
}

/// Records that the agent went away while waiting.
pub async fn abandon(
    pool: &PgPool,
    account_id: AccountId,
    id: ApprovalId,
) -> Result<bool, StoreError> {
    transition(
        pool,
        account_id,
        id,
        "status = 'abandoned'",
        "status = 'pending'",
    )
    .await
}

/// Spends an approval on the call it was made for: only an approved,
/// unused approval whose digest matches these arguments, and only once.
pub async fn consume(
    pool: &PgPool,
    account_id: AccountId,
    id: ApprovalId,
    arguments_digest: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE approvals SET status = 'used', used_at = now()
         WHERE account_id = $1 AND id = $2 AND status = 'approved' AND arguments_digest = $3",
    )
    .bind(account_id)
    .bind(id)
    .bind(arguments_digest)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A webhook notification due for delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Notification {
    pub approval_id: ApprovalId,
    pub account_id: AccountId,
    pub server_id: ServerId,
    pub server_name: String,
    pub grant_id: GrantId,
    pub tool: String,
    pub arguments: Value,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// How many deliveries have been started, this one included.
    pub attempt: i32,
    pub url: Option<String>,
    /// The sealed signing secret.
    pub secret_enc: Option<Vec<u8>>,
}

/// Leases up to `limit` due notifications for `lease`: another dispatcher
/// (another control-plane replica) skips them meanwhile, and picks them up
/// again if this one dies before recording the outcome. Notifications of
/// approvals decided before delivery are dropped.
pub async fn claim_notifications(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<Notification>, StoreError> {
    sqlx::query(
        "UPDATE approvals SET notify_state = 'skipped'
         WHERE notify_state = 'pending' AND (status <> 'pending' OR expires_at <= now())",
    )
    .execute(pool)
    .await?;
    let rows = sqlx::query_as::<_, Notification>(
        "WITH due AS (
             SELECT id FROM approvals
             WHERE notify_state = 'pending' AND notify_next_at <= now()
             ORDER BY notify_next_at LIMIT $1
             FOR UPDATE SKIP LOCKED
         ), a AS (
             UPDATE approvals SET notify_attempts = notify_attempts + 1,
                                  notify_next_at = now() + make_interval(secs => $2)
             WHERE id IN (SELECT id FROM due)
             RETURNING *
         )
         SELECT a.id AS approval_id, a.account_id, a.server_id, s.name AS server_name, a.grant_id,
                a.tool, a.arguments, a.created_at, a.expires_at, a.notify_attempts AS attempt,
                acc.approval_webhook_url AS url, acc.webhook_secret_enc AS secret_enc
         FROM a JOIN servers s ON s.id = a.server_id JOIN accounts acc ON acc.id = a.account_id",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Records a delivery's outcome: delivered; to retry at `retry_at`; or
/// given up (`retry_at` `None`).
pub async fn record_notification(
    pool: &PgPool,
    id: ApprovalId,
    delivered: bool,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let state = crate::webhook_events::delivery_state(delivered, retry_at);
    sqlx::query("UPDATE approvals SET notify_state = $2, notify_next_at = $3 WHERE id = $1")
        .bind(id)
        .bind(state)
        .bind(retry_at)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_digest_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(arguments_digest(&a), arguments_digest(&b));
        assert_ne!(
            arguments_digest(&json!({"amount": 1})),
            arguments_digest(&json!({"amount": 2}))
        );
        assert_eq!(arguments_digest(&json!({})).len(), 64);
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Denied,
            ApprovalStatus::Expired,
            ApprovalStatus::Abandoned,
            ApprovalStatus::Used,
        ] {
            assert_eq!(status.as_str().parse::<ApprovalStatus>(), Ok(status));
        }
    }
}
