//! Invitations to join an account: a single-use token with an expiry, for
//! one email address and one role.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::{AccountId, InvitationId, UserId};
use crate::memberships::Role;
use crate::page::{Page, PageRequest};
use crate::secrets::{credential_hash, mint_credential};

/// The kind prefix of invitation tokens.
pub const TOKEN_KIND: &str = "tgi";

#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: InvitationId,
    pub account_id: AccountId,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates an invitation; the returned token is the only time it exists in clear.
pub async fn create(
    pool: &PgPool,
    account_id: AccountId,
    email: &str,
    role: Role,
    invited_by: Option<UserId>,
    expires_at: DateTime<Utc>,
) -> Result<(Invitation, String), StoreError> {
    let credential = mint_credential(TOKEN_KIND);
    let invitation = sqlx::query_as!(
        Invitation,
        r#"INSERT INTO invitations (id, account_id, email, role, token_hash, invited_by, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING id AS "id: InvitationId", account_id AS "account_id: AccountId", email,
                     role AS "role: Role", invited_by AS "invited_by: UserId", created_at,
                     expires_at, accepted_at, revoked_at"#,
        InvitationId::new().0,
        account_id.0,
        email,
        role as _,
        credential.hash,
        invited_by.map(|u| u.0),
        expires_at,
    )
    .fetch_one(pool)
    .await?;
    Ok((invitation, credential.token))
}

/// The account's invitations, newest first.
pub async fn list(
    pool: &PgPool,
    account_id: AccountId,
    page: PageRequest<InvitationId>,
) -> Result<Page<Invitation>, StoreError> {
    let rows = sqlx::query_as!(
        Invitation,
        r#"SELECT id AS "id: InvitationId", account_id AS "account_id: AccountId", email,
                  role AS "role: Role", invited_by AS "invited_by: UserId", created_at,
                  expires_at, accepted_at, revoked_at
           FROM invitations
           WHERE account_id = $1 AND ($2::uuid IS NULL OR id < $2)
           ORDER BY id DESC LIMIT $3"#,
        account_id.0,
        page.after.map(|id| id.0),
        page.fetch_limit(),
    )
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, page.limit, |i| i.id.to_string()))
}

/// Withdraws an invitation not yet accepted.
pub async fn revoke(
    pool: &PgPool,
    account_id: AccountId,
    id: InvitationId,
) -> Result<Invitation, StoreError> {
    sqlx::query_as!(
        Invitation,
        r#"UPDATE invitations SET revoked_at = COALESCE(revoked_at, now())
           WHERE id = $1 AND account_id = $2 AND accepted_at IS NULL
           RETURNING id AS "id: InvitationId", account_id AS "account_id: AccountId", email,
                     role AS "role: Role", invited_by AS "invited_by: UserId", created_at,
                     expires_at, accepted_at, revoked_at"#,
        id.0,
        account_id.0,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Why a token cannot be accepted. Each is told apart only after the token
/// itself matched, so a guess learns nothing but "unknown".
#[derive(Debug, PartialEq, Eq)]
pub enum Unusable {
    Unknown,
    Accepted,
    Revoked,
    Expired,
}

/// Claims the invitation a token names, inside the caller's transaction
/// (locked, so two acceptances of one token cannot both succeed). The
/// caller then adds the membership and commits, or rolls both back.
pub async fn claim(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    token: &str,
    by: UserId,
) -> Result<Result<Invitation, Unusable>, StoreError> {
    let Some(found) = sqlx::query_as!(
        Invitation,
        r#"SELECT id AS "id: InvitationId", account_id AS "account_id: AccountId", email,
                  role AS "role: Role", invited_by AS "invited_by: UserId", created_at,
                  expires_at, accepted_at, revoked_at
           FROM invitations WHERE token_hash = $1 FOR UPDATE"#,
        credential_hash(token),
    )
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(Err(Unusable::Unknown));
    };
    if found.accepted_at.is_some() {
        return Ok(Err(Unusable::Accepted));
    }
    if found.revoked_at.is_some() {
        return Ok(Err(Unusable::Revoked));
    }
    if found.expires_at <= Utc::now() {
        return Ok(Err(Unusable::Expired));
    }
    sqlx::query!(
        "UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1",
        found.id.0,
        by.0,
    )
    .execute(&mut **tx)
    .await?;
    Ok(Ok(found))
}

/// The invitation a token names, unlocked, to learn its email before
/// deciding how to accept it.
pub async fn peek(pool: &PgPool, token: &str) -> Result<Option<Invitation>, StoreError> {
    Ok(sqlx::query_as!(
        Invitation,
        r#"SELECT id AS "id: InvitationId", account_id AS "account_id: AccountId", email,
                  role AS "role: Role", invited_by AS "invited_by: UserId", created_at,
                  expires_at, accepted_at, revoked_at
           FROM invitations WHERE token_hash = $1"#,
        credential_hash(token),
    )
    .fetch_optional(pool)
    .await?)
}
