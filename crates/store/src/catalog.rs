//! The tool catalog: each server's tools as discovery last found them, the
//! history of their definitions, its resources and prompts, and the state
//! of its last discovery attempt.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use toolgate_catalog::ToolDefinition;

use serde_json::json;

use crate::audit::{self, AuditEvent, Decision, UpstreamOutcome};
use crate::error::StoreError;
use crate::ids::{AccountId, EventId, ServerId, ToolId};
use crate::page::PageRequest;
use crate::servers::NewTools;
use crate::storable::storable_json;
use crate::target_kind::TargetKind;
use crate::webhook_events::{self, TOOL_AWAITING_REVIEW, TOOL_DEFINITION_CHANGED};

/// Changes kept per tool in a listing of a server's tools.
pub const HISTORY_PER_TOOL: i64 = 20;

/// The last discovery attempt of a server.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CatalogState {
    /// `pending`, `ok`, `unreachable`, … (see `server_catalogs.status`).
    pub status: String,
    pub checked_at: Option<DateTime<Utc>>,
    pub tool_count: Option<i32>,
    pub detail: Option<String>,
    pub era: Option<String>,
    pub resources: Value,
    pub prompts: Value,
}

/// A tool of a server's catalog.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CatalogTool {
    pub id: ToolId,
    pub server_id: ServerId,
    pub server_name: String,
    pub server_trusted: bool,
    pub name: String,
    pub hash: String,
    pub definition: Value,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
    /// The reviewed definition; the tool is callable only while `hash` is it.
    pub pinned_hash: Option<String>,
    pub pinned_at: Option<DateTime<Utc>>,
}

impl CatalogTool {
    /// Whether agents may see and call the tool as it is now defined.
    pub fn is_pinned(&self) -> bool {
        self.pinned_hash.as_deref() == Some(self.hash.as_str())
    }
}

/// One change of a tool.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ToolChange {
    pub tool_id: ToolId,
    /// `added`, `changed`, `removed` or `restored`.
    pub kind: String,
    pub old_hash: Option<String>,
    pub new_hash: Option<String>,
    pub changes: Value,
    pub seen_at: DateTime<Utc>,
}

/// What a successful attempt found.
pub struct Found<'a> {
    pub tools: &'a [ToolDefinition],
    pub resources: &'a Value,
    pub prompts: &'a Value,
    pub era: &'a str,
    /// Notes on what was left out, if any.
    pub detail: Option<&'a str>,
}

/// The state of the server's last attempt (`pending` before the first).
pub async fn state(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
) -> Result<CatalogState, StoreError> {
    sqlx::query_as::<_, CatalogState>(
        "SELECT COALESCE(c.status, 'pending') AS status, c.checked_at, c.tool_count, c.detail,
                c.era, COALESCE(c.resources, '[]') AS resources,
                COALESCE(c.prompts, '[]') AS prompts
         FROM servers s LEFT JOIN server_catalogs c ON c.server_id = s.id
         WHERE s.id = $1 AND s.account_id = $2",
    )
    .bind(server_id)
    .bind(account_id)
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Records a failed attempt: the status changes, the catalog does not.
pub async fn record_failure(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    status: &str,
    detail: &str,
) -> Result<(), StoreError> {
    let written = sqlx::query(
        "INSERT INTO server_catalogs (server_id, account_id, status, checked_at, detail)
         SELECT s.id, s.account_id, $3, now(), $4 FROM servers s
         WHERE s.id = $1 AND s.account_id = $2
         ON CONFLICT (server_id) DO UPDATE
         SET status = EXCLUDED.status, checked_at = EXCLUDED.checked_at, detail = EXCLUDED.detail",
    )
    .bind(server_id)
    .bind(account_id)
    .bind(status)
    .bind(crate::storable::storable_str(detail).as_ref())
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
    let locked: Option<(String, NewTools)> = sqlx::query_as(
        "SELECT name, new_tools FROM servers WHERE id = $1 AND account_id = $2 FOR UPDATE",
    )
    .bind(server_id)
    .bind(account_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (server_name, new_tools) = locked.ok_or(StoreError::NotFound)?;
    let server = ServerRef {
        account_id,
        server_id,
        name: &server_name,
        new_tools,
    };
    let first: bool = sqlx::query_scalar(
        "SELECT NOT EXISTS (SELECT 1 FROM server_catalogs WHERE server_id = $1 AND era IS NOT NULL)",
    )
    .bind(server_id)
    .fetch_one(&mut *tx)
    .await?;
    let changed = record_tools(&mut tx, &server, found.tools).await?;
    sqlx::query(
        "INSERT INTO server_catalogs
             (server_id, account_id, status, checked_at, tool_count, detail, era, resources, prompts)
         VALUES ($1, $2, 'ok', now(), $3, $4, $5, $6, $7)
         ON CONFLICT (server_id) DO UPDATE
         SET status = 'ok', checked_at = now(), tool_count = EXCLUDED.tool_count,
             detail = EXCLUDED.detail, era = EXCLUDED.era,
             resources = EXCLUDED.resources, prompts = EXCLUDED.prompts",
    )
    .bind(server_id)
    .bind(account_id)
    .bind(i32::try_from(found.tools.len()).unwrap_or(i32::MAX))
    .bind(found.detail.map(|d| crate::storable::storable_str(d).into_owned()))
    .bind(found.era)
    .bind(storable_json(found.resources).as_ref())
    .bind(storable_json(found.prompts).as_ref())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(first || changed)
}

#[derive(sqlx::FromRow)]
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
    let known: Vec<Known> = sqlx::query_as(
        "SELECT id, name, hash, definition, removed_at IS NOT NULL AS removed, pinned_hash
         FROM catalog_tools WHERE server_id = $1",
    )
    .bind(server_id)
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
                sqlx::query(
                    "INSERT INTO catalog_tools
                         (id, account_id, server_id, name, hash, definition, pinned_hash, pinned_at)
                     VALUES ($1, $2, $3, $4, $5, $6,
                             CASE WHEN $7 THEN $5 END, CASE WHEN $7 THEN now() END)",
                )
                .bind(id)
                .bind(account_id)
                .bind(server_id)
                .bind(&name)
                .bind(hash.as_str())
                .bind(&definition)
                .bind(trusted)
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
                    "added",
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
                sqlx::query(
                    "UPDATE catalog_tools SET hash = $2, definition = $3, last_seen_at = now(),
                         changed_at = CASE WHEN hash = $2 THEN changed_at ELSE now() END,
                         removed_at = NULL
                     WHERE id = $1",
                )
                .bind(old.id)
                .bind(hash.as_str())
                .bind(&definition)
                .execute(&mut **tx)
                .await?;
                let kind = if old.removed { "restored" } else { "changed" };
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
    sqlx::query("UPDATE catalog_tools SET last_seen_at = now() WHERE id = ANY($1)")
        .bind(&unchanged)
        .execute(&mut **tx)
        .await?;
    for gone in known
        .iter()
        .filter(|k| !k.removed && !listed.contains(&k.name))
    {
        changed = true;
        sqlx::query("UPDATE catalog_tools SET removed_at = now() WHERE id = $1")
            .bind(gone.id)
            .execute(&mut **tx)
            .await?;
        note(
            tx,
            account_id,
            server_id,
            gone.id,
            "removed",
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
    kind: &str,
    old_hash: Option<&str>,
    new_hash: Option<&str>,
    changes: &[Value],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO catalog_tool_changes
             (account_id, server_id, tool_id, kind, old_hash, new_hash, changes)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(account_id)
    .bind(server_id)
    .bind(tool_id)
    .bind(kind)
    .bind(old_hash)
    .bind(new_hash)
    .bind(Value::Array(changes.to_vec()))
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
        decision: Decision::Unreviewed,
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

/// Why a tool could not be pinned.
#[derive(Debug)]
pub enum PinError {
    /// The tool's current definition is not the one the reviewer saw.
    Stale { current: String },
    /// `NotFound`: no such server in the account, or it lists no such tool.
    Store(StoreError),
}

impl From<StoreError> for PinError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<sqlx::Error> for PinError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

/// Pins a listed tool's current definition: agents see and may call it as
/// it is now defined. With `expected`, only if that is still the current
/// definition (the one a person reviewed), else [`PinError::Stale`].
pub async fn pin(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    name: &str,
    expected: Option<&str>,
) -> Result<CatalogTool, PinError> {
    let mut tx = pool.begin().await?;
    let current: Option<String> = sqlx::query_scalar(
        "SELECT hash FROM catalog_tools
         WHERE server_id = $1 AND account_id = $2 AND name = $3 AND removed_at IS NULL
         FOR UPDATE",
    )
    .bind(server_id)
    .bind(account_id)
    .bind(crate::storable::storable_str(name).as_ref())
    .fetch_optional(&mut *tx)
    .await?;
    let current = current.ok_or(StoreError::NotFound)?;
    if expected.is_some_and(|expected| expected != current) {
        return Err(PinError::Stale { current });
    }
    let tool = sqlx::query_as::<_, CatalogTool>(&format!(
        "WITH t AS (
             UPDATE catalog_tools SET
                 pinned_at = CASE WHEN pinned_hash IS DISTINCT FROM hash THEN now() ELSE pinned_at END,
                 pinned_hash = hash
             WHERE server_id = $1 AND account_id = $2 AND name = $3 AND removed_at IS NULL
             RETURNING *
         )
         SELECT {TOOL_COLUMNS} FROM t JOIN servers s ON s.id = t.server_id"
    ))
    .bind(server_id)
    .bind(account_id)
    .bind(crate::storable::storable_str(name).as_ref())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(tool)
}

/// A listed tool's current and pinned definition hashes.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ToolPin {
    pub name: String,
    pub hash: String,
    pub pinned_hash: Option<String>,
}

const TOOL_COLUMNS: &str = "t.id, t.server_id, s.name AS server_name, s.trusted AS server_trusted,
    t.name, t.hash, t.definition, t.first_seen_at, t.last_seen_at, t.changed_at,
    t.pinned_hash, t.pinned_at";

/// The tools a server lists now, by name.
pub async fn tools(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
) -> Result<Vec<CatalogTool>, StoreError> {
    Ok(sqlx::query_as::<_, CatalogTool>(&format!(
        "SELECT {TOOL_COLUMNS} FROM catalog_tools t JOIN servers s ON s.id = t.server_id
         WHERE t.server_id = $1 AND t.account_id = $2 AND t.removed_at IS NULL
         ORDER BY t.name"
    ))
    .bind(server_id)
    .bind(account_id)
    .fetch_all(pool)
    .await?)
}

/// The account's listed tools in id order, after `page.after`, optionally
/// of one server; `page.limit + 1` rows at most.
pub async fn account_tools(
    pool: &PgPool,
    account_id: AccountId,
    server_id: Option<ServerId>,
    page: PageRequest<ToolId>,
) -> Result<Vec<CatalogTool>, StoreError> {
    Ok(sqlx::query_as::<_, CatalogTool>(&format!(
        "SELECT {TOOL_COLUMNS} FROM catalog_tools t JOIN servers s ON s.id = t.server_id
         WHERE t.account_id = $1 AND t.removed_at IS NULL
           AND ($2::uuid IS NULL OR t.server_id = $2)
           AND ($3::uuid IS NULL OR t.id > $3)
         ORDER BY t.id LIMIT $4"
    ))
    .bind(account_id)
    .bind(server_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?)
}

/// The latest changes of each tool of a server, newest first, at most
/// [`HISTORY_PER_TOOL`] per tool.
pub async fn history(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
) -> Result<Vec<ToolChange>, StoreError> {
    Ok(sqlx::query_as::<_, ToolChange>(
        "SELECT tool_id, kind, old_hash, new_hash, changes, seen_at FROM (
             SELECT c.*, row_number() OVER (PARTITION BY c.tool_id ORDER BY c.id DESC) AS n
             FROM catalog_tool_changes c WHERE c.server_id = $1 AND c.account_id = $2
         ) latest WHERE n <= $3 ORDER BY tool_id, n",
    )
    .bind(server_id)
    .bind(account_id)
    .bind(HISTORY_PER_TOOL)
    .fetch_all(pool)
    .await?)
}

/// Ids of every server of every account, for the periodic refresh.
pub async fn all_servers(pool: &PgPool) -> Result<Vec<(AccountId, ServerId)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT account_id, id FROM servers ORDER BY id")
            .fetch_all(pool)
            .await?,
    )
}
