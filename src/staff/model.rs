//! Members of staff and their sessions as stored.

use crate::kernel::pii::Email;
use crate::privacy::sealing::Sealed;
use crate::typed_id;
use chrono::NaiveDateTime;
use diesel::prelude::*;

typed_id!(
    /// A member of staff (`stf_…`).
    StaffId, "stf_"
);

/// Staff session token prefix (`ss_…`).
pub const SESSION_PREFIX: &str = "ss_";
/// One-time setup link token prefix (`st_…`).
pub const SETUP_PREFIX: &str = "st_";
/// The staff session cookie (a realm apart from the shopper's `lc_session`).
pub const COOKIE_NAME: &str = "lc_staff_session";

/// The keyring owner of a member's own key.
pub fn key_owner(staff_id: &str) -> String {
    format!("staff:{staff_id}")
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::staff_members)]
pub struct StaffRow {
    pub id: String,
    /// The e-mail's blind index: how a login finds the member.
    pub email_index: String,
    pub email: Sealed<Email>,
    /// `admin`, `support`, `finance`.
    pub role: String,
    /// argon2id (PHC string); none until the setup link is used.
    pub password_hash: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::staff_sessions)]
pub struct StaffSessionRow {
    pub token_hash: String,
    pub staff_id: String,
    pub verified: bool,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}
