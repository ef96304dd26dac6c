//! Sign-ups waiting for their email address to be confirmed.
//!
//! Staging answers the same way, at the same cost, whether or not the address
//! already has a user: one statement either way. Redeeming turns a row into
//! an account and its owner exactly once.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::accounts::{self, Account, NewAccount};
use crate::error::StoreError;
use crate::users::User;

/// A sign-up to stage; the password is already hashed, the token already
/// digested.
pub struct NewPendingSignup<'a> {
    pub email: &'a str,
    pub token_hash: &'a [u8],
    pub password_hash: &'a str,
    pub account_name: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// What staging found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// Stored, replacing any earlier sign-up for the address.
    Pending,
    /// The address already has a user; nothing was stored.
    AlreadyRegistered,
}

/// Stores a sign-up for `new.email` unless a user already has that address.
/// Also forgets sign-ups that expired more than a day ago (the day keeps
/// "expired" answers accurate for a while).
pub async fn stage(pool: &PgPool, new: NewPendingSignup<'_>) -> Result<Staged, StoreError> {
    // Data-modifying CTEs run whether or not they are referenced. The purge
    // spares this address: one statement must not touch a row twice.
    let registered = sqlx::query_scalar!(
        r#"WITH purged AS (
             DELETE FROM pending_signups
             WHERE expires_at < now() - interval '1 day' AND email <> $1
         ), registered AS (
             SELECT EXISTS (SELECT 1 FROM users WHERE email = $1) AS yes
         ), staged AS (
             INSERT INTO pending_signups (email, token_hash, password_hash, account_name, expires_at)
             SELECT $1, $2, $3, $4, $5 FROM registered WHERE NOT registered.yes
             ON CONFLICT (email) DO UPDATE SET
                 token_hash = EXCLUDED.token_hash,
                 password_hash = EXCLUDED.password_hash,
                 account_name = EXCLUDED.account_name,
                 created_at = now(),
                 expires_at = EXCLUDED.expires_at
             RETURNING 1
         )
         SELECT yes AS "yes!" FROM registered"#,
        new.email,
        new.token_hash,
        new.password_hash,
        new.account_name,
        new.expires_at,
    )
    .fetch_one(pool)
    .await?;
    Ok(if registered {
        Staged::AlreadyRegistered
    } else {
        Staged::Pending
    })
}

/// What redeeming a token did.
#[derive(Debug)]
pub enum Redeemed {
    /// The account and its owner now exist; the token is spent.
    Created { account: Account, user: User },
    /// No pending sign-up has this token: never issued, already used, or
    /// replaced by a later sign-up for the same address.
    Unknown,
    /// The token was issued but its time ran out; it is now spent.
    Expired,
    /// The address got an account since the token was issued; the token is
    /// now spent.
    AddressTaken,
}

struct Spent {
    email: String,
    password_hash: String,
    account_name: String,
    expired: bool,
}

/// Spends the token and creates the account it stands for, in one
/// transaction: of two concurrent redemptions, the second finds nothing.
/// `slug_base` derives the account's slug from its name.
pub async fn redeem(
    pool: &PgPool,
    token_hash: &[u8],
    slug_base: impl FnOnce(&str) -> String,
) -> Result<Redeemed, StoreError> {
    let mut tx = pool.begin().await?;
    let spent = sqlx::query_as!(
        Spent,
        r#"DELETE FROM pending_signups WHERE token_hash = $1
           RETURNING email, password_hash, account_name, expires_at <= now() AS "expired!""#,
        token_hash,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(spent) = spent else {
        return Ok(Redeemed::Unknown);
    };
    let taken = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE email = $1) AS "taken!""#,
        spent.email,
    )
    .fetch_one(&mut *tx)
    .await?;
    let redeemed = if spent.expired {
        Redeemed::Expired
    } else if taken {
        Redeemed::AddressTaken
    } else {
        let (account, user) = accounts::insert_with_owner(
            &mut tx,
            NewAccount {
                name: &spent.account_name,
                slug_base: &slug_base(&spent.account_name),
                email: &spent.email,
                password_hash: &spent.password_hash,
            },
        )
        .await?;
        Redeemed::Created { account, user }
    };
    tx.commit().await?;
    Ok(redeemed)
}
