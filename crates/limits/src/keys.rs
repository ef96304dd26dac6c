//! Counter key names.
//!
//! `<namespace>:{<account>}:<key>:<window_secs>` for fixed windows and
//! `<namespace>:{<account>}:<key>:<window_secs>:s` for sliding ones; the
//! namespace keeps deployments sharing one Redis apart (default `tg`). The braces are a
//! Redis Cluster hash tag: every counter of an account lives in one slot, so
//! one script may touch all limits of a call. The window length and the
//! algorithm are part of the name, so a policy change starts a fresh counter
//! instead of misreading an old one.

use sha2::{Digest, Sha256};

use crate::request::{Algorithm, LimitRequest};

/// Caller keys longer than this are replaced by their SHA-256, so a long
/// scope id cannot bloat every command.
const MAX_KEY_LEN: usize = 200;

/// The namespace of a store that was given none.
pub const DEFAULT_NAMESPACE: &str = "tg";

/// Whether `namespace` can prefix counter keys: short, printable, and free of
/// the braces that delimit the account's hash tag.
pub fn valid_namespace(namespace: &str) -> bool {
    (1..=64).contains(&namespace.len())
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The full key a store in `namespace` uses for `limit` under `account`.
pub fn counter_key(namespace: &str, account: &str, limit: &LimitRequest) -> String {
    let key = if limit.key.len() > MAX_KEY_LEN {
        format!("h:{}", hex::encode(Sha256::digest(limit.key.as_bytes())))
    } else {
        limit.key.clone()
    };
    let suffix = match limit.algorithm {
        Algorithm::Fixed => "",
        Algorithm::Sliding => ":s",
    };
    format!(
        "{namespace}:{{{account}}}:{key}:{}{suffix}",
        limit.window_secs
    )
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
            counter_key(
                "tg",
                "acc_1",
                &limit("c:spend:account", 86400, Algorithm::Fixed)
            ),
            "tg:{acc_1}:c:spend:account:86400"
        );
        assert_eq!(
            counter_key(
                "toolgate-1f2e",
                "acc_1",
                &limit("c:x", 60, Algorithm::Sliding)
            ),
            "toolgate-1f2e:{acc_1}:c:x:60:s"
        );
    }

    #[test]
    fn long_keys_are_hashed() {
        let key = counter_key("tg", "a", &limit(&"x".repeat(500), 1, Algorithm::Fixed));
        assert!(key.starts_with("tg:{a}:h:") && key.len() < 100, "{key}");
    }

    #[test]
    fn namespaces_are_short_printable_and_brace_free() {
        for good in ["tg", "toolgate-1f2e3d4c", "prod.eu:1", "a_b"] {
            assert!(valid_namespace(good), "{good}");
        }
        let long = "n".repeat(65);
        for bad in ["", "a{b", "a}b", "a b", "ns\0", "caf\u{e9}", long.as_str()] {
            assert!(!valid_namespace(bad), "{bad:?}");
        }
    }
}
