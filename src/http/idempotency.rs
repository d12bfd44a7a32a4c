//! `Idempotency-Key` (IETF httpapi draft): same key + same request → the first response again; same
//! key + different request → 422; same key while the first is still running → 409. Records expire
//! after the configured TTL (at least 24 h). The key itself is stored only as a hash; a secret the
//! replay needs (the order access token) is sealed with the key (AES-256-GCM from `ring`, a random
//! nonce), so the table alone cannot reveal it.

use crate::cached_sql;
use crate::db::DbConn;
use crate::db::direct::Direct;
use crate::db::schema::idempotency_keys;
use crate::error::ApiError;
use axum::http::HeaderMap;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use rand::RngCore;
use ring::aead;
use sha2::{Digest, Sha256};

/// An in-flight record older than this whose work never got attached is taken over by a retry.
pub const STALE_SECS: i64 = 120;

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

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
pub struct Record {
    pub key_hash: String,
    pub scope: String,
    pub request_hash: String,
    pub state: String,
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
    pub resource_id: Option<String>,
    pub sealed_secret: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub enum Begin {
    /// First time: go ahead (the record is now `in_flight`).
    New,
    /// Already completed: replay.
    Completed(Record),
    /// An earlier attempt created its resource but never completed (crash): resume from the resource.
    Resume(Record),
}

/// What a request claims its key for: the resource it will create and the secret a replay returns.
pub struct Claim<'a> {
    pub key_hash: &'a str,
    pub scope: &'a str,
    pub request_hash: &'a str,
    pub resource_id: &'a str,
    pub sealed_secret: &'a str,
}

/// Claim the key, inside the transaction that creates the resource: if that transaction rolls back,
/// the claim goes with it. The common case is one statement (`INSERT … ON CONFLICT DO NOTHING`).
pub fn begin(
    conn: &mut DbConn,
    claim: &Claim<'_>,
    now: NaiveDateTime,
    ttl: chrono::Duration,
) -> Result<Begin, ApiError> {
    if insert_claim(conn, claim, now, ttl)? {
        return Ok(Begin::New);
    }
    let r: Record = idempotency_keys::table.find(claim.key_hash).select(Record::as_select()).get_result(conn)?;
    if r.expires_at > now {
        if r.scope != claim.scope || r.request_hash != claim.request_hash {
            return Err(ApiError::Unprocessable {
                code: "idempotency_key_reused",
                detail: "this Idempotency-Key was used for a different request; use a new key".into(),
                extra: None,
            });
        }
        if r.state == "completed" {
            return Ok(Begin::Completed(r));
        }
        if (now - r.created_at).num_seconds() <= STALE_SECS {
            return Err(ApiError::conflict(
                "idempotency_key_in_flight",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            ));
        }
        // Committed with its resource but never completed (the process died): resume.
        return Ok(Begin::Resume(r));
    }
    diesel::delete(idempotency_keys::table.find(claim.key_hash)).execute(conn)?;
    insert_claim(conn, claim, now, ttl)?;
    Ok(Begin::New)
}

fn insert_claim(conn: &mut DbConn, c: &Claim<'_>, now: NaiveDateTime, ttl: chrono::Duration) -> QueryResult<bool> {
    use diesel::sql_types::{Text, Timestamp};
    let n = cached_sql!(
        "INSERT INTO idempotency_keys (key_hash, scope, request_hash, state, resource_id, sealed_secret, \
         created_at, expires_at) VALUES (?, ?, ?, 'in_flight', ?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING",
    )
    .bind::<Text, _>(c.key_hash)
    .bind::<Text, _>(c.scope)
    .bind::<Text, _>(c.request_hash)
    .bind::<Text, _>(c.resource_id)
    .bind::<Text, _>(c.sealed_secret)
    .bind::<Timestamp, _>(now)
    .bind::<Timestamp, _>(now + ttl)
    .execute_direct(conn)?;
    Ok(n == 1)
}

/// Store the response to replay. `body` only for problem documents (they hold no personal data);
/// successful responses are rebuilt from the resource.
pub fn complete(conn: &mut DbConn, key_hash: &str, status: u16, body: Option<&str>) -> QueryResult<usize> {
    use diesel::sql_types::{Integer, Nullable, Text};
    cached_sql!(
        "UPDATE idempotency_keys SET state = 'completed', response_status = ?, response_body = ? WHERE key_hash = ?",
    )
    .bind::<Integer, _>(i32::from(status))
    .bind::<Nullable<Text>, _>(body)
    .bind::<Text, _>(key_hash)
    .execute_direct(conn)
}

/// Whether a key has a record that has not expired (a retry of it will replay or resume).
pub fn is_live(conn: &mut DbConn, key_hash: &str, now: NaiveDateTime) -> QueryResult<bool> {
    Ok(idempotency_keys::table
        .filter(idempotency_keys::key_hash.eq(key_hash))
        .filter(idempotency_keys::expires_at.gt(now))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Forget a key whose request changed nothing (it failed before creating anything).
pub fn abandon(conn: &mut DbConn, key_hash: &str) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.find(key_hash)).execute(conn)
}

pub fn purge_expired(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::expires_at.lt(now))).execute(conn)
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
