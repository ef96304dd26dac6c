//! Policy versions: every change is a new, immutable, numbered version.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::{AccountId, ServerId, UserId};
use crate::page::{Page, PageRequest};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyVersion {
    pub server_id: ServerId,
    pub version: i32,
    pub document: serde_json::Value,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "server_id, version, document, created_by, created_at";

/// Stores `document` as the server's next version. The server row is locked
/// so concurrent writers get consecutive numbers rather than a conflict.
pub async fn put(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    document: &serde_json::Value,
    created_by: Option<UserId>,
) -> Result<PolicyVersion, StoreError> {
    let mut tx = pool.begin().await?;
    let locked: Option<ServerId> =
        sqlx::query_scalar("SELECT id FROM servers WHERE id = $1 AND account_id = $2 FOR UPDATE")
            .bind(server_id)
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
    locked.ok_or(StoreError::NotFound)?;
    let version = sqlx::query_as::<_, PolicyVersion>(&format!(
        "INSERT INTO policy_versions (account_id, server_id, version, document, created_by)
         SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4
         FROM policy_versions WHERE server_id = $2
         RETURNING {COLUMNS}"
    ))
    .bind(account_id)
    .bind(server_id)
    .bind(document)
    .bind(created_by)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(version)
}

/// The newest version, or `None` when the server has no policy yet.
pub async fn current(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
) -> Result<Option<PolicyVersion>, StoreError> {
    Ok(sqlx::query_as::<_, PolicyVersion>(&format!(
        "SELECT {COLUMNS} FROM policy_versions WHERE server_id = $1 AND account_id = $2
         ORDER BY version DESC LIMIT 1"
    ))
    .bind(server_id)
    .bind(account_id)
    .fetch_optional(pool)
    .await?)
}

/// Versions newest first; the cursor is a version number.
pub async fn list_versions(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    page: PageRequest<i32>,
) -> Result<Page<PolicyVersion>, StoreError> {
    let rows = sqlx::query_as::<_, PolicyVersion>(&format!(
        "SELECT {COLUMNS} FROM policy_versions
         WHERE server_id = $1 AND account_id = $2 AND ($3::int IS NULL OR version < $3)
         ORDER BY version DESC LIMIT $4"
    ))
    .bind(server_id)
    .bind(account_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, page.limit, |v| v.version.to_string()))
}
