//! Counters in Redis, shared by every gateway replica.
//!
//! One `EVALSHA` per acquire (plus one `EVAL` after `NOSCRIPT`, which means
//! nothing ran, so nothing counts twice; see `script`). Nothing else is ever
//! re-sent: a call that failed or timed out may have run, and running it
//! again would over-count.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Value};
use tokio::sync::OnceCell;

use crate::clock::ClockOffset;
use crate::keys::{valid_namespace, DEFAULT_NAMESPACE};
use crate::request::{plan, Admission, Algorithm, Consumed, LimitRequest, Outcome, PlannedLimit};
use crate::script::{ScriptCall, ACQUIRE, RELEASE, USAGE};
use crate::BackendError;

/// Redis counters. Clones share one multiplexed connection and the clock
/// offset.
#[derive(Clone)]
pub struct RedisCounters {
    client: Client,
    /// Created on first use, so the process starts while Redis is down; once
    /// created, the manager reconnects by itself after a failed command.
    connection: Arc<OnceCell<ConnectionManager>>,
    deadline: Duration,
    clock: ClockOffset,
    /// Prefixes every key: deployments sharing one Redis keep apart.
    /// (An `Arc<String>`, not `Arc<str>`: a thin pointer keeps the store small.)
    namespace: Arc<String>,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters")
            .field("server", &self.client.get_connection_info().addr)
            .field("deadline", &self.deadline)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

fn algorithm_arg(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Fixed => "f",
        Algorithm::Sliding => "s",
    }
}

impl RedisCounters {
    /// Parse `url` without connecting. Every call (connecting included) must
    /// finish within `deadline`.
    pub fn new(url: &str, deadline: Duration) -> Result<Self, BackendError> {
        let client = Client::open(url)
            .map_err(|e| BackendError::InvalidRequest(format!("redis url: {e}")))?;
        Ok(Self {
            client,
            connection: Arc::default(),
            deadline,
            clock: ClockOffset::default(),
            namespace: Arc::new(DEFAULT_NAMESPACE.to_owned()),
        })
    }

    /// Keys under `namespace` instead of [`DEFAULT_NAMESPACE`].
    pub fn with_namespace(mut self, namespace: &str) -> Result<Self, BackendError> {
        if !valid_namespace(namespace) {
            return Err(BackendError::InvalidRequest(format!(
                "namespace {namespace:?} must be 1 to 64 characters of A-Z a-z 0-9 - _ . :"
            )));
        }
        self.namespace = Arc::new(namespace.to_owned());
        Ok(self)
    }

    /// Start with the script clock moved by `ms` (test-only).
    pub fn with_clock_offset_ms(self, ms: i64) -> Self {
        self.clock.set(ms);
        self
    }

    /// Move the script clock of this store and all its clones (test-only).
    pub fn set_clock_offset_ms(&self, ms: i64) {
        self.clock.set(ms);
    }

    pub fn advance_clock_ms(&self, ms: i64) {
        self.clock.advance(ms);
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    async fn connection(&self) -> Result<ConnectionManager, BackendError> {
        let manager = self
            .connection
            .get_or_try_init(|| async {
                // Retries here are reconnection attempts, never command
                // retries: none, so a dead server fails the call at once and
                // the next call tries again.
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(0)
                    .set_connection_timeout(self.deadline)
                    .set_response_timeout(self.deadline);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(manager.clone())
    }

    /// Run `call` on the shared connection within the deadline.
    async fn within_deadline<T, F, Fut>(&self, call: F) -> Result<T, BackendError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let work = async {
            let connection = self.connection().await?;
            call(connection).await.map_err(BackendError::from)
        };
        tokio::time::timeout(self.deadline, work)
            .await
            .map_err(|_| BackendError::Timeout)?
    }

    pub async fn acquire(
        &self,
        account: &str,
        limits: &[LimitRequest],
    ) -> Result<Outcome, BackendError> {
        let planned = plan(&self.namespace, account, limits)?;
        let request_id: u128 = rand::random();
        if planned.iter().all(|limit| limit.cost == 0) {
            // Nothing to check or consume: no round trip, and no outage can
            // refuse it.
            let at_ms = crate::clock::system_now_ms() + self.clock.get();
            return Ok(Outcome::Admitted(Admission {
                account: account.to_owned(),
                request_id,
                at_ms,
                consumed: Vec::new(),
            }));
        }
        let mut call = ScriptCall::new(&ACQUIRE);
        call.arg(format!("{request_id:032x}")).arg(self.clock.get());
        for limit in &planned {
            call.key(&limit.key)
                .arg(algorithm_arg(limit.algorithm))
                .arg(limit.window_ms)
                .arg(limit.max)
                .arg(limit.cost)
                .arg(limit.first_member);
        }
        let reply: Vec<i64> = self
            .within_deadline(|mut connection| async move { call.invoke(&mut connection).await })
            .await?;
        decode_acquire(account, request_id, planned, &reply)
    }

    pub async fn release(&self, admission: &Admission) -> Result<(), BackendError> {
        if admission.consumed.is_empty() {
            return Ok(());
        }
        let mut call = ScriptCall::new(&RELEASE);
        call.arg(format!("{:032x}", admission.request_id));
        for item in &admission.consumed {
            call.key(&item.key)
                .arg(algorithm_arg(item.algorithm))
                .arg(item.window)
                .arg(item.cost)
                .arg(item.first_member);
        }
        let _: Value = self
            .within_deadline(|mut connection| async move { call.invoke(&mut connection).await })
            .await?;
        Ok(())
    }

    /// Units currently counted against `limit` (what a new call would see).
    pub async fn usage(&self, account: &str, limit: &LimitRequest) -> Result<u64, BackendError> {
        let planned = plan(&self.namespace, account, std::slice::from_ref(limit))?;
        let limit = &planned[0];
        let mut call = ScriptCall::new(&USAGE);
        call.key(&limit.key)
            .arg(self.clock.get())
            .arg(algorithm_arg(limit.algorithm))
            .arg(limit.window_ms);
        self.within_deadline(|mut connection| async move { call.invoke(&mut connection).await })
            .await
    }

    /// The script clock: Redis `TIME` in milliseconds plus the offset.
    pub async fn now_ms(&self) -> Result<i64, BackendError> {
        let (secs, micros): (i64, i64) = self
            .within_deadline(|mut connection| async move {
                redis::cmd("TIME").query_async(&mut connection).await
            })
            .await?;
        Ok(secs * 1000 + micros / 1000 + self.clock.get())
    }

    pub async fn ping(&self) -> Result<(), BackendError> {
        let _: String = self
            .within_deadline(|mut connection| async move {
                redis::cmd("PING").query_async(&mut connection).await
            })
            .await?;
        Ok(())
    }
}

/// Turn the script's reply into an outcome.
fn decode_acquire(
    account: &str,
    request_id: u128,
    planned: Vec<PlannedLimit>,
    reply: &[i64],
) -> Result<Outcome, BackendError> {
    let malformed = || BackendError::Backend(format!("unexpected acquire reply {reply:?}"));
    match reply {
        [0, index, retry_ms] => {
            let index = usize::try_from(*index - 1).map_err(|_| malformed())?;
            if index >= planned.len() {
                return Err(malformed());
            }
            Ok(Outcome::Refused {
                index,
                retry_after: Duration::from_millis((*retry_ms).max(1) as u64),
            })
        }
        [1, at_ms, windows @ ..] if windows.len() == planned.len() => {
            let consumed = planned
                .into_iter()
                .zip(windows)
                .filter(|(limit, _)| limit.cost > 0)
                .map(|(limit, window)| Consumed {
                    key: limit.key,
                    algorithm: limit.algorithm,
                    window: *window,
                    cost: limit.cost,
                    first_member: limit.first_member,
                })
                .collect();
            Ok(Outcome::Admitted(Admission {
                account: account.to_owned(),
                request_id,
                at_ms: *at_ms,
                consumed,
            }))
        }
        _ => Err(malformed()),
    }
}
