//! Partner and partner-key queries (one set for both backends).

use crate::db::DbConn;
use crate::db::schema::{partner_keys, partners};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = partner_keys)]
pub struct KeyRow {
    pub id: String,
    pub partner_id: String,
    pub prefix: String,
    pub token_hash: String,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert_partner(conn: &mut DbConn, id: &str, name: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::insert_into(partners::table)
        .values((partners::id.eq(id), partners::name.eq(name), partners::created_at.eq(now)))
        .execute(conn)
}

pub fn partner_exists(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(partners::table.find(id))).get_result(conn)
}

pub fn insert_key(conn: &mut DbConn, row: &KeyRow) -> QueryResult<usize> {
    diesel::insert_into(partner_keys::table).values(row).execute(conn)
}

pub fn key_by_hash(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<KeyRow>> {
    partner_keys::table
        .filter(partner_keys::token_hash.eq(token_hash))
        .select(KeyRow::as_select())
        .first(conn)
        .optional()
}

pub fn keys_of(conn: &mut DbConn, partner_id: &str) -> QueryResult<Vec<KeyRow>> {
    partner_keys::table
        .filter(partner_keys::partner_id.eq(partner_id))
        .order(partner_keys::created_at.asc())
        .select(KeyRow::as_select())
        .load(conn)
}

/// Revoke a key; `false` when there is no such key or it was revoked already.
pub fn revoke(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(partner_keys::table.find(id).filter(partner_keys::revoked_at.is_null()))
        .set(partner_keys::revoked_at.eq(Some(now)))
        .execute(conn)?;
    Ok(n == 1)
}

/// A partner as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = partners)]
pub struct PartnerRow {
    pub id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub carrier_needs_phone: bool,
    pub webhook_url: Option<String>,
    /// The endpoint's signing secret, sealed under the partner's own key (`partner:<id>`).
    pub webhook_secret: Option<crate::privacy::sealing::Sealed<String>>,
    pub disabled_at: Option<NaiveDateTime>,
}

pub fn find_partner(conn: &mut DbConn, id: &str) -> QueryResult<Option<PartnerRow>> {
    partners::table.find(id).select(PartnerRow::as_select()).first(conn).optional()
}

pub fn list_partners(conn: &mut DbConn) -> QueryResult<Vec<PartnerRow>> {
    partners::table.order(partners::created_at.asc()).select(PartnerRow::as_select()).load(conn)
}

/// Whether the partner's carrier needs the recipient's phone.
pub fn carrier_needs_phone(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    Ok(partners::table.find(id).select(partners::carrier_needs_phone).first(conn).optional()?.unwrap_or(false))
}

pub fn set_carrier_needs_phone(conn: &mut DbConn, id: &str, needs: bool) -> QueryResult<usize> {
    diesel::update(partners::table.find(id)).set(partners::carrier_needs_phone.eq(needs)).execute(conn)
}

/// Set (or, with `None`, remove) the partner's endpoint and its sealed signing secret.
pub fn set_webhook(
    conn: &mut DbConn,
    id: &str,
    url: Option<&str>,
    secret: Option<&crate::privacy::sealing::Sealed<String>>,
) -> QueryResult<usize> {
    diesel::update(partners::table.find(id))
        .set((partners::webhook_url.eq(url), partners::webhook_secret.eq(secret)))
        .execute(conn)
}
