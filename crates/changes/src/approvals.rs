//! "Approval X was decided": from the control plane to whichever gateway
//! replica holds the call waiting for it.
//!
//! A message carries only the approval's id. The replica holding the call
//! reads the decision itself from Postgres, which stays the authority: a
//! message can wake a waiter, never approve anything. Delivery is best effort,
//! like account changes: a subscriber that may have missed messages receives
//! [`ApprovalSignal::Resync`] and re-reads every approval it waits for, and waiters
//! also re-read on a slow timer.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::AbortHandle;
use toolgate_store::ids::ApprovalId;

use crate::redis_bus::RedisBus;
use crate::{ChangesError, BUFFER};

/// The Redis channel decisions travel on unless told otherwise.
pub const APPROVALS_CHANNEL: &str = "toolgate:approvals";

/// What a waiter must re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalSignal {
    /// This approval was approved or denied.
    Decided(ApprovalId),
    /// Messages may have been missed: re-read every approval waited for.
    Resync,
}

/// Publishes and subscribes to approval decisions. Cheap to clone. With
/// Redis, every subscription of one bus shares one connection, so holding a
/// thousand calls costs one subscription, not a thousand.
#[derive(Clone)]
pub struct ApprovalBus {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    publish_failures: AtomicU64,
}

enum Backend {
    Redis {
        // Boxed: a Redis client (with its TLS settings) dwarfs a channel sender.
        bus: Box<RedisBus>,
        /// The shared subscription, made on first use: a receiver to clone
        /// new ones from, and the task feeding it.
        shared: Mutex<Option<(broadcast::Receiver<ApprovalSignal>, AbortHandle)>>,
    },
    InProcess(broadcast::Sender<ApprovalSignal>),
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Backend::Redis { shared, .. } = &self.backend {
            if let Ok(mut shared) = shared.lock() {
                if let Some((_, task)) = shared.take() {
                    task.abort();
                }
            }
        }
    }
}

impl ApprovalBus {
    /// Redis pub/sub on [`APPROVALS_CHANNEL`]. Only parses the URL.
    pub fn redis(url: &str) -> Result<Self, ChangesError> {
        Self::redis_with_channel(url, APPROVALS_CHANNEL)
    }

    pub fn redis_with_channel(url: &str, channel: impl Into<String>) -> Result<Self, ChangesError> {
        Ok(Self::with_backend(Backend::Redis {
            bus: Box::new(RedisBus::new(url, channel.into())?),
            shared: Mutex::new(None),
        }))
    }

    /// A channel inside this process: for a single replica, and for tests.
    pub fn in_process() -> Self {
        Self::with_backend(Backend::InProcess(broadcast::channel(BUFFER).0))
    }

    fn with_backend(backend: Backend) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                publish_failures: AtomicU64::new(0),
            }),
        }
    }

    /// Announces that `approval` was decided. Best effort and bounded: the
    /// decision is already committed, and waiters re-read on a timer.
    pub async fn publish(&self, approval: ApprovalId) {
        match &self.inner.backend {
            Backend::InProcess(sender) => {
                let _ = sender.send(ApprovalSignal::Decided(approval));
            }
            Backend::Redis { bus, .. } => {
                if let Err(error) = bus.publish(&approval.to_string()).await {
                    self.inner.publish_failures.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(crate::PUBLISH_FAILURES_METRIC, "channel" => "approvals")
                        .increment(1);
                    tracing::warn!(
                        %approval,
                        %error,
                        "could not announce an approval decision; the replica holding \
                         the call will see it when it next re-reads the approval"
                    );
                }
            }
        }
    }

    pub fn publish_failures(&self) -> u64 {
        self.inner.publish_failures.load(Ordering::Relaxed)
    }

    /// Starts listening for decisions published from now on. Must be called
    /// inside a Tokio runtime.
    pub fn subscribe(&self) -> SignalSubscription {
        let receiver = match &self.inner.backend {
            Backend::InProcess(sender) => sender.subscribe(),
            Backend::Redis { bus, shared } => {
                let mut shared = shared.lock().unwrap_or_else(|poison| poison.into_inner());
                match &*shared {
                    Some((template, _)) => template.resubscribe(),
                    None => {
                        let (template, task) = bus.subscribe(signal_of, ApprovalSignal::Resync);
                        let receiver = template.resubscribe();
                        *shared = Some((template, task));
                        receiver
                    }
                }
            }
        };
        SignalSubscription { receiver }
    }
}

fn signal_of(message: &redis::Msg) -> ApprovalSignal {
    match message
        .get_payload::<String>()
        .ok()
        .and_then(|payload| payload.parse::<ApprovalId>().ok())
    {
        Some(id) => ApprovalSignal::Decided(id),
        None => ApprovalSignal::Resync,
    }
}

impl fmt::Debug for ApprovalBus {
    /// Never shows the URL (it may hold a password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &self.inner.backend {
            Backend::Redis { .. } => "redis",
            Backend::InProcess(_) => "in-process",
        };
        f.debug_struct("ApprovalBus")
            .field("backend", &backend)
            .finish()
    }
}

/// A stream of [`ApprovalSignal`]s.
pub struct SignalSubscription {
    receiver: broadcast::Receiver<ApprovalSignal>,
}

impl SignalSubscription {
    /// The next decision. Waits forever once none can come any more.
    pub async fn recv(&mut self) -> ApprovalSignal {
        match self.receiver.recv().await {
            Ok(decision) => decision,
            Err(RecvError::Lagged(_)) => ApprovalSignal::Resync,
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
}

impl fmt::Debug for SignalSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalSubscription").finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn in_process_delivers_to_every_waiter() {
        let bus = ApprovalBus::in_process();
        let mut first = bus.subscribe();
        let mut second = bus.subscribe();
        let id = ApprovalId::new();
        bus.publish(id).await;
        for subscription in [&mut first, &mut second] {
            let got = tokio::time::timeout(Duration::from_secs(1), subscription.recv())
                .await
                .unwrap();
            assert_eq!(got, ApprovalSignal::Decided(id));
        }
    }

    #[test]
    fn debug_output_never_shows_the_url() {
        let bus = ApprovalBus::redis("redis://user:hunter2@127.0.0.1:6379/0").unwrap();
        assert!(!format!("{bus:?}").contains("hunter2"));
    }
}
