//! The `requestState` of a 2026-07-28 "input required" answer that keeps a
//! held call waiting across several requests (multi round-trip requests).
//!
//! When nobody decided within the hold, a modern client is answered
//! `{"resultType": "input_required", "requestState": …}` with no input
//! requests: its SDK retries the same call at once with the state, and the
//! gateway holds it again. The state is the gateway's own, so it is signed
//! (HMAC-SHA256 under a key derived from the deployment's secret), bound to
//! the grant and server it was issued to, the call's target and argument
//! digest, and an expiry, and namespaced (`tg1.`) apart from any state an
//! upstream issues, which passes through untouched. It carries nothing
//! secret (the approval id is told to the agent anyway), only a round count
//! the agent must not reset and a binding it must not move.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use toolgate_store::ids::{ApprovalId, GrantId, ServerId};

type HmacSha256 = Hmac<Sha256>;

/// How a state the gateway issued starts; anything else is an upstream's.
pub const PREFIX: &str = "tg1.";
/// Bytes of the tag kept: 128 bits.
const TAG_LEN: usize = 16;

/// What a state says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// The approval the call waits on.
    #[serde(rename = "a")]
    pub approval: ApprovalId,
    /// The tool's (prompt's, resource's) name and the arguments' digest.
    #[serde(rename = "t")]
    pub target: String,
    #[serde(rename = "d")]
    pub digest: String,
    /// How many times the call was answered "input required" so far.
    #[serde(rename = "r")]
    pub round: u32,
    /// Unix seconds after which the state is refused (the approval's
    /// expiry).
    #[serde(rename = "e")]
    pub expires: i64,
}

/// Why a state is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("requestState is malformed or was not issued by this gateway for this grant")]
    Forged,
    #[error("requestState was issued for another call (other tool or arguments)")]
    OtherCall,
    #[error("requestState has expired")]
    Expired,
    #[error("the approval this requestState names cannot be read right now; retry shortly")]
    Unavailable,
}

pub struct StateSealer {
    key: [u8; 32],
}

impl StateSealer {
    /// Derives the signing key from the deployment's secret key, apart from
    /// every other key made from it.
    pub fn new(secret: &[u8; 32]) -> Self {
        let mut mac = mac(secret);
        mac.update(b"toolgate approval request state v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn tag(&self, grant: GrantId, server: ServerId, payload: &str) -> [u8; TAG_LEN] {
        let mut mac = mac(&self.key);
        mac.update(grant.0.as_bytes());
        mac.update(server.0.as_bytes());
        mac.update(payload.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&digest[..TAG_LEN]);
        tag
    }

    pub fn seal(&self, grant: GrantId, server: ServerId, round: &Round) -> String {
        let json = serde_json::to_vec(round).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = URL_SAFE_NO_PAD.encode(self.tag(grant, server, &payload));
        format!("{PREFIX}{payload}.{tag}")
    }

    /// The round `state` says, if this gateway issued it to this grant and
    /// server, for this call, and it has not expired.
    pub fn open(
        &self,
        grant: GrantId,
        server: ServerId,
        state: &str,
        target: &str,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Round, StateError> {
        let sealed = state.strip_prefix(PREFIX).ok_or(StateError::Forged)?;
        let (payload, tag) = sealed.rsplit_once('.').ok_or(StateError::Forged)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| StateError::Forged)?;
        let expected = self.tag(grant, server, payload);
        // Constant time: the tag is a secret until it matches.
        let equal = tag.len() == TAG_LEN
            && expected
                .iter()
                .zip(&tag)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !equal {
            return Err(StateError::Forged);
        }
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| StateError::Forged)?;
        let round: Round = serde_json::from_slice(&json).map_err(|_| StateError::Forged)?;
        if round.target != target || round.digest != digest {
            return Err(StateError::OtherCall);
        }
        if round.expires <= now.timestamp() {
            return Err(StateError::Expired);
        }
        Ok(round)
    }
}

/// The gateway's own `params.requestState` of a request body, if it carries
/// one; an upstream's state (any other string) is not the gateway's.
pub fn ours(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Message {
        params: Option<Params>,
    }
    #[derive(Deserialize)]
    struct Params {
        #[serde(rename = "requestState")]
        request_state: Option<serde_json::Value>,
    }
    let message: Message = serde_json::from_slice(body).ok()?;
    match message.params?.request_state? {
        serde_json::Value::String(state) if state.starts_with(PREFIX) => Some(state),
        _ => None,
    }
}

/// The body without the gateway's `requestState` (and the empty
/// `inputResponses` of a state-only round), to forward once approved: the
/// upstream never sees the gateway's state.
pub fn without_ours(body: &[u8]) -> Option<Vec<u8>> {
    let mut message: serde_json::Value = serde_json::from_slice(body).ok()?;
    let params = message.get_mut("params")?.as_object_mut()?;
    params.remove("requestState");
    params.remove("inputResponses");
    serde_json::to_vec(&message).ok()
}

fn mac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round() -> Round {
        Round {
            approval: ApprovalId::new(),
            target: "pay".into(),
            digest: "abc".into(),
            round: 2,
            expires: Utc::now().timestamp() + 60,
        }
    }

    #[test]
    fn a_state_opens_only_for_its_grant_server_call_and_lifetime() {
        let sealer = StateSealer::new(&[3; 32]);
        let (grant, server, now) = (GrantId::new(), ServerId::new(), Utc::now());
        let r = round();
        let state = sealer.seal(grant, server, &r);
        assert!(state.starts_with(PREFIX));
        assert_eq!(
            sealer.open(grant, server, &state, "pay", "abc", now),
            Ok(r.clone())
        );
        let forged = Err(StateError::Forged);
        assert_eq!(
            sealer.open(GrantId::new(), server, &state, "pay", "abc", now),
            forged
        );
        assert_eq!(
            sealer.open(grant, ServerId::new(), &state, "pay", "abc", now),
            forged
        );
        assert_eq!(
            StateSealer::new(&[4; 32]).open(grant, server, &state, "pay", "abc", now),
            forged
        );
        assert_eq!(
            sealer.open(grant, server, &state, "pay", "abd", now),
            Err(StateError::OtherCall)
        );
        assert_eq!(
            sealer.open(grant, server, &state, "refund", "abc", now),
            Err(StateError::OtherCall)
        );
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(
            sealer.open(grant, server, &state, "pay", "abc", later),
            Err(StateError::Expired)
        );
        // A round reset (or any other change) breaks the tag.
        let reset = sealer.seal(grant, server, &Round { round: 0, ..r });
        let (payload, _) = reset.rsplit_once('.').unwrap();
        let (_, tag) = state.rsplit_once('.').unwrap();
        assert_eq!(
            sealer.open(
                grant,
                server,
                &format!("{payload}.{tag}"),
                "pay",
                "abc",
                now
            ),
            forged
        );
        for junk in ["", "tg1.", "tg1.x.y", "tg1..", "other"] {
            assert_eq!(sealer.open(grant, server, junk, "pay", "abc", now), forged);
        }
    }

    #[test]
    fn only_the_gateways_own_state_is_picked_and_stripped() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay","arguments":{},"requestState":"tg1.a.b","inputResponses":{}}}"#;
        assert_eq!(ours(body).as_deref(), Some("tg1.a.b"));
        let upstreams = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay","requestState":"up-123"}}"#;
        assert_eq!(ours(upstreams), None);
        let stripped: serde_json::Value =
            serde_json::from_slice(&without_ours(body).unwrap()).unwrap();
        assert_eq!(
            stripped["params"],
            serde_json::json!({"name": "pay", "arguments": {}})
        );
    }
}
