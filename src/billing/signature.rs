//! Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex hmac-sha256(secret, "t.payload")>[,v1=…]`.
//! Verification accepts any `v1` that matches any of the configured secrets (secret rotation), within a
//! timestamp tolerance.

use crate::kernel::secret::{SecretString, constant_time_eq};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    #[error("no signature matches")]
    NoMatch,
    #[error("the signature timestamp is outside the tolerance")]
    Stale,
}

pub fn compute(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// A header value for `payload` signed with `secret` at `timestamp`.
pub fn header(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    format!("t={timestamp},v1={}", compute(secret, timestamp, payload))
}

/// Verify a header against the secrets at time `now`.
pub fn verify(header: &str, payload: &[u8], secrets: &[SecretString], now: i64) -> Result<(), SignatureError> {
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match k {
            "t" => timestamp = Some(v.parse().map_err(|_| SignatureError::Malformed)?),
            "v1" => signatures.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matched = secrets.iter().any(|secret| {
        let expected = hex::decode(compute(secret.expose(), t, payload)).unwrap_or_default();
        signatures.iter().any(|s| constant_time_eq(s, &expected))
    });
    if !matched {
        return Err(SignatureError::NoMatch);
    }
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_with_rotation() {
        let old = SecretString::new("whsec_old");
        let new = SecretString::new("whsec_new");
        let payload = br#"{"id":"evt_1"}"#;
        let h = header("whsec_new", 1_000, payload);
        assert_eq!(verify(&h, payload, &[old.clone(), new.clone()], 1_010), Ok(()));
        assert_eq!(verify(&h, payload, std::slice::from_ref(&old), 1_010), Err(SignatureError::NoMatch));
        assert_eq!(verify(&h, payload, std::slice::from_ref(&new), 1_000 + 301), Err(SignatureError::Stale));
        assert_eq!(verify(&h, b"tampered", std::slice::from_ref(&new), 1_000), Err(SignatureError::NoMatch));
        let two = format!("{h},v1={}", compute("whsec_old", 1_000, payload));
        assert_eq!(verify(&two, payload, &[old], 1_000), Ok(()));
        assert_eq!(verify("garbage", payload, &[new], 1_000), Err(SignatureError::Malformed));
    }
}
