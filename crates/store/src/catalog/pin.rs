//! Pinning a tool's current definition after a person reviewed it.

use sqlx::PgPool;

use super::CatalogTool;
use crate::error::StoreError;
use crate::ids::{AccountId, ServerId, ToolId};

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
    let name = crate::storable::storable_str(name);
    let current = sqlx::query_scalar!(
        "SELECT hash FROM catalog_tools
         WHERE server_id = $1 AND account_id = $2 AND name = $3 AND removed_at IS NULL
         FOR UPDATE",
        server_id.0,
        account_id.0,
        name.as_ref(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let current = current.ok_or(StoreError::NotFound)?;
    if expected.is_some_and(|expected| expected != current) {
        return Err(PinError::Stale { current });
    }
    let tool = sqlx::query_as!(
        CatalogTool,
        r#"WITH t AS (
             UPDATE catalog_tools SET
                 pinned_at = CASE WHEN pinned_hash IS DISTINCT FROM hash THEN now() ELSE pinned_at END,
                 pinned_hash = hash
             WHERE server_id = $1 AND account_id = $2 AND name = $3 AND removed_at IS NULL
             RETURNING *
         )
         SELECT t.id AS "id!: ToolId", t.server_id AS "server_id!: ServerId",
                s.name AS server_name, s.trusted AS server_trusted, t.name AS "name!",
                t.hash AS "hash!", t.definition AS "definition!",
                t.first_seen_at AS "first_seen_at!", t.last_seen_at AS "last_seen_at!",
                t.changed_at AS "changed_at!", t.pinned_hash, t.pinned_at
         FROM t JOIN servers s ON s.id = t.server_id"#,
        server_id.0,
        account_id.0,
        name.as_ref(),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(tool)
}
