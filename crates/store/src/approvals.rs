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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a person; the agent's call is held open, or was handed
    /// back and will be retried.
    Pending,
    /// Approved; the held call, or the agent's retry of it, is about to be
    /// forwarded.
    Approved,
    Denied,
    /// Nobody decided before the rule's `approval_timeout` (or, approved,
    /// no call spent it before its claim deadline).
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

impl Approval {
    /// Until when an approved call may be spent: one approval timeout after
    /// the decision, so an agent handed back has as long to come back as a
    /// person had to decide.
    pub fn claim_deadline(&self) -> Option<DateTime<Utc>> {
        self.decided_at
            .map(|decided| decided + (self.expires_at - self.created_at))
    }
}

/// Where an approval's webhook notification stands (`approvals.notify_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum NotifyState {
    /// The account had no webhook when the approval was created.
    None,
    /// Due, or leased to a dispatcher.
    Pending,
    Delivered,
    /// Given up after the last retry.
    Failed,
    /// Decided (or expired) before it was delivered: never sent.
    Skipped,
}

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

// Every query below that returns an approval reads a pending one past its
// expiry as expired, even before the replica holding its call records it
// (that replica may have died).

/// Records a pending approval. Its webhook notification is queued in the
/// same statement when the account has a webhook.
pub async fn create(
    pool: &PgPool,
    account_id: AccountId,
    new: NewApproval<'_>,
) -> Result<Approval, StoreError> {
    let timeout_secs = i64::try_from(new.timeout.as_secs()).unwrap_or(i64::MAX);
    // Stored as the audit trail stores text (NUL made storable); the digest
    // binds the approval to the arguments exactly as the agent sent them.
    let tool = storable_str(new.tool);
    let arguments = storable_json(new.arguments);
    sqlx::query_as!(
        Approval,
        r#"WITH a AS (
             INSERT INTO approvals (id, account_id, server_id, grant_id, tool, arguments,
                                    arguments_digest, expires_at, notify_state, notify_next_at, kind)
             SELECT $1, acc.id, $3, $4, $5, $6, $7, now() + make_interval(secs => $8),
                    CASE WHEN acc.approval_webhook_url IS NULL THEN 'none' ELSE 'pending' END,
                    now(), $9
             FROM accounts acc WHERE acc.id = $2
             RETURNING *
         )
         SELECT a.id AS "id!: ApprovalId", a.server_id AS "server_id!: ServerId",
                s.name AS server_name, a.grant_id AS "grant_id!: GrantId",
                a.kind AS "kind!: TargetKind", a.tool AS "tool!", a.arguments AS "arguments!",
                a.arguments_digest AS "arguments_digest!",
                CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN 'expired'
                     ELSE a.status END AS "status!: ApprovalStatus",
                a.decided_by, a.decided_by_name, a.reason, a.created_at AS "created_at!",
                a.expires_at AS "expires_at!", a.decided_at, a.used_at
         FROM a JOIN servers s ON s.id = a.server_id"#,
        ApprovalId::new().0,
        account_id.0,
        new.server.0,
        new.grant.0,
        tool.as_ref(),
        arguments.as_ref(),
        arguments_digest(new.arguments),
        timeout_secs as f64,
        new.kind as _,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

pub async fn get(
    pool: &PgPool,
    account_id: AccountId,
    id: ApprovalId,
) -> Result<Approval, StoreError> {
    sqlx::query_as!(
        Approval,
        r#"SELECT a.id AS "id: ApprovalId", a.server_id AS "server_id: ServerId",
                  s.name AS server_name, a.grant_id AS "grant_id: GrantId",
                  a.kind AS "kind: TargetKind", a.tool, a.arguments, a.arguments_digest,
                  CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN 'expired'
                       ELSE a.status END AS "status!: ApprovalStatus",
                  a.decided_by, a.decided_by_name, a.reason, a.created_at, a.expires_at,
                  a.decided_at, a.used_at
           FROM approvals a JOIN servers s ON s.id = a.server_id
           WHERE a.account_id = $1 AND a.id = $2"#,
        account_id.0,
        id.0,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

/// The account's approvals, newest first, optionally of one status.
pub async fn list(
    pool: &PgPool,
    account_id: AccountId,
    status: Option<ApprovalStatus>,
    page: PageRequest<ApprovalId>,
) -> Result<Page<Approval>, StoreError> {
    let rows = sqlx::query_as!(
        Approval,
        r#"SELECT id AS "id!: ApprovalId", server_id AS "server_id!: ServerId",
                  server_name AS "server_name!", grant_id AS "grant_id!: GrantId",
                  kind AS "kind!: TargetKind", tool AS "tool!", arguments AS "arguments!",
                  arguments_digest AS "arguments_digest!", status AS "status!: ApprovalStatus",
                  decided_by, decided_by_name, reason, created_at AS "created_at!",
                  expires_at AS "expires_at!", decided_at, used_at
           FROM (
               SELECT a.id, a.server_id, s.name AS server_name, a.grant_id, a.kind, a.tool,
                      a.arguments, a.arguments_digest,
                      CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN 'expired'
                           ELSE a.status END AS status,
                      a.decided_by, a.decided_by_name, a.reason, a.created_at, a.expires_at,
                      a.decided_at, a.used_at
               FROM approvals a JOIN servers s ON s.id = a.server_id
               WHERE a.account_id = $1 AND ($2::uuid IS NULL OR a.id < $2)
           ) listed
           WHERE ($3::text IS NULL OR listed.status = $3)
           ORDER BY listed.id DESC LIMIT $4"#,
        account_id.0,
        page.after.map(|id| id.0),
        status as _,
        page.fetch_limit(),
    )
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, page.limit, |a| a.id.to_string()))
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
    let decided = sqlx::query_as!(
        Approval,
        r#"WITH a AS (
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
         SELECT a.id AS "id!: ApprovalId", a.server_id AS "server_id!: ServerId",
                s.name AS server_name, a.grant_id AS "grant_id!: GrantId",
                a.kind AS "kind!: TargetKind", a.tool AS "tool!", a.arguments AS "arguments!",
                a.arguments_digest AS "arguments_digest!",
                CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN 'expired'
                     ELSE a.status END AS "status!: ApprovalStatus",
                a.decided_by, a.decided_by_name, a.reason, a.created_at AS "created_at!",
                a.expires_at AS "expires_at!", a.decided_at, a.used_at
         FROM a JOIN servers s ON s.id = a.server_id"#,
        account_id.0,
        id.0,
        approve,
        by.id,
        by.uuid,
        reason,
    )
    .fetch_optional(pool)
    .await?;
    match decided {
        Some(approval) => Ok(Decided::Now(approval)),
        None => Ok(Decided::Already(get(pool, account_id, id).await?)),
    }
}

/// Moves a pending approval to `to`; true when this call did.
async fn close_pending(
    pool: &PgPool,
    account_id: AccountId,
    id: ApprovalId,
    to: ApprovalStatus,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "UPDATE approvals SET status = $3 WHERE account_id = $1 AND id = $2 AND status = 'pending'",
        account_id.0,
        id.0,
        to as _,
    )
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
    close_pending(pool, account_id, id, ApprovalStatus::Expired).await
}

/// Records that the agent went away while waiting.
pub async fn abandon(
    pool: &PgPool,
    account_id: AccountId,
    id: ApprovalId,
) -> Result<bool, StoreError> {
    close_pending(pool, account_id, id, ApprovalStatus::Abandoned).await
}

/// Spends an approval on the call it was made for: only an approved,
/// unused approval whose digest matches these arguments, and only once, so
/// of several calls racing for it (on any replicas) exactly one wins. An
/// approval may be spent until [`Approval::claim_deadline`].
pub async fn consume(
    pool: &PgPool,
    account_id: AccountId,
    id: ApprovalId,
    arguments_digest: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "UPDATE approvals SET status = 'used', used_at = now()
         WHERE account_id = $1 AND id = $2 AND status = 'approved' AND arguments_digest = $3
           AND decided_at + (expires_at - created_at) > now()",
        account_id.0,
        id.0,
        arguments_digest,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a retry of a call is: the same grant, server, target and
/// arguments.
pub struct RetryKey<'a> {
    pub server: ServerId,
    pub grant: GrantId,
    pub kind: TargetKind,
    pub tool: &'a str,
    pub arguments_digest: &'a str,
}

/// How long an ended approval keeps answering retries of its call.
#[derive(Debug, Clone, Copy)]
pub struct RetryMemory {
    /// After it was spent, or its denial or expiry first told to a call:
    /// racing retries get the same answer, later calls ask a person again.
    pub after_told: Duration,
    /// After its expiry, for an outcome no call was told yet (the agent
    /// was handed back and comes back later).
    pub untold: Duration,
}

/// The approval a call with this key should use instead of asking a
/// person again, newest first: a pending one (attach to it), an approved
/// one not yet spent (claim it), or a recently ended one (tell its outcome).
pub async fn find_for_retry(
    pool: &PgPool,
    account_id: AccountId,
    key: &RetryKey<'_>,
    memory: &RetryMemory,
) -> Result<Option<Approval>, StoreError> {
    let found = sqlx::query_as!(
        Approval,
        r#"SELECT a.id AS "id: ApprovalId", a.server_id AS "server_id: ServerId",
                  s.name AS server_name, a.grant_id AS "grant_id: GrantId",
                  a.kind AS "kind: TargetKind", a.tool, a.arguments, a.arguments_digest,
                  CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN 'expired'
                       ELSE a.status END AS "status!: ApprovalStatus",
                  a.decided_by, a.decided_by_name, a.reason, a.created_at, a.expires_at,
                  a.decided_at, a.used_at
           FROM approvals a JOIN servers s ON s.id = a.server_id
           WHERE a.account_id = $1 AND a.grant_id = $2 AND a.server_id = $3 AND a.kind = $4
             AND a.tool = $5 AND a.arguments_digest = $6
             AND (
                 (a.status = 'pending' AND a.expires_at > now())
                 OR (a.status = 'approved' AND a.decided_at + (a.expires_at - a.created_at) > now())
                 OR (a.status = 'used' AND a.used_at > now() - make_interval(secs => $7))
                 OR (a.status IN ('denied', 'expired', 'pending')
                     AND a.expires_at > now() - make_interval(secs => $8)
                     AND (a.told_at IS NULL OR a.told_at > now() - make_interval(secs => $7)))
             )
           ORDER BY a.created_at DESC
           LIMIT 1"#,
        account_id.0,
        key.grant.0,
        key.server.0,
        key.kind as _,
        key.tool,
        key.arguments_digest,
        memory.after_told.as_secs_f64(),
        memory.untold.as_secs_f64(),
    )
    .fetch_optional(pool)
    .await?;
    Ok(found)
}

/// Records that a call was told the approval's outcome (denied, or
/// expired: a pending one past its expiry is recorded as expired).
pub async fn told(pool: &PgPool, account_id: AccountId, id: ApprovalId) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE approvals SET told_at = COALESCE(told_at, now()),
             status = CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired'
                           ELSE status END
         WHERE account_id = $1 AND id = $2",
        account_id.0,
        id.0,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records that an approved call was never spent before its claim
/// deadline; true when this call did (its held limit units go back).
pub async fn lapse(
    pool: &PgPool,
    account_id: AccountId,
    id: ApprovalId,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "UPDATE approvals SET status = 'expired'
         WHERE account_id = $1 AND id = $2 AND status = 'approved'
           AND decided_at + (expires_at - created_at) <= now()",
        account_id.0,
        id.0,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A webhook notification due for delivery.
#[derive(Debug, Clone)]
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
    pub format: crate::accounts::WebhookFormat,
    /// The tool's definition as the catalog last saw it (for its risk).
    pub definition: Option<Value>,
    /// Whether the server's own annotations may lower its tools' risk.
    pub server_trusted: bool,
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
    sqlx::query!(
        "UPDATE approvals SET notify_state = 'skipped'
         WHERE notify_state = 'pending' AND (status <> 'pending' OR expires_at <= now())",
    )
    .execute(pool)
    .await?;
    let rows = sqlx::query_as!(
        Notification,
        r#"WITH due AS (
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
         SELECT a.id AS "approval_id!: ApprovalId", a.account_id AS "account_id!: AccountId",
                a.server_id AS "server_id!: ServerId", s.name AS server_name,
                a.grant_id AS "grant_id!: GrantId", a.tool AS "tool!",
                a.arguments AS "arguments!", a.created_at AS "created_at!",
                a.expires_at AS "expires_at!", a.notify_attempts AS "attempt!",
                acc.approval_webhook_url AS url, acc.webhook_secret_enc AS secret_enc,
                acc.approval_webhook_format AS "format: crate::accounts::WebhookFormat",
                ct.definition AS "definition?", s.trusted AS server_trusted
         FROM a JOIN servers s ON s.id = a.server_id JOIN accounts acc ON acc.id = a.account_id
         LEFT JOIN catalog_tools ct
             ON ct.server_id = a.server_id AND ct.name = a.tool AND a.kind = 'tool'
                AND ct.removed_at IS NULL"#,
        limit,
        lease.as_secs_f64(),
    )
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
    let state = match (delivered, retry_at) {
        (true, _) => NotifyState::Delivered,
        (false, Some(_)) => NotifyState::Pending,
        (false, None) => NotifyState::Failed,
    };
    sqlx::query!(
        "UPDATE approvals SET notify_state = $2, notify_next_at = $3 WHERE id = $1",
        id.0,
        state as _,
        retry_at,
    )
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored_enum::assert_stored_as;
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
    fn statuses_round_trip_and_are_stored_by_their_wire_names() {
        let all = [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Denied,
            ApprovalStatus::Expired,
            ApprovalStatus::Abandoned,
            ApprovalStatus::Used,
        ];
        let names = [
            "pending",
            "approved",
            "denied",
            "expired",
            "abandoned",
            "used",
        ];
        for status in all {
            assert_eq!(status.as_str().parse::<ApprovalStatus>(), Ok(status));
        }
        assert_stored_as(&all, &names);
        for (status, name) in all.iter().zip(names) {
            assert_eq!(serde_json::to_value(status).unwrap(), json!(name));
            assert_eq!(status.as_str(), name);
        }
    }

    #[test]
    fn notify_states_are_stored_by_the_names_the_outbox_queries_use() {
        assert_stored_as(
            &[
                NotifyState::None,
                NotifyState::Pending,
                NotifyState::Delivered,
                NotifyState::Failed,
                NotifyState::Skipped,
            ],
            &["none", "pending", "delivered", "failed", "skipped"],
        );
    }
}
