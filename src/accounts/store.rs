//! Account and session queries (one set for both backends).

use super::model::{AccountRow, SessionRow};
use crate::db::DbConn;
use crate::db::schema::{account_sessions, accounts};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Keep a new account; `false` when its person has one already (a concurrent registration).
pub fn insert_account(conn: &mut DbConn, row: &AccountRow) -> QueryResult<bool> {
    match diesel::insert_into(accounts::table).values(row).execute(conn) {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn account_of_subject(conn: &mut DbConn, subject: &str) -> QueryResult<Option<AccountRow>> {
    accounts::table.filter(accounts::subject_id.eq(subject)).select(AccountRow::as_select()).first(conn).optional()
}

pub fn find_account(conn: &mut DbConn, id: &str) -> QueryResult<Option<AccountRow>> {
    accounts::table.find(id).select(AccountRow::as_select()).first(conn).optional()
}

/// Replace the password hash (a rehash with today's parameters, or a new password).
pub fn set_password_hash(conn: &mut DbConn, id: &str, hash: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(accounts::table.find(id))
        .set((accounts::password_hash.eq(hash), accounts::updated_at.eq(now)))
        .execute(conn)
}

pub fn insert_session(conn: &mut DbConn, row: &SessionRow) -> QueryResult<usize> {
    diesel::insert_into(account_sessions::table).values(row).execute(conn)
}

pub fn find_session(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<SessionRow>> {
    account_sessions::table.find(token_hash).select(SessionRow::as_select()).first(conn).optional()
}

pub fn touch_session(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(account_sessions::table.find(token_hash)).set(account_sessions::last_seen_at.eq(now)).execute(conn)
}

pub fn delete_session(conn: &mut DbConn, token_hash: &str) -> QueryResult<usize> {
    diesel::delete(account_sessions::table.find(token_hash)).execute(conn)
}

/// End every session of an account (log out everywhere; erasure).
pub fn delete_sessions_of(conn: &mut DbConn, account_id: &str) -> QueryResult<usize> {
    diesel::delete(account_sessions::table.filter(account_sessions::account_id.eq(account_id))).execute(conn)
}

/// End every session of the accounts of a person (erasure).
pub fn delete_sessions_of_subject(conn: &mut DbConn, subject: &str) -> QueryResult<usize> {
    let ids: Vec<String> = accounts::table.filter(accounts::subject_id.eq(subject)).select(accounts::id).load(conn)?;
    diesel::delete(account_sessions::table.filter(account_sessions::account_id.eq_any(ids))).execute(conn)
}

// --- Password resets ---

use crate::db::schema::password_resets;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = password_resets)]
pub struct ResetRow {
    pub id: String,
    pub account_id: String,
    pub token_hash: String,
    pub secret: Option<crate::privacy::sealing::Sealed<String>>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn insert_reset(conn: &mut DbConn, row: &ResetRow) -> QueryResult<usize> {
    diesel::insert_into(password_resets::table).values(row).execute(conn)
}

pub fn find_reset(conn: &mut DbConn, id: &str) -> QueryResult<Option<ResetRow>> {
    password_resets::table.find(id).select(ResetRow::as_select()).first(conn).optional()
}

pub fn reset_by_token(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<ResetRow>> {
    password_resets::table
        .filter(password_resets::token_hash.eq(token_hash))
        .select(ResetRow::as_select())
        .first(conn)
        .optional()
}

/// A reset of the account still valid at `now` (no second link while one is).
pub fn live_reset_of(conn: &mut DbConn, account_id: &str, now: NaiveDateTime) -> QueryResult<Option<ResetRow>> {
    password_resets::table
        .filter(password_resets::account_id.eq(account_id))
        .filter(password_resets::used_at.is_null())
        .filter(password_resets::expires_at.gt(now))
        .select(ResetRow::as_select())
        .first(conn)
        .optional()
}

/// Use a reset once: `true` only for the caller that used it, while it was valid.
pub fn use_reset(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        password_resets::table
            .find(id)
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(now)),
    )
    .set((password_resets::used_at.eq(Some(now)), password_resets::secret.eq(None::<String>)))
    .execute(conn)?;
    Ok(n == 1)
}

/// The reset's link was mailed (or given up): its sealed token goes.
pub fn clear_reset_secret(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::update(password_resets::table.find(id)).set(password_resets::secret.eq(None::<String>)).execute(conn)
}

/// A new password: the hash, when it changed.
pub fn set_new_password(conn: &mut DbConn, id: &str, hash: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(accounts::table.find(id))
        .set((accounts::password_hash.eq(hash), accounts::updated_at.eq(now), accounts::password_changed_at.eq(now)))
        .execute(conn)
}

/// End every session of an account but one (a password change keeps the session that made it).
pub fn delete_other_sessions(conn: &mut DbConn, account_id: &str, keep: &str) -> QueryResult<usize> {
    diesel::delete(
        account_sessions::table
            .filter(account_sessions::account_id.eq(account_id))
            .filter(account_sessions::token_hash.ne(keep)),
    )
    .execute(conn)
}
