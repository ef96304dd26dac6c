//! Postgres persistence for Toolgate.
//!
//! Plain async functions, one module per table or aggregate. Every function on
//! tenant data takes the account id first and filters on it, so a row of
//! another account is indistinguishable from a missing one.
//!
//! Queries are checked at compile time (`sqlx::query!` and friends, against
//! the workspace's `.sqlx/`). Typed ids are bound by their UUID (`id.0`) and
//! read back by override (`id AS "id: ServerId"`). Enums kept in `text`
//! columns derive `sqlx::Type` with their snake_case names; the macros check
//! parameters against built-in types only, so they are bound with `as _`.

#![forbid(unsafe_code)]

pub mod account_events;
pub mod accounts;
pub mod api_keys;
pub mod approvals;
pub mod audit;
pub mod audit_dead_letters;
pub mod audit_replay;
pub mod catalog;
pub mod db;
pub mod deployment;
pub mod dev_secrets;
pub mod error;
pub mod grants;
pub mod ids;
pub mod invitations;
pub mod memberships;
pub mod page;
pub mod password_resets;
pub mod pending_signups;
pub mod policies;
pub mod policy_shadows;
pub mod secrets;
pub mod servers;
pub mod sessions;
pub mod snapshot;
pub mod storable;
#[cfg(test)]
mod stored_enum;
pub mod target_kind;
pub mod usage;
pub mod users;
pub mod webhook_events;

pub use error::StoreError;
pub use page::{Page, PageRequest};
pub use sqlx::PgPool;
