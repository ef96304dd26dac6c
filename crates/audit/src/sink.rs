//! The gateway's end: [`AuditSink::record`] never waits. Events go through a
//! bounded channel to a background task that appends them to the queue in
//! batches, keeps them in a bounded memory buffer while the queue is
//! unreachable, and counts (and logs) whatever it must drop.

use std::collections::VecDeque;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::queue::RedisQueue;
use crate::{AuditEvent, BUFFERED_METRIC, DROPPED_METRIC, ERRORS_METRIC, QUEUED_METRIC};

/// Sizes of the hand-off.
#[derive(Debug, Clone, Copy)]
pub struct SinkConfig {
    /// Events waiting between the request path and the background task.
    pub channel: usize,
    /// Events kept in memory while the queue is unreachable.
    pub buffer: usize,
    /// Largest batch appended in one round trip.
    pub batch: usize,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            channel: 10_000,
            buffer: 100_000,
            batch: 500,
        }
    }
}

/// Where the gateway records decisions. Clones share the channel.
#[derive(Clone, Debug)]
pub struct AuditSink {
    sender: Option<mpsc::Sender<AuditEvent>>,
}

fn dropped(reason: &'static str, count: usize) {
    metrics::counter!(DROPPED_METRIC, "reason" => reason).increment(count as u64);
}

impl AuditSink {
    /// Records nothing (tests and benches that do not look at the trail).
    pub fn disabled() -> Self {
        Self { sender: None }
    }

    /// Whether events go anywhere; when not, callers may skip building them.
    pub fn is_enabled(&self) -> bool {
        self.sender.is_some()
    }

    /// Hands one event off the request path. Never waits: when the channel
    /// is full the event is dropped, counted and logged.
    pub fn record(&self, event: AuditEvent) {
        let Some(sender) = &self.sender else {
            return;
        };
        if let Err(err) = sender.try_send(event) {
            dropped("channel_full", 1);
            let event = match err {
                mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e) => e,
            };
            tracing::warn!(event = %event.id, account = %event.account, "audit channel full: event dropped");
        }
    }

    /// Events go to a Redis Stream through a background task.
    pub fn redis(queue: RedisQueue, config: SinkConfig) -> Self {
        let (sender, receiver) = mpsc::channel(config.channel);
        tokio::spawn(forward(receiver, queue, config));
        Self {
            sender: Some(sender),
        }
    }

    /// Single node without Redis: events go straight to an in-process writer
    /// that stores them in Postgres in batches.
    pub fn in_process(pool: PgPool, config: SinkConfig) -> Self {
        let (sender, receiver) = mpsc::channel(config.channel);
        tokio::spawn(crate::consumer::write_in_process(pool, receiver, config));
        Self {
            sender: Some(sender),
        }
    }
}

/// Takes whatever is waiting in the channel, without waiting for more.
/// Returns false once every sender is gone and the channel is empty.
pub(crate) async fn fill(
    receiver: &mut mpsc::Receiver<AuditEvent>,
    buffer: &mut VecDeque<AuditEvent>,
    limit: usize,
    wait: Option<Duration>,
) -> bool {
    if buffer.is_empty() {
        let first = match wait {
            None => receiver.recv().await,
            Some(wait) => match tokio::time::timeout(wait, receiver.recv()).await {
                Ok(first) => first,
                Err(_) => return true,
            },
        };
        match first {
            Some(event) => buffer.push_back(event),
            None => return false,
        }
    } else if let Some(wait) = wait {
        // Something is waiting to be retried: pause before trying again,
        // taking in new events meanwhile.
        tokio::time::sleep(wait).await;
    }
    let mut over = 0;
    while let Ok(event) = receiver.try_recv() {
        if buffer.len() < limit {
            buffer.push_back(event);
        } else {
            over += 1;
        }
    }
    if over > 0 {
        dropped("buffer_full", over);
        tracing::warn!(
            dropped = over,
            buffered = buffer.len(),
            "audit buffer full while the queue is unreachable: events dropped"
        );
    }
    true
}

async fn forward(mut receiver: mpsc::Receiver<AuditEvent>, queue: RedisQueue, config: SinkConfig) {
    let mut buffer: VecDeque<AuditEvent> = VecDeque::new();
    let mut backoff: Option<Duration> = None;
    loop {
        if !fill(&mut receiver, &mut buffer, config.buffer, backoff).await && buffer.is_empty() {
            return;
        }
        metrics::gauge!(BUFFERED_METRIC).set(buffer.len() as f64);
        while !buffer.is_empty() {
            let take = buffer.len().min(config.batch);
            let batch: Vec<AuditEvent> = buffer.range(..take).cloned().collect();
            match queue.append(&batch).await {
                Ok(()) => {
                    buffer.drain(..take);
                    metrics::counter!(QUEUED_METRIC).increment(take as u64);
                    backoff = None;
                }
                Err(err) => {
                    // A failed pipeline may have appended some entries; sending
                    // them again is harmless, the consumer skips known ids.
                    metrics::counter!(ERRORS_METRIC, "stage" => "append").increment(1);
                    let next = backoff.map_or(Duration::from_millis(100), |b| {
                        (b * 2).min(Duration::from_secs(5))
                    });
                    if backoff.is_none() {
                        tracing::warn!(error = %err, buffered = buffer.len(), "audit queue unreachable; buffering events");
                    }
                    backoff = Some(next);
                    break;
                }
            }
        }
        metrics::gauge!(BUFFERED_METRIC).set(buffer.len() as f64);
    }
}
