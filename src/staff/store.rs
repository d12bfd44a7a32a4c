//! Staff queries (one set for both backends).

use super::model::{StaffRow, StaffSessionRow};
use crate::db::DbConn;
use crate::db::schema::{staff_members, staff_sessions, staff_setup_links};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Keep a new member; `false` when the e-mail has one already.
pub fn insert_member(conn: &mut DbConn, row: &StaffRow) -> QueryResult<bool> {
    match diesel::insert_into(staff_members::table).values(row).execute(conn) {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn find_member(conn: &mut DbConn, id: &str) -> QueryResult<Option<StaffRow>> {
    staff_members::table.find(id).select(StaffRow::as_select()).first(conn).optional()
}

pub fn member_by_index(conn: &mut DbConn, index: &str) -> QueryResult<Option<StaffRow>> {
    staff_members::table
        .filter(staff_members::email_index.eq(index))
        .select(StaffRow::as_select())
        .first(conn)
        .optional()
}

pub fn list_members(conn: &mut DbConn) -> QueryResult<Vec<StaffRow>> {
    staff_members::table.order(staff_members::created_at.asc()).select(StaffRow::as_select()).load(conn)
}

/// Active admins other than `except`.
pub fn other_active_admins(conn: &mut DbConn, except: &str) -> QueryResult<i64> {
    staff_members::table
        .filter(staff_members::role.eq("admin"))
        .filter(staff_members::disabled_at.is_null())
        .filter(staff_members::id.ne(except))
        .count()
        .get_result(conn)
}

pub fn set_role(conn: &mut DbConn, id: &str, role: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(staff_members::table.find(id))
        .set((staff_members::role.eq(role), staff_members::updated_at.eq(now)))
        .execute(conn)
}

pub fn set_password(conn: &mut DbConn, id: &str, hash: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(staff_members::table.find(id))
        .set((staff_members::password_hash.eq(hash), staff_members::updated_at.eq(now)))
        .execute(conn)
}

pub fn disable(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(staff_members::table.find(id).filter(staff_members::disabled_at.is_null()))
        .set((staff_members::disabled_at.eq(now), staff_members::updated_at.eq(now)))
        .execute(conn)
}

pub fn insert_session(conn: &mut DbConn, row: &StaffSessionRow) -> QueryResult<usize> {
    diesel::insert_into(staff_sessions::table).values(row).execute(conn)
}

pub fn find_session(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<StaffSessionRow>> {
    staff_sessions::table.find(token_hash).select(StaffSessionRow::as_select()).first(conn).optional()
}

pub fn touch_session(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(staff_sessions::table.find(token_hash)).set(staff_sessions::last_seen_at.eq(now)).execute(conn)
}

pub fn verify_session(conn: &mut DbConn, token_hash: &str) -> QueryResult<usize> {
    diesel::update(staff_sessions::table.find(token_hash)).set(staff_sessions::verified.eq(true)).execute(conn)
}

pub fn delete_session(conn: &mut DbConn, token_hash: &str) -> QueryResult<usize> {
    diesel::delete(staff_sessions::table.find(token_hash)).execute(conn)
}

pub fn delete_sessions_of(conn: &mut DbConn, staff_id: &str) -> QueryResult<usize> {
    diesel::delete(staff_sessions::table.filter(staff_sessions::staff_id.eq(staff_id))).execute(conn)
}

/// A new setup link (any earlier one unused goes: one link works at a time).
pub fn replace_setup_link(
    conn: &mut DbConn,
    staff_id: &str,
    token_hash: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(
        staff_setup_links::table
            .filter(staff_setup_links::staff_id.eq(staff_id))
            .filter(staff_setup_links::used_at.is_null()),
    )
    .execute(conn)?;
    diesel::insert_into(staff_setup_links::table)
        .values((
            staff_setup_links::token_hash.eq(token_hash),
            staff_setup_links::staff_id.eq(staff_id),
            staff_setup_links::created_at.eq(now),
            staff_setup_links::expires_at.eq(expires_at),
        ))
        .execute(conn)
}

/// Use a setup link: the member it is for, if it was unused and live (and is used now).
pub fn use_setup_link(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> QueryResult<Option<String>> {
    let target = staff_setup_links::table
        .find(token_hash)
        .filter(staff_setup_links::used_at.is_null())
        .filter(staff_setup_links::expires_at.gt(now));
    let Some(staff_id) = target.select(staff_setup_links::staff_id).first::<String>(conn).optional()? else {
        return Ok(None);
    };
    let used = diesel::update(target).set(staff_setup_links::used_at.eq(now)).execute(conn)?;
    Ok((used == 1).then_some(staff_id))
}
