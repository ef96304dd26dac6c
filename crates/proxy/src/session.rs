//! Legacy session ids, bound to the grant and server that opened them.
//!
//! The agent never sees a bare upstream session id: it gets
//! `{upstream id}.{tag}`, where the tag is an HMAC over the grant, the server
//! and the upstream id under a key every replica shares. Any replica can
//! check it without shared state, and an id opened under one grant is
//! worthless under another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use toolgate_store::ids::{GrantId, ServerId};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the tag kept: 128 bits.
const TAG_LEN: usize = 16;

pub struct SessionSealer {
    key: [u8; 32],
}

impl SessionSealer {
    /// Derives the sealing key from the deployment's secret key, so that it
    /// differs from the key that encrypts data at rest.
    pub fn new(secret: &[u8; 32]) -> Self {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable_hmac());
        mac.update(b"toolgate session binding v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn tag(&self, grant: GrantId, server: ServerId, upstream: &str) -> String {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_hmac());
        mac.update(grant.0.as_bytes());
        mac.update(server.0.as_bytes());
        mac.update(upstream.as_bytes());
        let digest = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&digest[..TAG_LEN])
    }

    /// The id to hand the agent for an upstream session id.
    pub fn seal(&self, grant: GrantId, server: ServerId, upstream: &str) -> String {
        format!("{upstream}.{}", self.tag(grant, server, upstream))
    }

    /// The upstream session id, if `sealed` was issued to this grant for this
    /// server.
    pub fn open<'s>(&self, grant: GrantId, server: ServerId, sealed: &'s str) -> Option<&'s str> {
        let (upstream, tag) = sealed.rsplit_once('.')?;
        let expected = self.tag(grant, server, upstream);
        // Constant time: the tag is a secret until it matches.
        let equal = expected.len() == tag.len()
            && expected
                .bytes()
                .zip(tag.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        equal.then_some(upstream)
    }
}

/// Seals upstream session ids for one grant on one server.
#[derive(Clone)]
pub struct SessionBinding {
    pub sealer: std::sync::Arc<SessionSealer>,
    pub grant: GrantId,
    pub server: ServerId,
}

impl SessionBinding {
    pub fn seal(&self, upstream: &str) -> String {
        self.sealer.seal(self.grant, self.server, upstream)
    }
}

#[cold]
fn unreachable_hmac() -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot happen.
    unreachable!("HMAC-SHA256 rejected a 32-byte key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sealed_ids_open_only_for_their_grant_and_server() {
        let sealer = SessionSealer::new(&[7; 32]);
        let (grant, server) = (GrantId::new(), ServerId::new());
        let sealed = sealer.seal(grant, server, "abc-123.x");
        assert!(sealed.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert_eq!(sealer.open(grant, server, &sealed), Some("abc-123.x"));
        assert_eq!(sealer.open(GrantId::new(), server, &sealed), None);
        assert_eq!(sealer.open(grant, ServerId::new(), &sealed), None);
        assert_eq!(
            SessionSealer::new(&[8; 32]).open(grant, server, &sealed),
            None
        );
        assert_eq!(sealer.open(grant, server, "abc-123"), None);
        assert_eq!(sealer.open(grant, server, "other.x"), None);
        let forged = sealed.replace("abc", "abd");
        assert_eq!(sealer.open(grant, server, &forged), None);
    }

    proptest! {
        #[test]
        fn any_upstream_id_round_trips(upstream in "[!-~]{1,80}") {
            let sealer = SessionSealer::new(&[1; 32]);
            let (grant, server) = (GrantId::new(), ServerId::new());
            let sealed = sealer.seal(grant, server, &upstream);
            prop_assert_eq!(sealer.open(grant, server, &sealed), Some(upstream.as_str()));
        }

        #[test]
        fn opening_never_panics(sealed in ".*") {
            let sealer = SessionSealer::new(&[1; 32]);
            let _ = sealer.open(GrantId::new(), ServerId::new(), &sealed);
        }
    }
}
