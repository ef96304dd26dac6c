//! A server's recorded calls in the order they happened, for replaying them
//! through other policies (simulation, the shadow report). Read in keyset
//! pages, each streamed row by row, so a long history never sits in memory
//! and no transaction stays open between pages.

use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
use sqlx::PgPool;

use crate::audit::{AuditDecision, ShadowVerdict, UpstreamOutcome};
use crate::error::StoreError;
use crate::ids::{AccountId, EventId, GrantId, ServerId};
use crate::target_kind::TargetKind;

/// What the audit trail kept of one call: enough to judge it again.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    pub id: EventId,
    pub at: DateTime<Utc>,
    pub grant: Option<GrantId>,
    /// The digest of the legacy session id, if any.
    pub session: Option<String>,
    pub kind: TargetKind,
    pub tool: String,
    pub decision: AuditDecision,
    pub rule: Option<String>,
    /// Why the call was refused.
    pub reason: Option<String>,
    pub upstream: UpstreamOutcome,
    pub argument_keys: Vec<String>,
    /// The argument values, only when the rule in force kept them.
    pub arguments: Option<serde_json::Value>,
    pub shadow: Option<ShadowVerdict>,
}

/// Where the next page starts: just after (later than) this event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayCursor {
    pub at: DateTime<Utc>,
    pub id: EventId,
}

impl RecordedCall {
    pub fn cursor(&self) -> ReplayCursor {
        ReplayCursor {
            at: self.at,
            id: self.id,
        }
    }
}

/// Which events of a server to replay.
#[derive(Debug, Clone, Copy)]
pub struct ReplayRange {
    /// Inclusive.
    pub since: DateTime<Utc>,
    /// Exclusive.
    pub until: DateTime<Utc>,
    /// Only events that carry a shadow decision.
    pub shadowed_only: bool,
}

/// One page of the server's events in the range, oldest first, starting
/// after `after`, at most `limit` rows.
pub fn page(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    range: ReplayRange,
    after: Option<ReplayCursor>,
    limit: i64,
) -> BoxStream<'_, Result<RecordedCall, StoreError>> {
    sqlx::query!(
        r#"SELECT id, occurred_at, grant_id, session_hash, kind AS "kind: TargetKind", tool,
                  decision AS "decision: AuditDecision", rule, reason,
                  upstream AS "upstream: UpstreamOutcome", argument_keys, arguments,
                  shadow_decision AS "shadow_decision: AuditDecision", shadow_rule, shadow_counters
           FROM audit_events
           WHERE account_id = $1 AND server_id = $2
             AND occurred_at >= $3 AND occurred_at < $4
             AND ($5::timestamptz IS NULL OR (occurred_at, id) > ($5, $6::uuid))
             AND (NOT $8 OR shadow_decision IS NOT NULL)
           ORDER BY occurred_at, id
           LIMIT $7"#,
        account_id.0,
        server_id.0,
        range.since,
        range.until,
        after.map(|c| c.at),
        after.map(|c| c.id.0),
        limit,
        range.shadowed_only,
    )
    .fetch(pool)
    .map(|row| {
        let row = row?;
        Ok(RecordedCall {
            id: EventId(row.id),
            at: row.occurred_at,
            grant: row.grant_id.map(GrantId),
            session: row.session_hash,
            kind: row.kind,
            tool: row.tool,
            decision: row.decision,
            rule: row.rule,
            reason: row.reason,
            upstream: row.upstream,
            argument_keys: row.argument_keys,
            arguments: row.arguments,
            shadow: row.shadow_decision.map(|decision| ShadowVerdict {
                decision,
                rule: row.shadow_rule,
                counters: row.shadow_counters.unwrap_or_default(),
            }),
        })
    })
    .boxed()
}
