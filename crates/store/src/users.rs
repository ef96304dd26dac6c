//! People who sign in.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::{AccountId, UserId};

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

/// What login needs to check a password.
pub struct Credentials {
    pub id: UserId,
    pub account_id: AccountId,
    pub password_hash: String,
}

/// Looks a user up by (lower-cased) email for login.
pub async fn credentials_by_email(
    pool: &PgPool,
    email: &str,
) -> Result<Option<Credentials>, StoreError> {
    Ok(sqlx::query_as!(
        Credentials,
        r#"SELECT id AS "id: UserId", account_id AS "account_id: AccountId", password_hash
           FROM users WHERE email = $1"#,
        email,
    )
    .fetch_optional(pool)
    .await?)
}

/// Whether the user still exists in the account: a token outlives nothing.
pub async fn exists(
    pool: &PgPool,
    account_id: AccountId,
    user_id: UserId,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND account_id = $2) AS "exists!""#,
        user_id.0,
        account_id.0,
    )
    .fetch_one(pool)
    .await?)
}
