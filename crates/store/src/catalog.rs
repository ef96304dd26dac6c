//! The tool catalog: each server's tools as discovery last found them, the
//! history of their definitions, its resources and prompts, and the state
//! of its last discovery attempt.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use toolgate_catalog::ToolDefinition;

use crate::error::StoreError;
use crate::ids::{AccountId, ServerId, ToolId};
use crate::page::PageRequest;
use crate::storable::storable_json;

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
/// prompts, and the `ok` status, in one transaction.
pub async fn record_success(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    found: Found<'_>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    // Serialises attempts on one server, and checks the tenant.
    let locked: Option<ServerId> =
        sqlx::query_scalar("SELECT id FROM servers WHERE id = $1 AND account_id = $2 FOR UPDATE")
            .bind(server_id)
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
    locked.ok_or(StoreError::NotFound)?;
    record_tools(&mut tx, account_id, server_id, found.tools).await?;
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
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Known {
    id: ToolId,
    name: String,
    hash: String,
    definition: Value,
    removed: bool,
}

async fn record_tools(
    tx: &mut Transaction<'_, Postgres>,
    account_id: AccountId,
    server_id: ServerId,
    tools: &[ToolDefinition],
) -> Result<(), StoreError> {
    let known: Vec<Known> = sqlx::query_as(
        "SELECT id, name, hash, definition, removed_at IS NOT NULL AS removed
         FROM catalog_tools WHERE server_id = $1",
    )
    .bind(server_id)
    .fetch_all(&mut **tx)
    .await?;
    let by_name: std::collections::HashMap<&str, &Known> =
        known.iter().map(|k| (k.name.as_str(), k)).collect();
    let mut unchanged: Vec<ToolId> = Vec::new();
    let mut listed = std::collections::HashSet::new();
    for tool in tools {
        let hash = tool.content_hash();
        // Names are stored as received; a NUL in one becomes U+FFFD.
        let name = crate::storable::storable_str(&tool.name).into_owned();
        listed.insert(name.clone());
        let definition = serde_json::to_value(tool)
            .map_err(|e| StoreError::Corrupt(format!("tool definition: {e}")))?;
        let definition = storable_json(&definition).into_owned();
        match by_name.get(name.as_str()) {
            None => {
                let id = ToolId::new();
                sqlx::query(
                    "INSERT INTO catalog_tools (id, account_id, server_id, name, hash, definition)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(account_id)
                .bind(server_id)
                .bind(&name)
                .bind(hash.as_str())
                .bind(&definition)
                .execute(&mut **tx)
                .await?;
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
            Some(old) if old.hash == hash.as_str() && !old.removed => unchanged.push(old.id),
            Some(old) => {
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
    Ok(())
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

const TOOL_COLUMNS: &str = "t.id, t.server_id, s.name AS server_name, s.trusted AS server_trusted,
    t.name, t.hash, t.definition, t.first_seen_at, t.last_seen_at, t.changed_at";

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
