//! "Account X changed": notifications from the control plane to every gateway
//! replica.
//!
//! The control plane publishes an account's id after each committed write that
//! a gateway caches (servers, grants, policies, account settings); every
//! gateway replica subscribes and drops what it cached for that account.
//!
//! Delivery is best effort on purpose. The write is already committed when it
//! is announced, so a failed publish is logged and counted, never returned to
//! the API caller; and a subscriber that may have missed notifications —
//! because it has just (re)connected to Redis, or fell behind — receives
//! [`Change::All`] and drops everything. Cached snapshots also expire on a
//! TTL, which bounds the damage of anything that still slips through.
//!
//! Two backends: Redis pub/sub for any number of replicas
//! ([`ChangeBus::redis`]), and an in-process broadcast channel for a single
//! `toolgate serve` and for tests ([`ChangeBus::in_process`]).

#![forbid(unsafe_code)]

pub mod approvals;
mod backoff;
mod redis_bus;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::AbortHandle;
use toolgate_store::ids::AccountId;

use crate::redis_bus::RedisBus;

pub use crate::approvals::{ApprovalBus, ApprovalSignal, SignalSubscription};

/// Announcements that could not be published, by `channel` (`changes` or
/// `approvals`).
pub const PUBLISH_FAILURES_METRIC: &str = "toolgate_bus_publish_failures_total";
/// The Redis channel notifications travel on unless told otherwise.
pub const DEFAULT_CHANNEL: &str = "toolgate:changes";

/// How many changes a subscriber may fall behind before it is told
/// [`Change::All`] instead.
const BUFFER: usize = 1024;

/// What a subscriber must forget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// The account's servers, grants, policies or settings changed: drop what
    /// is cached for it.
    Account(AccountId),
    /// Notifications may have been missed: drop everything.
    All,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    /// The message deliberately leaves out the URL: it may hold a password.
    #[error("invalid Redis URL")]
    InvalidUrl(#[source] redis::RedisError),
}

/// Publishes and subscribes to account changes. Cheap to clone: clones share
/// one publishing connection (or one in-process channel).
#[derive(Clone)]
pub struct ChangeBus {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    publish_failures: AtomicU64,
}

enum Backend {
    // Boxed: a Redis client (with its TLS settings) dwarfs a channel sender.
    Redis(Box<RedisBus>),
    InProcess(broadcast::Sender<Change>),
}

impl ChangeBus {
    /// Redis pub/sub on [`DEFAULT_CHANNEL`].
    ///
    /// Only parses the URL: connections are made when first needed and remade
    /// when lost, so a process starts while Redis is down.
    pub fn redis(url: &str) -> Result<Self, ChangesError> {
        Self::redis_with_channel(url, DEFAULT_CHANNEL)
    }

    /// Redis pub/sub on `channel`; buses on different channels do not hear
    /// each other.
    pub fn redis_with_channel(url: &str, channel: impl Into<String>) -> Result<Self, ChangesError> {
        Ok(Self::with_backend(Backend::Redis(Box::new(RedisBus::new(
            url,
            channel.into(),
        )?))))
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

    /// Announces that `account` changed, to every subscriber of every bus on
    /// the same channel.
    ///
    /// Best effort, and bounded by a short timeout: a failure is logged and
    /// counted ([`ChangeBus::publish_failures`]) but not returned, because the
    /// change is already committed and gateway caches expire on their own.
    pub async fn publish(&self, account: AccountId) {
        match &self.inner.backend {
            Backend::InProcess(sender) => {
                // An error only means nobody is subscribed.
                let _ = sender.send(Change::Account(account));
            }
            Backend::Redis(bus) => {
                if let Err(error) = bus.publish(&account.to_string()).await {
                    self.inner.publish_failures.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(PUBLISH_FAILURES_METRIC, "channel" => "changes").increment(1);
                    tracing::warn!(
                        %account,
                        %error,
                        "could not announce an account change; gateway replicas \
                         will see it when their cached copy expires"
                    );
                }
            }
        }
    }

    /// How many publishes have failed since this bus was made.
    pub fn publish_failures(&self) -> u64 {
        self.inner.publish_failures.load(Ordering::Relaxed)
    }

    /// Starts listening for changes published from now on.
    ///
    /// With Redis, a background task owns a dedicated connection, remakes it
    /// with capped exponential backoff whenever it is lost, and yields
    /// [`Change::All`] each time it is subscribed (the first time included).
    /// Must be called inside a Tokio runtime.
    pub fn subscribe(&self) -> Subscription {
        match &self.inner.backend {
            Backend::InProcess(sender) => Subscription {
                receiver: sender.subscribe(),
                task: None,
            },
            Backend::Redis(bus) => {
                let (receiver, task) = bus.subscribe(change_of, Change::All);
                Subscription {
                    receiver,
                    task: Some(task),
                }
            }
        }
    }
}

/// A message names one account; anything else on our channel is not ours to
/// interpret, so the safe reading is "drop everything".
fn change_of(message: &redis::Msg) -> Change {
    let account = message
        .get_payload::<String>()
        .ok()
        .and_then(|payload| payload.parse::<AccountId>().ok());
    match account {
        Some(account) => Change::Account(account),
        None => {
            tracing::warn!(
                channel = message.get_channel_name(),
                "unexpected message on the account change channel; dropping everything"
            );
            Change::All
        }
    }
}

impl fmt::Debug for ChangeBus {
    /// Names the backend and channel, never the URL (it may hold a password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.backend {
            Backend::Redis(bus) => f
                .debug_struct("ChangeBus")
                .field("backend", &"redis")
                .field("channel", &bus.channel())
                .finish(),
            Backend::InProcess(_) => f
                .debug_struct("ChangeBus")
                .field("backend", &"in-process")
                .finish(),
        }
    }
}

/// A stream of [`Change`]s. Dropping it stops its background task and closes
/// its Redis connection.
pub struct Subscription {
    receiver: broadcast::Receiver<Change>,
    task: Option<AbortHandle>,
}

impl Subscription {
    /// The next change. Waits forever once no change can come any more (every
    /// in-process bus handle was dropped).
    pub async fn recv(&mut self) -> Change {
        match self.receiver.recv().await {
            Ok(change) => change,
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(
                    missed,
                    "fell behind on account changes; dropping everything"
                );
                Change::All
            }
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("pending", &self.receiver.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn next(subscription: &mut Subscription) -> Change {
        tokio::time::timeout(Duration::from_secs(1), subscription.recv())
            .await
            .expect("a change within a second")
    }

    #[tokio::test]
    async fn in_process_delivers_to_every_subscriber() {
        let bus = ChangeBus::in_process();
        let mut first = bus.subscribe();
        let mut second = bus.clone().subscribe();
        let account = AccountId::new();
        bus.publish(account).await;
        assert_eq!(next(&mut first).await, Change::Account(account));
        assert_eq!(next(&mut second).await, Change::Account(account));
        assert_eq!(bus.publish_failures(), 0);
    }

    #[tokio::test]
    async fn in_process_publish_without_subscribers_is_fine() {
        let bus = ChangeBus::in_process();
        bus.publish(AccountId::new()).await;
        assert_eq!(bus.publish_failures(), 0);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_to_drop_everything() {
        let bus = ChangeBus::in_process();
        let mut subscription = bus.subscribe();
        let accounts: Vec<AccountId> = (0..BUFFER + 5).map(|_| AccountId::new()).collect();
        for &account in &accounts {
            bus.publish(account).await;
        }
        assert_eq!(next(&mut subscription).await, Change::All);
        // Then the changes still held, the newest last.
        let mut last = Change::All;
        for _ in 0..BUFFER {
            last = next(&mut subscription).await;
        }
        assert_eq!(last, Change::Account(accounts[accounts.len() - 1]));
    }

    #[tokio::test]
    async fn recv_waits_once_every_bus_handle_is_gone() {
        let bus = ChangeBus::in_process();
        let mut subscription = bus.subscribe();
        drop(bus);
        let waited = tokio::time::timeout(Duration::from_millis(50), subscription.recv()).await;
        assert!(waited.is_err(), "no change can come: {waited:?}");
    }

    #[test]
    fn debug_output_never_shows_the_url() {
        let bus = ChangeBus::redis("redis://user:hunter2@127.0.0.1:6379/0").unwrap();
        let shown = format!("{bus:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains(DEFAULT_CHANNEL),
            "{shown}"
        );
    }

    #[test]
    fn an_invalid_url_is_refused_without_echoing_it() {
        for url in ["http://user:hunter2@example.com", "not a url hunter2"] {
            let err = ChangeBus::redis(url).unwrap_err();
            let chain = format!("{err} / {:?}", std::error::Error::source(&err));
            assert!(!chain.contains("hunter2"), "{chain}");
        }
    }
}
