//! The audit trail: one row per `tools/call`, `resources/read` or
//! `prompts/get` decision of the gateway.
//!
//! Events are written in batches by the control plane's audit consumer and
//! inserted idempotently by event id, so a batch delivered twice adds nothing.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::StoreError;
use crate::ids::{AccountId, EventId, GrantId, ServerId};
use crate::page::Page;
use crate::storable::{storable_json, storable_str};
use crate::target_kind::TargetKind;

/// What the gateway decided about one call.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum AuditDecision {
    /// Forwarded to the upstream (its limits, if any, acquired).
    Allowed,
    /// Visible tool, refused: arguments failed the rule's schema, or were not JSON.
    Refused,
    /// Hidden, denied outright, or matched by nothing under `"default": "deny"`;
    /// the agent was told the tool is unknown.
    UnknownTool,
    /// A limit was reached.
    Limited,
    /// The counter store could not answer and a limit fails closed.
    LimitUnavailable,
    /// The rule requires a person's approval and none was given.
    ApprovalRequired,
    /// A person approved the held call; it was forwarded.
    ApprovalApproved,
    /// A person denied the held call.
    ApprovalDenied,
    /// Nobody decided before the rule's `approval_timeout`.
    ApprovalTimedOut,
    /// The agent went away while the call was held.
    ApprovalAbandoned,
    /// The tool's definition is not the one pinned (it changed since it was
    /// reviewed, or was never reviewed): the call was refused, or the tool
    /// withheld from a listing, or discovery saw the change.
    Unreviewed,
}

impl AuditDecision {
    pub const ALL: [AuditDecision; 11] = [
        Self::Allowed,
        Self::Refused,
        Self::UnknownTool,
        Self::Limited,
        Self::LimitUnavailable,
        Self::ApprovalRequired,
        Self::ApprovalApproved,
        Self::ApprovalDenied,
        Self::ApprovalTimedOut,
        Self::ApprovalAbandoned,
        Self::Unreviewed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Refused => "refused",
            Self::UnknownTool => "unknown_tool",
            Self::Limited => "limited",
            Self::LimitUnavailable => "limit_unavailable",
            Self::ApprovalRequired => "approval_required",
            Self::ApprovalApproved => "approval_approved",
            Self::ApprovalDenied => "approval_denied",
            Self::ApprovalTimedOut => "approval_timed_out",
            Self::ApprovalAbandoned => "approval_abandoned",
            Self::Unreviewed => "unreviewed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

/// How the upstream answered an allowed call.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum UpstreamOutcome {
    /// A JSON-RPC result.
    Ok,
    /// A JSON-RPC error.
    JsonrpcError,
    /// No answer: unreachable, timed out, broke off, or answered with
    /// something that is not MCP.
    TransportError,
    /// The agent disconnected before the answer arrived.
    Abandoned,
    /// The gateway answered itself; the upstream never saw the call.
    NotCalled,
}

/// One audited decision. The same shape travels through the audit queue,
/// lands in `audit_events` and is served by `GET /v1/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: EventId,
    /// When the gateway received the call.
    #[serde(serialize_with = "rfc3339_micros")]
    pub at: DateTime<Utc>,
    pub account: AccountId,
    pub server: ServerId,
    /// The agent's grant; absent for what the control plane saw itself (a
    /// tool's definition changing under discovery).
    pub grant: Option<GrantId>,
    /// A digest of the legacy session id (never the id itself); absent for
    /// calls outside a session.
    pub session: Option<String>,
    /// What `tool` names: a tool (the default, for events written before
    /// resources and prompts were judged), a resource URI or a prompt.
    #[serde(default)]
    pub kind: TargetKind,
    /// The tool's name, the resource's URI or the prompt's name.
    pub tool: String,
    pub decision: AuditDecision,
    /// JSON pointer of the policy part that decided (the rule, `hide`
    /// entry, limit or `default`).
    pub rule: Option<String>,
    /// The stored policy version in force; absent when the server had none.
    pub policy_version: Option<i32>,
    /// Why the call was refused.
    pub reason: Option<String>,
    pub upstream: UpstreamOutcome,
    /// From the gateway receiving the call to its answer (the upstream's, or
    /// the gateway's own).
    pub latency_ms: u32,
    /// Names of the call's arguments.
    pub argument_keys: Vec<String>,
    /// The argument values, only when the rule says `"audit_arguments": true`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub arguments: Option<serde_json::Value>,
    /// What the server's shadow policy decided, when it had one and the
    /// policy judged the call.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shadow: Option<ShadowVerdict>,
}

/// What a server's shadow policy decided about one call. The gateway acts
/// on the live decision only; the shadow's limits are never checked against
/// the counter store (no extra round trip), so its decision is `allowed`,
/// `refused`, `unknown_tool` or `approval_required`, never `limited`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShadowVerdict {
    pub decision: AuditDecision,
    /// JSON pointer of the shadow policy's part that decided.
    pub rule: Option<String>,
    /// The counters the shadow would have counted the call against: "would
    /// have been counted", not counted.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub counters: Vec<String>,
}

/// RFC 3339 in UTC to the microsecond (what Postgres keeps), e.g.
/// `2026-11-25T06:44:07.123456Z`. Every audited call writes one on its way
/// to the queue: digits into a buffer, not a trip through `Display`.
fn rfc3339_micros<S: serde::Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    let year = at.year();
    if !(0..=9999).contains(&year) {
        return serializer.collect_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    }
    let mut buf = *b"0000-00-00T00:00:00.000000Z";
    let fields = [
        (0, 4, year as u32),
        (5, 2, at.month()),
        (8, 2, at.day()),
        (11, 2, at.hour()),
        (14, 2, at.minute()),
        (17, 2, at.second()),
        // A leap second's nanoseconds run past 10^9; keep the fraction.
        (20, 6, (at.nanosecond() % 1_000_000_000) / 1_000),
    ];
    for (start, width, mut value) in fields {
        for digit in buf[start..start + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    serializer.serialize_str(std::str::from_utf8(&buf).unwrap_or_default())
}

/// Inserts a batch; events already stored (by id) are skipped. Returns the
/// number of new rows.
pub async fn insert_batch(
    tx: &mut Transaction<'_, Postgres>,
    events: &[AuditEvent],
) -> Result<u64, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(events.len());
    let mut accounts = Vec::with_capacity(events.len());
    let mut times = Vec::with_capacity(events.len());
    let mut servers = Vec::with_capacity(events.len());
    let mut grants = Vec::with_capacity(events.len());
    let mut sessions = Vec::with_capacity(events.len());
    let mut tools = Vec::with_capacity(events.len());
    let mut decisions = Vec::with_capacity(events.len());
    let mut kinds = Vec::with_capacity(events.len());
    let mut rules = Vec::with_capacity(events.len());
    let mut versions = Vec::with_capacity(events.len());
    let mut reasons = Vec::with_capacity(events.len());
    let mut upstreams = Vec::with_capacity(events.len());
    let mut latencies = Vec::with_capacity(events.len());
    let mut keys = Vec::with_capacity(events.len());
    let mut arguments = Vec::with_capacity(events.len());
    let mut shadow_decisions = Vec::with_capacity(events.len());
    let mut shadow_rules = Vec::with_capacity(events.len());
    let mut shadow_counters = Vec::with_capacity(events.len());
    for e in events {
        ids.push(e.id.0);
        accounts.push(e.account.0);
        times.push(e.at);
        servers.push(e.server.0);
        grants.push(e.grant.map(|g| g.0));
        // Recorded text is made storable here, where both queue paths
        // write: a NUL from an agent must not make Postgres refuse the batch.
        // Each copy is one the rows needed anyway; the scan allocates nothing.
        sessions.push(e.session.as_deref().map(storable_owned));
        tools.push(storable_owned(&e.tool));
        decisions.push(e.decision);
        kinds.push(e.kind);
        rules.push(e.rule.as_deref().map(storable_owned));
        versions.push(e.policy_version);
        reasons.push(e.reason.as_deref().map(storable_owned));
        upstreams.push(e.upstream);
        latencies.push(i32::try_from(e.latency_ms).unwrap_or(i32::MAX));
        // Argument keys travel as one JSON array per row: Postgres arrays
        // cannot be ragged.
        keys.push(serde_json::Value::Array(
            e.argument_keys
                .iter()
                .map(|key| serde_json::Value::String(storable_owned(key)))
                .collect(),
        ));
        arguments.push(e.arguments.as_ref().map(|a| storable_json(a).into_owned()));
        shadow_decisions.push(e.shadow.as_ref().map(|v| v.decision));
        shadow_rules.push(
            e.shadow
                .as_ref()
                .and_then(|v| v.rule.as_deref())
                .map(storable_owned),
        );
        shadow_counters.push(e.shadow.as_ref().map(|v| {
            serde_json::Value::Array(
                v.counters
                    .iter()
                    .map(|c| serde_json::Value::String(storable_owned(c)))
                    .collect(),
            )
        }));
    }
    // Arrays of enums or of nullable elements have no Rust type the macro
    // checks against `text[]` and the like (`as _`); the enums are stored
    // by their snake_case names.
    let inserted = sqlx::query_scalar!(
        "INSERT INTO audit_events (id, account_id, occurred_at, server_id, grant_id, session_hash,
             tool, decision, rule, policy_version, reason, upstream, latency_ms, argument_keys, arguments,
             kind, shadow_decision, shadow_rule, shadow_counters)
         SELECT id, account_id, occurred_at, server_id, grant_id, session_hash, tool, decision,
             rule, policy_version, reason, upstream, latency_ms,
             ARRAY(SELECT jsonb_array_elements_text(keys)), arguments, kind,
             shadow_decision, shadow_rule,
             CASE WHEN shadow_counters IS NULL THEN NULL
                  ELSE ARRAY(SELECT jsonb_array_elements_text(shadow_counters)) END
         FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[], $4::uuid[], $5::uuid[], $6::text[],
             $7::text[], $8::text[], $9::text[], $10::int[], $11::text[], $12::text[], $13::int[],
             $14::jsonb[], $15::jsonb[], $16::text[], $17::text[], $18::text[], $19::jsonb[])
           AS t(id, account_id, occurred_at, server_id, grant_id, session_hash, tool, decision,
             rule, policy_version, reason, upstream, latency_ms, keys, arguments, kind,
             shadow_decision, shadow_rule, shadow_counters)
         ON CONFLICT (id) DO NOTHING RETURNING id",
        &ids,
        &accounts,
        &times,
        &servers,
        &grants as _,
        &sessions as _,
        &tools,
        &decisions as _,
        &rules as _,
        &versions as _,
        &reasons as _,
        &upstreams as _,
        &latencies,
        &keys,
        &arguments as _,
        &kinds as _,
        &shadow_decisions as _,
        &shadow_rules as _,
        &shadow_counters as _,
    )
    .fetch_all(&mut **tx)
    .await?;
    notify_withheld(tx, events, &inserted).await?;
    Ok(inserted.len() as u64)
}

/// Queues the webhook event of each newly stored gateway event that
/// withheld a tool served otherwise than pinned (discovery queues its own).
async fn notify_withheld(
    tx: &mut Transaction<'_, Postgres>,
    events: &[AuditEvent],
    inserted: &[Uuid],
) -> Result<(), StoreError> {
    for event in events {
        let Some(grant) = event.grant else { continue };
        if event.decision != AuditDecision::Unreviewed
            || event.upstream == UpstreamOutcome::NotCalled
            || !inserted.contains(&event.id.0)
        {
            continue;
        }
        let data = serde_json::json!({
            "server_id": event.server,
            "tool": event.tool,
            "reason": event.reason,
            "seen_by": "gateway",
            "grant_id": grant,
            "audit_event_id": event.id,
        });
        crate::webhook_events::enqueue(
            tx,
            event.account,
            crate::webhook_events::TOOL_DEFINITION_CHANGED,
            &data,
        )
        .await?;
    }
    Ok(())
}

fn storable_owned(text: &str) -> String {
    storable_str(text).into_owned()
}

/// Which events to list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub server: Option<ServerId>,
    pub grant: Option<GrantId>,
    pub tool: Option<String>,
    pub decision: Option<AuditDecision>,
    /// Inclusive.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive.
    pub until: Option<DateTime<Utc>>,
}

/// Where a page starts: just after (older than) this event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: DateTime<Utc>,
    pub id: EventId,
}

impl AuditCursor {
    /// Opaque on the wire: microseconds since the epoch and the event id.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.timestamp_micros(), self.id)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('.')?;
        let at = Utc.timestamp_micros(micros.parse().ok()?).single()?;
        Some(Self {
            at,
            id: id.parse().ok()?,
        })
    }
}

/// One page of the account's events, newest first.
pub async fn list(
    pool: &PgPool,
    account_id: AccountId,
    filter: &AuditFilter,
    after: Option<AuditCursor>,
    limit: i64,
) -> Result<Page<AuditEvent>, StoreError> {
    // Stored names had each NUL replaced; a name asked for matches the same way.
    let tool = filter.tool.as_deref().map(storable_str);
    let events = sqlx::query!(
        r#"SELECT id, account_id, occurred_at, server_id, grant_id, session_hash,
                  kind AS "kind: TargetKind", tool, decision AS "decision: AuditDecision", rule,
                  policy_version, reason, upstream AS "upstream: UpstreamOutcome", latency_ms,
                  argument_keys, arguments,
                  shadow_decision AS "shadow_decision: AuditDecision", shadow_rule, shadow_counters
           FROM audit_events
           WHERE account_id = $1
             AND ($2::uuid IS NULL OR server_id = $2)
             AND ($3::uuid IS NULL OR grant_id = $3)
             AND ($4::text IS NULL OR tool = $4)
             AND ($5::text IS NULL OR decision = $5)
             AND ($6::timestamptz IS NULL OR occurred_at >= $6)
             AND ($7::timestamptz IS NULL OR occurred_at < $7)
             AND ($8::timestamptz IS NULL OR (occurred_at, id) < ($8, $9::uuid))
           ORDER BY occurred_at DESC, id DESC
           LIMIT $10"#,
        account_id.0,
        filter.server.map(|s| s.0),
        filter.grant.map(|g| g.0),
        tool.as_deref(),
        filter.decision as _,
        filter.since,
        filter.until,
        after.map(|c| c.at),
        after.map(|c| c.id.0),
        limit + 1,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| AuditEvent {
        id: EventId(row.id),
        at: row.occurred_at,
        account: AccountId(row.account_id),
        server: ServerId(row.server_id),
        grant: row.grant_id.map(GrantId),
        session: row.session_hash,
        kind: row.kind,
        tool: row.tool,
        decision: row.decision,
        rule: row.rule,
        policy_version: row.policy_version,
        reason: row.reason,
        upstream: row.upstream,
        latency_ms: u32::try_from(row.latency_ms).unwrap_or(0),
        argument_keys: row.argument_keys,
        arguments: row.arguments,
        shadow: row.shadow_decision.map(|decision| ShadowVerdict {
            decision,
            rule: row.shadow_rule,
            counters: row.shadow_counters.unwrap_or_default(),
        }),
    })
    .collect();
    Ok(Page::from_rows(events, limit, |e| {
        AuditCursor { at: e.at, id: e.id }.encode()
    }))
}

/// Deletes every event older than `before`, in bounded chunks so a large
/// backlog never holds one long transaction. Returns the number deleted.
pub async fn delete_older_than(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, StoreError> {
    const CHUNK: i64 = 10_000;
    let mut total = 0;
    loop {
        let deleted = sqlx::query!(
            "DELETE FROM audit_events WHERE id IN (
                 SELECT id FROM audit_events WHERE occurred_at < $1 LIMIT $2)",
            before,
            CHUNK,
        )
        .execute(pool)
        .await?
        .rows_affected();
        total += deleted;
        if deleted < CHUNK as u64 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = AuditCursor {
            at: Utc.timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: EventId::new(),
        };
        assert_eq!(AuditCursor::parse(&cursor.encode()), Some(cursor));
        for bad in ["", "1", "x.evt_0", "1.srv_0123456789abcdef0123456789abcdef"] {
            assert_eq!(AuditCursor::parse(bad), None, "{bad}");
        }
    }

    #[derive(Serialize)]
    struct At(#[serde(serialize_with = "rfc3339_micros")] DateTime<Utc>);

    proptest::proptest! {
        /// Matches chrono's own RFC 3339 at microseconds, and reads back as
        /// the same instant to the microsecond, across and beyond 0..=9999.
        #[test]
        fn times_serialise_as_rfc3339_micros(micros in -70_000_000_000_000_000i64..260_000_000_000_000_000i64) {
            let at = Utc.timestamp_micros(micros).unwrap();
            let json = serde_json::to_string(&At(at)).unwrap();
            let expected = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            proptest::prop_assert_eq!(&json, &format!("\"{expected}\""));
            let back: DateTime<Utc> = serde_json::from_str(&json).unwrap();
            proptest::prop_assert_eq!(back, at);
        }
    }

    #[test]
    fn decisions_have_stable_names() {
        let names: Vec<&str> = AuditDecision::ALL.iter().map(|d| d.as_str()).collect();
        crate::stored_enum::assert_stored_as(&AuditDecision::ALL, &names);
        for d in AuditDecision::ALL {
            assert_eq!(AuditDecision::parse(d.as_str()), Some(d));
            assert_eq!(serde_json::json!(d), serde_json::json!(d.as_str()));
        }
        assert_eq!(AuditDecision::parse("nope"), None);
    }

    #[test]
    fn upstream_outcomes_are_stored_and_serialised_by_one_name() {
        let all = [
            UpstreamOutcome::Ok,
            UpstreamOutcome::JsonrpcError,
            UpstreamOutcome::TransportError,
            UpstreamOutcome::Abandoned,
            UpstreamOutcome::NotCalled,
        ];
        let names = [
            "ok",
            "jsonrpc_error",
            "transport_error",
            "abandoned",
            "not_called",
        ];
        crate::stored_enum::assert_stored_as(&all, &names);
        for (outcome, name) in all.iter().zip(names) {
            assert_eq!(serde_json::json!(outcome), serde_json::json!(name));
        }
    }
}
