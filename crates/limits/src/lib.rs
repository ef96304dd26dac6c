//! Rate-limit counters: every limit of one tool call decided and consumed
//! atomically, so a limit of K per window admits exactly K across a fleet.
//!
//! [`CounterStore::Redis`] runs one server-side script per call: it checks
//! every limit read-only, refuses without writing if any is over, and
//! otherwise consumes all of them and sets their TTLs, with time taken from
//! Redis `TIME`. [`CounterStore::Memory`] has the same semantics under a
//! mutex, for a single replica (`toolgate serve` without Redis).
//!
//! Keys are `<namespace>:{<account>}:<key>:<window_secs>[:s]`; see [`counter_key`].

#![forbid(unsafe_code)]

mod clock;
mod error;
mod holder;
mod keys;
mod memory;
mod redis_store;
mod request;
mod script;

use std::time::Duration;

pub use error::BackendError;
pub use holder::{holder_key, Holder};
pub use keys::{counter_key, valid_namespace, DEFAULT_NAMESPACE};
pub use memory::MemoryCounters;
pub use redis_store::RedisCounters;
pub use request::{Admission, Algorithm, LimitRequest, Outcome, SLIDING_MAX_LIMIT};

/// Where counters live. Clones share counters, connection and clock offset.
#[derive(Clone, Debug)]
pub enum CounterStore {
    Redis(RedisCounters),
    Memory(MemoryCounters),
}

impl CounterStore {
    /// In-process counters: exact for one replica only.
    pub fn memory() -> Self {
        CounterStore::Memory(MemoryCounters::new())
    }

    /// Redis counters at `url`. Connects lazily, so the process starts while
    /// Redis is down; every call, connecting included, ends within `deadline`.
    pub fn redis(url: &str, deadline: Duration) -> Result<Self, BackendError> {
        RedisCounters::new(url, deadline).map(CounterStore::Redis)
    }

    /// [`CounterStore::redis`] with keys under `namespace`.
    pub fn redis_in(url: &str, deadline: Duration, namespace: &str) -> Result<Self, BackendError> {
        RedisCounters::new(url, deadline)?
            .with_namespace(namespace)
            .map(CounterStore::Redis)
    }

    /// Check every limit; if all have room, consume all of them, else none.
    ///
    /// Limits with the same key share one counter: rules of different calls
    /// naming one counter draw from one budget, and two limits of one call on
    /// the same key add their costs (each is checked against the total).
    /// Limits with cost 0 are neither checked nor consumed; a call whose
    /// every cost is 0 is admitted without a round trip.
    pub async fn acquire(
        &self,
        account: &str,
        limits: &[LimitRequest],
    ) -> Result<Outcome, BackendError> {
        match self {
            CounterStore::Redis(store) => store.acquire(account, limits).await,
            CounterStore::Memory(store) => store.acquire(account, limits),
        }
    }

    /// Give back what `admission` consumed: a fixed counter is decremented
    /// only while still in the same window and never below zero; a sliding
    /// log loses exactly the entries the call added. `account` must be the
    /// one the admission was acquired under (the admission carries its keys).
    pub async fn release(&self, account: &str, admission: &Admission) -> Result<(), BackendError> {
        debug_assert_eq!(
            account,
            admission.account(),
            "release under another account"
        );
        match self {
            CounterStore::Redis(store) => store.release(admission).await,
            CounterStore::Memory(store) => {
                store.release(admission);
                Ok(())
            }
        }
    }

    /// Whether the backend answers (for readiness).
    pub async fn ping(&self) -> Result<(), BackendError> {
        match self {
            CounterStore::Redis(store) => store.ping().await,
            CounterStore::Memory(_) => Ok(()),
        }
    }

    /// Units currently counted against `limit` (what the next call would see).
    pub async fn usage(&self, account: &str, limit: &LimitRequest) -> Result<u64, BackendError> {
        match self {
            CounterStore::Redis(store) => store.usage(account, limit).await,
            CounterStore::Memory(store) => store.usage(account, limit),
        }
    }

    /// The clock decisions are made with, in milliseconds since the Unix
    /// epoch: Redis `TIME` (or the local clock for memory) plus the offset.
    pub async fn now_ms(&self) -> Result<i64, BackendError> {
        match self {
            CounterStore::Redis(store) => store.now_ms().await,
            CounterStore::Memory(store) => Ok(store.now_ms()),
        }
    }

    /// Move this store's clock (and its clones') by `ms` from real time.
    /// Test-only: production leaves it at 0.
    pub fn set_clock_offset_ms(&self, ms: i64) {
        match self {
            CounterStore::Redis(store) => store.set_clock_offset_ms(ms),
            CounterStore::Memory(store) => store.set_clock_offset_ms(ms),
        }
    }

    /// Add `ms` to the clock offset (test-only).
    pub fn advance_clock_ms(&self, ms: i64) {
        match self {
            CounterStore::Redis(store) => store.advance_clock_ms(ms),
            CounterStore::Memory(store) => store.advance_clock_ms(ms),
        }
    }

    /// `"redis"` or `"memory"`, for logs and readiness reports.
    pub fn kind(&self) -> &'static str {
        match self {
            CounterStore::Redis(_) => "redis",
            CounterStore::Memory(_) => "memory",
        }
    }
}
