//! Password resets: a single-use, expiring token that lets its holder set a
//! user's password.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::UserId;
use crate::secrets::{credential_hash, mint_credential};

/// The kind prefix of reset tokens.
pub const TOKEN_KIND: &str = "tgr";

/// Creates a reset token for the user; the only time it exists in clear.
pub async fn create(
    pool: &PgPool,
    user_id: UserId,
    expires_at: DateTime<Utc>,
) -> Result<String, StoreError> {
    let credential = mint_credential(TOKEN_KIND);
    sqlx::query!(
        "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        credential.hash,
        user_id.0,
        expires_at,
    )
    .execute(pool)
    .await?;
    Ok(credential.token)
}

/// Spends every outstanding token of the user, inside the caller's
/// transaction: when they join another account, a link an admin of the
/// first one issued must not reach the second.
pub async fn spend_all(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    user_id: UserId,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL",
        user_id.0,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Spends a live token inside the caller's transaction, answering whose
/// password it resets; `None` for an unknown, used or expired token. Every
/// other outstanding token of the user is spent with it.
pub async fn spend(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    token: &str,
) -> Result<Option<UserId>, StoreError> {
    let Some(user_id) = sqlx::query_scalar!(
        r#"UPDATE password_resets SET used_at = now()
           WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
           RETURNING user_id AS "user_id: UserId""#,
        credential_hash(token),
    )
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    spend_all(tx, user_id).await?;
    Ok(Some(user_id))
}
