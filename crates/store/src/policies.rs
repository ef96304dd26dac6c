//! Policy versions: every change is a new, immutable, numbered version.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::{AccountId, ServerId, UserId};
use crate::page::{Page, PageRequest};

#[derive(Debug, Clone)]
pub struct PolicyVersion {
    pub server_id: ServerId,
    pub version: i32,
    pub document: serde_json::Value,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

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
    sqlx::query_scalar!(
        "SELECT id FROM servers WHERE id = $1 AND account_id = $2 FOR UPDATE",
        server_id.0,
        account_id.0,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    let version = insert_next(&mut tx, account_id, server_id, document, created_by).await?;
    tx.commit().await?;
    Ok(version)
}

/// Stores `document` as the server's next version, inside a transaction
/// that holds the server's row locked (so two writers never pick the same
/// number).
pub(crate) async fn insert_next(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account_id: AccountId,
    server_id: ServerId,
    document: &serde_json::Value,
    created_by: Option<UserId>,
) -> Result<PolicyVersion, StoreError> {
    Ok(sqlx::query_as!(
        PolicyVersion,
        r#"INSERT INTO policy_versions (account_id, server_id, version, document, created_by)
           SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4
           FROM policy_versions WHERE server_id = $2
           RETURNING server_id AS "server_id: ServerId", version, document,
                     created_by AS "created_by: UserId", created_at"#,
        account_id.0,
        server_id.0,
        document,
        created_by.map(|user| user.0),
    )
    .fetch_one(&mut **tx)
    .await?)
}

/// The newest version, or `None` when the server has no policy yet.
pub async fn current(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
) -> Result<Option<PolicyVersion>, StoreError> {
    Ok(sqlx::query_as!(
        PolicyVersion,
        r#"SELECT server_id AS "server_id: ServerId", version, document,
                  created_by AS "created_by: UserId", created_at
           FROM policy_versions WHERE server_id = $1 AND account_id = $2
           ORDER BY version DESC LIMIT 1"#,
        server_id.0,
        account_id.0,
    )
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
    let rows = sqlx::query_as!(
        PolicyVersion,
        r#"SELECT server_id AS "server_id: ServerId", version, document,
                  created_by AS "created_by: UserId", created_at
           FROM policy_versions
           WHERE server_id = $1 AND account_id = $2 AND ($3::int IS NULL OR version < $3)
           ORDER BY version DESC LIMIT $4"#,
        server_id.0,
        account_id.0,
        page.after,
        page.fetch_limit(),
    )
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, page.limit, |v| v.version.to_string()))
}

/// One stored version, or `None` when the server has no such version.
pub async fn get_version(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    version: i32,
) -> Result<Option<PolicyVersion>, StoreError> {
    Ok(sqlx::query_as!(
        PolicyVersion,
        r#"SELECT server_id AS "server_id: ServerId", version, document,
                  created_by AS "created_by: UserId", created_at
           FROM policy_versions WHERE server_id = $1 AND account_id = $2 AND version = $3"#,
        server_id.0,
        account_id.0,
        version,
    )
    .fetch_optional(pool)
    .await?)
}
