//! Audit events Postgres refused for their data, set aside so that the rest
//! of the trail is stored (see the `audit_dead_letters` migration).
//!
//! Everything written here is made storable first, so that setting an event
//! aside can never be refused for the same reason the event was.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::StoreError;
use crate::ids::{AccountId, EventId};
use crate::storable::storable_str;

/// One event, or one unreadable queue entry, to set aside.
#[derive(Debug, Clone)]
pub struct NewDeadLetter {
    /// Known when the entry held a readable event.
    pub event_id: Option<EventId>,
    pub account: Option<AccountId>,
    /// The Redis Stream entry that carried it; none on the in-process queue.
    pub stream_entry: Option<String>,
    /// The event as JSON text, or the unreadable entry's text.
    pub event: String,
    /// The SQLSTATE Postgres answered with, if it answered.
    pub sqlstate: Option<String>,
    pub error: String,
}

/// A stored dead letter.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: i64,
    pub event_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub stream_entry: Option<String>,
    pub event: String,
    pub sqlstate: Option<String>,
    pub error: String,
    pub dead_lettered_at: DateTime<Utc>,
}

/// Sets letters aside; one already set aside (the same event id, or the same
/// unreadable stream entry) is skipped. Returns the number of new rows.
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    letters: &[NewDeadLetter],
) -> Result<u64, StoreError> {
    if letters.is_empty() {
        return Ok(0);
    }
    let text = |t: &str| storable_str(t).into_owned();
    let event_ids: Vec<Option<Uuid>> = letters.iter().map(|l| l.event_id.map(|e| e.0)).collect();
    let accounts: Vec<Option<Uuid>> = letters.iter().map(|l| l.account.map(|a| a.0)).collect();
    let entries: Vec<Option<String>> = letters
        .iter()
        .map(|l| l.stream_entry.as_deref().map(text))
        .collect();
    let events: Vec<String> = letters.iter().map(|l| text(&l.event)).collect();
    let states: Vec<Option<String>> = letters
        .iter()
        .map(|l| l.sqlstate.as_deref().map(text))
        .collect();
    let errors: Vec<String> = letters.iter().map(|l| text(&l.error)).collect();
    // Arrays of nullable elements have no Rust type the macro checks
    // against `uuid[]` or `text[]` (`as _`).
    let inserted = sqlx::query!(
        "INSERT INTO audit_dead_letters (event_id, account_id, stream_entry, event, sqlstate, error)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[])
         ON CONFLICT DO NOTHING",
        &event_ids as _,
        &accounts as _,
        &entries as _,
        &events,
        &states as _,
        &errors,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted)
}

/// The most recent dead letters, newest first.
pub async fn recent(pool: &PgPool, limit: i64) -> Result<Vec<DeadLetter>, StoreError> {
    Ok(sqlx::query_as!(
        DeadLetter,
        "SELECT id, event_id, account_id, stream_entry, event, sqlstate, error, dead_lettered_at
         FROM audit_dead_letters ORDER BY dead_lettered_at DESC, id DESC LIMIT $1",
        limit,
    )
    .fetch_all(pool)
    .await?)
}
