//! Accounts (tenants) and the first admin created with each.

use chrono::{DateTime, Utc};
use rand::Rng;
use sqlx::PgPool;

use crate::error::{conflict_as, StoreError};
use crate::ids::AccountId;
use crate::memberships::Role;
use crate::secrets::SecretKey;
use crate::users::User;

#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub slug: String,
    pub name: String,
    pub approval_webhook_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What sign-up needs; the password is already hashed.
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub slug_base: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
}

/// Creates an account and its first user in one transaction. The slug is the
/// requested one when free, else the same with a short random suffix, so that
/// sign-up never fails (or reveals another tenant) over a name.
pub async fn create_with_owner(
    pool: &PgPool,
    new: NewAccount<'_>,
) -> Result<(Account, User), StoreError> {
    let mut tx = pool.begin().await?;
    let created = insert_with_owner(&mut tx, new).await?;
    tx.commit().await?;
    Ok(created)
}

/// [`create_with_owner`] inside the caller's transaction, for a creation
/// that must commit or roll back with other writes (a redeemed sign-up).
pub async fn insert_with_owner(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    new: NewAccount<'_>,
) -> Result<(Account, User), StoreError> {
    let account_id = AccountId::new();
    let slug = free_slug(tx, new.slug_base).await?;
    let account = sqlx::query_as!(
        Account,
        r#"INSERT INTO accounts (id, slug, name) VALUES ($1, $2, $3)
           RETURNING id AS "id: AccountId", slug, name, approval_webhook_url, created_at"#,
        account_id.0,
        slug,
        new.name,
    )
    .fetch_one(&mut **tx)
    .await
    .map_err(conflict_as("account slug"))?;
    let user = crate::users::insert(tx, new.email, new.password_hash).await?;
    crate::memberships::insert(tx, account_id, user.id, Role::Admin).await?;
    Ok((account, user))
}

async fn free_slug(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    base: &str,
) -> Result<String, StoreError> {
    let mut candidate = base.to_owned();
    for _ in 0..8 {
        let taken = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM accounts WHERE slug = $1) AS "taken!""#,
            candidate,
        )
        .fetch_one(&mut **tx)
        .await?;
        if !taken {
            return Ok(candidate);
        }
        let suffix: u32 = rand::thread_rng().gen_range(0x1000..0x10000);
        candidate = format!("{base}-{suffix:x}");
    }
    Err(StoreError::Conflict("account slug"))
}

pub async fn get(pool: &PgPool, account_id: AccountId) -> Result<Account, StoreError> {
    sqlx::query_as!(
        Account,
        r#"SELECT id AS "id: AccountId", slug, name, approval_webhook_url, created_at
           FROM accounts WHERE id = $1"#,
        account_id.0,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

/// A change to an account; `None` leaves a field as it is.
#[derive(Default)]
pub struct AccountPatch<'a> {
    pub name: Option<&'a str>,
    /// `Some(None)` clears the webhook; `Some(Some(url))` sets it with a new
    /// signing secret.
    pub approval_webhook: Option<Option<(&'a str, &'a [u8])>>,
}

pub async fn update(
    pool: &PgPool,
    key: &SecretKey,
    account_id: AccountId,
    patch: AccountPatch<'_>,
) -> Result<Account, StoreError> {
    let (set_webhook, webhook_url, webhook_secret) = match patch.approval_webhook {
        None => (false, None, None),
        Some(None) => (true, None, None),
        Some(Some((url, secret))) => (true, Some(url), Some(key.seal(secret)?)),
    };
    sqlx::query_as!(
        Account,
        r#"UPDATE accounts SET
               name = COALESCE($2, name),
               approval_webhook_url = CASE WHEN $3 THEN $4 ELSE approval_webhook_url END,
               webhook_secret_enc = CASE WHEN $3 THEN $5 ELSE webhook_secret_enc END
           WHERE id = $1
           RETURNING id AS "id: AccountId", slug, name, approval_webhook_url, created_at"#,
        account_id.0,
        patch.name,
        set_webhook,
        webhook_url,
        webhook_secret,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}
