//! Counter key names.
//!
//! `tg:{<account>}:<key>:<window_secs>` for fixed windows and
//! `tg:{<account>}:<key>:<window_secs>:s` for sliding ones. The braces are a
//! Redis Cluster hash tag: every counter of an account lives in one slot, so
//! one script may touch all limits of a call. The window length and the
//! algorithm are part of the name, so a policy change starts a fresh counter
//! instead of misreading an old one.

use sha2::{Digest, Sha256};

use crate::request::{Algorithm, LimitRequest};

/// Caller keys longer than this are replaced by their SHA-256, so a long
/// scope id cannot bloat every command.
const MAX_KEY_LEN: usize = 200;

/// The full key a store uses for `limit` under `account`.
pub fn counter_key(account: &str, limit: &LimitRequest) -> String {
    let key = if limit.key.len() > MAX_KEY_LEN {
        format!("h:{}", hex::encode(Sha256::digest(limit.key.as_bytes())))
    } else {
        limit.key.clone()
    };
    let suffix = match limit.algorithm {
        Algorithm::Fixed => "",
        Algorithm::Sliding => ":s",
    };
    format!("tg:{{{account}}}:{key}:{}{suffix}", limit.window_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(key: &str, window_secs: u64, algorithm: Algorithm) -> LimitRequest {
        LimitRequest {
            key: key.into(),
            window_secs,
            max: 1,
            cost: 1,
            algorithm,
        }
    }

    #[test]
    fn keys_carry_the_account_tag_window_and_algorithm() {
        assert_eq!(
            counter_key("acc_1", &limit("c:spend:account", 86400, Algorithm::Fixed)),
            "tg:{acc_1}:c:spend:account:86400"
        );
        assert_eq!(
            counter_key("acc_1", &limit("c:x", 60, Algorithm::Sliding)),
            "tg:{acc_1}:c:x:60:s"
        );
    }

    #[test]
    fn long_keys_are_hashed() {
        let key = counter_key("a", &limit(&"x".repeat(500), 1, Algorithm::Fixed));
        assert!(key.starts_with("tg:{a}:h:") && key.len() < 100, "{key}");
    }
}
