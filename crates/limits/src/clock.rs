//! The test-only clock offset shared by a store and its clones.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds added to the store's clock. Always 0 in production; tests
/// move it to cross window boundaries without sleeping.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClockOffset(Arc<AtomicI64>);

impl ClockOffset {
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// The local wall clock in milliseconds since the Unix epoch.
pub(crate) fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
