//! Grants: the credentials agents present at gateway URLs.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::StoreError;
use crate::ids::{AccountId, GrantId, ServerId};
use crate::page::{Page, PageRequest};
use crate::secrets::mint_credential;

pub const TOKEN_KIND: &str = "tgg";

#[derive(Debug, Clone)]
pub struct Grant {
    pub id: GrantId,
    pub name: String,
    pub prefix: String,
    /// `None`: every server of the account, now and later.
    pub servers: Option<Vec<ServerId>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

struct GrantRow {
    id: GrantId,
    name: String,
    prefix: String,
    all_servers: bool,
    server_ids: Vec<Uuid>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<GrantRow> for Grant {
    fn from(row: GrantRow) -> Self {
        Grant {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            servers: (!row.all_servers).then(|| row.server_ids.into_iter().map(ServerId).collect()),
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            created_at: row.created_at,
        }
    }
}

pub struct NewGrant<'a> {
    pub name: &'a str,
    pub servers: Option<&'a [ServerId]>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a grant; the token returned is the only time it exists in clear.
/// Every listed server must belong to the account, else `NotFound`.
pub async fn create(
    pool: &PgPool,
    account_id: AccountId,
    new: NewGrant<'_>,
) -> Result<(Grant, String), StoreError> {
    let credential = mint_credential(TOKEN_KIND);
    let id = GrantId::new();
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO grants (id, account_id, name, prefix, token_hash, all_servers, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id.0,
        account_id.0,
        new.name,
        credential.prefix,
        credential.hash,
        new.servers.is_none(),
        new.expires_at,
    )
    .execute(&mut *tx)
    .await?;
    if let Some(servers) = new.servers {
        let ids: Vec<Uuid> = servers.iter().map(|s| s.0).collect();
        // Only the account's own servers join; a shortfall means a foreign or unknown id.
        let joined = sqlx::query!(
            "INSERT INTO grant_servers (grant_id, server_id)
             SELECT $1, s.id FROM servers s WHERE s.account_id = $2 AND s.id = ANY($3)",
            id.0,
            account_id.0,
            &ids,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let mut distinct = ids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if joined != distinct.len() as u64 {
            return Err(StoreError::NotFound);
        }
    }
    let row = sqlx::query_as!(
        GrantRow,
        r#"SELECT g.id AS "id: GrantId", g.name, g.prefix, g.all_servers,
                  COALESCE(ARRAY(SELECT gs.server_id FROM grant_servers gs
                                 WHERE gs.grant_id = g.id ORDER BY gs.server_id), '{}')
                      AS "server_ids!",
                  g.expires_at, g.revoked_at, g.created_at
           FROM grants g WHERE g.id = $1"#,
        id.0,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((row.into(), credential.token))
}

pub async fn get(pool: &PgPool, account_id: AccountId, id: GrantId) -> Result<Grant, StoreError> {
    sqlx::query_as!(
        GrantRow,
        r#"SELECT g.id AS "id: GrantId", g.name, g.prefix, g.all_servers,
                  COALESCE(ARRAY(SELECT gs.server_id FROM grant_servers gs
                                 WHERE gs.grant_id = g.id ORDER BY gs.server_id), '{}')
                      AS "server_ids!",
                  g.expires_at, g.revoked_at, g.created_at
           FROM grants g WHERE g.id = $1 AND g.account_id = $2"#,
        id.0,
        account_id.0,
    )
    .fetch_optional(pool)
    .await?
    .map(Grant::from)
    .ok_or(StoreError::NotFound)
}

pub async fn list(
    pool: &PgPool,
    account_id: AccountId,
    page: PageRequest<GrantId>,
) -> Result<Page<Grant>, StoreError> {
    let rows = sqlx::query_as!(
        GrantRow,
        r#"SELECT g.id AS "id: GrantId", g.name, g.prefix, g.all_servers,
                  COALESCE(ARRAY(SELECT gs.server_id FROM grant_servers gs
                                 WHERE gs.grant_id = g.id ORDER BY gs.server_id), '{}')
                      AS "server_ids!",
                  g.expires_at, g.revoked_at, g.created_at
           FROM grants g
           WHERE g.account_id = $1 AND ($2::uuid IS NULL OR g.id > $2) ORDER BY g.id LIMIT $3"#,
        account_id.0,
        page.after.map(|id| id.0),
        page.fetch_limit(),
    )
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, page.limit, |g| g.id.to_string()).map(Grant::from))
}

/// Revokes a grant. Revoking twice is harmless; the first time is kept.
pub async fn revoke(pool: &PgPool, account_id: AccountId, id: GrantId) -> Result<(), StoreError> {
    let found = sqlx::query!(
        "UPDATE grants SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND account_id = $2",
        id.0,
        account_id.0,
    )
    .execute(pool)
    .await?
    .rows_affected();
    if found == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
