//! In-process counters for a single replica (`toolgate serve` without
//! Redis). Same semantics as the Redis script, decided under one mutex.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::{system_now_ms, ClockOffset};
use crate::keys::DEFAULT_NAMESPACE;
use crate::request::{plan, Admission, Algorithm, Consumed, LimitRequest, Outcome, PlannedLimit};
use crate::BackendError;

/// Sweep expired counters once every this many acquisitions.
const SWEEP_EVERY: u64 = 1024;

/// In-memory counters. Clones share the counters and the clock offset.
#[derive(Clone, Debug, Default)]
pub struct MemoryCounters {
    state: Arc<Mutex<State>>,
    clock: ClockOffset,
}

#[derive(Debug, Default)]
struct State {
    counters: HashMap<String, Counter>,
    acquisitions: u64,
}

#[derive(Debug)]
enum Counter {
    Fixed {
        window: i64,
        count: u64,
        window_ms: i64,
    },
    /// Entries `(at_ms, request id, member index)`, sorted by time.
    Sliding {
        window_ms: i64,
        log: Vec<(i64, u128, u64)>,
    },
}

impl Counter {
    /// Units counted against a limit at `now`.
    fn used(&self, limit: &PlannedLimit, now: i64) -> u64 {
        match self {
            // A stored window after the current one means the clock stepped
            // back: keep counting in it rather than hand out a fresh window.
            Counter::Fixed { window, count, .. } if *window >= now.div_euclid(limit.window_ms) => {
                *count
            }
            Counter::Fixed { .. } => 0,
            Counter::Sliding { log, .. } => {
                (log.len() - first_live(log, now, limit.window_ms)) as u64
            }
        }
    }

    fn expired(&self, now: i64) -> bool {
        match self {
            Counter::Fixed {
                window, window_ms, ..
            } => (window + 1) * window_ms <= now,
            Counter::Sliding { window_ms, log } => {
                log.last().is_none_or(|e| e.0 + window_ms <= now)
            }
        }
    }
}

/// Index of the first sliding entry still inside the window ending at `now`.
fn first_live(log: &[(i64, u128, u64)], now: i64, window_ms: i64) -> usize {
    log.partition_point(|e| e.0 <= now - window_ms)
}

impl MemoryCounters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Start with the clock moved by `ms` (test-only).
    pub fn with_clock_offset_ms(self, ms: i64) -> Self {
        self.clock.set(ms);
        self
    }

    /// Move the clock of this store and all its clones (test-only).
    pub fn set_clock_offset_ms(&self, ms: i64) {
        self.clock.set(ms);
    }

    pub fn advance_clock_ms(&self, ms: i64) {
        self.clock.advance(ms);
    }

    /// The store's clock: milliseconds since the Unix epoch plus the offset.
    pub fn now_ms(&self) -> i64 {
        system_now_ms() + self.clock.get()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied call:
        // every mutation happens after all checks passed.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn acquire(&self, account: &str, limits: &[LimitRequest]) -> Result<Outcome, BackendError> {
        self.decide(account, limits, None)
    }

    /// [`MemoryCounters::acquire`] at `now_ms` (milliseconds since the Unix
    /// epoch) instead of the store's clock: replaying recorded calls at the
    /// times they were made. Calls must come in time order; expired
    /// counters are swept by the same clock.
    pub fn acquire_at(
        &self,
        account: &str,
        limits: &[LimitRequest],
        now_ms: i64,
    ) -> Result<Outcome, BackendError> {
        self.decide(account, limits, Some(now_ms))
    }

    fn decide(
        &self,
        account: &str,
        limits: &[LimitRequest],
        at_ms: Option<i64>,
    ) -> Result<Outcome, BackendError> {
        let planned = plan(DEFAULT_NAMESPACE, account, limits)?;
        let request_id: u128 = rand::random();
        let mut state = self.lock();
        let now = at_ms.unwrap_or_else(|| self.now_ms());

        // Phase 1: check everything, write nothing.
        let mut refused: Option<(usize, i64)> = None;
        for (i, limit) in planned.iter().enumerate() {
            if limit.cost == 0 {
                continue;
            }
            // Limits of one call naming the same counter add up.
            let need: u64 = planned
                .iter()
                .filter(|p| p.key == limit.key)
                .map(|p| p.cost)
                .sum();
            let counter = state.counters.get(&limit.key);
            let used = counter.map_or(0, |c| c.used(limit, now));
            if used + need <= limit.max {
                continue;
            }
            let wait = match (limit.algorithm, counter) {
                (Algorithm::Sliding, Some(Counter::Sliding { log, .. })) => {
                    // The (used + need - max)-th oldest live entry must leave.
                    let rank = (used + need - limit.max) as usize;
                    let live = &log[first_live(log, now, limit.window_ms)..];
                    live.get(rank - 1)
                        .map_or(limit.window_ms, |e| e.0 + limit.window_ms - now)
                }
                (Algorithm::Sliding, _) => limit.window_ms,
                (Algorithm::Fixed, _) => {
                    let window = match counter {
                        Some(Counter::Fixed { window, .. }) => {
                            (*window).max(now.div_euclid(limit.window_ms))
                        }
                        _ => now.div_euclid(limit.window_ms),
                    };
                    (window + 1) * limit.window_ms - now
                }
            };
            if refused.is_none_or(|(_, latest)| wait > latest) {
                refused = Some((i, wait));
            }
        }
        if let Some((index, wait)) = refused {
            return Ok(Outcome::Refused {
                index,
                retry_after: Duration::from_millis(wait.max(1) as u64),
            });
        }

        // Phase 2: consume every limit.
        let mut consumed = Vec::with_capacity(planned.len());
        for limit in planned.into_iter().filter(|l| l.cost > 0) {
            let current = now.div_euclid(limit.window_ms);
            let counter =
                state
                    .counters
                    .entry(limit.key.clone())
                    .or_insert_with(|| match limit.algorithm {
                        Algorithm::Fixed => Counter::Fixed {
                            window: current,
                            count: 0,
                            window_ms: limit.window_ms,
                        },
                        Algorithm::Sliding => Counter::Sliding {
                            window_ms: limit.window_ms,
                            log: Vec::new(),
                        },
                    });
            let window = match counter {
                Counter::Fixed { window, count, .. } => {
                    if *window < current {
                        *window = current;
                        *count = 0;
                    }
                    *count += limit.cost;
                    *window
                }
                Counter::Sliding { log, .. } => {
                    let live = first_live(log, now, limit.window_ms);
                    log.drain(..live);
                    let at = log.partition_point(|e| e.0 <= now);
                    let entries =
                        (0..limit.cost).map(|k| (now, request_id, limit.first_member + k));
                    log.splice(at..at, entries);
                    0
                }
            };
            consumed.push(Consumed {
                key: limit.key,
                algorithm: limit.algorithm,
                window,
                cost: limit.cost,
                first_member: limit.first_member,
            });
        }

        state.acquisitions += 1;
        if state.acquisitions % SWEEP_EVERY == 0 {
            state.counters.retain(|_, counter| !counter.expired(now));
        }
        Ok(Outcome::Admitted(Admission {
            account: account.to_owned(),
            request_id,
            at_ms: now,
            consumed,
        }))
    }

    pub fn release(&self, admission: &Admission) {
        let mut state = self.lock();
        for item in &admission.consumed {
            match state.counters.get_mut(&item.key) {
                Some(Counter::Fixed { window, count, .. }) if *window == item.window => {
                    *count = count.saturating_sub(item.cost);
                }
                Some(Counter::Sliding { log, .. }) => {
                    let members = item.first_member..item.first_member + item.cost;
                    log.retain(|e| !(e.1 == admission.request_id && members.contains(&e.2)));
                }
                _ => {}
            }
        }
    }

    /// Units currently counted against `limit` (what a new call would see).
    pub fn usage(&self, account: &str, limit: &LimitRequest) -> Result<u64, BackendError> {
        let planned = plan(DEFAULT_NAMESPACE, account, std::slice::from_ref(limit))?;
        let state = self.lock();
        let now = self.now_ms();
        Ok(state
            .counters
            .get(&planned[0].key)
            .map_or(0, |c| c.used(&planned[0], now)))
    }

    /// Number of counters held (expired ones linger until the next sweep).
    pub fn len(&self) -> usize {
        self.lock().counters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every expired counter now.
    pub fn sweep(&self) {
        let mut state = self.lock();
        let now = self.now_ms();
        state.counters.retain(|_, counter| !counter.expired(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_replayed_at_their_own_times_use_the_same_windows() {
        let store = MemoryCounters::new();
        let limit = [LimitRequest {
            key: "c:replay".into(),
            window_secs: 60,
            max: 2,
            cost: 1,
            algorithm: Algorithm::Fixed,
        }];
        // 2026-01-01T00:00:00Z and on: far from the store's own clock.
        let base = 1_767_225_600_000;
        let admitted = |at| {
            matches!(
                store.acquire_at("acc_1", &limit, at),
                Ok(Outcome::Admitted(_))
            )
        };
        assert!(admitted(base));
        assert!(admitted(base + 59_000));
        assert!(
            !admitted(base + 59_999),
            "the third call of one minute is over"
        );
        assert!(admitted(base + 60_000), "a new window starts at the minute");
    }

    #[test]
    fn expired_counters_are_swept() {
        let store = MemoryCounters::new();
        let limits = [
            LimitRequest {
                key: "c:a".into(),
                window_secs: 1,
                max: 5,
                cost: 1,
                algorithm: Algorithm::Fixed,
            },
            LimitRequest {
                key: "c:b".into(),
                window_secs: 2,
                max: 5,
                cost: 1,
                algorithm: Algorithm::Sliding,
            },
        ];
        assert!(matches!(
            store.acquire("acc_1", &limits),
            Ok(Outcome::Admitted(_))
        ));
        assert_eq!(store.len(), 2);
        store.advance_clock_ms(1_000);
        store.sweep();
        assert_eq!(
            store.len(),
            1,
            "the fixed window ended, the sliding entry is still live"
        );
        store.advance_clock_ms(1_000);
        store.sweep();
        assert!(store.is_empty());
    }
}
