//! Retention queries for the records privacy owns the schedule of (webhook records, audit entries;
//! carts and Idempotency-Key records are purged by their own stores), and the keyring's.

use crate::cached_sql;
use crate::db::DbConn;
use crate::db::schema::{audit_log, webhook_events};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const KEYRING_SQLITE: EmbeddedMigrations = embed_migrations!("migrations/keyring/sqlite");
const KEYRING_POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/keyring/postgres");

diesel::table! {
    /// The keyring's one table (in its own database or schema; not in `db::schema`).
    keys (owner) {
        owner -> Text,
        wrapped_key -> Text,
        created_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Data subjects (in the keyring, beside their keys).
    subjects (id) {
        id -> Text,
        email_index -> Nullable<Text>,
        created_at -> Timestamp,
        erased_at -> Nullable<Timestamp>,
    }
}

/// Key of the PostgreSQL advisory lock held while the keyring's schema is made ("keyring").
const KEYRING_LOCK_KEY: i64 = 0x006b_6579_7269_6e67;

/// A connection to the keyring, its schema migrated. PostgreSQL: the keyring's tables (and its
/// migration history) live in schema `keyring` of the database `url` names.
pub fn connect_keyring(url: &crate::config::DatabaseUrl) -> Result<DbConn, crate::db::DbError> {
    use crate::db::DbError;
    use diesel::connection::SimpleConnection;
    let mut conn = crate::db::Manager::new(url.clone()).connect()?;
    let migrated = match &mut conn {
        DbConn::Pg(c) => {
            // Several processes may start at once: one creates the schema and migrates it while the
            // others wait on the lock (a key of the keyring's own, apart from the shop's migrations).
            c.batch_execute(&format!(
                "SELECT pg_advisory_lock({KEYRING_LOCK_KEY}); CREATE SCHEMA IF NOT EXISTS keyring; \
                 SET search_path TO keyring"
            ))
            .map_err(|e| DbError::Connect(format!("cannot open the keyring schema: {e}")))?;
            let migrated = c.run_pending_migrations(KEYRING_POSTGRES).map(|_| ());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({KEYRING_LOCK_KEY})"))
                .map_err(|e| DbError::Connect(format!("cannot release the keyring's lock: {e}")))?;
            migrated
        }
        // SQLite: two processes may both find the keyring unmigrated; the one that loses the race
        // waits for the other (`db::migrate_sqlite`).
        DbConn::Sqlite(c) => crate::db::migrate_sqlite(c, || KEYRING_SQLITE).map(|_| ()),
    };
    migrated.map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(conn)
}

/// The wrapped key of `owner`.
pub fn find_key(conn: &mut DbConn, owner: &str) -> QueryResult<Option<String>> {
    keys::table.find(owner).select(keys::wrapped_key).get_result(conn).optional()
}

/// Keep a new wrapped key; `false` when `owner` has one already (a concurrent start made it).
pub fn insert_key(conn: &mut DbConn, owner: &str, wrapped: &str, now: NaiveDateTime) -> QueryResult<bool> {
    use diesel::sql_types::Text;
    let n = cached_sql!(
        "INSERT INTO keys (owner, wrapped_key, created_at) VALUES (?, ?, ?) ON CONFLICT (owner) DO NOTHING"
    )
    .bind::<Text, _>(owner)
    .bind::<Text, _>(wrapped)
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    Ok(n == 1)
}

/// Destroy a key (erasure). `false` when there was none.
pub fn delete_key(conn: &mut DbConn, owner: &str) -> QueryResult<bool> {
    Ok(diesel::delete(keys::table.find(owner)).execute(conn)? == 1)
}

/// The live subject whose e-mail has this blind-index entry.
pub fn subject_by_email(conn: &mut DbConn, email_index: &str) -> QueryResult<Option<String>> {
    subjects::table.filter(subjects::email_index.eq(email_index)).select(subjects::id).first(conn).optional()
}

/// Keep a new subject; `false` when the e-mail has one already (a concurrent first use made it).
pub fn insert_subject(conn: &mut DbConn, id: &str, email_index: &str, now: NaiveDateTime) -> QueryResult<bool> {
    use diesel::sql_types::Text;
    let n = cached_sql!(
        "INSERT INTO subjects (id, email_index, created_at) VALUES (?, ?, ?) ON CONFLICT (email_index) DO NOTHING"
    )
    .bind::<Text, _>(id)
    .bind::<Text, _>(email_index)
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    Ok(n == 1)
}

/// Record that a subject was erased, and drop their e-mail's index entry (the next order with that
/// address starts a new subject). Idempotent: the first erasure's time stays.
pub fn mark_subject_erased(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(subjects::table.find(id).filter(subjects::erased_at.is_null()))
        .set(subjects::erased_at.eq(now))
        .execute(conn)?;
    diesel::update(subjects::table.find(id)).set(subjects::email_index.eq(None::<String>)).execute(conn)
}

/// Every (owner, wrapped key), a page at a time after `after`.
pub fn keys_after(conn: &mut DbConn, after: &str, limit: i64) -> QueryResult<Vec<(String, String)>> {
    keys::table
        .filter(keys::owner.gt(after))
        .order(keys::owner.asc())
        .limit(limit)
        .select((keys::owner, keys::wrapped_key))
        .load(conn)
}

/// A key not wrapped as `prefix` says (another master key's), and how many there are: the start-up
/// check, done by the database without reading the keyring out. `None` when every key starts so.
pub fn keys_not_starting_with(conn: &mut DbConn, prefix: &str) -> QueryResult<Option<(String, i64)>> {
    // The prefix is `w1.` + hex + `.`: no LIKE wildcard in it.
    let pattern = format!("{prefix}%");
    let other: Option<String> =
        keys::table.filter(keys::wrapped_key.not_like(&pattern)).select(keys::wrapped_key).first(conn).optional()?;
    let Some(other) = other else { return Ok(None) };
    let count = keys::table.filter(keys::wrapped_key.not_like(&pattern)).count().get_result(conn)?;
    Ok(Some((other, count)))
}

/// Replace a wrapped key with its re-wrapped form, if it is still the one read.
pub fn rewrap_key(conn: &mut DbConn, owner: &str, old: &str, new: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(keys::table.filter(keys::owner.eq(owner)).filter(keys::wrapped_key.eq(old)))
        .set((keys::wrapped_key.eq(new), keys::rotated_at.eq(Some(now))))
        .execute(conn)?;
    Ok(n == 1)
}

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
