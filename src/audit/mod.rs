//! The access audit log: who (actor type and id — never a password or token), what action, which
//! record, the outcome, from which network, when — for every staff read of personal data, every login
//! and failed login, every password change. Never the data itself.
//!
//! Entries form a hash chain: each holds its place (`seq`), the hash of the entry before it and its own
//! hash over both and its fields, and one head row holds the chain's end. Editing, removing or
//! inserting an entry breaks the chain where it happened ([`verify`]; `leancart audit verify`). An entry
//! is written in the caller's write transaction: the head advances with a compare-and-set, so
//! concurrent writers (several processes) take turns and none is lost. Retention removes the chain's
//! oldest entries: verification starts at the first one kept.
//!
//! Personal data held: the network an access came from (truncated; see the registry).

use crate::db::DbConn;
use crate::db::schema::{audit_head, audit_log};
use crate::kernel::time;
use crate::typed_id;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

typed_id!(
    /// An audit record (`aud_…`).
    AuditId, "aud_"
);

/// One entry to write.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    /// `staff`, `shopper`, `partner`, `system`.
    pub actor: &'a str,
    /// The actor's id where it has one (an account id).
    pub actor_id: Option<&'a str>,
    pub action: &'a str,
    /// The record acted on.
    pub subject_id: Option<&'a str>,
    /// `ok`, `denied`, `failed`.
    pub outcome: &'a str,
    /// The client's network (see [`network_of`]).
    pub network: Option<String>,
}

/// The network of a client address, not the address: IPv4 /24, IPv6 /48.
pub fn network_of(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// The hash of an entry at its place after `prev`.
#[allow(clippy::too_many_arguments)]
fn chain_hash(
    prev: &str,
    seq: i64,
    id: &str,
    actor: &str,
    actor_id: Option<&str>,
    action: &str,
    subject_id: Option<&str>,
    outcome: &str,
    network: Option<&str>,
    at: NaiveDateTime,
) -> String {
    let text = format!(
        "{prev}\0{seq}\0{id}\0{actor}\0{}\0{action}\0{}\0{outcome}\0{}\0{}",
        actor_id.unwrap_or(""),
        subject_id.unwrap_or(""),
        network.unwrap_or(""),
        at.format("%Y-%m-%dT%H:%M:%S%.6f")
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Write an entry at the chain's end. Call inside a write transaction (`db::dialect`).
pub fn write(conn: &mut DbConn, e: &Entry<'_>) -> QueryResult<usize> {
    let id = AuditId::generate().into_string();
    // Microseconds, as the databases keep them: the hash is over what is stored.
    let now = time::now();
    loop {
        let (seq, prev): (i64, String) =
            audit_head::table.find(1).select((audit_head::seq, audit_head::hash)).first(conn)?;
        let next = seq + 1;
        let hash = chain_hash(
            &prev,
            next,
            &id,
            e.actor,
            e.actor_id,
            e.action,
            e.subject_id,
            e.outcome,
            e.network.as_deref(),
            now,
        );
        // Another writer advanced the head since it was read: read it again.
        let moved = diesel::update(audit_head::table.find(1).filter(audit_head::seq.eq(seq)))
            .set((audit_head::seq.eq(next), audit_head::hash.eq(&hash)))
            .execute(conn)?;
        if moved == 0 {
            continue;
        }
        return diesel::insert_into(audit_log::table)
            .values((
                audit_log::id.eq(&id),
                audit_log::actor.eq(e.actor),
                audit_log::actor_id.eq(e.actor_id),
                audit_log::action.eq(e.action),
                audit_log::subject_id.eq(e.subject_id),
                audit_log::outcome.eq(e.outcome),
                audit_log::network.eq(e.network.as_deref()),
                audit_log::created_at.eq(now),
                audit_log::seq.eq(Some(next)),
                audit_log::prev_hash.eq(Some(&prev)),
                audit_log::hash.eq(Some(&hash)),
            ))
            .execute(conn);
    }
}

/// A member of staff's action on a record (inside a write transaction).
pub fn record(conn: &mut DbConn, staff_id: &str, action: &str, subject_id: Option<&str>) -> QueryResult<usize> {
    write(conn, &Entry { actor: "staff", actor_id: Some(staff_id), action, subject_id, outcome: "ok", network: None })
}

/// One record per subject shown (a search's results), or one without a subject when nothing was shown.
pub fn record_each(conn: &mut DbConn, staff_id: &str, action: &str, subject_ids: &[&str]) -> QueryResult<usize> {
    if subject_ids.is_empty() {
        return record(conn, staff_id, action, None);
    }
    let mut n = 0;
    for s in subject_ids {
        n += record(conn, staff_id, action, Some(s))?;
    }
    Ok(n)
}

pub fn count_for(conn: &mut DbConn, subject_id: &str) -> QueryResult<i64> {
    audit_log::table.filter(audit_log::subject_id.eq(subject_id)).count().get_result(conn)
}

/// What a verification found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry of the chain checked: how many.
    Intact(usize),
    /// The first entry whose hash or link does not hold (its `seq`), and why.
    Broken { seq: i64, why: &'static str },
}

/// Check the chain from its first kept entry to the head, a page at a time.
pub fn verify(conn: &mut DbConn) -> QueryResult<Verdict> {
    type Row = (
        String,
        String,
        Option<String>,
        String,
        Option<String>,
        String,
        Option<String>,
        NaiveDateTime,
        i64,
        Option<String>,
        Option<String>,
    );
    let mut after = i64::MIN;
    let mut prev_hash: Option<String> = None;
    let mut last_seq: Option<i64> = None;
    let mut checked = 0;
    loop {
        let page: Vec<Row> = audit_log::table
            .filter(audit_log::seq.gt(after))
            .order(audit_log::seq.asc())
            .limit(1000)
            .select((
                audit_log::id,
                audit_log::actor,
                audit_log::actor_id,
                audit_log::action,
                audit_log::subject_id,
                audit_log::outcome,
                audit_log::network,
                audit_log::created_at,
                audit_log::seq.assume_not_null(),
                audit_log::prev_hash,
                audit_log::hash,
            ))
            .load(conn)?;
        let Some(last) = page.last() else { break };
        after = last.8;
        for (id, actor, actor_id, action, subject, outcome, network, at, seq, prev, hash) in page {
            let prev = prev.unwrap_or_default();
            if let (Some(expected), Some(last)) = (&prev_hash, last_seq) {
                if seq != last + 1 {
                    return Ok(Verdict::Broken { seq, why: "an entry before it is missing" });
                }
                if &prev != expected {
                    return Ok(Verdict::Broken { seq, why: "it does not follow the entry before it" });
                }
            }
            let computed = chain_hash(
                &prev,
                seq,
                &id,
                &actor,
                actor_id.as_deref(),
                &action,
                subject.as_deref(),
                &outcome,
                network.as_deref(),
                at,
            );
            if hash.as_deref() != Some(computed.as_str()) {
                return Ok(Verdict::Broken { seq, why: "it was changed after it was written" });
            }
            prev_hash = Some(computed);
            last_seq = Some(seq);
            checked += 1;
        }
    }
    let (head_seq, head_hash): (i64, String) =
        audit_head::table.find(1).select((audit_head::seq, audit_head::hash)).first(conn)?;
    match (last_seq, prev_hash) {
        (Some(seq), Some(hash)) if seq != head_seq || hash != head_hash => {
            Ok(Verdict::Broken { seq: head_seq, why: "the newest entries are missing" })
        }
        (None, _) if head_seq > 0 => Ok(Verdict::Broken { seq: head_seq, why: "every entry is missing" }),
        _ => Ok(Verdict::Intact(checked)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn networks_not_addresses() {
        assert_eq!(super::network_of("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(super::network_of("2001:db8:abcd:12::1".parse().unwrap()), "2001:db8:abcd::/48");
    }
}
