//! People who sign in. A user belongs to accounts through memberships
//! ([`crate::memberships`]); the user row holds only who they are.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::{conflict_as, StoreError};
use crate::ids::UserId;

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

/// What login needs to check a password.
pub struct Credentials {
    pub id: UserId,
    pub password_hash: String,
}

/// Looks a user up by (lower-cased) email for login.
pub async fn credentials_by_email(
    pool: &PgPool,
    email: &str,
) -> Result<Option<Credentials>, StoreError> {
    Ok(sqlx::query_as!(
        Credentials,
        r#"SELECT id AS "id: UserId", password_hash FROM users WHERE email = $1"#,
        email,
    )
    .fetch_optional(pool)
    .await?)
}

/// The password hash of a user, to confirm a change of password.
pub async fn credentials(pool: &PgPool, id: UserId) -> Result<Credentials, StoreError> {
    sqlx::query_as!(
        Credentials,
        r#"SELECT id AS "id: UserId", password_hash FROM users WHERE id = $1"#,
        id.0,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

pub async fn get(pool: &PgPool, id: UserId) -> Result<User, StoreError> {
    sqlx::query_as!(
        User,
        r#"SELECT id AS "id: UserId", email, created_at FROM users WHERE id = $1"#,
        id.0,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Inserts a user inside the caller's transaction; 409 for a taken email.
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    email: &str,
    password_hash: &str,
) -> Result<User, StoreError> {
    sqlx::query_as!(
        User,
        r#"INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)
           RETURNING id AS "id: UserId", email, created_at"#,
        UserId::new().0,
        email,
        password_hash,
    )
    .fetch_one(&mut **tx)
    .await
    .map_err(conflict_as("a user with this email"))
}

/// Replaces a user's password inside the caller's transaction (which also
/// ends their sessions: see [`crate::sessions::revoke_all`]).
pub async fn set_password(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: UserId,
    password_hash: &str,
) -> Result<(), StoreError> {
    let updated = sqlx::query!(
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        id.0,
        password_hash,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
