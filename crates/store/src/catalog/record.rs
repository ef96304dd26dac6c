//! Recording a discovery attempt: the tools as found and their history,
//! and what a changed pinned tool sets off (an audit event, a webhook event).

use chrono::Utc;
use serde_json::{json, Value};
use sqlx::{PgPool, Postgres, Transaction};
use toolgate_catalog::ToolDefinition;
use uuid::Uuid;

use super::{CatalogStatus, ChangeKind};
use crate::audit::{self, AuditDecision, AuditEvent, UpstreamOutcome};
use crate::error::StoreError;
use crate::ids::{AccountId, EventId, ServerId, ToolId};
use crate::servers::NewTools;
use crate::storable::storable_json;
use crate::target_kind::TargetKind;
use crate::webhook_events::{self, TOOL_AWAITING_REVIEW, TOOL_DEFINITION_CHANGED};

/// What a successful attempt found.
pub struct Found<'a> {
    pub tools: &'a [ToolDefinition],
    pub resources: &'a Value,
    pub prompts: &'a Value,
    pub era: &'a str,
    /// Notes on what was left out, if any.
    pub detail: Option<&'a str>,
}

/// Records a failed attempt: the status changes, the catalog does not.
pub async fn record_failure(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    status: CatalogStatus,
    detail: &str,
) -> Result<(), StoreError> {
    let detail = crate::storable::storable_str(detail);
    let written = sqlx::query!(
        "INSERT INTO server_catalogs (server_id, account_id, status, checked_at, detail)
         SELECT s.id, s.account_id, $3, now(), $4 FROM servers s
         WHERE s.id = $1 AND s.account_id = $2
         ON CONFLICT (server_id) DO UPDATE
         SET status = EXCLUDED.status, checked_at = EXCLUDED.checked_at, detail = EXCLUDED.detail",
        server_id.0,
        account_id.0,
        status as _,
        detail.as_ref(),
    )
    .execute(pool)
    .await?
    .rows_affected();
    if written == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Records a successful attempt: the tools as found (added, changed,
/// removed and restored ones noted in their history), resources and
/// prompts, and the `ok` status, in one transaction. Returns whether what
/// the gateway checks changed: the tools or their definitions, or the
/// catalog becoming known.
pub async fn record_success(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    found: Found<'_>,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    // Serialises attempts on one server, and checks the tenant.
    let locked = sqlx::query!(
        r#"SELECT name, new_tools AS "new_tools: NewTools" FROM servers
           WHERE id = $1 AND account_id = $2 FOR UPDATE"#,
        server_id.0,
        account_id.0,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    let server = ServerRef {
        account_id,
        server_id,
        name: &locked.name,
        new_tools: locked.new_tools,
    };
    let first = sqlx::query_scalar!(
        r#"SELECT NOT EXISTS (SELECT 1 FROM server_catalogs WHERE server_id = $1 AND era IS NOT NULL)
               AS "first!""#,
        server_id.0,
    )
    .fetch_one(&mut *tx)
    .await?;
    let changed = record_tools(&mut tx, &server, found.tools).await?;
    let detail = found.detail.map(crate::storable::storable_str);
    let resources = storable_json(found.resources);
    let prompts = storable_json(found.prompts);
    sqlx::query!(
        "INSERT INTO server_catalogs
             (server_id, account_id, status, checked_at, tool_count, detail, era, resources, prompts)
         VALUES ($1, $2, 'ok', now(), $3, $4, $5, $6, $7)
         ON CONFLICT (server_id) DO UPDATE
         SET status = 'ok', checked_at = now(), tool_count = EXCLUDED.tool_count,
             detail = EXCLUDED.detail, era = EXCLUDED.era,
             resources = EXCLUDED.resources, prompts = EXCLUDED.prompts",
        server_id.0,
        account_id.0,
        i32::try_from(found.tools.len()).unwrap_or(i32::MAX),
        detail.as_deref(),
        found.era,
        resources.as_ref(),
        prompts.as_ref(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(first || changed)
}

struct Known {
    id: ToolId,
    name: String,
    hash: String,
    definition: Value,
    removed: bool,
    pinned_hash: Option<String>,
}

/// The server a discovery attempt is recorded for.
struct ServerRef<'a> {
    account_id: AccountId,
    server_id: ServerId,
    name: &'a str,
    new_tools: NewTools,
}

async fn record_tools(
    tx: &mut Transaction<'_, Postgres>,
    server: &ServerRef<'_>,
    tools: &[ToolDefinition],
) -> Result<bool, StoreError> {
    let (account_id, server_id) = (server.account_id, server.server_id);
    let known = sqlx::query_as!(
        Known,
        r#"SELECT id AS "id: ToolId", name, hash, definition,
                  removed_at IS NOT NULL AS "removed!", pinned_hash
           FROM catalog_tools WHERE server_id = $1"#,
        server_id.0,
    )
    .fetch_all(&mut **tx)
    .await?;
    let by_name: std::collections::HashMap<&str, &Known> =
        known.iter().map(|k| (k.name.as_str(), k)).collect();
    let mut unchanged: Vec<ToolId> = Vec::new();
    // Whether any tool was added, changed, restored or removed.
    let mut changed = false;
    let mut listed = std::collections::HashSet::new();
    for tool in tools {
        let hash = tool.content_hash();
        // Names are stored as received; a NUL in one becomes U+FFFD.
        let name = crate::storable::storable_str(&tool.name).into_owned();
        let definition = serde_json::to_value(tool)
            .map_err(|e| StoreError::Corrupt(format!("tool definition: {e}")))?;
        let definition = storable_json(&definition).into_owned();
        match by_name.get(name.as_str()) {
            Some(old) if old.hash == hash.as_str() && !old.removed => {
                listed.insert(name);
                unchanged.push(old.id);
            }
            // A name listed twice: the first definition counts.
            _ if !listed.insert(name.clone()) => {}
            None => {
                changed = true;
                let id = ToolId::new();
                // Trust on first use, unless the server's new tools wait
                // for review.
                let trusted = server.new_tools == NewTools::Allow;
                sqlx::query!(
                    "INSERT INTO catalog_tools
                         (id, account_id, server_id, name, hash, definition, pinned_hash, pinned_at)
                     VALUES ($1, $2, $3, $4, $5, $6,
                             CASE WHEN $7 THEN $5 END, CASE WHEN $7 THEN now() END)",
                    id.0,
                    account_id.0,
                    server_id.0,
                    name,
                    hash.as_str(),
                    definition,
                    trusted,
                )
                .execute(&mut **tx)
                .await?;
                if !trusted {
                    let data = json!({
                        "server_id": server_id,
                        "server_name": server.name,
                        "tool": name,
                        "hash": hash.as_str(),
                        "seen_by": "discovery",
                    });
                    webhook_events::enqueue(tx, account_id, TOOL_AWAITING_REVIEW, &data).await?;
                }
                note(
                    tx,
                    account_id,
                    server_id,
                    id,
                    ChangeKind::Added,
                    None,
                    Some(hash.as_str()),
                    &[],
                )
                .await?;
            }
            Some(old) => {
                changed = true;
                let changes = match serde_json::from_value::<ToolDefinition>(old.definition.clone())
                {
                    Ok(older) if old.hash != hash.as_str() => tool.changes_from(&older),
                    _ => Vec::new(),
                };
                let changes: Vec<Value> = changes
                    .iter()
                    .filter_map(|c| serde_json::to_value(c).ok())
                    .collect();
                sqlx::query!(
                    "UPDATE catalog_tools SET hash = $2, definition = $3, last_seen_at = now(),
                         changed_at = CASE WHEN hash = $2 THEN changed_at ELSE now() END,
                         removed_at = NULL
                     WHERE id = $1",
                    old.id.0,
                    hash.as_str(),
                    definition,
                )
                .execute(&mut **tx)
                .await?;
                let kind = if old.removed {
                    ChangeKind::Restored
                } else {
                    ChangeKind::Changed
                };
                note(
                    tx,
                    account_id,
                    server_id,
                    old.id,
                    kind,
                    Some(&old.hash),
                    Some(hash.as_str()),
                    &changes,
                )
                .await?;
                // A pinned tool now defined otherwise: the rug pull. Told
                // once, when the definition first differs from the pin.
                let pinned = old.pinned_hash.as_deref();
                if pinned.is_some_and(|p| p != hash.as_str()) && old.hash != hash.as_str() {
                    let drift = Drift {
                        server_id,
                        server_name: server.name,
                        tool: &name,
                        pinned_hash: pinned.unwrap_or_default(),
                        observed_hash: hash.as_str(),
                        changes: &changes,
                    };
                    record_drift(tx, account_id, &drift).await?;
                }
            }
        }
    }
    let unchanged: Vec<Uuid> = unchanged.iter().map(|id| id.0).collect();
    sqlx::query!(
        "UPDATE catalog_tools SET last_seen_at = now() WHERE id = ANY($1)",
        &unchanged,
    )
    .execute(&mut **tx)
    .await?;
    for gone in known
        .iter()
        .filter(|k| !k.removed && !listed.contains(&k.name))
    {
        changed = true;
        sqlx::query!(
            "UPDATE catalog_tools SET removed_at = now() WHERE id = $1",
            gone.id.0,
        )
        .execute(&mut **tx)
        .await?;
        note(
            tx,
            account_id,
            server_id,
            gone.id,
            ChangeKind::Removed,
            Some(&gone.hash),
            None,
            &[],
        )
        .await?;
    }
    Ok(changed)
}

#[allow(clippy::too_many_arguments)]
async fn note(
    tx: &mut Transaction<'_, Postgres>,
    account_id: AccountId,
    server_id: ServerId,
    tool_id: ToolId,
    kind: ChangeKind,
    old_hash: Option<&str>,
    new_hash: Option<&str>,
    changes: &[Value],
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO catalog_tool_changes
             (account_id, server_id, tool_id, kind, old_hash, new_hash, changes)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        account_id.0,
        server_id.0,
        tool_id.0,
        kind as _,
        old_hash,
        new_hash,
        Value::Array(changes.to_vec()),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A tool seen defined otherwise than pinned.
struct Drift<'a> {
    server_id: ServerId,
    server_name: &'a str,
    tool: &'a str,
    pinned_hash: &'a str,
    observed_hash: &'a str,
    /// Which parts changed (`description`, `input_schema`, …).
    changes: &'a [Value],
}

/// The audit event and the webhook event of a drift seen by discovery.
async fn record_drift(
    tx: &mut Transaction<'_, Postgres>,
    account_id: AccountId,
    drift: &Drift<'_>,
) -> Result<(), StoreError> {
    let parts: Vec<&str> = drift.changes.iter().filter_map(Value::as_str).collect();
    let event = AuditEvent {
        id: EventId::new(),
        at: Utc::now(),
        account: account_id,
        server: drift.server_id,
        grant: None,
        session: None,
        kind: TargetKind::Tool,
        tool: drift.tool.to_owned(),
        decision: AuditDecision::Unreviewed,
        rule: None,
        policy_version: None,
        reason: Some(format!(
            "discovery found the tool defined otherwise than pinned ({}): {} is withheld from agents until its new definition {} is pinned",
            if parts.is_empty() { "definition".to_owned() } else { parts.join(", ") },
            drift.pinned_hash,
            drift.observed_hash,
        )),
        upstream: UpstreamOutcome::NotCalled,
        latency_ms: 0,
        argument_keys: Vec::new(),
        arguments: None,
        shadow: None,
    };
    audit::insert_batch(tx, std::slice::from_ref(&event)).await?;
    let data = json!({
        "server_id": drift.server_id,
        "server_name": drift.server_name,
        "tool": drift.tool,
        "pinned_hash": drift.pinned_hash,
        "observed_hash": drift.observed_hash,
        "changes": drift.changes,
        "seen_by": "discovery",
        "audit_event_id": event.id,
    });
    webhook_events::enqueue(tx, account_id, TOOL_DEFINITION_CHANGED, &data).await?;
    Ok(())
}
