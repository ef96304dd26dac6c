//! Session tokens: HS256 JWTs valid from `nbf` until `exp`, algorithm
//! pinned on decode, each naming its session row (`sid`), which every
//! request checks is still live.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use toolgate_store::ids::{AccountId, SessionId, UserId};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub acc: AccountId,
    /// The session; tokens from before sessions could be revoked carry
    /// none and are refused.
    pub sid: SessionId,
    pub iat: i64,
    /// Not valid before; tokens issued before it was set carry none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_secs: i64,
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl_secs: i64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    pub fn issue(
        &self,
        user: UserId,
        account: AccountId,
        session: SessionId,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            acc: account,
            sid: session,
            iat: now,
            nbf: Some(now),
            exp: now + self.ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The claims of a valid HS256 token inside its validity window; `None`
    /// for anything else.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify() {
        let keys = JwtKeys::new(b"secret-secret-secret-secret-0123", 60);
        let (user, account) = (UserId::new(), AccountId::new());
        let claims = keys
            .verify(&keys.issue(user, account, SessionId::new()).unwrap())
            .unwrap();
        assert_eq!((claims.sub, claims.acc), (user, account));
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_fail() {
        let keys = JwtKeys::new(b"secret-secret-secret-secret-0123", -1);
        assert!(keys
            .verify(
                &keys
                    .issue(UserId::new(), AccountId::new(), SessionId::new())
                    .unwrap()
            )
            .is_none());

        let keys = JwtKeys::new(b"secret-secret-secret-secret-0123", 60);
        let token = keys
            .issue(UserId::new(), AccountId::new(), SessionId::new())
            .unwrap();
        let other = JwtKeys::new(b"another-secret-another-secret-01", 60);
        assert!(other.verify(&token).is_none());
        let mut tampered = token.clone();
        tampered.insert(tampered.len() - 3, 'x');
        assert!(keys.verify(&tampered).is_none());
    }

    #[test]
    fn tokens_are_refused_before_not_before() {
        let keys = JwtKeys::new(b"secret-secret-secret-secret-0123", 60);
        let now = Utc::now().timestamp();
        let sign = |nbf: Option<i64>| {
            let claims = Claims {
                sub: UserId::new(),
                acc: AccountId::new(),
                sid: SessionId::new(),
                iat: now,
                nbf,
                exp: now + 600,
            };
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap()
        };
        assert!(keys.verify(&sign(Some(now + 300))).is_none());
        assert!(keys.verify(&sign(Some(now - 1))).is_some());
        // Tokens from before `nbf` was issued stay valid until they expire.
        assert!(keys.verify(&sign(None)).is_some());
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        let keys = JwtKeys::new(b"secret-secret-secret-secret-0123", 60);
        let token = keys
            .issue(UserId::new(), AccountId::new(), SessionId::new())
            .unwrap();
        let payload = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(keys.verify(&none).is_none());
    }
}
