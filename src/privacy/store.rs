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

/// The wrapped keys of `owners` that exist: (owner, wrapped key).
pub fn find_keys(conn: &mut DbConn, owners: &[String]) -> QueryResult<Vec<(String, String)>> {
    keys::table.filter(keys::owner.eq_any(owners)).select((keys::owner, keys::wrapped_key)).load(conn)
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

// --- Privacy requests and sessions (the shop's database) ---

use crate::db::schema::{carts, orders, privacy_requests, privacy_sessions};

/// A privacy request as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = privacy_requests)]
pub struct RequestRow {
    pub id: String,
    pub kind: String,
    pub subject_id: String,
    pub status: String,
    pub raised_by: String,
    pub contact: Option<super::sealing::Sealed<crate::kernel::pii::Email>>,
    pub secret: Option<super::sealing::Sealed<String>>,
    pub token_hash: Option<String>,
    pub hold_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub used_at: Option<NaiveDateTime>,
    pub done_at: Option<NaiveDateTime>,
}

pub fn insert_request(conn: &mut DbConn, row: &RequestRow) -> QueryResult<usize> {
    diesel::insert_into(privacy_requests::table).values(row).execute(conn)
}

pub fn find_request(conn: &mut DbConn, id: &str) -> QueryResult<Option<RequestRow>> {
    privacy_requests::table.find(id).select(RequestRow::as_select()).first(conn).optional()
}

/// The subject's request of `kind` still in flight (`pending` or `deferred` and not expired; an access
/// export or proof whose link is still valid), if any.
pub fn in_flight(conn: &mut DbConn, subject: &str, kind: &str, now: NaiveDateTime) -> QueryResult<Option<RequestRow>> {
    privacy_requests::table
        .filter(privacy_requests::subject_id.eq(subject))
        .filter(privacy_requests::kind.eq(kind))
        .filter(
            privacy_requests::status
                .eq_any(["pending", "deferred"])
                .and(privacy_requests::expires_at.is_null().or(privacy_requests::expires_at.gt(now)))
                .or(privacy_requests::status.eq("done").and(privacy_requests::expires_at.gt(now))),
        )
        .order(privacy_requests::created_at.desc())
        .select(RequestRow::as_select())
        .first(conn)
        .optional()
}

/// A proof by its link's token hash.
pub fn proof_by_token(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<RequestRow>> {
    privacy_requests::table
        .filter(privacy_requests::token_hash.eq(token_hash))
        .filter(privacy_requests::kind.eq("proof"))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()
}

/// Use a proof once: `true` only for the caller that used it, while it was valid.
pub fn use_proof(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        privacy_requests::table
            .find(id)
            .filter(privacy_requests::status.eq("pending"))
            .filter(privacy_requests::used_at.is_null())
            .filter(privacy_requests::expires_at.gt(now)),
    )
    .set((
        privacy_requests::status.eq("done"),
        privacy_requests::used_at.eq(Some(now)),
        privacy_requests::done_at.eq(Some(now)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn set_request_status(
    conn: &mut DbConn,
    id: &str,
    status: &str,
    hold_reason: Option<&str>,
    done_at: Option<NaiveDateTime>,
) -> QueryResult<usize> {
    diesel::update(privacy_requests::table.find(id))
        .set((
            privacy_requests::status.eq(status),
            privacy_requests::hold_reason.eq(hold_reason),
            privacy_requests::done_at.eq(done_at),
        ))
        .execute(conn)
}

/// Forget what a request's message needed once it is sent (the key that sealed it is destroyed too).
pub fn clear_request_contact(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::update(privacy_requests::table.find(id))
        .set((privacy_requests::contact.eq(None::<String>), privacy_requests::secret.eq(None::<String>)))
        .execute(conn)
}

/// Erasure requests waiting: `pending` (interrupted) or `deferred` (a hold), oldest first.
pub fn erasures_waiting(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<RequestRow>> {
    privacy_requests::table
        .filter(privacy_requests::kind.eq("erasure"))
        .filter(privacy_requests::status.eq_any(["pending", "deferred"]))
        .order(privacy_requests::created_at.asc())
        .limit(limit)
        .select(RequestRow::as_select())
        .load(conn)
}

/// Proofs past their 15 minutes, still pending: (id) — to be marked expired.
pub fn expire_proofs(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<Vec<String>> {
    let ids: Vec<String> = privacy_requests::table
        .filter(privacy_requests::kind.eq("proof"))
        .filter(privacy_requests::status.eq("pending"))
        .filter(privacy_requests::expires_at.le(now))
        .select(privacy_requests::id)
        .load(conn)?;
    diesel::update(privacy_requests::table.filter(privacy_requests::id.eq_any(&ids)))
        .set(privacy_requests::status.eq("expired"))
        .execute(conn)?;
    Ok(ids)
}

/// The subject's requests, newest first (for the access export).
pub fn requests_of(conn: &mut DbConn, subject: &str) -> QueryResult<Vec<RequestRow>> {
    privacy_requests::table
        .filter(privacy_requests::subject_id.eq(subject))
        .order(privacy_requests::created_at.desc())
        .select(RequestRow::as_select())
        .load(conn)
}

pub fn insert_session(
    conn: &mut DbConn,
    token_hash: &str,
    subject: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(privacy_sessions::table)
        .values((
            privacy_sessions::token_hash.eq(token_hash),
            privacy_sessions::subject_id.eq(subject),
            privacy_sessions::created_at.eq(now),
            privacy_sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
}

/// The subject a live session token (its hash) opens.
pub fn session_subject(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> QueryResult<Option<String>> {
    privacy_sessions::table
        .filter(privacy_sessions::token_hash.eq(token_hash))
        .filter(privacy_sessions::expires_at.gt(now))
        .select(privacy_sessions::subject_id)
        .first(conn)
        .optional()
}

/// Delete expired sessions, and every session of `subject` when given (erasure).
pub fn drop_sessions(conn: &mut DbConn, now: NaiveDateTime, subject: Option<&str>) -> QueryResult<usize> {
    let expired = diesel::delete(privacy_sessions::table.filter(privacy_sessions::expires_at.le(now))).execute(conn)?;
    let of_subject = match subject {
        Some(s) => diesel::delete(privacy_sessions::table.filter(privacy_sessions::subject_id.eq(s))).execute(conn)?,
        None => 0,
    };
    Ok(expired + of_subject)
}

/// What erasure needs to know of an order.
#[derive(Debug, Clone, Queryable)]
pub struct SubjectOrder {
    pub id: String,
    pub number: String,
    pub status: String,
    pub payment_id: Option<String>,
}

/// The subject's orders, oldest first.
pub fn orders_of(conn: &mut DbConn, subject: &str) -> QueryResult<Vec<SubjectOrder>> {
    orders::table
        .filter(orders::subject_id.eq(subject))
        .order((orders::created_at.asc(), orders::id.asc()))
        .select((orders::id, orders::number, orders::status, orders::payment_id))
        .load(conn)
}

/// Expire the subject's proofs still pending (erasure: no link is sent any more).
pub fn expire_proofs_of(conn: &mut DbConn, subject: &str) -> QueryResult<usize> {
    diesel::update(
        privacy_requests::table
            .filter(privacy_requests::subject_id.eq(subject))
            .filter(privacy_requests::kind.eq("proof"))
            .filter(privacy_requests::status.eq("pending")),
    )
    .set(privacy_requests::status.eq("expired"))
    .execute(conn)
}

/// Delete the subject's open carts (erasure). Returns how many.
pub fn delete_open_carts(conn: &mut DbConn, subject: &str) -> QueryResult<usize> {
    let ids: Vec<String> = carts::table
        .filter(carts::subject_id.eq(subject))
        .filter(carts::status.eq("open"))
        .select(carts::id)
        .load(conn)?;
    diesel::delete(crate::db::schema::cart_lines::table.filter(crate::db::schema::cart_lines::cart_id.eq_any(&ids)))
        .execute(conn)?;
    diesel::delete(carts::table.filter(carts::id.eq_any(&ids))).execute(conn)
}

/// Subjects whose every order is closed (delivered, refunded, cancelled or failed) and untouched
/// since `before`, with no open cart: their personal data is due for erasure (guest-data retention).
pub fn subjects_due(conn: &mut DbConn, before: NaiveDateTime, limit: i64) -> QueryResult<Vec<String>> {
    use diesel::dsl::{exists, not};
    const OPEN: [&str; 5] =
        ["pending_payment", "awaiting_payment_action", "paid", "partially_fulfilled", "partially_refunded"];
    let (o2, c2) = diesel::alias!(orders as o2, carts as c2);
    orders::table
        .filter(orders::subject_id.is_not_null())
        .filter(not(exists(
            o2.filter(o2.field(orders::subject_id).eq(orders::subject_id))
                .filter(o2.field(orders::status).eq_any(OPEN).or(o2.field(orders::updated_at).ge(before))),
        )))
        .filter(not(exists(
            c2.filter(c2.field(carts::subject_id).eq(orders::subject_id)).filter(c2.field(carts::status).eq("open")),
        )))
        .filter(not(exists(
            privacy_requests::table
                .filter(privacy_requests::subject_id.nullable().eq(orders::subject_id))
                .filter(privacy_requests::kind.eq("erasure"))
                .filter(privacy_requests::status.eq("done")),
        )))
        .select(orders::subject_id.assume_not_null())
        .distinct()
        .limit(limit)
        .load(conn)
}
