//! Secrets at rest and credentials in flight.
//!
//! Upstream header values and webhook signing secrets are sealed with
//! AES-256-GCM under the deployment's key. Credentials we hand out (API keys,
//! grant tokens) are 256-bit random strings stored only as SHA-256 digests: a
//! slow hash buys nothing against a value that cannot be guessed, and the
//! gateway must look grants up on every request.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// A value could not be sealed (over AES-GCM's size limit) or opened (wrong
/// key or tampered data).
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("value too large to encrypt")]
    Seal,
    #[error("encrypted value cannot be decrypted with the configured TOOLGATE_SECRET_KEY")]
    Open,
}

/// The deployment's data-encryption key.
pub struct SecretKey(SecretBox<[u8; 32]>);

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Parses a key given as 64 hex digits or as base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .or_else(|| URL_SAFE_NO_PAD.decode(text).ok())
            .ok_or("must be 32 bytes as 64 hex digits or base64")?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| format!("must be 32 bytes, got {}", v.len()))?;
        Ok(Self::from_bytes(bytes))
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    pub fn expose_bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }

    /// Encrypts `plaintext`; the output is `nonce || ciphertext+tag`.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.expose_bytes()));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.expose_bytes()));
        cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| CryptoError::Open)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
}

/// A newly minted credential: the clear text (shown once) and what is stored.
pub struct NewCredential {
    pub token: String,
    pub prefix: String,
    pub hash: Vec<u8>,
}

/// Mints a credential `{kind}_{43 base64url chars}` from 32 random bytes.
pub fn mint_credential(kind: &str) -> NewCredential {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{kind}_{}", URL_SAFE_NO_PAD.encode(bytes));
    let prefix = token.chars().take(kind.len() + 7).collect();
    let hash = credential_hash(&token);
    NewCredential {
        token,
        prefix,
        hash,
    }
}

/// The digest under which a credential is stored and looked up.
pub fn credential_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_hides_the_plaintext() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"Bearer upstream-secret").unwrap();
        assert!(!sealed
            .windows(b"upstream-secret".len())
            .any(|w| w == b"upstream-secret"));
        assert_eq!(key.open(&sealed).unwrap(), b"Bearer upstream-secret");
    }

    #[test]
    fn another_key_or_tampering_cannot_open() {
        let key = SecretKey::generate();
        let mut sealed = key.seal(b"value").unwrap();
        assert!(SecretKey::generate().open(&sealed).is_err());
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(key.open(&sealed).is_err());
        assert!(key.open(b"short").is_err());
    }

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let hex_key = "00".repeat(32);
        assert!(SecretKey::parse(&hex_key).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(SecretKey::parse(&b64).unwrap().expose_bytes(), &[7u8; 32]);
        assert!(SecretKey::parse("too-short").is_err());
        assert!(SecretKey::parse(&"00".repeat(31)).is_err());
    }

    #[test]
    fn credentials_are_unique_and_hash_to_what_is_stored() {
        let a = mint_credential("tgg");
        let b = mint_credential("tgg");
        assert_ne!(a.token, b.token);
        assert!(a.token.starts_with("tgg_"));
        assert!(a.token.starts_with(&a.prefix));
        assert_eq!(credential_hash(&a.token), a.hash);
        assert_eq!(a.hash.len(), 32);
    }
}
