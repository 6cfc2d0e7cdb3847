//! Encryption of secrets at rest (upstream API keys) with AES-256-GCM.
//!
//! The cipher key is SHA-256 of a domain tag and the operator's `MODELGATE_SECRET_KEY`.
//! Ciphertexts are `v1:` + base64(nonce ‖ ciphertext ‖ tag). A check value stored in `meta`
//! detects a wrong secret key at start-up instead of producing garbage later.

use aes_gcm::aead::{Aead, Generate, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};

const PREFIX: &str = "v1:";
const CHECK_PLAINTEXT: &str = "modelgate-secret-key-check";
/// The `meta` row holding the secret-key check value.
pub const CHECK_META_KEY: &str = "secret_key_check";

/// Encrypts and decrypts secrets with the key derived from the operator's secret.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// Derives the cipher key from the operator's secret (any non-empty string).
    pub fn new(secret: &str) -> Result<Self> {
        if secret.trim().is_empty() {
            return Err(StoreError::Secret("the secret key is empty".into()));
        }
        let mut h = Sha256::new();
        h.update(b"modelgate-secret-v1\0");
        h.update(secret.as_bytes());
        let key = h.finalize();
        let cipher = Aes256Gcm::new_from_slice(&key)
            .map_err(|_| StoreError::Secret("bad key length".into()))?;
        Ok(Self { cipher })
    }

    /// Encrypts a secret.
    pub fn encrypt(&self, plaintext: &str) -> Result<String> {
        let nonce = Nonce::generate();
        let ct = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| StoreError::Secret("encryption failed".into()))?;
        let mut out = Vec::with_capacity(nonce.len() + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    /// Decrypts a value made by `encrypt` with the same secret.
    pub fn decrypt(&self, stored: &str) -> Result<String> {
        let b64 = stored
            .strip_prefix(PREFIX)
            .ok_or_else(|| StoreError::Secret("unknown ciphertext format".into()))?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| StoreError::Secret("ciphertext is not base64".into()))?;
        if raw.len() < 12 + 16 {
            return Err(StoreError::Secret("ciphertext too short".into()));
        }
        let (n, ct) = raw.split_at(12);
        let nonce = Nonce::try_from(n).map_err(|_| StoreError::Secret("bad nonce".into()))?;
        let pt = self.cipher.decrypt(&nonce, ct).map_err(|_| {
            StoreError::Secret("decryption failed: wrong MODELGATE_SECRET_KEY?".into())
        })?;
        String::from_utf8(pt).map_err(|_| StoreError::Secret("plaintext is not UTF-8".into()))
    }

    /// On first use of a database, stores a check value; afterwards, verifies it. A different
    /// secret key than the one the database was written with is a clear error.
    pub async fn verify_against(&self, db: &crate::Database) -> Result<()> {
        match db.meta_get(CHECK_META_KEY).await? {
            None => {
                let v = self.encrypt(CHECK_PLAINTEXT)?;
                db.meta_set(CHECK_META_KEY, &v).await
            }
            Some(v) => match self.decrypt(&v) {
                Ok(p) if p == CHECK_PLAINTEXT => Ok(()),
                _ => Err(StoreError::Secret(
                    "MODELGATE_SECRET_KEY does not match the key this database's secrets were \
                     encrypted with; start with the original key (or a fresh database)"
                        .into(),
                )),
            },
        }
    }
}

/// A fresh random secret of `len` bytes, URL-safe base64 encoded.
pub fn generate_secret(len: usize) -> String {
    let len = len.clamp(16, 256);
    let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A masked preview of a secret: the first 4 and last 4 characters (less for short ones).
pub fn mask_secret(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let n = chars.len();
    if n <= 8 {
        let keep = n.min(2);
        let head: String = chars[..keep].iter().collect();
        return format!("{head}…");
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[n - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let a = SecretBox::new("alpha").unwrap();
        let b = SecretBox::new("beta").unwrap();
        let ct = a.encrypt("sk-live-123").unwrap();
        assert_ne!(a.encrypt("sk-live-123").unwrap(), ct, "nonces differ");
        assert_eq!(a.decrypt(&ct).unwrap(), "sk-live-123");
        assert!(b.decrypt(&ct).is_err());
        assert!(a.decrypt("v1:AAAA").is_err());
        assert!(a.decrypt("plain").is_err());
    }

    #[test]
    fn masks() {
        assert_eq!(mask_secret("sk-abcdefghij9f2c"), "sk-a…9f2c");
        assert_eq!(mask_secret("short"), "sh…");
        assert!(!mask_secret("sk-abcdefghij9f2c").contains("bcdefghij"));
    }

    #[test]
    fn generated_secrets_are_random() {
        assert_ne!(generate_secret(32), generate_secret(32));
        assert!(generate_secret(64).len() >= 64);
    }
}
