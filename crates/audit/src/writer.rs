//! Events into Postgres, for both queues: the stream consumer and the
//! in-process writer.
//!
//! A batch is one transaction, inserted idempotently by event id. A batch
//! Postgres refuses for its *data* (SQLSTATE classes 22 data exception, 23
//! constraint violation, 54 program limit, or a value the driver could not
//! encode) is bisected inside one transaction with savepoints until the
//! events it refuses are found; those are set aside in `audit_dead_letters`
//! and counted, the rest stored, and all of it commits at once. Any other
//! failure (connection, timeout, serialization, a schema the process does not
//! expect) fails the whole batch, to be retried as before: retrying can help
//! there, and setting events aside would lose them for no reason.

use std::ops::Range;

use sqlx::{Acquire, PgPool};
use toolgate_store::audit::insert_batch;
use toolgate_store::audit_dead_letters::{self, NewDeadLetter};
use toolgate_store::StoreError;

use crate::consumer::ConsumeError;
use crate::{AuditEvent, DEAD_LETTERED_METRIC, STORED_METRIC};

/// What one write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Events newly stored (those already stored by id not counted).
    pub stored: u64,
    /// Events (or unreadable entries) newly set aside.
    pub dead_lettered: u64,
}

impl std::ops::AddAssign for Written {
    fn add_assign(&mut self, other: Self) {
        self.stored += other.stored;
        self.dead_lettered += other.dead_lettered;
    }
}

/// What a queue entry holds that is no readable event (the whole entry, or
/// the lines of it that are not events): set aside as it is.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub entry: String,
    /// The text (invalid UTF-8 replaced), or a note when the entry had none.
    pub text: String,
}

/// Why Postgres (or the driver) refused a batch for the data in it.
struct DataRefusal {
    sqlstate: Option<String>,
    constraint: Option<String>,
    message: String,
}

/// Stores `events` (from the in-process queue: no stream entries).
pub async fn write(pool: &PgPool, events: &[AuditEvent]) -> Result<Written, ConsumeError> {
    write_entries(pool, events, &[], &[]).await
}

/// Stores `events`, each carried by the stream entry of the same index in
/// `entries` (empty for the in-process queue), and sets `unreadable`
/// entries aside, all in one transaction.
pub async fn write_entries(
    pool: &PgPool,
    events: &[AuditEvent],
    entries: &[String],
    unreadable: &[Unreadable],
) -> Result<Written, ConsumeError> {
    if events.is_empty() && unreadable.is_empty() {
        return Ok(Written::default());
    }
    let written = if unreadable.is_empty() {
        // The usual case: one insert, one commit, exactly as fast as before.
        match write_whole(pool, events).await {
            Ok(stored) => Written {
                stored,
                dead_lettered: 0,
            },
            Err(err) if data_refusal(&err).is_some() => {
                write_apart(pool, events, entries, unreadable).await?
            }
            Err(err) => return Err(err.into()),
        }
    } else {
        write_apart(pool, events, entries, unreadable).await?
    };
    metrics::counter!(STORED_METRIC).increment(written.stored);
    if written.dead_lettered > 0 {
        metrics::counter!(DEAD_LETTERED_METRIC).increment(written.dead_lettered);
    }
    Ok(written)
}

async fn write_whole(pool: &PgPool, events: &[AuditEvent]) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let inserted = insert_batch(&mut tx, events).await?;
    tx.commit().await?;
    Ok(inserted)
}

/// The slow path: bisects `events` under savepoints down to the single
/// events Postgres refuses, sets those (and `unreadable`) aside, and commits
/// the rest with them.
async fn write_apart(
    pool: &PgPool,
    events: &[AuditEvent],
    entries: &[String],
    unreadable: &[Unreadable],
) -> Result<Written, ConsumeError> {
    let mut tx = pool.begin().await?;
    let mut stored = 0;
    let mut letters: Vec<NewDeadLetter> = unreadable.iter().map(unreadable_letter).collect();
    // Depth first, left half first: events are tried in queue order. A range
    // that fails is split; a single event that fails is set aside.
    let mut ranges: Vec<Range<usize>> = Vec::with_capacity(16);
    ranges.push(0..events.len());
    while let Some(range) = ranges.pop() {
        if range.is_empty() {
            continue;
        }
        let mut savepoint = tx.begin().await?;
        match insert_batch(&mut savepoint, &events[range.clone()]).await {
            Ok(inserted) => {
                savepoint.commit().await?;
                stored += inserted;
            }
            Err(err) => {
                savepoint.rollback().await?;
                let Some(refusal) = data_refusal(&err) else {
                    return Err(err.into());
                };
                if range.len() == 1 {
                    let entry = entries.get(range.start).cloned();
                    letters.push(event_letter(&events[range.start], entry, refusal));
                } else {
                    let middle = range.start + range.len() / 2;
                    ranges.push(middle..range.end);
                    ranges.push(range.start..middle);
                }
            }
        }
    }
    let dead_lettered = audit_dead_letters::insert(&mut tx, &letters).await?;
    tx.commit().await?;
    for letter in &letters {
        // Ids and the refusal only: the event may hold argument values.
        tracing::warn!(
            event = ?letter.event_id.map(|id| id.to_string()),
            account = ?letter.account.map(|id| id.to_string()),
            stream_entry = letter.stream_entry.as_deref(),
            sqlstate = letter.sqlstate.as_deref(),
            "audit event refused by Postgres: set aside in audit_dead_letters"
        );
    }
    Ok(Written {
        stored,
        dead_lettered,
    })
}

fn event_letter(event: &AuditEvent, entry: Option<String>, refusal: DataRefusal) -> NewDeadLetter {
    let error = match &refusal.constraint {
        Some(constraint) => format!("{} (constraint {constraint})", refusal.message),
        None => refusal.message,
    };
    NewDeadLetter {
        event_id: Some(event.id),
        account: Some(event.account),
        stream_entry: entry,
        // serde_json escapes every control character, NUL included: the
        // text is storable as it is.
        event: serde_json::to_string(event).unwrap_or_default(),
        sqlstate: refusal.sqlstate,
        error,
    }
}

fn unreadable_letter(unreadable: &Unreadable) -> NewDeadLetter {
    NewDeadLetter {
        event_id: None,
        account: None,
        stream_entry: Some(unreadable.entry.clone()),
        event: unreadable.text.clone(),
        sqlstate: None,
        error: "the queue entry holds text that is no readable audit event".to_owned(),
    }
}

/// `Some` when `err` is Postgres (or the driver) refusing the data itself, so
/// that retrying the same rows can never succeed.
fn data_refusal(err: &StoreError) -> Option<DataRefusal> {
    let StoreError::Database(err) = err else {
        return None;
    };
    match err {
        sqlx::Error::Database(db) => {
            let sqlstate = db.code()?.into_owned();
            if !is_data_class(&sqlstate) {
                return None;
            }
            let constraint = db.constraint().map(str::to_owned);
            Some(DataRefusal {
                sqlstate: Some(sqlstate),
                constraint,
                message: db.message().to_owned(),
            })
        }
        sqlx::Error::Encode(cause) => Some(DataRefusal {
            sqlstate: None,
            constraint: None,
            message: format!("could not encode the event: {cause}"),
        }),
        _ => None,
    }
}

/// SQLSTATE classes about the rows, not the connection or the statement:
/// 22 data exception, 23 integrity constraint violation, 54 program limit
/// exceeded (a value or row too large).
fn is_data_class(sqlstate: &str) -> bool {
    matches!(sqlstate.get(..2), Some("22" | "23" | "54"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_data_classes_set_events_aside() {
        // 22021 NUL in text, 22P05 NUL in jsonb, 23514 check, 23505 unique,
        // 54000 too large.
        for data in ["22021", "22P05", "22001", "23514", "23505", "54000"] {
            assert!(is_data_class(data), "{data}");
        }
        // Connection, serialization, deadlock, admin shutdown, undefined
        // table/column (a schema this process does not expect), out of memory.
        for transient in [
            "08006", "40001", "40P01", "57P01", "42P01", "42703", "53200", "",
        ] {
            assert!(!is_data_class(transient), "{transient}");
        }
    }

    #[test]
    fn connection_failures_are_not_data_refusals() {
        let err = StoreError::Database(sqlx::Error::PoolTimedOut);
        assert!(data_refusal(&err).is_none());
        let err = StoreError::Database(sqlx::Error::Io(std::io::Error::other("reset")));
        assert!(data_refusal(&err).is_none());
    }
}
