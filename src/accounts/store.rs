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

/// End every session of the accounts of a person, and remove their second factors (erasure).
pub fn delete_sessions_of_subject(conn: &mut DbConn, subject: &str) -> QueryResult<usize> {
    let ids: Vec<String> = accounts::table.filter(accounts::subject_id.eq(subject)).select(accounts::id).load(conn)?;
    for id in &ids {
        super::second_factor::remove(conn, super::second_factor::Realm::Shopper, id)?;
    }
    diesel::delete(account_sessions::table.filter(account_sessions::account_id.eq_any(ids))).execute(conn)
}

// --- Account links (password resets, order claims) ---

use crate::db::schema::account_links;

/// What an account link does.
pub const RESET: &str = "password_reset";
pub const CLAIM: &str = "order_claim";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = account_links)]
pub struct LinkRow {
    pub id: String,
    pub account_id: String,
    pub token_hash: String,
    pub secret: Option<crate::privacy::sealing::Sealed<String>>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub purpose: String,
}

pub fn insert_link(conn: &mut DbConn, row: &LinkRow) -> QueryResult<usize> {
    diesel::insert_into(account_links::table).values(row).execute(conn)
}

pub fn find_link(conn: &mut DbConn, id: &str) -> QueryResult<Option<LinkRow>> {
    account_links::table.find(id).select(LinkRow::as_select()).first(conn).optional()
}

pub fn link_by_token(conn: &mut DbConn, token_hash: &str, purpose: &str) -> QueryResult<Option<LinkRow>> {
    account_links::table
        .filter(account_links::token_hash.eq(token_hash))
        .filter(account_links::purpose.eq(purpose))
        .select(LinkRow::as_select())
        .first(conn)
        .optional()
}

/// A link of the account for `purpose` still valid at `now` (no second one while one is).
pub fn live_link_of(
    conn: &mut DbConn,
    account_id: &str,
    purpose: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<LinkRow>> {
    account_links::table
        .filter(account_links::account_id.eq(account_id))
        .filter(account_links::purpose.eq(purpose))
        .filter(account_links::used_at.is_null())
        .filter(account_links::expires_at.gt(now))
        .select(LinkRow::as_select())
        .first(conn)
        .optional()
}

/// Use a link once: `true` only for the caller that used it, while it was valid.
pub fn use_link(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        account_links::table
            .find(id)
            .filter(account_links::used_at.is_null())
            .filter(account_links::expires_at.gt(now)),
    )
    .set((account_links::used_at.eq(Some(now)), account_links::secret.eq(None::<String>)))
    .execute(conn)?;
    Ok(n == 1)
}

/// The link was mailed (or given up): its sealed token goes.
pub fn clear_link_secret(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::update(account_links::table.find(id)).set(account_links::secret.eq(None::<String>)).execute(conn)
}

/// Put the guest orders of a person into their account (a claim). Returns how many.
pub fn claim_orders(conn: &mut DbConn, account_id: &str, subject: &str) -> QueryResult<usize> {
    use crate::db::schema::orders;
    diesel::update(orders::table.filter(orders::subject_id.eq(subject)).filter(orders::account_id.is_null()))
        .set(orders::account_id.eq(Some(account_id)))
        .execute(conn)
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
