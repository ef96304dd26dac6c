//! Outgoing mail (sign-up links and notices), sent over SMTP by a background
//! task: no request waits on the mail server, so its latency cannot tell one
//! sign-up from another.
//!
//! Queued mail lives in memory. A failed delivery is retried with backoff;
//! a graceful stop waits (boundedly) for the queue to empty, and a crash
//! loses what was still queued — the person signs up again for a new link.

pub mod messages;
mod smtp_url;

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

pub use lettre::message::Mailbox;
pub use smtp_url::{SmtpUrl, SmtpUrlError};

/// Mail queued but not yet handed to the SMTP server, at most.
const QUEUE_CAPACITY: usize = 1024;
/// Deliveries in progress at once.
const MAX_IN_FLIGHT: usize = 4;

/// Where mail goes through and whom it is from.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub smtp: SmtpUrl,
    pub from: Mailbox,
}

/// How failed deliveries are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Delay before the first retry; doubled after each failure.
    pub first_retry: Duration,
    /// Longest wait for the SMTP server at any step.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            first_retry: Duration::from_secs(2),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why mail cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the SMTP transport cannot be built: {0}")]
    Transport(#[source] lettre::transport::smtp::Error),
    #[error("the outbox is full: too much mail is waiting for the SMTP server")]
    Full,
    #[error("the outbox is closed")]
    Closed,
}

/// One message to deliver, with what it is (for logs that name no one).
struct Outgoing {
    kind: &'static str,
    envelope: Envelope,
    bytes: Vec<u8>,
}

/// A handle to queue mail; cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    queue: mpsc::Sender<Outgoing>,
    from: Mailbox,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("from", &self.from.to_string())
            .field("queued", &(QUEUE_CAPACITY - self.queue.capacity()))
            .finish()
    }
}

/// Waits for queued mail to leave when the process stops.
pub struct OutboxDrain {
    task: JoinHandle<()>,
}

impl Outbox {
    /// Builds the SMTP transport and starts the task that delivers queued
    /// mail. The task ends once every [`Outbox`] clone is dropped and the
    /// queue is empty.
    pub fn start(
        settings: &MailSettings,
        policy: RetryPolicy,
    ) -> Result<(Self, OutboxDrain), MailError> {
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp.expose_to_transport())
                .map_err(MailError::Transport)?
                .timeout(Some(policy.timeout))
                .pool_config(PoolConfig::new().max_size(MAX_IN_FLIGHT as u32))
                .build();
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let task = tokio::spawn(deliver_all(receiver, transport, policy));
        Ok((
            Self {
                queue,
                from: settings.from.clone(),
            },
            OutboxDrain { task },
        ))
    }

    /// The sender of every message.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Queues `message` without waiting; `kind` names it in logs.
    pub fn queue(&self, kind: &'static str, message: &Message) -> Result<(), MailError> {
        let outgoing = Outgoing {
            kind,
            envelope: message.envelope().clone(),
            bytes: message.formatted(),
        };
        self.queue.try_send(outgoing).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => MailError::Full,
            mpsc::error::TrySendError::Closed(_) => MailError::Closed,
        })
    }
}

impl OutboxDrain {
    /// Waits up to `timeout` for queued mail to be delivered (or given up).
    /// Every [`Outbox`] must be dropped first, or this waits out the timeout.
    pub async fn finish(self, timeout: Duration) {
        if tokio::time::timeout(timeout, self.task).await.is_err() {
            tracing::warn!("stopping with sign-up mail still undelivered");
        }
    }
}

async fn deliver_all(
    mut queue: mpsc::Receiver<Outgoing>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    policy: RetryPolicy,
) {
    let mut in_flight = JoinSet::new();
    while let Some(outgoing) = queue.recv().await {
        while in_flight.len() >= MAX_IN_FLIGHT {
            in_flight.join_next().await;
        }
        in_flight.spawn(deliver(transport.clone(), outgoing, policy.clone()));
    }
    while in_flight.join_next().await.is_some() {}
}

/// Delivers one message, retrying with exponential backoff. Logs name the
/// kind of message only: never its recipient, link or token.
async fn deliver(
    transport: AsyncSmtpTransport<Tokio1Executor>,
    outgoing: Outgoing,
    policy: RetryPolicy,
) {
    let mut delay = policy.first_retry;
    for attempt in 1..=policy.attempts {
        match transport
            .send_raw(&outgoing.envelope, &outgoing.bytes)
            .await
        {
            Ok(_) => {
                tracing::info!(kind = outgoing.kind, attempt, "mail delivered");
                return;
            }
            Err(err) if attempt < policy.attempts && !err.is_permanent() => {
                tracing::warn!(kind = outgoing.kind, attempt, error = %err, "mail delivery failed; retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            Err(err) => {
                tracing::error!(kind = outgoing.kind, attempt, error = %err, "mail delivery failed; giving up");
                return;
            }
        }
    }
}
