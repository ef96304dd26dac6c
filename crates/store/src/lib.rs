//! Postgres persistence for Toolgate.
//!
//! Plain async functions, one module per table or aggregate. Every function on
//! tenant data takes the account id first and filters on it, so a row of
//! another account is indistinguishable from a missing one.

#![forbid(unsafe_code)]

pub mod accounts;
pub mod api_keys;
pub mod approvals;
pub mod audit;
pub mod audit_dead_letters;
pub mod catalog;
pub mod db;
pub mod deployment;
pub mod dev_secrets;
pub mod error;
pub mod grants;
pub mod ids;
pub mod page;
pub mod pending_signups;
pub mod policies;
pub mod secrets;
pub mod servers;
pub mod snapshot;
pub mod storable;
pub mod target_kind;
pub mod users;
pub mod webhook_events;

pub use error::StoreError;
pub use page::{Page, PageRequest};
pub use sqlx::PgPool;
