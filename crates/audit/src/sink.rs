//! The gateway's end: [`AuditSink::record`] never waits. Events go through a
//! bounded channel to a background task that appends them to the queue in
//! batches, keeps them in a bounded memory buffer while the queue is
//! unreachable, and counts (and logs) whatever it must drop.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

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
    /// How long the first event of a batch waits for others. Under load one
    /// append (and one wake-up of the background task) then carries many
    /// events instead of one each.
    pub linger: Duration,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            channel: 10_000,
            buffer: 100_000,
            batch: 500,
            linger: Duration::from_millis(5),
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
    pub fn redis(queue: RedisQueue, config: SinkConfig) -> (Self, SinkDrain) {
        Self::spawn(config, "append", move |batch| {
            let queue = queue.clone();
            async move { queue.append(&batch).await.map_err(|e| e.to_string()) }
        })
    }

    /// Single node without Redis: events go straight to an in-process writer
    /// that stores them in Postgres in batches.
    pub fn in_process(pool: PgPool, config: SinkConfig) -> (Self, SinkDrain) {
        Self::spawn(config, "store", move |batch| {
            let pool = pool.clone();
            async move {
                crate::writer::write(&pool, &batch)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        })
    }

    fn spawn<F, Fut>(config: SinkConfig, stage: &'static str, store: F) -> (Self, SinkDrain)
    where
        F: FnMut(Vec<AuditEvent>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let (sender, receiver) = mpsc::channel(config.channel);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(drive(receiver, config, stopped, stage, store));
        let sink = Self {
            sender: Some(sender),
        };
        (sink, SinkDrain { stop, task })
    }
}

/// Ends a sink's background task once it has stored what it holds: a
/// process that stops gracefully loses no event it accepted.
#[derive(Debug)]
pub struct SinkDrain {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl SinkDrain {
    /// Refuses new events, stores those waiting, and returns once done or
    /// after `within` (the store is unreachable), saying so.
    pub async fn finish(self, within: Duration) {
        let _ = self.stop.send(());
        if tokio::time::timeout(within, self.task).await.is_err() {
            tracing::error!(
                ?within,
                "audit events still buffered at shutdown could not be stored and are lost"
            );
        }
    }
}

/// The background task: batches from the channel to `store`, retried with
/// backoff while it fails, bounded by the buffer.
async fn drive<F, Fut>(
    mut receiver: mpsc::Receiver<AuditEvent>,
    config: SinkConfig,
    stopped: oneshot::Receiver<()>,
    stage: &'static str,
    mut store: F,
) where
    F: FnMut(Vec<AuditEvent>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut buffer: VecDeque<AuditEvent> = VecDeque::new();
    let mut backoff: Option<Duration> = None;
    let mut stopping = false;
    // Listened to until it fires; a drain dropped unused never stops the task.
    let mut stop = Some(stopped);
    loop {
        // Once stopping, nothing waits for company: the process is leaving.
        let filling = fill(&mut receiver, &mut buffer, &config, !stopping, backoff);
        let open = match stop.as_mut() {
            None => filling.await,
            Some(signal) => tokio::select! {
                open = filling => open,
                signal = signal => {
                    stop = None;
                    if signal.is_ok() {
                        stopping = true;
                        // Events already in the channel are still taken.
                        receiver.close();
                    }
                    continue;
                }
            },
        };
        if !open && buffer.is_empty() {
            return;
        }
        metrics::gauge!(BUFFERED_METRIC).set(buffer.len() as f64);
        while !buffer.is_empty() {
            let take = buffer.len().min(config.batch);
            let batch: Vec<AuditEvent> = buffer.range(..take).cloned().collect();
            match store(batch).await {
                Ok(()) => {
                    buffer.drain(..take);
                    metrics::counter!(QUEUED_METRIC).increment(take as u64);
                    backoff = None;
                }
                Err(err) => {
                    // A failed append may have stored some events; storing
                    // them again is harmless, the store skips known ids.
                    metrics::counter!(ERRORS_METRIC, "stage" => stage).increment(1);
                    if backoff.is_none() {
                        tracing::warn!(error = %err, buffered = buffer.len(), stage, "audit events cannot be stored yet; buffering them");
                    }
                    backoff = Some(backoff.map_or(Duration::from_millis(100), |b| {
                        (b * 2).min(Duration::from_secs(5))
                    }));
                    break;
                }
            }
        }
        metrics::gauge!(BUFFERED_METRIC).set(buffer.len() as f64);
    }
}

/// Waits for an event, lingers briefly for others, then takes whatever is
/// waiting in the channel. Returns false once every sender is gone and the channel is empty.
async fn fill(
    receiver: &mut mpsc::Receiver<AuditEvent>,
    buffer: &mut VecDeque<AuditEvent>,
    config: &SinkConfig,
    linger: bool,
    wait: Option<Duration>,
) -> bool {
    let limit = config.buffer;
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
        if linger && !config.linger.is_zero() && receiver.len() + 1 < config.batch {
            tokio::time::sleep(config.linger).await;
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
