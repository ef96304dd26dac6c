//! `_meta` key names, checked against the MCP naming rules.
//!
//! A key is an optional prefix (dot-separated labels, then `/`) and a name.
//! Labels start with a letter, end with a letter or digit, and hold letters,
//! digits and hyphens. A name is empty or starts and ends with an
//! alphanumeric, holding alphanumerics, `-`, `_` and `.`. Prefixes whose
//! second label is `modelcontextprotocol` or `mcp` belong to MCP. Keys the
//! gateway writes must also carry a prefix, in reverse-DNS form, so they can
//! never collide with MCP's own keys or an upstream's.

use std::borrow::Cow;
use std::fmt;

/// A valid, prefixed `_meta` key that the gateway may write.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetaKey(Cow<'static, str>);

/// Why a string cannot be a gateway `_meta` key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaKeyError {
    /// The key has no `prefix/`.
    #[error("_meta key \"{0}\" has no prefix (expected e.g. \"dev.toolgate/{0}\")")]
    MissingPrefix(String),
    /// A prefix label breaks the label rules.
    #[error("_meta key \"{key}\" has an invalid prefix label \"{label}\"")]
    InvalidLabel {
        /// The key.
        key: String,
        /// The offending label.
        label: String,
    },
    /// The name part breaks the name rules.
    #[error("_meta key \"{0}\" has an invalid name")]
    InvalidName(String),
    /// The prefix is reserved for MCP.
    #[error("_meta key \"{0}\" uses a prefix reserved for MCP")]
    Reserved(String),
}

impl MetaKey {
    /// `dev.toolgate/refusal`: the machine-readable detail of a policy refusal.
    pub const TOOLGATE_REFUSAL: MetaKey = MetaKey(Cow::Borrowed("dev.toolgate/refusal"));

    /// `dev.toolgate/approval`: the machine-readable detail of a call that
    /// awaits a person's approval (its id, link and when to call again).
    pub const TOOLGATE_APPROVAL: MetaKey = MetaKey(Cow::Borrowed("dev.toolgate/approval"));

    /// Checks a key against the naming rules.
    pub fn parse(key: &str) -> Result<MetaKey, MetaKeyError> {
        validate(key)?;
        Ok(MetaKey(Cow::Owned(key.to_owned())))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MetaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn validate(key: &str) -> Result<(), MetaKeyError> {
    let Some((prefix, name)) = key.split_once('/') else {
        return Err(MetaKeyError::MissingPrefix(key.to_owned()));
    };
    let labels: Vec<&str> = prefix.split('.').collect();
    for label in &labels {
        if !is_valid_label(label) {
            return Err(MetaKeyError::InvalidLabel {
                key: key.to_owned(),
                label: (*label).to_owned(),
            });
        }
    }
    if labels.get(1).is_some_and(|second| {
        second.eq_ignore_ascii_case("modelcontextprotocol") || second.eq_ignore_ascii_case("mcp")
    }) {
        return Err(MetaKeyError::Reserved(key.to_owned()));
    }
    if !is_valid_name(name) {
        return Err(MetaKeyError::InvalidName(key.to_owned()));
    }
    Ok(())
}

fn is_valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphabetic()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (None, _) | (_, None) => true,
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_key_is_valid() {
        assert_eq!(
            MetaKey::parse(MetaKey::TOOLGATE_REFUSAL.as_str()).unwrap(),
            MetaKey::TOOLGATE_REFUSAL
        );
        assert_eq!(
            MetaKey::TOOLGATE_REFUSAL.to_string(),
            "dev.toolgate/refusal"
        );
    }

    #[test]
    fn valid_keys() {
        for key in [
            "com.example/x",
            "com.example.mcp/x",
            "a/b",
            "a-b.c9/n_a.m-e",
            "com.example/",
            "x1/1",
        ] {
            assert!(MetaKey::parse(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn reserved_prefixes() {
        for key in [
            "io.modelcontextprotocol/x",
            "dev.mcp/x",
            "org.modelcontextprotocol.api/x",
            "com.mcp.tools/x",
            "dev.MCP/x",
        ] {
            assert_eq!(
                MetaKey::parse(key),
                Err(MetaKeyError::Reserved(key.into())),
                "{key}"
            );
        }
    }

    #[test]
    fn invalid_keys() {
        assert!(matches!(
            MetaKey::parse("refusal"),
            Err(MetaKeyError::MissingPrefix(_))
        ));
        for key in ["/x", "1a/x", "a-/x", "a..b/x", "a_b/x", "a./x", ".a/x"] {
            assert!(
                matches!(MetaKey::parse(key), Err(MetaKeyError::InvalidLabel { .. })),
                "{key}"
            );
        }
        for key in ["a/-x", "a/x-", "a/x y", "a/x/y", "a/_"] {
            assert!(
                matches!(MetaKey::parse(key), Err(MetaKeyError::InvalidName(_))),
                "{key}"
            );
        }
        let err = MetaKey::parse("a_b/x").unwrap_err();
        assert!(err.to_string().contains("\"a_b\""));
    }
}
