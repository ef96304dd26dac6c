//! The reviewed (pinned) definition of a tool, kept beside its current one
//! (by a trigger: see the `catalog_tool_definitions` migration) so a person
//! can compare the two before pinning the new one.

use serde_json::Value;
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::{AccountId, ServerId};

/// The pinned definition of a listed tool: `(hash, definition)`, or `None`
/// when the tool was never pinned. `NotFound` when the account's server
/// lists no such tool.
pub async fn pinned_definition(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    name: &str,
) -> Result<Option<(String, Value)>, StoreError> {
    let name = crate::storable::storable_str(name);
    let row = sqlx::query!(
        r#"SELECT t.pinned_hash, d.definition AS "definition?"
           FROM catalog_tools t
           LEFT JOIN catalog_tool_definitions d ON d.tool_id = t.id AND d.hash = t.pinned_hash
           WHERE t.account_id = $1 AND t.server_id = $2 AND t.name = $3 AND t.removed_at IS NULL"#,
        account_id.0,
        server_id.0,
        name.as_ref(),
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(row.pinned_hash.zip(row.definition))
}
