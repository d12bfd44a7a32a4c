//! The audit trail of staff and partner reads of personal data. Written in the same transaction as the
//! read; holds who (actor type), what (action) and which record — never the data itself.
//!
//! Personal data held: none.

use crate::db::DbConn;
use crate::db::schema::audit_log;
use crate::kernel::time;
use crate::typed_id;
use diesel::prelude::*;

typed_id!(
    /// An audit record (`aud_…`).
    AuditId, "aud_"
);

pub fn record(conn: &mut DbConn, actor: &str, action: &str, subject_id: Option<&str>) -> QueryResult<usize> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(AuditId::generate().into_string()),
            audit_log::actor.eq(actor),
            audit_log::action.eq(action),
            audit_log::subject_id.eq(subject_id),
            audit_log::created_at.eq(time::now()),
        ))
        .execute(conn)
}

/// One record per subject shown (a search's results), or one without a subject when nothing was shown.
pub fn record_each(conn: &mut DbConn, actor: &str, action: &str, subject_ids: &[&str]) -> QueryResult<usize> {
    if subject_ids.is_empty() {
        return record(conn, actor, action, None);
    }
    let now = time::now();
    let rows: Vec<_> = subject_ids
        .iter()
        .map(|s| {
            (
                audit_log::id.eq(AuditId::generate().into_string()),
                audit_log::actor.eq(actor),
                audit_log::action.eq(action),
                audit_log::subject_id.eq(Some(*s)),
                audit_log::created_at.eq(now),
            )
        })
        .collect();
    let mut n = 0;
    for row in rows {
        n += diesel::insert_into(audit_log::table).values(row).execute(conn)?;
    }
    Ok(n)
}

pub fn count_for(conn: &mut DbConn, subject_id: &str) -> QueryResult<i64> {
    audit_log::table.filter(audit_log::subject_id.eq(subject_id)).count().get_result(conn)
}
