//! Who belongs to an account, and in which role.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::{AccountId, UserId};

/// What a member (or an API key) may do in an account. The permissions of
/// each role are one table in the control plane.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Role {
    /// Everything, including members, API keys, upstream credentials and
    /// the webhook secret.
    Admin,
    /// Servers (not their credentials), catalog, policies, grants' metadata
    /// and approvals.
    PolicyManager,
    /// Decides approvals, and reads what that needs.
    Approver,
    /// Reads everything but argument values, tokens and credentials.
    Viewer,
    /// Reads everything a viewer does, plus argument values.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::PolicyManager,
        Role::Approver,
        Role::Viewer,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::PolicyManager => "policy_manager",
            Role::Approver => "approver",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }
}

/// A member of an account, as listed.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// One of a user's accounts.
#[derive(Debug, Clone)]
pub struct Membership {
    pub account_id: AccountId,
    pub account_name: String,
    pub account_slug: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// Every account the user belongs to, oldest membership first.
pub async fn of_user(pool: &PgPool, user_id: UserId) -> Result<Vec<Membership>, StoreError> {
    Ok(sqlx::query_as!(
        Membership,
        r#"SELECT m.account_id AS "account_id: AccountId", a.name AS account_name,
                  a.slug AS account_slug, m.role AS "role: Role", m.created_at AS joined_at
           FROM memberships m JOIN accounts a ON a.id = m.account_id
           WHERE m.user_id = $1 ORDER BY m.created_at, m.account_id"#,
        user_id.0,
    )
    .fetch_all(pool)
    .await?)
}

/// The user's role in the account, if they are a member.
pub async fn role(
    pool: &PgPool,
    account_id: AccountId,
    user_id: UserId,
) -> Result<Option<Role>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT role AS "role: Role" FROM memberships WHERE account_id = $1 AND user_id = $2"#,
        account_id.0,
        user_id.0,
    )
    .fetch_optional(pool)
    .await?)
}

/// The account's members, by email.
pub async fn list(pool: &PgPool, account_id: AccountId) -> Result<Vec<Member>, StoreError> {
    Ok(sqlx::query_as!(
        Member,
        r#"SELECT m.user_id AS "user_id: UserId", u.email, m.role AS "role: Role",
                  m.created_at AS joined_at
           FROM memberships m JOIN users u ON u.id = m.user_id
           WHERE m.account_id = $1 ORDER BY u.email"#,
        account_id.0,
    )
    .fetch_all(pool)
    .await?)
}

pub async fn get(
    pool: &PgPool,
    account_id: AccountId,
    user_id: UserId,
) -> Result<Member, StoreError> {
    sqlx::query_as!(
        Member,
        r#"SELECT m.user_id AS "user_id: UserId", u.email, m.role AS "role: Role",
                  m.created_at AS joined_at
           FROM memberships m JOIN users u ON u.id = m.user_id
           WHERE m.account_id = $1 AND m.user_id = $2"#,
        account_id.0,
        user_id.0,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Adds a membership inside the caller's transaction; 409 when the user is
/// a member already.
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account_id: AccountId,
    user_id: UserId,
    role: Role,
) -> Result<(), StoreError> {
    let inserted = sqlx::query!(
        "INSERT INTO memberships (account_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        account_id.0,
        user_id.0,
        role as _,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(StoreError::Conflict("a member with this email"));
    }
    Ok(())
}

/// Why a change of membership was refused.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("an account keeps at least one admin: make another member admin first")]
    LastAdmin,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for MembershipError {
    fn from(error: sqlx::Error) -> Self {
        MembershipError::Store(error.into())
    }
}

/// Locks the account's admin memberships for the rest of the transaction, so
/// that two concurrent demotions cannot both see another admin left, and
/// answers who they are.
async fn lock_admins(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account_id: AccountId,
) -> Result<Vec<UserId>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT user_id AS "user_id: UserId" FROM memberships
           WHERE account_id = $1 AND role = 'admin' ORDER BY user_id FOR UPDATE"#,
        account_id.0,
    )
    .fetch_all(&mut **tx)
    .await?)
}

/// Changes a member's role, refusing to leave the account without an admin.
/// Answers the member's role before the change.
pub async fn set_role(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account_id: AccountId,
    user_id: UserId,
    role: Role,
) -> Result<Role, MembershipError> {
    let admins = lock_admins(tx, account_id).await?;
    let before = sqlx::query_scalar!(
        r#"SELECT role AS "role: Role" FROM memberships
           WHERE account_id = $1 AND user_id = $2 FOR UPDATE"#,
        account_id.0,
        user_id.0,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    if role != Role::Admin && admins == [user_id] {
        return Err(MembershipError::LastAdmin);
    }
    sqlx::query!(
        "UPDATE memberships SET role = $3 WHERE account_id = $1 AND user_id = $2",
        account_id.0,
        user_id.0,
        role as _,
    )
    .execute(&mut **tx)
    .await?;
    Ok(before)
}

/// Removes a member (and ends their sessions in this account), refusing to
/// remove the last admin. Answers the removed member.
pub async fn remove(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account_id: AccountId,
    user_id: UserId,
) -> Result<Role, MembershipError> {
    let admins = lock_admins(tx, account_id).await?;
    if admins == [user_id] {
        return Err(MembershipError::LastAdmin);
    }
    let role = sqlx::query_scalar!(
        r#"DELETE FROM memberships WHERE account_id = $1 AND user_id = $2
           RETURNING role AS "role: Role""#,
        account_id.0,
        user_id.0,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    sqlx::query!(
        "UPDATE sessions SET revoked_at = now()
         WHERE account_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        account_id.0,
        user_id.0,
    )
    .execute(&mut **tx)
    .await?;
    Ok(role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_stored_by_their_names() {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        crate::stored_enum::assert_stored_as(&Role::ALL, &names);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::json!(role.as_str())
            );
        }
        assert_eq!(Role::parse("owner"), None);
    }
}
