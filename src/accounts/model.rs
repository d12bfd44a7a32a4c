//! Accounts and their sessions as stored.

use crate::kernel::pii::{Email, PersonName};
use crate::privacy::sealing::Sealed;
use crate::typed_id;
use chrono::NaiveDateTime;
use diesel::prelude::*;

typed_id!(
    /// A shopper's account (`acct_…`).
    AccountId, "acct_"
);

/// Session token prefix (`sa_…`): a shopper's account session.
pub const SESSION_PREFIX: &str = "sa_";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::accounts)]
pub struct AccountRow {
    pub id: String,
    /// The account holder as a data subject: their key seals `email` and `name`.
    pub subject_id: String,
    pub email: Sealed<Email>,
    pub name: Option<Sealed<PersonName>>,
    /// argon2id, PHC string.
    pub password_hash: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub password_changed_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::account_sessions)]
pub struct SessionRow {
    pub token_hash: String,
    pub account_id: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}
