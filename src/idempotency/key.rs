//! The client's `Idempotency-Key`: read from the header, put in its client's namespace, hashed for
//! storage, and the sealing of the secret a replay returns (AES-256-GCM from `ring`, a random nonce).

use crate::error::ApiError;
use axum::http::HeaderMap;
use rand::RngCore;
use ring::aead;
use sha2::{Digest, Sha256};

/// The client's key, validated.
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Read the header; quoted (structured-field string) or bare, 1–255 visible ASCII characters.
    pub fn from_headers(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
        let raw = headers
            .get("idempotency-key")
            .ok_or(ApiError::BadRequest {
                code: "idempotency_key_missing",
                detail: "this request needs an Idempotency-Key header (a unique value per attempt, reused on retries)"
                    .into(),
            })?
            .to_str()
            .map_err(|_| ApiError::BadRequest {
                code: "idempotency_key_invalid",
                detail: "the Idempotency-Key is not plain text".into(),
            })?;
        let key = raw.trim().trim_matches('"');
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::BadRequest {
                code: "idempotency_key_invalid",
                detail: "the Idempotency-Key must be 1–255 visible ASCII characters".into(),
            });
        }
        Ok(IdempotencyKey(key.to_owned()))
    }

    /// The key in its client's namespace (IETF httpapi-idempotency-key: a key is unique per client).
    /// `client_secret` is the credential that identifies the client — a guest's cart token today, an
    /// account's principal later. Another client choosing the same key (`order-1`) claims a different
    /// record, so a guessed key can never block or replay someone else's request; and since the
    /// secret is part of the key, the sealed answer cannot be opened from the table without it.
    pub fn within(self, client_secret: &str) -> IdempotencyKey {
        // Not the stored token hash (`hash_token(secret)`): the namespace must need the secret itself, or
        // a copy of the tables would be enough to test guesses of a key.
        IdempotencyKey(format!(
            "{}\0{}",
            crate::kernel::secret::hash_token(&format!("idempotency\0{client_secret}")),
            self.0
        ))
    }

    pub fn hash(&self, scope: &str) -> String {
        hex::encode(Sha256::digest(format!("{scope}\0{}", self.0).as_bytes()))
    }

    /// The AES-256-GCM key that seals this key's secret: SHA-256 of a label and the key (which, scoped
    /// by [`IdempotencyKey::within`], holds a digest of the client's credential that is stored nowhere).
    fn sealing_key(&self) -> Option<aead::LessSafeKey> {
        let material = Sha256::digest(format!("leancart-seal-v2\0{}", self.0).as_bytes());
        aead::UnboundKey::new(&aead::AES_256_GCM, &material).ok().map(aead::LessSafeKey::new)
    }

    /// Seal `secret` (AES-256-GCM, random nonce): hex of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, secret: &str) -> Option<String> {
        let key = self.sealing_key()?;
        let mut nonce = [0u8; aead::NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut data = secret.as_bytes().to_vec();
        key.seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::empty(), &mut data).ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Some(hex::encode(out))
    }

    /// Open what [`IdempotencyKey::seal`] sealed with this key; `None` for any other key or any change.
    pub fn unseal(&self, sealed: &str) -> Option<String> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() < aead::NONCE_LEN + aead::AES_256_GCM.tag_len() {
            return None;
        }
        let (nonce, rest) = bytes.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = rest.to_vec();
        let plain = self.sealing_key()?.open_in_place(nonce, aead::Aad::empty(), &mut data).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_needs_the_key() {
        let k = IdempotencyKey("key-1".into());
        let sealed = k.seal("ot_secret_token_value_0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
        assert!(!sealed.contains("secret"));
        let mut tampered = sealed.clone().into_bytes();
        tampered[30] = if tampered[30] == b'0' { b'1' } else { b'0' };
        assert_eq!(k.unseal(&String::from_utf8(tampered).unwrap()), None, "a changed byte does not open");
        assert_eq!(
            k.unseal(&sealed).as_deref(),
            Some("ot_secret_token_value_0123456789abcdef0123456789abcdef0123456789abcdef")
        );
        assert_ne!(IdempotencyKey("key-2".into()).unseal(&sealed).as_deref(), k.unseal(&sealed).as_deref());
    }
}
