//! The tool catalog: each server's tools as discovery last found them, the
//! history of their definitions, its resources and prompts, and the state
//! of its last discovery attempt.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::{AccountId, ServerId, ToolId};
use crate::page::PageRequest;

mod pin;
mod record;
mod reviewed;

pub use pin::{pin, PinError};
pub use record::{record_failure, record_success, Found};
pub use reviewed::pinned_definition;

/// Changes kept per tool in a listing of a server's tools.
pub const HISTORY_PER_TOOL: i64 = 20;

/// How a server's last discovery attempt ended (`server_catalogs.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CatalogStatus {
    /// Not attempted yet, or under way.
    Pending,
    Ok,
    /// No connection (refused, reset, no such name, TLS failure).
    Unreachable,
    /// The upstream answered 401 or 403.
    Unauthorized,
    /// Something answered, but not as an MCP server.
    NotMcp,
    /// More bytes, tools or pages than the bounds allow.
    TooLarge,
    /// The deadline passed.
    Timeout,
    /// The address guard refused the upstream's address.
    RefusedAddress,
    /// The upstream spoke MCP but failed.
    Error,
}

/// What happened to a tool (`catalog_tool_changes.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ChangeKind {
    /// First listed.
    Added,
    /// Listed with another definition.
    Changed,
    /// No longer listed.
    Removed,
    /// Listed again after being removed.
    Restored,
}

/// The last discovery attempt of a server.
#[derive(Debug, Clone)]
pub struct CatalogState {
    pub status: CatalogStatus,
    pub checked_at: Option<DateTime<Utc>>,
    pub tool_count: Option<i32>,
    pub detail: Option<String>,
    pub era: Option<String>,
    pub resources: Value,
    pub prompts: Value,
}

/// A tool of a server's catalog.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
pub struct ToolChange {
    pub tool_id: ToolId,
    pub kind: ChangeKind,
    pub old_hash: Option<String>,
    pub new_hash: Option<String>,
    pub changes: Value,
    pub seen_at: DateTime<Utc>,
}

/// A listed tool's current and pinned definition hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolPin {
    pub name: String,
    pub hash: String,
    pub pinned_hash: Option<String>,
}

/// The state of the server's last attempt (`pending` before the first).
pub async fn state(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
) -> Result<CatalogState, StoreError> {
    sqlx::query_as!(
        CatalogState,
        r#"SELECT COALESCE(c.status, 'pending') AS "status!: CatalogStatus", c.checked_at,
                  c.tool_count, c.detail, c.era,
                  COALESCE(c.resources, '[]') AS "resources!",
                  COALESCE(c.prompts, '[]') AS "prompts!"
           FROM servers s LEFT JOIN server_catalogs c ON c.server_id = s.id
           WHERE s.id = $1 AND s.account_id = $2"#,
        server_id.0,
        account_id.0,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

/// The tools a server lists now, by name.
pub async fn tools(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
) -> Result<Vec<CatalogTool>, StoreError> {
    Ok(sqlx::query_as!(
        CatalogTool,
        r#"SELECT t.id AS "id: ToolId", t.server_id AS "server_id: ServerId",
                  s.name AS server_name, s.trusted AS server_trusted, t.name, t.hash,
                  t.definition, t.first_seen_at, t.last_seen_at, t.changed_at,
                  t.pinned_hash, t.pinned_at
           FROM catalog_tools t JOIN servers s ON s.id = t.server_id
           WHERE t.server_id = $1 AND t.account_id = $2 AND t.removed_at IS NULL
           ORDER BY t.name"#,
        server_id.0,
        account_id.0,
    )
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
    Ok(sqlx::query_as!(
        CatalogTool,
        r#"SELECT t.id AS "id: ToolId", t.server_id AS "server_id: ServerId",
                  s.name AS server_name, s.trusted AS server_trusted, t.name, t.hash,
                  t.definition, t.first_seen_at, t.last_seen_at, t.changed_at,
                  t.pinned_hash, t.pinned_at
           FROM catalog_tools t JOIN servers s ON s.id = t.server_id
           WHERE t.account_id = $1 AND t.removed_at IS NULL
             AND ($2::uuid IS NULL OR t.server_id = $2)
             AND ($3::uuid IS NULL OR t.id > $3)
           ORDER BY t.id LIMIT $4"#,
        account_id.0,
        server_id.map(|id| id.0),
        page.after.map(|id| id.0),
        page.fetch_limit(),
    )
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
    Ok(sqlx::query_as!(
        ToolChange,
        r#"SELECT tool_id AS "tool_id!: ToolId", kind AS "kind!: ChangeKind", old_hash, new_hash,
                  changes AS "changes!", seen_at AS "seen_at!"
           FROM (
               SELECT c.*, row_number() OVER (PARTITION BY c.tool_id ORDER BY c.id DESC) AS n
               FROM catalog_tool_changes c WHERE c.server_id = $1 AND c.account_id = $2
           ) latest WHERE n <= $3 ORDER BY tool_id, n"#,
        server_id.0,
        account_id.0,
        HISTORY_PER_TOOL,
    )
    .fetch_all(pool)
    .await?)
}

/// Ids of every server of every account, for the periodic refresh.
pub async fn all_servers(pool: &PgPool) -> Result<Vec<(AccountId, ServerId)>, StoreError> {
    Ok(sqlx::query!(
        r#"SELECT account_id AS "account_id: AccountId", id AS "id: ServerId"
           FROM servers ORDER BY id"#
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|server| (server.account_id, server.id))
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored_enum::assert_stored_as;

    #[test]
    fn statuses_and_change_kinds_are_stored_and_serialised_by_one_name() {
        let statuses = [
            CatalogStatus::Pending,
            CatalogStatus::Ok,
            CatalogStatus::Unreachable,
            CatalogStatus::Unauthorized,
            CatalogStatus::NotMcp,
            CatalogStatus::TooLarge,
            CatalogStatus::Timeout,
            CatalogStatus::RefusedAddress,
            CatalogStatus::Error,
        ];
        let status_names = [
            "pending",
            "ok",
            "unreachable",
            "unauthorized",
            "not_mcp",
            "too_large",
            "timeout",
            "refused_address",
            "error",
        ];
        assert_stored_as(&statuses, &status_names);
        for (status, name) in statuses.iter().zip(status_names) {
            assert_eq!(serde_json::to_value(status).unwrap(), name);
        }
        let kinds = [
            ChangeKind::Added,
            ChangeKind::Changed,
            ChangeKind::Removed,
            ChangeKind::Restored,
        ];
        let kind_names = ["added", "changed", "removed", "restored"];
        assert_stored_as(&kinds, &kind_names);
        for (kind, name) in kinds.iter().zip(kind_names) {
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
    }
}
