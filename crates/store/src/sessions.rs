//! Signed-in sessions. A session token names its row; every request checks
//! the row, so logging out, signing out everywhere, a password change or a
//! removal from the account ends a session on every replica at once.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::{AccountId, SessionId, UserId};
use crate::memberships::Role;

/// Starts a session of the user in the account, valid until `expires_at`.
pub async fn create(
    executor: impl sqlx::PgExecutor<'_>,
    user_id: UserId,
    account_id: AccountId,
    expires_at: DateTime<Utc>,
) -> Result<SessionId, StoreError> {
    let id = SessionId::new();
    sqlx::query!(
        "INSERT INTO sessions (id, user_id, account_id, expires_at) VALUES ($1, $2, $3, $4)",
        id.0,
        user_id.0,
        account_id.0,
        expires_at,
    )
    .execute(executor)
    .await?;
    Ok(id)
}

/// The member's current role if the session is live (not revoked, not
/// expired) and its user still belongs to its account; `None` otherwise.
pub async fn live_role(
    pool: &PgPool,
    id: SessionId,
    user_id: UserId,
    account_id: AccountId,
) -> Result<Option<(Role, String)>, StoreError> {
    Ok(sqlx::query!(
        r#"SELECT m.role AS "role: Role", u.email
           FROM sessions s
           JOIN memberships m ON m.account_id = s.account_id AND m.user_id = s.user_id
           JOIN users u ON u.id = s.user_id
           WHERE s.id = $1 AND s.user_id = $2 AND s.account_id = $3
             AND s.revoked_at IS NULL AND s.expires_at > now()"#,
        id.0,
        user_id.0,
        account_id.0,
    )
    .fetch_optional(pool)
    .await?
    .map(|row| (row.role, row.email)))
}

/// Ends one session (logging out).
pub async fn revoke(pool: &PgPool, id: SessionId) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        id.0,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends every session of the user, in every account. Answers how many.
pub async fn revoke_all(
    executor: impl sqlx::PgExecutor<'_>,
    user_id: UserId,
) -> Result<u64, StoreError> {
    Ok(sqlx::query!(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id.0,
    )
    .execute(executor)
    .await?
    .rows_affected())
}
