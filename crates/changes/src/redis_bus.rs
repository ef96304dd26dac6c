//! The Redis backend: PUBLISH through a shared, self-healing connection;
//! SUBSCRIBE on a dedicated connection per subscription, owned by a task that
//! remakes it whenever it is lost.
//!
//! Classic (non-sharded) pub/sub reaches every node of a Redis Cluster, so
//! this works there unchanged.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::{ChangesError, BUFFER};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use redis::{Client, Msg, RedisError};
use tokio::sync::{broadcast, OnceCell};
use tokio::task::AbortHandle;
use tokio::time::{timeout, Instant};

/// Upper bound on one publish, connecting included: an API response waits
/// for it.
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(500);
/// Upper bound on connecting and subscribing.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle subscription checks that its connection still answers:
/// a half-open TCP connection would otherwise look like a quiet channel.
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(15);
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnection delays.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// A connection that lived this long was healthy: the next loss starts the
/// backoff afresh. (One that dies sooner keeps backing off, so a server that
/// accepts and then drops us is not hammered.)
const STABLE_AFTER: Duration = Duration::from_secs(30);

/// Why a publish failed or a subscription ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Interruption {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("Redis did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("Redis closed the connection")]
    Closed,
}

pub(crate) struct RedisBus {
    client: Client,
    channel: String,
    /// Made on first publish rather than at start, so the process does not
    /// depend on Redis being up when it starts.
    publisher: OnceCell<ConnectionManager>,
}

impl RedisBus {
    pub(crate) fn new(url: &str, channel: String) -> Result<Self, ChangesError> {
        Ok(Self {
            client: Client::open(url).map_err(ChangesError::InvalidUrl)?,
            channel,
            publisher: OnceCell::new(),
        })
    }

    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    pub(crate) async fn publish(&self, payload: &str) -> Result<(), Interruption> {
        timeout(PUBLISH_TIMEOUT, self.publish_unbounded(payload))
            .await
            .map_err(|_| Interruption::TimedOut(PUBLISH_TIMEOUT))?
    }

    async fn publish_unbounded(&self, payload: &str) -> Result<(), Interruption> {
        let mut connection = self
            .publisher
            .get_or_try_init(|| {
                // The manager reconnects by itself after an error; these bound
                // each attempt so it gives up within the publish timeout.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(PUBLISH_TIMEOUT)
                    .set_response_timeout(PUBLISH_TIMEOUT)
                    .set_number_of_retries(1)
                    .set_max_delay(PUBLISH_TIMEOUT.as_millis() as u64 / 5);
                ConnectionManager::new_with_config(self.client.clone(), config)
            })
            .await?
            .clone();
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .query_async(&mut connection)
            .await?;
        tracing::debug!(channel = self.channel, receivers, "published");
        Ok(())
    }

    /// Spawns the task that owns the subscription's connection. Each message
    /// is read with `read`; `resync` is sent each time the subscription is
    /// (re)made, since anything published while unsubscribed is lost.
    pub(crate) fn subscribe<T: Clone + Send + 'static>(
        &self,
        read: fn(&Msg) -> T,
        resync: T,
    ) -> (broadcast::Receiver<T>, AbortHandle) {
        let (sender, receiver) = broadcast::channel(BUFFER);
        let task = tokio::spawn(run_subscriber(
            self.client.clone(),
            self.channel.clone(),
            sender,
            read,
            resync,
        ));
        (receiver, task.abort_handle())
    }
}

/// Subscribes, forwards messages until the connection is lost, and starts
/// again; until aborted.
async fn run_subscriber<T: Clone + Send + 'static>(
    client: Client,
    channel: String,
    changes: broadcast::Sender<T>,
    read: fn(&Msg) -> T,
    resync: T,
) {
    let mut backoff = Backoff::new(RETRY_MIN, RETRY_MAX);
    loop {
        match subscribe(&client, &channel).await {
            Ok((sink, stream)) => {
                let since = Instant::now();
                tracing::info!(channel, "subscribed");
                // Anything published while we were not subscribed is lost.
                let _ = changes.send(resync.clone());
                let lost = forward(sink, stream, &changes, read).await;
                if since.elapsed() >= STABLE_AFTER {
                    backoff.reset();
                }
                tracing::warn!(channel, reason = %lost, "lost the subscription; reconnecting");
            }
            Err(error) => {
                tracing::warn!(channel, %error, "cannot subscribe; retrying");
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

async fn subscribe(
    client: &Client,
    channel: &str,
) -> Result<(PubSubSink, PubSubStream), Interruption> {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, RedisError>(pubsub.split())
    };
    Ok(timeout(SUBSCRIBE_TIMEOUT, connect)
        .await
        .map_err(|_| Interruption::TimedOut(SUBSCRIBE_TIMEOUT))??)
}

/// Passes messages on until the connection closes or stops answering.
async fn forward<T>(
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    changes: &broadcast::Sender<T>,
    read: fn(&Msg) -> T,
) -> Interruption {
    let mut health_check =
        tokio::time::interval_at(Instant::now() + HEALTH_CHECK_EVERY, HEALTH_CHECK_EVERY);
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => {
                    let _ = changes.send(read(&message));
                }
                None => return Interruption::Closed,
            },
            _ = health_check.tick() => {
                match timeout(HEALTH_CHECK_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => return error.into(),
                    Err(_) => return Interruption::TimedOut(HEALTH_CHECK_TIMEOUT),
                }
            }
        }
    }
}
