//! Second factors (TOTP authenticator apps), one per holder, for both realms: required of staff,
//! opt-in for shoppers. Enrolment is two steps — a secret shown once, then a first code that proves the
//! app holds it — and answers with single-use recovery codes, kept only hashed. The secret is sealed under
//! the holder's key; each code is good once (the last step used is kept, and moved with a
//! compare-and-set, so two requests racing with one code cannot both pass).

use crate::db::DbConn;
use crate::db::schema::{recovery_codes, second_factors};
use crate::error::ApiError;
use crate::kernel::totp;
use crate::privacy::sealing::{DataKey, Field, Sealed};
use crate::state::AppState;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::sync::Arc;

/// The issuer an authenticator app shows next to the code.
const ISSUER: &str = "leancart";

/// Whose second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Realm {
    Staff,
    Shopper,
}

impl Realm {
    pub fn as_str(self) -> &'static str {
        match self {
            Realm::Staff => "staff",
            Realm::Shopper => "shopper",
        }
    }
}

/// A factor being set up: what the authenticator app takes (shown once).
pub struct Enrolment {
    /// Base32, to type in.
    pub secret: String,
    /// `otpauth://…`, to scan as a QR code.
    pub uri: String,
}

#[derive(Queryable)]
struct FactorRow {
    secret: Sealed<String>,
    confirmed_at: Option<NaiveDateTime>,
    last_step: Option<i64>,
}

fn find(conn: &mut DbConn, realm: Realm, holder: &str) -> QueryResult<Option<FactorRow>> {
    second_factors::table
        .find((realm.as_str(), holder))
        .select((second_factors::secret, second_factors::confirmed_at, second_factors::last_step))
        .first(conn)
        .optional()
}

/// Whether the holder has a confirmed second factor.
pub fn enrolled(conn: &mut DbConn, realm: Realm, holder: &str) -> QueryResult<bool> {
    Ok(find(conn, realm, holder)?.is_some_and(|f| f.confirmed_at.is_some()))
}

/// Remove the holder's factor and recovery codes (disabled by its holder; reset by an admin; erasure).
pub fn remove(conn: &mut DbConn, realm: Realm, holder: &str) -> QueryResult<usize> {
    diesel::delete(
        recovery_codes::table
            .filter(recovery_codes::realm.eq(realm.as_str()))
            .filter(recovery_codes::holder_id.eq(holder)),
    )
    .execute(conn)?;
    diesel::delete(second_factors::table.find((realm.as_str(), holder))).execute(conn)
}

fn sealing(e: crate::privacy::sealing::KeyError) -> ApiError {
    ApiError::internal(format!("sealing: {e}"))
}

/// Start enrolment: a new secret (replacing one not confirmed yet). 409 when a factor is enrolled.
pub async fn begin(
    state: &AppState,
    realm: Realm,
    holder: &str,
    key: Arc<DataKey>,
    label: &str,
) -> Result<Enrolment, ApiError> {
    let secret = totp::new_secret();
    let sealed = Sealed::seal(&key, Field::TotpSecret, &hex::encode(&secret)).map_err(sealing)?;
    let (holder_id, now) = (holder.to_owned(), state.clock.now());
    state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                if enrolled(conn, realm, &holder_id)? {
                    return Err(ApiError::conflict(
                        "second_factor_enrolled",
                        "a second factor is enrolled already: remove it first to set up another",
                    ));
                }
                diesel::delete(second_factors::table.find((realm.as_str(), &holder_id))).execute(conn)?;
                diesel::insert_into(second_factors::table)
                    .values((
                        second_factors::realm.eq(realm.as_str()),
                        second_factors::holder_id.eq(&holder_id),
                        second_factors::secret.eq(&sealed),
                        second_factors::created_at.eq(now),
                    ))
                    .execute(conn)?;
                Ok(())
            })
        })
        .await?;
    Ok(Enrolment { secret: totp::base32(&secret), uri: totp::uri(ISSUER, label, &secret) })
}

fn step_now(state: &AppState) -> i64 {
    totp::step_of(state.clock.now().and_utc().timestamp())
}

fn open_secret(row: &FactorRow, key: &DataKey) -> Result<Vec<u8>, ApiError> {
    let hex_secret = row.secret.open(key, Field::TotpSecret).ok_or_else(|| ApiError::internal("totp secret"))?;
    hex::decode(hex_secret).map_err(|_| ApiError::internal("totp secret"))
}

/// Move the last used step forward to `step`, unless another request did first (`false`).
fn take_step(conn: &mut DbConn, realm: Realm, holder: &str, step: i64, last: Option<i64>) -> QueryResult<bool> {
    let target = second_factors::table.find((realm.as_str(), holder));
    let moved = match last {
        Some(last) => diesel::update(target.filter(second_factors::last_step.eq(last)))
            .set(second_factors::last_step.eq(step))
            .execute(conn)?,
        None => diesel::update(target.filter(second_factors::last_step.is_null()))
            .set(second_factors::last_step.eq(step))
            .execute(conn)?,
    };
    Ok(moved == 1)
}

/// Finish enrolment with a first code: the factor is on, and the recovery codes are returned (once).
pub async fn confirm(
    state: &AppState,
    realm: Realm,
    holder: &str,
    key: Arc<DataKey>,
    code: String,
) -> Result<Vec<String>, ApiError> {
    let (holder_id, now, step) = (holder.to_owned(), state.clock.now(), step_now(state));
    let codes = totp::recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::hash_code(c)).collect();
    state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                let row = find(conn, realm, &holder_id)?.ok_or_else(|| {
                    ApiError::conflict("second_factor_not_started", "start the enrolment first (it gives the secret)")
                })?;
                if row.confirmed_at.is_some() {
                    return Err(ApiError::conflict("second_factor_enrolled", "a second factor is enrolled already"));
                }
                let secret = open_secret(&row, &key)?;
                let Some(used) = totp::verify(&secret, &code, step, row.last_step) else {
                    return Err(invalid_code());
                };
                if !take_step(conn, realm, &holder_id, used, row.last_step)? {
                    return Err(invalid_code());
                }
                diesel::update(second_factors::table.find((realm.as_str(), &holder_id)))
                    .set(second_factors::confirmed_at.eq(now))
                    .execute(conn)?;
                for hash in &hashes {
                    diesel::insert_into(recovery_codes::table)
                        .values((
                            recovery_codes::code_hash.eq(hash),
                            recovery_codes::realm.eq(realm.as_str()),
                            recovery_codes::holder_id.eq(&holder_id),
                        ))
                        .execute(conn)?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(codes)
}

fn invalid_code() -> ApiError {
    ApiError::Unprocessable {
        code: "invalid_code",
        detail: "that code is not the authenticator's current one (or was used already)".into(),
        extra: None,
    }
}

/// What a holder presented as their second factor.
#[derive(Default)]
pub struct Presented {
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

/// Whether `presented` passes the holder's confirmed factor (a code once; a recovery code once).
pub async fn check(
    state: &AppState,
    realm: Realm,
    holder: &str,
    key: Option<Arc<DataKey>>,
    presented: Presented,
) -> Result<bool, ApiError> {
    let (holder_id, now, step) = (holder.to_owned(), state.clock.now(), step_now(state));
    state
        .db
        .run(move |conn| {
            let Some(row) = find(conn, realm, &holder_id)?.filter(|f| f.confirmed_at.is_some()) else {
                return Ok(false);
            };
            if let Some(code) = presented.code {
                let Some(key) = key else { return Ok(false) };
                let secret = open_secret(&row, &key)?;
                return match totp::verify(&secret, &code, step, row.last_step) {
                    Some(used) => Ok(take_step(conn, realm, &holder_id, used, row.last_step)?),
                    None => Ok(false),
                };
            }
            if let Some(code) = presented.recovery_code {
                let used = diesel::update(
                    recovery_codes::table
                        .find(totp::hash_code(&code))
                        .filter(recovery_codes::realm.eq(realm.as_str()))
                        .filter(recovery_codes::holder_id.eq(&holder_id))
                        .filter(recovery_codes::used_at.is_null()),
                )
                .set(recovery_codes::used_at.eq(now))
                .execute(conn)?;
                return Ok(used == 1);
            }
            Ok(false)
        })
        .await
}

/// Recovery codes not used yet.
pub fn codes_left(conn: &mut DbConn, realm: Realm, holder: &str) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::realm.eq(realm.as_str()))
        .filter(recovery_codes::holder_id.eq(holder))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}
