//! Sign-in throttling: failed logins per email and per client address with
//! exponential backoff, and a cap on sign-ups per client address.
//!
//! Every login attempt that will check a password first *claims* a failure
//! on its email's key and on its address's key, in one step that also checks
//! the locks (one Redis script call): a locked key refuses the attempt before
//! any password is looked at, the same way whether or not the email has an
//! account. A right password then takes its claims back (one more call): the
//! email's failures are forgotten, the address's count loses the one claim.
//! Counting before checking, rather than after, means concurrent attempts
//! cannot slip past a lock: past the free attempts, one guess per backoff.
//!
//! The state lives in Redis when the deployment has it (shared by every
//! control-plane replica; keys under the deployment's namespace, emails and
//! addresses only as hashes), else in this process.

mod memory;
mod redis_store;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::ApiError;
use memory::MemoryThrottle;
use redis_store::RedisThrottle;

/// When a key's failures lock it, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures that cost nothing; the one that reaches this count locks the
    /// key for `base` (at least 1).
    pub free: u32,
    pub base: Duration,
    /// The longest lock.
    pub max: Duration,
    /// A key's failures are forgotten this long after its last lock ends
    /// (after its last failure, when it never locked).
    pub forget: Duration,
}

impl Backoff {
    /// How long the key locks once it has counted `failures`: nothing before
    /// the `free`-th, then `base`, doubling with each further failure, up to
    /// `max`.
    pub fn lock_after(&self, failures: u64) -> Duration {
        let free = u64::from(self.free.max(1));
        if failures < free {
            return Duration::ZERO;
        }
        let (base, max) = (millis(self.base), millis(self.max));
        let doublings = failures - free;
        let lock = if doublings >= 63 {
            max
        } else {
            base.saturating_mul(1 << doublings).min(max)
        };
        Duration::from_millis(lock)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The throttle's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failed logins per email (the lower-cased address as typed, whether or
    /// not it has an account).
    pub per_email: Backoff,
    /// Failed logins per client address, across emails.
    pub per_address: Backoff,
    /// Sign-ups per client address per hour (0: no limit).
    pub signups_per_hour: u32,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        let backoff = |free| Backoff {
            free,
            base: Duration::from_secs(1),
            max: Duration::from_secs(15 * 60),
            forget: Duration::from_secs(3600),
        };
        Self {
            per_email: backoff(5),
            per_address: backoff(20),
            signups_per_hour: 10,
        }
    }
}

/// The window sign-ups are counted in.
pub const SIGNUP_WINDOW: Duration = Duration::from_secs(3600);

/// The store could not answer; the attempt is refused (fail closed).
#[derive(Debug, thiserror::Error)]
#[error("the sign-in throttle's store failed: {0}")]
pub struct StoreFailed(String);

/// One key's part in a claim.
#[derive(Debug, Clone)]
struct Claimed {
    key: String,
    backoff: Backoff,
}

/// What a login attempt claimed; hand it back with
/// [`Throttle::login_succeeded`] when the password was right.
#[derive(Debug)]
pub struct LoginClaim {
    email: Claimed,
    address: Option<Claimed>,
}

#[derive(Clone)]
enum Store {
    Memory(Arc<MemoryThrottle>),
    Redis(RedisThrottle),
}

/// Login and sign-up throttling; clones share the state.
#[derive(Clone)]
pub struct Throttle {
    settings: ThrottleSettings,
    store: Store,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = match &self.store {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        };
        f.debug_struct("Throttle")
            .field("settings", &self.settings)
            .field("store", &store)
            .finish()
    }
}

const TOO_MANY_LOGINS: &str =
    "too many failed sign-ins for this email or from this address; try again in";
const TOO_MANY_SIGNUPS: &str = "too many sign-ups from this address; try again in";
const SIGN_IN_UNAVAILABLE: &str =
    "sign-in is temporarily unavailable (its attempt counter cannot be reached); try again shortly";
const SIGN_UP_UNAVAILABLE: &str =
    "sign-up is temporarily unavailable (its attempt counter cannot be reached); try again shortly";

impl Throttle {
    /// State in this process: a single control-plane replica.
    pub fn in_process(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            store: Store::Memory(Arc::new(MemoryThrottle::default())),
        }
    }

    /// State in Redis at `url`, under `namespace`: shared by every replica.
    /// Connects on first use.
    pub fn redis(
        url: &str,
        namespace: &str,
        settings: ThrottleSettings,
    ) -> Result<Self, StoreFailed> {
        Ok(Self {
            settings,
            store: Store::Redis(RedisThrottle::new(url, namespace)?),
        })
    }

    pub fn settings(&self) -> &ThrottleSettings {
        &self.settings
    }

    /// Claims one failure for `email` (as typed) and for `client`, unless
    /// either is locked: then 429 with the wait. A store that cannot answer
    /// is a 503.
    pub async fn claim_login(
        &self,
        email: &str,
        client: Option<IpAddr>,
    ) -> Result<LoginClaim, ApiError> {
        let claim = LoginClaim {
            email: Claimed {
                key: email_key(email),
                backoff: self.settings.per_email,
            },
            address: client.map(|ip| Claimed {
                key: address_key("addr", ip),
                backoff: self.settings.per_address,
            }),
        };
        let keys: Vec<&Claimed> = std::iter::once(&claim.email)
            .chain(claim.address.as_ref())
            .collect();
        let wait = match &self.store {
            Store::Memory(memory) => Ok(memory.claim(&keys)),
            Store::Redis(redis) => redis.claim(&keys).await,
        }
        .map_err(|error| {
            tracing::warn!(%error, "refusing a login: the throttle cannot be reached");
            ApiError::Unavailable(SIGN_IN_UNAVAILABLE.to_owned())
        })?;
        match wait {
            None => Ok(claim),
            Some(wait) => {
                // Debug, not info: an attack would flood the log.
                tracing::debug!(
                    retry_after_ms = millis(wait),
                    "login refused: too many failures"
                );
                Err(too_many(TOO_MANY_LOGINS, wait))
            }
        }
    }

    /// The password was right: the email's failures are forgotten and the
    /// address's claim taken back. A store failure here only logs: the
    /// person proved who they are.
    pub async fn login_succeeded(&self, claim: LoginClaim) {
        let result = match &self.store {
            Store::Memory(memory) => {
                memory.succeed(&claim.email, claim.address.as_ref());
                Ok(())
            }
            Store::Redis(redis) => redis.succeed(&claim.email, claim.address.as_ref()).await,
        };
        if let Err(error) = result {
            tracing::warn!(%error, "a successful login's failures could not be cleared");
        }
    }

    /// Counts one sign-up from `client`: 429 past the hourly limit, 503 when
    /// the store cannot answer. Without a client address (no socket, as in
    /// tests that drive the router directly) nothing is counted.
    pub async fn claim_signup(&self, client: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some(ip), max) = (client, self.settings.signups_per_hour) else {
            return Ok(());
        };
        if max == 0 {
            return Ok(());
        }
        let key = address_key("signup", ip);
        let wait = match &self.store {
            Store::Memory(memory) => Ok(memory.count_signup(&key, max, SIGNUP_WINDOW)),
            Store::Redis(redis) => redis.count_signup(&key, max, SIGNUP_WINDOW).await,
        }
        .map_err(|error| {
            tracing::warn!(%error, "refusing a sign-up: the throttle cannot be reached");
            ApiError::Unavailable(SIGN_UP_UNAVAILABLE.to_owned())
        })?;
        match wait {
            None => Ok(()),
            Some(wait) => Err(too_many(TOO_MANY_SIGNUPS, wait)),
        }
    }
}

fn too_many(what: &str, wait: Duration) -> ApiError {
    let retry_after = retry_after_secs(wait);
    let unit = if retry_after == 1 {
        "second"
    } else {
        "seconds"
    };
    ApiError::TooManyRequests {
        detail: format!("{what} {retry_after} {unit}"),
        retry_after,
    }
}

/// Whole seconds, rounded up, at least 1: waiting that long is enough.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_millis().div_ceil(1000).max(1) as u64
}

/// The key of an email as typed (trimmed, lower-cased), as a hash: the
/// address itself is never stored.
fn email_key(raw: &str) -> String {
    format!("email:{}", digest("email", &raw.trim().to_lowercase()))
}

/// The key of a client address under `kind`. An IPv6 client is counted by
/// its /64, the block one subscriber gets; an IPv4-mapped address as IPv4.
fn address_key(kind: &str, ip: IpAddr) -> String {
    let block = match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    };
    format!("{kind}:{}", digest(kind, &block))
}

fn digest(label: &str, value: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"toolgate sign-in throttle\0");
    hash.update(label.as_bytes());
    hash.update(b"\0");
    hash.update(value.as_bytes());
    hex::encode(&hash.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(free: u32, base_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            free,
            base: Duration::from_millis(base_ms),
            max: Duration::from_millis(max_ms),
            forget: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_free_failures_cost_nothing_then_each_doubles_the_lock_up_to_the_cap() {
        let b = backoff(5, 1000, 15 * 60 * 1000);
        let locks: Vec<u64> = (0..=16).map(|f| millis(b.lock_after(f))).collect();
        assert_eq!(
            locks,
            [
                0, 0, 0, 0, 0, // failures 0..=4 are free
                1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 900_000,
                900_000,
            ]
        );
    }

    #[test]
    fn the_cap_holds_for_any_count_without_overflow() {
        let b = backoff(1, 7, 60_000);
        for failures in [62, 63, 64, 100, 1 << 40, u64::MAX] {
            assert_eq!(millis(b.lock_after(failures)), 60_000, "{failures}");
        }
        let huge = backoff(1, u64::MAX / 2, u64::MAX);
        assert_eq!(millis(huge.lock_after(3)), u64::MAX);
    }

    #[test]
    fn no_free_attempts_means_the_first_failure_locks_for_the_base() {
        let b = backoff(0, 250, 10_000);
        assert_eq!(millis(b.lock_after(0)), 0);
        assert_eq!(millis(b.lock_after(1)), 250);
        assert_eq!(millis(b.lock_after(2)), 500);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        for (ms, secs) in [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (4500, 5)] {
            assert_eq!(retry_after_secs(Duration::from_millis(ms)), secs, "{ms}");
        }
    }

    #[test]
    fn keys_hide_the_email_and_fold_its_case() {
        let key = email_key(" Ada@Example.com ");
        assert_eq!(key, email_key("ada@example.com"));
        assert!(!key.to_lowercase().contains("ada"), "{key}");
        assert_ne!(key, email_key("bob@example.com"));
        assert_eq!(key.len(), "email:".len() + 32);
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_block() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key("addr", a), address_key("addr", b));
        assert_ne!(address_key("addr", a), address_key("addr", c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(address_key("addr", mapped), address_key("addr", v4));
        assert_ne!(address_key("addr", v4), address_key("signup", v4));
        assert!(!address_key("addr", v4).contains("192"));
    }
}
