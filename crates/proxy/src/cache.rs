//! Per-account snapshots, loaded on first use and kept until the control
//! plane says the account changed (or a TTL passes, as a safety net).
//!
//! Concurrent first requests for one account share a single load. A failed
//! load is not cached, so the next request retries; an unknown account is
//! cached briefly, so random slugs cannot hammer Postgres.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::OnceCell;
use toolgate_changes::{Change, Subscription};
use toolgate_store::ids::AccountId;
use toolgate_store::secrets::SecretKey;
use toolgate_store::StoreError;

use crate::snapshot::AccountSnapshot;

/// Snapshot lookups, by `result`: `hit` (already loaded) or `miss` (loaded
/// now, or waiting for a load already under way).
pub const LOOKUPS_METRIC: &str = "toolgate_snapshot_cache_lookups_total";
/// Snapshot loads from Postgres, by `outcome`: `loaded`, `unknown_account`
/// or `error`.
pub const LOADS_METRIC: &str = "toolgate_snapshot_cache_loads_total";

/// How long an unknown account is remembered as unknown.
const NEGATIVE_TTL: Duration = Duration::from_secs(2);

type Slot = Arc<OnceCell<Option<Arc<AccountSnapshot>>>>;

struct Entry {
    slot: Slot,
    created: Instant,
}

impl Entry {
    fn fresh(&self, ttl: Duration) -> bool {
        let ttl = match self.slot.get() {
            Some(None) => NEGATIVE_TTL.min(ttl),
            _ => ttl,
        };
        self.created.elapsed() < ttl
    }

    fn holds(&self, account: AccountId) -> bool {
        matches!(self.slot.get(), Some(Some(snapshot)) if snapshot.id == account)
    }
}

pub struct SnapshotCache {
    pool: PgPool,
    key: Arc<SecretKey>,
    ttl: Duration,
    entries: RwLock<HashMap<String, Entry>>,
}

impl SnapshotCache {
    pub fn new(pool: PgPool, key: Arc<SecretKey>, ttl: Duration) -> Self {
        Self {
            pool,
            key,
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The snapshot of the account with this gateway slug, `None` if there is
    /// no such account.
    pub async fn get(&self, slug: &str) -> Result<Option<Arc<AccountSnapshot>>, StoreError> {
        let slot = self.slot(slug);
        let result = if slot.initialized() { "hit" } else { "miss" };
        metrics::counter!(LOOKUPS_METRIC, "result" => result).increment(1);
        if let Some(loaded) = slot.get() {
            return Ok(loaded.clone());
        }
        // Boxed: the load (Postgres queries) is rare next to hits, and would
        // otherwise make every request's future as large as its own.
        let loaded = Box::pin(slot.get_or_try_init(|| async {
            let rows = toolgate_store::snapshot::load_by_slug(&self.pool, &self.key, slug)
                .await
                .inspect_err(|_| {
                    metrics::counter!(LOADS_METRIC, "outcome" => "error").increment(1);
                })?;
            let outcome = if rows.is_some() {
                "loaded"
            } else {
                "unknown_account"
            };
            metrics::counter!(LOADS_METRIC, "outcome" => outcome).increment(1);
            Ok::<_, StoreError>(rows.map(|rows| Arc::new(AccountSnapshot::compile(rows))))
        }))
        .await?;
        Ok(loaded.clone())
    }

    fn slot(&self, slug: &str) -> Slot {
        if let Ok(entries) = self.entries.read() {
            if let Some(entry) = entries.get(slug).filter(|e| e.fresh(self.ttl)) {
                return entry.slot.clone();
            }
        }
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = entries.entry(slug.to_owned()).or_insert_with(|| Entry {
            slot: Slot::default(),
            created: Instant::now(),
        });
        if !entry.fresh(self.ttl) {
            *entry = Entry {
                slot: Slot::default(),
                created: Instant::now(),
            };
        }
        entry.slot.clone()
    }

    /// Drops one account: its next request loads it again.
    pub fn invalidate(&self, account: AccountId) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Unknown-account entries go too: the change may be that it now exists.
        entries.retain(|_, entry| !entry.holds(account) && !matches!(entry.slot.get(), Some(None)));
    }

    /// Drops everything, e.g. after missing notifications.
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    /// Applies change notifications until the bus goes away. Run it as a
    /// task for the life of the process.
    pub async fn follow(self: Arc<Self>, mut changes: Subscription) {
        loop {
            match changes.recv().await {
                Change::Account(account) => self.invalidate(account),
                Change::All => self.clear(),
            }
        }
    }
}
