//! Secrets (API keys, webhook secrets, tokens) and the plaintext/hash split for bearer credentials.

use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt;

/// A secret value from configuration or a request header. `Debug`/`Display` name the type only.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A freshly issued bearer token: the plaintext is shown once to its holder, only the hash is stored.
pub struct IssuedToken {
    pub plaintext: SecretString,
    pub hash: String,
}

/// Issue a token with 256 random bits, e.g. `ct_…` for a cart token.
pub fn issue_token(prefix: &str) -> IssuedToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let plaintext = format!("{prefix}{}", hex::encode(bytes));
    let hash = hash_token(&plaintext);
    IssuedToken { plaintext: SecretString(plaintext), hash }
}

/// SHA-256 of a high-entropy token (no salt needed: the input is random, not a password).
pub fn hash_token(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

/// Constant-time comparison of two secrets.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = SecretString::new("sk_live_abc");
        assert!(!format!("{s:?}{s}").contains("abc"));
        let t = issue_token("ct_");
        assert!(t.plaintext.expose().starts_with("ct_"));
        assert_eq!(hash_token(t.plaintext.expose()), t.hash);
        assert!(!format!("{:?}", t.plaintext).contains(&t.plaintext.expose()[3..]));
    }
}
