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
