//! Outbox delivery queries: lease due rows, then record each one's outcome under its lease.

use crate::cached_sql;
use crate::db::DbConn;
use crate::db::schema::outbox;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};

/// A new outbox row's id (`msg_…`; the message's Message-ID is made of it).
pub fn new_message_id() -> String {
    format!("msg_{}", crate::kernel::ids::random_base62())
}

/// A leased outbox row: what to send, about what.
#[derive(Debug, Clone, QueryableByName)]
pub struct Leased {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub order_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub request_id: Option<String>,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Lease up to `limit` due rows until `lease_until` under `token`.
pub fn claim(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    token: &str,
    limit: i64,
) -> QueryResult<Vec<Leased>> {
    match conn {
        DbConn::Pg(c) => cached_sql!(include_str!("sql/postgres/claim.sql"))
            .bind::<Timestamp, _>(lease_until)
            .bind::<Text, _>(token)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(c),
        DbConn::Sqlite(c) => cached_sql!(include_str!("sql/sqlite/claim.sql"))
            .bind::<Timestamp, _>(lease_until)
            .bind::<Text, _>(token)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(c),
    }
}

/// The row was sent; `false` when the lease was lost meanwhile (another worker holds the row).
pub fn mark_sent(conn: &mut DbConn, id: &str, token: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(outbox::table.find(id).filter(outbox::lease_token.eq(token)))
        .set((
            outbox::status.eq("sent"),
            outbox::sent_at.eq(Some(now)),
            outbox::lease_until.eq(None::<NaiveDateTime>),
            outbox::lease_token.eq(None::<String>),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// The attempt failed: try again at `next` (`status` stays `pending`), or give up (`failed`).
pub fn mark_failed_attempt(
    conn: &mut DbConn,
    id: &str,
    token: &str,
    error: &str,
    next: Option<NaiveDateTime>,
) -> QueryResult<bool> {
    let status = if next.is_some() { "pending" } else { "failed" };
    let n = diesel::update(outbox::table.find(id).filter(outbox::lease_token.eq(token)))
        .set((
            outbox::status.eq(status),
            outbox::next_attempt_at.eq(next.unwrap_or_else(crate::kernel::time::now)),
            outbox::lease_until.eq(None::<NaiveDateTime>),
            outbox::lease_token.eq(None::<String>),
            outbox::last_error.eq(Some(error)),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Queue a message about a privacy request, once per (kind, request), due at once.
pub fn enqueue_for_request(
    conn: &mut DbConn,
    id: &str,
    kind: &str,
    request_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = cached_sql!(
        "INSERT INTO outbox (id, kind, request_id, status, attempts, created_at, next_attempt_at) \
         VALUES (?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (kind, request_id) DO NOTHING"
    )
    .bind::<Text, _>(id)
    .bind::<Text, _>(kind)
    .bind::<Text, _>(request_id)
    .bind::<Timestamp, _>(now)
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    Ok(n == 1)
}

/// Drop the messages not yet sent about these orders (erasure: nothing more is written to a person
/// whose data is gone). Returns how many.
pub fn drop_unsent_for_orders(conn: &mut DbConn, order_ids: &[String]) -> QueryResult<usize> {
    diesel::delete(outbox::table.filter(outbox::order_id.eq_any(order_ids)).filter(outbox::status.eq("pending")))
        .execute(conn)
}

/// An outbox row's delivery state.
#[derive(Debug, Clone, Queryable)]
pub struct Entry {
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Every row's delivery state, oldest first (operators and tests).
pub fn all(conn: &mut DbConn) -> QueryResult<Vec<Entry>> {
    outbox::table
        .order((outbox::created_at.asc(), outbox::id.asc()))
        .select((outbox::kind, outbox::status, outbox::attempts, outbox::last_error))
        .load(conn)
}
