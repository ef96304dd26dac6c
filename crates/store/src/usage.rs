//! Aggregates of the audit trail for the dashboard's charts: calls over time
//! by decision, the busiest tools, refusals by reason, latency percentiles,
//! and when each grant last made a call. Computed in Postgres, so a chart
//! never downloads raw events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::audit::{AuditDecision, AuditFilter};
use crate::error::StoreError;
use crate::ids::{AccountId, GrantId};
use crate::storable::storable_str;

/// Decisions that refused the call (the agent got no upstream answer).
pub const REFUSALS: [AuditDecision; 7] = [
    AuditDecision::Refused,
    AuditDecision::UnknownTool,
    AuditDecision::Limited,
    AuditDecision::LimitUnavailable,
    AuditDecision::ApprovalDenied,
    AuditDecision::ApprovalTimedOut,
    AuditDecision::Unreviewed,
];

/// Rows kept for the top-N lists.
pub const TOP: i64 = 10;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    #[schema(value_type = String, example = "allowed")]
    pub decision: AuditDecision,
    pub calls: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ToolCount {
    pub tool: String,
    pub calls: i64,
    /// Of which refused (see `refusals`).
    pub refused: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefusalCount {
    #[schema(value_type = String, example = "limited")]
    pub decision: AuditDecision,
    /// The refusal's reason as recorded (absent when none was).
    pub reason: Option<String>,
    pub calls: i64,
}

/// Milliseconds from the gateway receiving a call to its answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Latency {
    pub calls: i64,
    pub p50_ms: Option<i32>,
    pub p90_ms: Option<i32>,
    pub p99_ms: Option<i32>,
    pub max_ms: Option<i32>,
}

/// Calls per bucket and decision, oldest first. `filter.since` and
/// `filter.until` must be set; buckets start at `since`.
pub async fn over_time(
    pool: &PgPool,
    account_id: AccountId,
    filter: &AuditFilter,
    bucket_secs: i64,
) -> Result<Vec<Bucket>, StoreError> {
    let tool = filter.tool.as_deref().map(storable_str);
    let rows = sqlx::query!(
        r#"SELECT date_bin(make_interval(secs => $8::double precision), occurred_at, $6::timestamptz) AS "at!",
                  decision AS "decision: AuditDecision", count(*) AS "calls!"
           FROM audit_events
           WHERE account_id = $1
             AND ($2::uuid IS NULL OR server_id = $2)
             AND ($3::uuid IS NULL OR grant_id = $3)
             AND ($4::text IS NULL OR tool = $4)
             AND ($5::text IS NULL OR decision = $5)
             AND occurred_at >= $6 AND occurred_at < $7
           GROUP BY 1, 2
           ORDER BY 1, 2"#,
        account_id.0,
        filter.server.map(|s| s.0),
        filter.grant.map(|g| g.0),
        tool.as_deref(),
        filter.decision as _,
        filter.since,
        filter.until,
        bucket_secs as f64,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Bucket {
            at: r.at,
            decision: r.decision,
            calls: r.calls,
        })
        .collect())
}

/// The `TOP` tools by calls, with how many of each were refused.
pub async fn top_tools(
    pool: &PgPool,
    account_id: AccountId,
    filter: &AuditFilter,
) -> Result<Vec<ToolCount>, StoreError> {
    let tool = filter.tool.as_deref().map(storable_str);
    let refusals: Vec<&str> = REFUSALS.iter().map(|d| d.as_str()).collect();
    let rows = sqlx::query!(
        r#"SELECT tool, count(*) AS "calls!",
                  count(*) FILTER (WHERE decision = ANY($8::text[])) AS "refused!"
           FROM audit_events
           WHERE account_id = $1
             AND ($2::uuid IS NULL OR server_id = $2)
             AND ($3::uuid IS NULL OR grant_id = $3)
             AND ($4::text IS NULL OR tool = $4)
             AND ($5::text IS NULL OR decision = $5)
             AND occurred_at >= $6 AND occurred_at < $7
           GROUP BY tool
           ORDER BY 2 DESC, tool
           LIMIT $9"#,
        account_id.0,
        filter.server.map(|s| s.0),
        filter.grant.map(|g| g.0),
        tool.as_deref(),
        filter.decision as _,
        filter.since,
        filter.until,
        &refusals as &[&str],
        TOP,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ToolCount {
            tool: r.tool,
            calls: r.calls,
            refused: r.refused,
        })
        .collect())
}

/// The `TOP` refusals by decision and reason.
pub async fn refusals(
    pool: &PgPool,
    account_id: AccountId,
    filter: &AuditFilter,
) -> Result<Vec<RefusalCount>, StoreError> {
    let tool = filter.tool.as_deref().map(storable_str);
    let refusals: Vec<&str> = REFUSALS.iter().map(|d| d.as_str()).collect();
    let rows = sqlx::query!(
        r#"SELECT decision AS "decision: AuditDecision", reason, count(*) AS "calls!"
           FROM audit_events
           WHERE account_id = $1
             AND ($2::uuid IS NULL OR server_id = $2)
             AND ($3::uuid IS NULL OR grant_id = $3)
             AND ($4::text IS NULL OR tool = $4)
             AND ($5::text IS NULL OR decision = $5)
             AND occurred_at >= $6 AND occurred_at < $7
             AND decision = ANY($8::text[])
           GROUP BY 1, 2
           ORDER BY 3 DESC, 1, 2
           LIMIT $9"#,
        account_id.0,
        filter.server.map(|s| s.0),
        filter.grant.map(|g| g.0),
        tool.as_deref(),
        filter.decision as _,
        filter.since,
        filter.until,
        &refusals as &[&str],
        TOP,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| RefusalCount {
            decision: r.decision,
            reason: r.reason,
            calls: r.calls,
        })
        .collect())
}

/// Latency percentiles of the matching calls.
pub async fn latency(
    pool: &PgPool,
    account_id: AccountId,
    filter: &AuditFilter,
) -> Result<Latency, StoreError> {
    let tool = filter.tool.as_deref().map(storable_str);
    let row = sqlx::query!(
        r#"SELECT count(*) AS "calls!",
                  percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
                  percentile_disc(0.9) WITHIN GROUP (ORDER BY latency_ms) AS p90,
                  percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99,
                  max(latency_ms) AS max
           FROM audit_events
           WHERE account_id = $1
             AND ($2::uuid IS NULL OR server_id = $2)
             AND ($3::uuid IS NULL OR grant_id = $3)
             AND ($4::text IS NULL OR tool = $4)
             AND ($5::text IS NULL OR decision = $5)
             AND occurred_at >= $6 AND occurred_at < $7"#,
        account_id.0,
        filter.server.map(|s| s.0),
        filter.grant.map(|g| g.0),
        tool.as_deref(),
        filter.decision as _,
        filter.since,
        filter.until,
    )
    .fetch_one(pool)
    .await?;
    Ok(Latency {
        calls: row.calls,
        p50_ms: row.p50,
        p90_ms: row.p90,
        p99_ms: row.p99,
        max_ms: row.max,
    })
}

/// When each of the account's grants last made a call (grants that never
/// did are left out). One index probe per grant.
pub async fn grants_last_used(
    pool: &PgPool,
    account_id: AccountId,
) -> Result<Vec<(GrantId, DateTime<Utc>)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT g.id, last.at AS "at!"
           FROM grants g
           CROSS JOIN LATERAL (
               SELECT occurred_at AS at FROM audit_events a
               WHERE a.account_id = g.account_id AND a.grant_id = g.id
               ORDER BY occurred_at DESC LIMIT 1
           ) last
           WHERE g.account_id = $1
           ORDER BY g.id"#,
        account_id.0,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (GrantId(r.id), r.at)).collect())
}
