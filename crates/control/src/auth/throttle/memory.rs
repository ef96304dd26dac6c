//! The throttle's state in this process (a single control-plane replica):
//! the same rules as the Redis script, on a map behind a lock that is never
//! held across an await.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{millis, Claimed};

/// Most keys kept per map: past it, expired ones are dropped, then those
/// closest to expiring.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u64,
    /// Milliseconds on [`MemoryThrottle`]'s clock; 0 when not locked.
    locked_until: u64,
    expires: u64,
}

#[derive(Debug, Clone, Copy)]
struct Signups {
    count: u64,
    expires: u64,
}

#[derive(Debug, Default)]
struct Maps {
    failures: HashMap<String, Failures>,
    signups: HashMap<String, Signups>,
}

#[derive(Debug)]
pub(super) struct MemoryThrottle {
    started: Instant,
    maps: Mutex<Maps>,
}

impl Default for MemoryThrottle {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            maps: Mutex::default(),
        }
    }
}

impl MemoryThrottle {
    fn now(&self) -> u64 {
        millis(self.started.elapsed())
    }

    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        // The maps stay consistent even if a holder panicked: every update
        // is a plain field write.
        self.maps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The longest wait among locked keys, or `None` after claiming one
    /// failure on every key.
    pub(super) fn claim(&self, keys: &[&Claimed]) -> Option<Duration> {
        let now = self.now();
        claim_at(&mut self.maps().failures, keys, now)
    }

    pub(super) fn succeed(&self, email: &Claimed, address: Option<&Claimed>) {
        let now = self.now();
        succeed_at(&mut self.maps().failures, email, address, now);
    }

    pub(super) fn count_signup(&self, key: &str, max: u32, window: Duration) -> Option<Duration> {
        let now = self.now();
        count_signup_at(&mut self.maps().signups, key, max, window, now)
    }
}

fn claim_at(map: &mut HashMap<String, Failures>, keys: &[&Claimed], now: u64) -> Option<Duration> {
    let wait = keys
        .iter()
        .filter_map(|claimed| map.get(&claimed.key))
        .filter(|entry| entry.expires > now && entry.locked_until > now)
        .map(|entry| entry.locked_until - now)
        .max();
    if let Some(wait) = wait {
        return Some(Duration::from_millis(wait));
    }
    for claimed in keys {
        make_room(map, &claimed.key, now, |entry| entry.expires);
        let entry = map.entry(claimed.key.clone()).or_insert(Failures {
            count: 0,
            locked_until: 0,
            expires: 0,
        });
        if entry.expires <= now {
            *entry = Failures {
                count: 0,
                locked_until: 0,
                expires: 0,
            };
        }
        entry.count += 1;
        let lock = millis(claimed.backoff.lock_after(entry.count));
        if lock > 0 {
            entry.locked_until = now.saturating_add(lock);
        }
        entry.expires = now
            .saturating_add(lock)
            .saturating_add(millis(claimed.backoff.forget));
    }
    None
}

fn succeed_at(
    map: &mut HashMap<String, Failures>,
    email: &Claimed,
    address: Option<&Claimed>,
    now: u64,
) {
    map.remove(&email.key);
    let Some(address) = address else { return };
    let Some(entry) = map.get_mut(&address.key) else {
        return;
    };
    if entry.expires <= now || entry.count <= 1 {
        map.remove(&address.key);
        return;
    }
    entry.count -= 1;
    if entry.count < u64::from(address.backoff.free.max(1)) {
        entry.locked_until = 0;
    }
}

fn count_signup_at(
    map: &mut HashMap<String, Signups>,
    key: &str,
    max: u32,
    window: Duration,
    now: u64,
) -> Option<Duration> {
    make_room(map, key, now, |entry| entry.expires);
    let entry = map.entry(key.to_owned()).or_insert(Signups {
        count: 0,
        expires: 0,
    });
    if entry.expires <= now {
        *entry = Signups {
            count: 0,
            expires: now.saturating_add(millis(window)),
        };
    }
    entry.count += 1;
    (entry.count > u64::from(max)).then(|| Duration::from_millis(entry.expires - now))
}

/// Keeps `map` under [`MAX_KEYS`] before `key` is added.
fn make_room<V>(map: &mut HashMap<String, V>, key: &str, now: u64, expires: impl Fn(&V) -> u64) {
    if map.len() < MAX_KEYS || map.contains_key(key) {
        return;
    }
    map.retain(|_, value| expires(value) > now);
    while map.len() >= MAX_KEYS {
        let soonest = map
            .iter()
            .min_by_key(|(_, value)| expires(value))
            .map(|(key, _)| key.clone());
        match soonest {
            Some(soonest) => map.remove(&soonest),
            None => break,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::Backoff;
    use super::*;

    fn claimed(key: &str, free: u32) -> Claimed {
        Claimed {
            key: key.to_owned(),
            backoff: Backoff {
                free,
                base: Duration::from_millis(1000),
                max: Duration::from_millis(8000),
                forget: Duration::from_millis(60_000),
            },
        }
    }

    fn ms(wait: Option<Duration>) -> Option<u64> {
        wait.map(millis)
    }

    #[test]
    fn locks_after_the_free_failures_and_doubles() {
        let mut map = HashMap::new();
        let email = claimed("e", 3);
        for _ in 0..3 {
            assert_eq!(claim_at(&mut map, &[&email], 0), None);
        }
        // The third claim locked the key for the base: refused until then.
        assert_eq!(ms(claim_at(&mut map, &[&email], 0)), Some(1000));
        assert_eq!(ms(claim_at(&mut map, &[&email], 999)), Some(1));
        // A refused attempt is not a failure: the count is still 3.
        assert_eq!(map["e"].count, 3);
        assert_eq!(claim_at(&mut map, &[&email], 1000), None);
        assert_eq!(ms(claim_at(&mut map, &[&email], 1000)), Some(2000));
        assert_eq!(claim_at(&mut map, &[&email], 3000), None);
        assert_eq!(ms(claim_at(&mut map, &[&email], 3000)), Some(4000));
        assert_eq!(claim_at(&mut map, &[&email], 7000), None);
        assert_eq!(claim_at(&mut map, &[&email], 15_000), None);
        // Capped at 8 s.
        assert_eq!(ms(claim_at(&mut map, &[&email], 15_000)), Some(8000));
    }

    #[test]
    fn the_longest_lock_among_the_keys_answers_and_nothing_is_claimed() {
        let mut map = HashMap::new();
        let (email, address) = (claimed("e", 1), claimed("a", 10));
        assert_eq!(claim_at(&mut map, &[&email, &address], 0), None);
        assert_eq!(map["a"].count, 1);
        assert_eq!(ms(claim_at(&mut map, &[&email, &address], 200)), Some(800));
        assert_eq!(map["a"].count, 1, "a refused attempt claims nothing");
        let other = claimed("other", 1);
        assert_eq!(claim_at(&mut map, &[&other, &address], 200), None);
        assert_eq!(map["a"].count, 2);
    }

    #[test]
    fn failures_are_forgotten_after_the_quiet_period() {
        let mut map = HashMap::new();
        let email = claimed("e", 1);
        assert_eq!(claim_at(&mut map, &[&email], 0), None);
        // Locked 1 s, then remembered 60 s more.
        assert_eq!(claim_at(&mut map, &[&email], 60_999), None);
        assert_eq!(map["e"].count, 2);
        // That one locked 2 s, until 62 999: forgotten 60 s after.
        assert_eq!(claim_at(&mut map, &[&email], 122_998), None);
        assert_eq!(map["e"].count, 3);
        assert_eq!(claim_at(&mut map, &[&email], 122_998 + 4000 + 60_000), None);
        assert_eq!(map["e"].count, 1, "started over");
    }

    #[test]
    fn success_forgets_the_email_and_takes_back_the_address_claim() {
        let mut map = HashMap::new();
        let (email, address) = (claimed("e", 2), claimed("a", 2));
        assert_eq!(claim_at(&mut map, &[&email, &address], 0), None);
        assert_eq!(claim_at(&mut map, &[&email, &address], 0), None);
        // The second claim locked both; a right password clears the email
        // and, back under the address's free count, the address's lock.
        succeed_at(&mut map, &email, Some(&address), 0);
        assert!(!map.contains_key("e"));
        assert_eq!(map["a"].count, 1);
        assert_eq!(claim_at(&mut map, &[&email, &address], 0), None);
        succeed_at(&mut map, &email, Some(&address), 0);
        succeed_at(&mut map, &email, Some(&address), 0);
        assert!(map.is_empty(), "{map:?}");
    }

    #[test]
    fn signups_are_counted_in_a_fixed_window() {
        let mut map = HashMap::new();
        let hour = Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(count_signup_at(&mut map, "s", 3, hour, 1000), None);
        }
        assert_eq!(
            ms(count_signup_at(&mut map, "s", 3, hour, 601_000)),
            Some(3_000_000)
        );
        assert_eq!(count_signup_at(&mut map, "s", 3, hour, 3_601_000), None);
        assert_eq!(count_signup_at(&mut map, "other", 3, hour, 0), None);
    }

    #[test]
    fn the_map_stays_bounded() {
        let mut map: HashMap<String, Signups> = HashMap::new();
        for i in 0..MAX_KEYS {
            map.insert(
                format!("k{i}"),
                Signups {
                    count: 1,
                    expires: 10 + i as u64,
                },
            );
        }
        make_room(&mut map, "new", 5, |entry| entry.expires);
        assert_eq!(map.len(), MAX_KEYS - 1);
        assert!(!map.contains_key("k0"), "the soonest to expire went first");
        make_room(&mut map, "k5", 5, |entry| entry.expires);
        assert_eq!(map.len(), MAX_KEYS - 1);
    }
}
