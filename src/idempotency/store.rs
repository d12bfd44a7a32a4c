//! The `idempotency_keys` table: claim a key inside the transaction that creates its resource, complete
//! it with the answer to replay, find out whether it is still live, forget and purge.

use crate::cached_sql;
use crate::db::DbConn;
use crate::db::direct::Direct;
use crate::db::schema::idempotency_keys;
use crate::error::ApiError;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// An in-flight record older than this whose work never got attached is taken over by a retry.
pub const STALE_SECS: i64 = 120;

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
    let n = cached_sql!(include_str!("sql/claim.sql"))
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
    cached_sql!(include_str!("sql/complete.sql"))
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

/// Delete up to `batch` expired records, oldest first (PostgreSQL: skipping rows another process is
/// purging).
pub fn purge_expired(conn: &mut DbConn, now: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    use diesel::sql_types::{BigInt, Timestamp};
    match conn {
        DbConn::Pg(c) => cached_sql!(include_str!("sql/postgres/purge_expired.sql"))
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(batch)
            .execute(c),
        DbConn::Sqlite(c) => cached_sql!(include_str!("sql/sqlite/purge_expired.sql"))
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(batch)
            .execute(c),
    }
}

/// How many records have expired.
pub fn count_expired(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<i64> {
    idempotency_keys::table.filter(idempotency_keys::expires_at.lt(now)).count().get_result(conn)
}
