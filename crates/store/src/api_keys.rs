//! Management API keys: long-lived credentials for scripts and CI.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::{AccountId, ApiKeyId, UserId};
use crate::memberships::Role;
use crate::page::{Page, PageRequest};
use crate::secrets::{credential_hash, mint_credential};

pub const KEY_KIND: &str = "tgk";

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A presented key that matched: what it may do, and its creator's current
/// role in the account (`None` when the creator is gone; keys made before
/// roles existed have no creator and count as the admin's).
#[derive(Debug, Clone)]
pub struct KeyIdentity {
    pub account_id: AccountId,
    pub id: ApiKeyId,
    pub name: String,
    pub role: Role,
    pub created_by: Option<UserId>,
    pub creator_role: Option<Role>,
}

/// Creates a key; the returned secret is the only time it exists in clear.
pub async fn create(
    pool: &PgPool,
    account_id: AccountId,
    name: &str,
    role: Role,
    created_by: Option<UserId>,
) -> Result<(ApiKey, String), StoreError> {
    let credential = mint_credential(KEY_KIND);
    let key = sqlx::query_as!(
        ApiKey,
        r#"INSERT INTO api_keys (id, account_id, name, prefix, secret_hash, role, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING id AS "id: ApiKeyId", name, prefix, role AS "role: Role", created_at,
                     last_used_at"#,
        ApiKeyId::new().0,
        account_id.0,
        name,
        credential.prefix,
        credential.hash,
        role as _,
        created_by.map(|u| u.0),
    )
    .fetch_one(pool)
    .await?;
    Ok((key, credential.token))
}

pub async fn list(
    pool: &PgPool,
    account_id: AccountId,
    page: PageRequest<ApiKeyId>,
) -> Result<Page<ApiKey>, StoreError> {
    let rows = sqlx::query_as!(
        ApiKey,
        r#"SELECT id AS "id: ApiKeyId", name, prefix, role AS "role: Role", created_at,
                  last_used_at FROM api_keys
           WHERE account_id = $1 AND ($2::uuid IS NULL OR id > $2)
           ORDER BY id LIMIT $3"#,
        account_id.0,
        page.after.map(|id| id.0),
        page.fetch_limit(),
    )
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, page.limit, |k| k.id.to_string()))
}

pub async fn delete(pool: &PgPool, account_id: AccountId, id: ApiKeyId) -> Result<(), StoreError> {
    let deleted = sqlx::query!(
        "DELETE FROM api_keys WHERE id = $1 AND account_id = $2",
        id.0,
        account_id.0,
    )
    .execute(pool)
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The key a presented secret names, recording its use.
pub async fn authenticate(pool: &PgPool, token: &str) -> Result<Option<KeyIdentity>, StoreError> {
    Ok(sqlx::query_as!(
        KeyIdentity,
        r#"WITH used AS (
               UPDATE api_keys SET last_used_at = now() WHERE secret_hash = $1
               RETURNING account_id, id, name, role, created_by)
           SELECT used.account_id AS "account_id: AccountId", used.id AS "id: ApiKeyId",
                  used.name, used.role AS "role: Role", used.created_by AS "created_by: UserId",
                  m.role AS "creator_role?: Role"
           FROM used LEFT JOIN memberships m
             ON m.account_id = used.account_id AND m.user_id = used.created_by"#,
        credential_hash(token),
    )
    .fetch_optional(pool)
    .await?)
}
