//! The audit trail's moving parts: the gateway hands each `tools/call`
//! decision to an [`AuditSink`] without waiting; a background task moves the
//! events into a durable queue (a Redis Stream); the control plane's
//! [`consumer`] stores them in Postgres idempotently (by event id) and
//! acknowledges them only after the commit, so a crash of either process
//! loses nothing that was queued and stores nothing twice.
//!
//! On a single node without Redis, the sink hands events straight to an
//! in-process writer instead ([`AuditSink::in_process`]): events still
//! leave the request path, but those not yet written die with the process
//! if it crashes. A graceful stop drains either path ([`SinkDrain`]).
//!
//! Both paths write through [`writer`]: text Postgres cannot hold is made
//! storable, and an event Postgres still refuses for its data is set aside
//! in a dead-letter table instead of blocking every event after it.

#![forbid(unsafe_code)]

pub mod consumer;
pub mod queue;
pub mod retention;
pub mod sink;
pub mod writer;

pub use consumer::Consumer;
pub use queue::{QueueError, RedisQueue, StreamConfig};
pub use sink::{AuditSink, SinkConfig, SinkDrain};
pub use toolgate_store::audit::{AuditDecision, AuditEvent, UpstreamOutcome};
pub use writer::Written;

/// Events the gateway could not keep, by `reason`: `channel_full` (the
/// hand-off channel was full), `buffer_full` (the queue was unreachable and
/// the memory buffer was full).
pub const DROPPED_METRIC: &str = "toolgate_audit_events_dropped_total";
/// Events written to the queue (or, in process, handed to the writer).
pub const QUEUED_METRIC: &str = "toolgate_audit_events_queued_total";
/// Events newly stored in Postgres (redeliveries not counted).
pub const STORED_METRIC: &str = "toolgate_audit_events_stored_total";
/// Events Postgres refused for their data (and queue entries holding no
/// readable event), set aside in `audit_dead_letters` so the rest is stored.
pub const DEAD_LETTERED_METRIC: &str = "toolgate_audit_events_dead_lettered_total";
/// Failed queue or database operations of the audit pipeline, by `stage`.
pub const ERRORS_METRIC: &str = "toolgate_audit_errors_total";
/// Events waiting in the gateway's memory buffer for the queue.
pub const BUFFERED_METRIC: &str = "toolgate_audit_events_buffered";
