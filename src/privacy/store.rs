//! Retention queries for the records privacy owns the schedule of (webhook records, audit entries);
//! carts and Idempotency-Key records are purged by their own stores.

use crate::cached_sql;
use crate::db::DbConn;
use crate::db::schema::{audit_log, webhook_events};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

/// Delete up to `batch` webhook records received before `before`, oldest first.
pub fn purge_webhook_events(conn: &mut DbConn, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    match conn {
        DbConn::Pg(c) => cached_sql!(include_str!("sql/postgres/purge_webhook_events.sql"))
            .bind::<Timestamp, _>(before)
            .bind::<BigInt, _>(batch)
            .execute(c),
        DbConn::Sqlite(c) => cached_sql!(include_str!("sql/sqlite/purge_webhook_events.sql"))
            .bind::<Timestamp, _>(before)
            .bind::<BigInt, _>(batch)
            .execute(c),
    }
}

pub fn count_webhook_events(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<i64> {
    webhook_events::table.filter(webhook_events::received_at.lt(before)).count().get_result(conn)
}

/// Delete up to `batch` audit entries written before `before`, oldest first.
pub fn purge_audit_entries(conn: &mut DbConn, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    match conn {
        DbConn::Pg(c) => cached_sql!(include_str!("sql/postgres/purge_audit_entries.sql"))
            .bind::<Timestamp, _>(before)
            .bind::<BigInt, _>(batch)
            .execute(c),
        DbConn::Sqlite(c) => cached_sql!(include_str!("sql/sqlite/purge_audit_entries.sql"))
            .bind::<Timestamp, _>(before)
            .bind::<BigInt, _>(batch)
            .execute(c),
    }
}

pub fn count_audit_entries(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<i64> {
    audit_log::table.filter(audit_log::created_at.lt(before)).count().get_result(conn)
}
