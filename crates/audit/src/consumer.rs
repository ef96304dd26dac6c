//! The control plane's end: events from the queue into Postgres, one
//! transaction per batch of entries, inserted idempotently by event id,
//! acknowledged only after the commit.
//!
//! A crash after the commit and before the acknowledgement leaves the batch
//! pending in the group; the next start reads this reader's pending entries
//! first and inserts them again, which adds nothing. Entries of a reader
//! that never returns are claimed by another after `claim_idle`.
//!
//! An event Postgres refuses for its data is set aside, not retried: the
//! redelivered batch stores and sets aside the same events again, which adds
//! nothing, so neither a poison event nor a restart loops.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::queue::{Entry, QueueError, RedisQueue};
use crate::writer::{write_entries, Unreadable, Written};
use crate::{AuditEvent, ERRORS_METRIC};

/// Most entries read at once. Each carries up to
/// [`ENTRY_EVENTS`](crate::queue::ENTRY_EVENTS) events.
const BATCH: usize = 64;
/// Most events written in one transaction: the entries read are written in
/// as many transactions as this needs (whole entries each), then
/// acknowledged together.
const WRITE_EVENTS: usize = 2_000;
/// How often abandoned entries of other readers are looked for.
const CLAIM_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("storing audit events failed: {0}")]
    Store(#[from] toolgate_store::StoreError),
}

impl From<sqlx::Error> for ConsumeError {
    fn from(err: sqlx::Error) -> Self {
        Self::Store(err.into())
    }
}

/// Reads the stream as one member of the consumer group.
pub struct Consumer {
    queue: RedisQueue,
    pool: PgPool,
    /// Own pending entries may exist: read them before new ones.
    recovering: bool,
    /// The consumer group is known to exist (checked after any failure).
    grouped: bool,
    last_claim: Option<Instant>,
}

impl Consumer {
    pub fn new(queue: RedisQueue, pool: PgPool) -> Self {
        Self {
            queue,
            pool,
            recovering: true,
            grouped: false,
            last_claim: None,
        }
    }

    /// Runs until the process ends, retrying with backoff on any failure.
    pub async fn run(mut self) {
        let mut backoff = Duration::from_millis(200);
        let mut failing = false;
        loop {
            match self.step().await {
                Ok(_) => {
                    if failing {
                        tracing::info!("audit consumer recovered");
                    }
                    failing = false;
                    backoff = Duration::from_millis(200);
                }
                Err(err) => {
                    metrics::counter!(ERRORS_METRIC, "stage" => "consume").increment(1);
                    if !failing {
                        tracing::warn!(error = %err, "audit consumer failed; retrying");
                    }
                    failing = true;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// One round: own pending entries first, then abandoned ones now and
    /// then, else new ones (waiting briefly for some). Returns the number of
    /// entries handled.
    pub async fn step(&mut self) -> Result<usize, ConsumeError> {
        let handled = self.read_and_store().await;
        if handled.is_err() {
            // Whatever was read stays pending: read it again first. And
            // the stream may be gone (deleted, Redis restarted empty).
            self.recovering = true;
            self.grouped = false;
        }
        handled
    }

    async fn read_and_store(&mut self) -> Result<usize, ConsumeError> {
        if !self.grouped {
            self.queue.ensure_group().await?;
            self.grouped = true;
        }
        if self.recovering {
            let entries = self.queue.read_own_pending(BATCH).await?;
            if entries.is_empty() {
                self.recovering = false;
            } else {
                return self.store(entries).await;
            }
        }
        if self.last_claim.is_none_or(|at| at.elapsed() >= CLAIM_EVERY) {
            self.last_claim = Some(Instant::now());
            let claimed = self.queue.claim_abandoned(BATCH).await?;
            if !claimed.is_empty() {
                tracing::info!(
                    entries = claimed.len(),
                    "claimed audit entries another reader left unacknowledged"
                );
                return self.store(claimed).await;
            }
        }
        let entries = self.queue.read_new(BATCH).await?;
        self.store(entries).await
    }

    /// Stores a batch and acknowledges it once committed. Events Postgres
    /// refuses and entries (or lines of one) holding no readable event are
    /// set aside in the same transaction (see [`crate::writer`]) and
    /// acknowledged with the rest: retrying cannot make them storable, and
    /// they must not hold up the events behind them.
    async fn store(&mut self, entries: Vec<Entry>) -> Result<usize, ConsumeError> {
        if entries.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        let mut chunk = Chunk::default();
        let mut written = Written::default();
        for entry in entries {
            if !chunk.events.is_empty() && chunk.events.len() + entry.events.len() > WRITE_EVENTS {
                written += chunk.write(&self.pool).await?;
                chunk = Chunk::default();
            }
            chunk.add(entry);
        }
        written += chunk.write(&self.pool).await?;
        self.queue.ack(&ids).await?;
        tracing::debug!(
            entries = ids.len(),
            inserted = written.stored,
            dead_lettered = written.dead_lettered,
            "audit batch stored"
        );
        Ok(ids.len())
    }
}

/// Entries written in one transaction: their events, each with the id of
/// the entry that carried it, and what they held that is not an event.
#[derive(Default)]
struct Chunk {
    events: Vec<AuditEvent>,
    carriers: Vec<String>,
    unreadable: Vec<Unreadable>,
}

impl Chunk {
    fn add(&mut self, entry: Entry) {
        self.carriers
            .extend(std::iter::repeat_n(entry.id.clone(), entry.events.len()));
        self.events.extend(entry.events);
        if let Some(text) = entry.unreadable {
            self.unreadable.push(Unreadable {
                entry: entry.id,
                text,
            });
        }
    }

    async fn write(self, pool: &PgPool) -> Result<Written, ConsumeError> {
        if !self.unreadable.is_empty() {
            metrics::counter!(ERRORS_METRIC, "stage" => "unreadable")
                .increment(self.unreadable.len() as u64);
            tracing::error!(
                entries = self.unreadable.len(),
                "audit queue entries that hold something other than events: set aside in audit_dead_letters"
            );
        }
        write_entries(pool, &self.events, &self.carriers, &self.unreadable).await
    }
}
