//! A server's shadow policy: one document beside the live version, judged
//! by the gateway on every call but never acted on. Promoting it stores it
//! as the server's next live version.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::{AccountId, ServerId, UserId};
use crate::policies::PolicyVersion;

#[derive(Debug, Clone)]
pub struct PolicyShadow {
    pub server_id: ServerId,
    pub document: serde_json::Value,
    /// The stored version the document was copied from, if set by version.
    pub from_version: Option<i32>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

/// Sets (or replaces) the server's shadow.
pub async fn put(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    document: &serde_json::Value,
    from_version: Option<i32>,
    created_by: Option<UserId>,
) -> Result<PolicyShadow, StoreError> {
    sqlx::query_as!(
        PolicyShadow,
        r#"INSERT INTO policy_shadows (server_id, account_id, document, from_version, created_by)
           SELECT id, account_id, $3, $4, $5 FROM servers WHERE id = $1 AND account_id = $2
           ON CONFLICT (server_id) DO UPDATE
             SET document = EXCLUDED.document, from_version = EXCLUDED.from_version,
                 created_by = EXCLUDED.created_by, created_at = now()
           RETURNING server_id AS "server_id: ServerId", document, from_version,
                     created_by AS "created_by: UserId", created_at"#,
        server_id.0,
        account_id.0,
        document,
        from_version,
        created_by.map(|user| user.0),
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

/// The server's shadow, if it has one.
pub async fn get(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
) -> Result<Option<PolicyShadow>, StoreError> {
    Ok(sqlx::query_as!(
        PolicyShadow,
        r#"SELECT server_id AS "server_id: ServerId", document, from_version,
                  created_by AS "created_by: UserId", created_at
           FROM policy_shadows WHERE server_id = $1 AND account_id = $2"#,
        server_id.0,
        account_id.0,
    )
    .fetch_optional(pool)
    .await?)
}

/// Removes the server's shadow; whether there was one.
pub async fn delete(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
) -> Result<bool, StoreError> {
    let deleted = sqlx::query!(
        "DELETE FROM policy_shadows WHERE server_id = $1 AND account_id = $2",
        server_id.0,
        account_id.0,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted > 0)
}

/// Stores the shadow's document as the server's next live version and
/// removes the shadow, in one transaction; `None` when there is no shadow.
pub async fn promote(
    pool: &PgPool,
    account_id: AccountId,
    server_id: ServerId,
    created_by: Option<UserId>,
) -> Result<Option<PolicyVersion>, StoreError> {
    let mut tx = pool.begin().await?;
    // The server row is locked as `policies::put` locks it, so concurrent
    // writers get consecutive version numbers.
    sqlx::query_scalar!(
        "SELECT id FROM servers WHERE id = $1 AND account_id = $2 FOR UPDATE",
        server_id.0,
        account_id.0,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    let Some(document) = sqlx::query_scalar!(
        "DELETE FROM policy_shadows WHERE server_id = $1 AND account_id = $2 RETURNING document",
        server_id.0,
        account_id.0,
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let version =
        crate::policies::insert_next(&mut tx, account_id, server_id, &document, created_by).await?;
    tx.commit().await?;
    Ok(Some(version))
}
