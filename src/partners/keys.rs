//! Partner API keys: issue (shown once), check (hash, not revoked, not expired, the scope), revoke.

use super::store::{self, KeyRow};
use crate::db::DbConn;
use crate::error::ApiError;
use crate::kernel::secret::{hash_token, issue_token};
use chrono::NaiveDateTime;

/// Every key starts so: what it is, at a glance (and for secret scanners).
pub const KEY_PREFIX: &str = "lc_live_";

/// The scopes a key can carry.
pub const SCOPES: &[&str] = &["orders:read", "shipments:write", "shipping.phone:read", "customs:read"];

/// A checked key: whose, which, what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerKey {
    pub partner_id: String,
    pub key_id: String,
    pub scopes: Vec<String>,
}

impl PartnerKey {
    /// 403 unless the key carries `scope`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope) { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

/// A key just issued: its id, the name it is listed under, and the token (shown this once).
pub struct Issued {
    pub key_id: String,
    pub prefix: String,
    pub token: crate::kernel::secret::SecretString,
}

/// Parse and check a list of scopes (comma- or space-separated).
pub fn parse_scopes(list: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for s in list.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
        if !SCOPES.contains(&s) {
            return Err(format!("unknown scope {s:?}; scopes: {}", SCOPES.join(", ")));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    Ok(scopes)
}

/// Issue a key for `partner_id`.
pub fn issue(
    conn: &mut DbConn,
    partner_id: &str,
    scopes: &[String],
    expires_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<Issued, ApiError> {
    if !store::partner_exists(conn, partner_id)? {
        return Err(ApiError::NotFound);
    }
    let token = issue_token(KEY_PREFIX);
    let prefix: String = token.plaintext.expose().chars().take(KEY_PREFIX.len() + 8).collect();
    let row = KeyRow {
        id: format!("pk_{}", crate::kernel::ids::random_base62()),
        partner_id: partner_id.to_owned(),
        prefix: prefix.clone(),
        token_hash: token.hash,
        scopes: scopes.join(" "),
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    store::insert_key(conn, &row)?;
    let entry = crate::audit::Entry {
        actor: "operator",
        action: "partner.key.issue",
        subject_id: Some(&row.id),
        outcome: "ok",
        ..crate::audit::Entry::default()
    };
    crate::audit::write(conn, &entry)?;
    Ok(Issued { key_id: row.id, prefix, token: token.plaintext })
}

/// The key a bearer token is, if it is one, not revoked and not expired at `now`.
pub fn check(conn: &mut DbConn, token: &str, now: NaiveDateTime) -> Result<PartnerKey, ApiError> {
    if !token.starts_with(KEY_PREFIX) {
        return Err(ApiError::Unauthorized);
    }
    let row = store::key_by_hash(conn, &hash_token(token))?.ok_or(ApiError::Unauthorized)?;
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::Unauthorized);
    }
    Ok(PartnerKey {
        partner_id: row.partner_id,
        key_id: row.id,
        scopes: row.scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
    })
}

/// Revoke a key (audited). `false` when there is no such live key.
pub fn revoke(conn: &mut DbConn, key_id: &str, now: NaiveDateTime) -> Result<bool, ApiError> {
    if !store::revoke(conn, key_id, now)? {
        return Ok(false);
    }
    let entry = crate::audit::Entry {
        actor: "operator",
        action: "partner.key.revoke",
        subject_id: Some(key_id),
        outcome: "ok",
        ..crate::audit::Entry::default()
    };
    crate::audit::write(conn, &entry)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked_and_required() {
        assert_eq!(parse_scopes("orders:read, shipments:write").unwrap(), ["orders:read", "shipments:write"]);
        assert!(parse_scopes("orders:write").is_err());
        let key = PartnerKey { partner_id: "p".into(), key_id: "k".into(), scopes: vec!["orders:read".into()] };
        assert!(key.require("orders:read").is_ok());
        assert!(matches!(key.require("shipping.phone:read"), Err(ApiError::Forbidden)));
    }
}
