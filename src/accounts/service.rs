//! Account rules: registration, login (the same answer, in the same time, for an unknown e-mail and a
//! wrong password), sessions with idle and absolute lifetimes, logging out here or everywhere.

use super::model::{AccountId, AccountRow, SESSION_PREFIX, SessionRow};
use super::password::{self, Password};
use super::second_factor::{self, Realm};
use super::store;
use crate::error::{ApiError, FieldError};
use crate::kernel::pii::{Email, PersonName};
use crate::kernel::secret::{hash_token, issue_token};
use crate::privacy::sealing::{Field, Sealed};
use crate::state::AppState;
use chrono::{Duration, NaiveDateTime};

/// How often a session's last use is written (not on every request).
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// A new session: its token (shown once) and when it ends at the latest.
pub struct NewSession {
    pub token: crate::kernel::secret::SecretString,
    pub expires_at: NaiveDateTime,
}

/// An account, opened for its holder.
pub struct Holder {
    pub id: String,
    pub email: Option<Email>,
    pub name: Option<PersonName>,
    pub created_at: NaiveDateTime,
}

fn invalid_credentials() -> ApiError {
    ApiError::InvalidCredentials
}

fn lifetimes(state: &AppState) -> (Duration, Duration) {
    let idle = Duration::from_std(state.config.session_idle).unwrap_or(Duration::minutes(30));
    let absolute = Duration::from_std(state.config.session_absolute).unwrap_or(Duration::days(7));
    (idle, absolute)
}

async fn new_session(state: &AppState, account_id: &str) -> Result<NewSession, ApiError> {
    let token = issue_token(SESSION_PREFIX);
    let now = state.clock.now();
    let (_, absolute) = lifetimes(state);
    let row = SessionRow {
        token_hash: token.hash.clone(),
        account_id: account_id.to_owned(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + absolute,
    };
    state.db.run(move |conn| Ok(store::insert_session(conn, &row)?)).await?;
    Ok(NewSession { token: token.plaintext, expires_at: now + absolute })
}

/// Register: a new account for `email`, signed in. 409 when the person has an account already.
pub async fn register(
    state: &AppState,
    email: Email,
    password: Password,
    name: Option<PersonName>,
) -> Result<(Holder, NewSession), ApiError> {
    if let Err(weak) = password::check(&password) {
        return Err(ApiError::Validation(vec![FieldError::new("password", weak.code()).with_message(weak.message())]));
    }
    let key = state.vault.for_email(&email).await?;
    let subject = key.subject.clone();
    if state.db.run(move |conn| Ok(store::account_of_subject(conn, &subject)?)).await?.is_some() {
        return Err(ApiError::conflict("account_exists", "an account with this e-mail exists: sign in instead"));
    }
    let hash = state.hashers.run(move || password::hash(&password)).await?.map_err(ApiError::internal)?;
    let now = state.clock.now();
    let sealing = |e| ApiError::internal(format!("sealing: {e}"));
    let row = AccountRow {
        id: AccountId::generate().into_string(),
        subject_id: key.subject.clone(),
        email: Sealed::seal(&key.key, Field::Email, &email).map_err(sealing)?,
        name: name.as_ref().map(|n| Sealed::seal(&key.key, Field::Name, n)).transpose().map_err(sealing)?,
        password_hash: hash,
        created_at: now,
        updated_at: now,
        password_changed_at: now,
    };
    let inserted = row.clone();
    if !state.db.run(move |conn| Ok(store::insert_account(conn, &inserted)?)).await? {
        return Err(ApiError::conflict("account_exists", "an account with this e-mail exists: sign in instead"));
    }
    let session = new_session(state, &row.id).await?;
    Ok((Holder { id: row.id, email: Some(email), name, created_at: now }, session))
}

/// Log in. An unknown e-mail and a wrong password answer alike, after the same work (a decoy hash is
/// checked when there is no account). Throttled per e-mail and per client address (`throttle`).
pub async fn login(
    state: &AppState,
    client: std::net::IpAddr,
    email: Email,
    password: Password,
    presented: second_factor::Presented,
) -> Result<NewSession, ApiError> {
    let throttle = state.hashers.throttle();
    let (email_key, client_key) = (format!("e:{}", state.vault.email_index(&email)), format!("c:{client}"));
    if let Some(retry_after_secs) = throttle.check(&email_key, &client_key, state.clock.now()) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let session = check_credentials(state, email, password, presented).await;
    let (outcome, account) = match &session {
        Ok((_, id)) => {
            throttle.succeeded(&email_key);
            ("ok", Some(id.clone()))
        }
        Err(Failure::Password) => {
            throttle.failed(&email_key, &client_key, state.clock.now());
            ("failed", None)
        }
        Err(Failure::SecondFactor(id)) => {
            throttle.failed(&email_key, &client_key, state.clock.now());
            ("second_factor_failed", Some(id.clone()))
        }
        Err(Failure::Other(_)) => ("error", None),
    };
    if outcome != "error" {
        audit(state, "login", account, outcome, Some(client)).await?;
    }
    match session {
        Ok((s, _)) => Ok(s),
        Err(Failure::Password) => Err(invalid_credentials()),
        Err(Failure::SecondFactor(_)) => Err(ApiError::SecondFactorRequired),
        Err(Failure::Other(e)) => Err(e),
    }
}

/// An access-audit entry for an account event.
async fn audit(
    state: &AppState,
    action: &'static str,
    account: Option<String>,
    outcome: &'static str,
    client: Option<std::net::IpAddr>,
) -> Result<(), ApiError> {
    state
        .db
        .run(move |conn| {
            let entry = crate::audit::Entry {
                actor: "shopper",
                actor_id: account.as_deref(),
                action,
                subject_id: account.as_deref(),
                outcome,
                network: client.map(crate::audit::network_of),
            };
            Ok(crate::db::dialect::write_transaction(conn, |conn| crate::audit::write(conn, &entry)).map(|_| ())?)
        })
        .await
}

/// Why a login failed.
enum Failure {
    /// Unknown e-mail or wrong password (alike).
    Password,
    /// The password was right; the second factor (of this account) was missing or wrong.
    SecondFactor(String),
    Other(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Other(e)
    }
}

async fn check_credentials(
    state: &AppState,
    email: Email,
    password: Password,
    presented: second_factor::Presented,
) -> Result<(NewSession, String), Failure> {
    let account = match state.vault.find_subject(&email).await? {
        Some(subject) => state.db.run(move |conn| Ok(store::account_of_subject(conn, &subject)?)).await?,
        None => None,
    };
    let stored = account.as_ref().map_or_else(|| password::decoy().to_owned(), |a| a.password_hash.clone());
    let checked = password.clone();
    let matches = state.hashers.run(move || password::verify(&checked, &stored)).await?;
    let Some(account) = account.filter(|_| matches) else { return Err(Failure::Password) };
    let id = account.id.clone();
    let enrolled = state.db.run(move |conn| Ok(second_factor::enrolled(conn, Realm::Shopper, &id)?)).await?;
    if enrolled {
        let key = state.vault.key_of(&account.subject_id).await?.map(|k| k.key.clone());
        if !second_factor::check(state, Realm::Shopper, &account.id, key, presented).await? {
            return Err(Failure::SecondFactor(account.id));
        }
    }
    if password::needs_rehash(&account.password_hash) {
        // Stored with weaker parameters than today's: replaced now that the password is at hand.
        if let Ok(hash) = state.hashers.run(move || password::hash(&password)).await? {
            let (id, now) = (account.id.clone(), state.clock.now());
            state.db.run(move |conn| Ok(store::set_password_hash(conn, &id, &hash, now)?)).await?;
        }
    }
    Ok((new_session(state, &account.id).await?, account.id))
}

/// The account a session token opens: 401 for an unknown, idle or expired session.
pub async fn authenticate(state: &AppState, token: &str) -> Result<(String, String), ApiError> {
    if !token.starts_with(SESSION_PREFIX) {
        return Err(ApiError::Unauthorized);
    }
    let (hash, now) = (hash_token(token), state.clock.now());
    let (idle, _) = lifetimes(state);
    let found = state.db.run({
        let hash = hash.clone();
        move |conn| Ok(store::find_session(conn, &hash)?)
    });
    let session = found.await?.ok_or(ApiError::Unauthorized)?;
    if now >= session.expires_at || now - session.last_seen_at >= idle {
        let gone = hash.clone();
        state.db.run(move |conn| Ok(store::delete_session(conn, &gone)?)).await?;
        return Err(ApiError::Unauthorized);
    }
    if now - session.last_seen_at >= TOUCH_EVERY {
        let touched = hash.clone();
        state.db.run(move |conn| Ok(store::touch_session(conn, &touched, now)?)).await?;
    }
    Ok((session.account_id, hash))
}

/// The account, opened for its holder.
pub async fn holder(state: &AppState, account_id: &str) -> Result<Holder, ApiError> {
    let id = account_id.to_owned();
    let account = state.db.run(move |conn| Ok(store::find_account(conn, &id)?)).await?.ok_or(ApiError::Unauthorized)?;
    let key = state.vault.key_of(&account.subject_id).await?;
    let open = |k: &crate::privacy::vault::SubjectKey| {
        (account.email.open(&k.key, Field::Email), account.name.as_ref().and_then(|n| n.open(&k.key, Field::Name)))
    };
    let (email, name) = key.as_ref().map(open).unwrap_or((None, None));
    Ok(Holder { id: account.id, email, name, created_at: account.created_at })
}

/// Log out this session.
pub async fn logout(state: &AppState, token_hash: String) -> Result<(), ApiError> {
    state.db.run(move |conn| Ok(store::delete_session(conn, &token_hash).map(|_| ())?)).await
}

/// Log out every session of the account.
pub async fn logout_everywhere(state: &AppState, account_id: String) -> Result<(), ApiError> {
    state.db.run(move |conn| Ok(store::delete_sessions_of(conn, &account_id).map(|_| ())?)).await
}

/// How long a password-reset link works.
pub const RESET_LIFETIME: Duration = Duration::minutes(15);
/// Password-reset token prefix (`pr_…`).
pub const RESET_PREFIX: &str = "pr_";

fn weak(w: password::Weak, field: &str) -> ApiError {
    ApiError::Validation(vec![FieldError::new(field, w.code()).with_message(w.message())])
}

/// Change the password (the current one is asked again). Every other session ends; this one goes on.
pub async fn change_password(
    state: &AppState,
    account_id: &str,
    session_hash: &str,
    current: Password,
    new: Password,
) -> Result<(), ApiError> {
    password::check(&new).map_err(|w| weak(w, "new_password"))?;
    let id = account_id.to_owned();
    let account = state.db.run(move |conn| Ok(store::find_account(conn, &id)?)).await?.ok_or(ApiError::Unauthorized)?;
    let stored = account.password_hash.clone();
    let (throttle, key, now) = (state.hashers.throttle(), format!("a:{}", account.id), state.clock.now());
    if let Some(retry_after_secs) = throttle.check(&key, &key, now) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    if !state.hashers.run(move || password::verify(&current, &stored)).await? {
        throttle.failed_reauthentication(&key, now);
        return Err(ApiError::Validation(vec![
            FieldError::new("current_password", "incorrect").with_message("is not the account's password".to_owned()),
        ]));
    }
    let hash = state.hashers.run(move || password::hash(&new)).await?.map_err(ApiError::internal)?;
    let (id, keep, now) = (account.id.clone(), session_hash.to_owned(), state.clock.now());
    state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                store::set_new_password(conn, &id, &hash, now)?;
                store::delete_other_sessions(conn, &id, &keep)?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    audit(state, "password.change", Some(account.id), "ok", None).await
}

/// Make a single-use link of `purpose` for `account` and queue its message (its token sealed under the
/// holder's key until the mailer sends it). None while one of that purpose is still valid.
async fn send_link(state: &AppState, account: AccountRow, purpose: &'static str, prefix: &str) -> Result<(), ApiError> {
    let now = state.clock.now();
    let id = account.id.clone();
    if state.db.run(move |conn| Ok(store::live_link_of(conn, &id, purpose, now)?)).await?.is_some() {
        return Ok(());
    }
    let Some(key) = state.vault.key_of(&account.subject_id).await? else { return Ok(()) };
    let token = issue_token(prefix);
    let secret = Sealed::seal(&key.key, Field::LinkToken, &token.plaintext.expose().to_owned())
        .map_err(|e| ApiError::internal(format!("sealing: {e}")))?;
    let row = store::LinkRow {
        id: format!("alk_{}", crate::kernel::ids::random_base62()),
        account_id: account.id,
        token_hash: token.hash,
        secret: Some(secret),
        created_at: now,
        expires_at: now + RESET_LIFETIME,
        used_at: None,
        purpose: purpose.to_owned(),
    };
    state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                store::insert_link(conn, &row)?;
                let msg = crate::mail::store::new_message_id();
                crate::mail::store::enqueue_for_request(conn, &msg, purpose, &row.id, now)?;
                Ok::<_, ApiError>(())
            })
        })
        .await
}

/// The valid, unused link of `purpose` a token is (not yet used: the caller uses it in its
/// transaction).
async fn valid_link(
    state: &AppState,
    token: &str,
    prefix: &str,
    purpose: &'static str,
) -> Result<store::LinkRow, ApiError> {
    if !token.starts_with(prefix) {
        return Err(ApiError::link_invalid());
    }
    let (hash, now) = (hash_token(token), state.clock.now());
    let link = state
        .db
        .run(move |conn| Ok(store::link_by_token(conn, &hash, purpose)?))
        .await?
        .ok_or_else(ApiError::link_invalid)?;
    if link.used_at.is_some() || link.expires_at <= now {
        return Err(ApiError::link_invalid());
    }
    Ok(link)
}

/// Ask for a password-reset link. The same answer whether or not an account has the address; an
/// account with a link still valid gets no second one.
pub async fn request_reset(state: &AppState, email: &Email) -> Result<(), ApiError> {
    let Some(subject) = state.vault.find_subject(email).await? else { return Ok(()) };
    let Some(account) = state.db.run(move |conn| Ok(store::account_of_subject(conn, &subject)?)).await? else {
        return Ok(());
    };
    send_link(state, account, store::RESET, RESET_PREFIX).await
}

/// Set a new password with a reset link's token (once, within 15 minutes). Every session ends.
pub async fn complete_reset(state: &AppState, token: &str, new: Password) -> Result<(), ApiError> {
    password::check(&new).map_err(|w| weak(w, "new_password"))?;
    let link = valid_link(state, token, RESET_PREFIX, store::RESET).await?;
    let hash = state.hashers.run(move || password::hash(&new)).await?.map_err(ApiError::internal)?;
    let now = state.clock.now();
    let used = state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                if !store::use_link(conn, &link.id, now)? {
                    return Ok(false);
                }
                store::set_new_password(conn, &link.account_id, &hash, now)?;
                store::delete_sessions_of(conn, &link.account_id)?;
                let entry = crate::audit::Entry {
                    actor: "shopper",
                    actor_id: Some(&link.account_id),
                    action: "password.reset",
                    subject_id: Some(&link.account_id),
                    outcome: "ok",
                    network: None,
                };
                crate::audit::write(conn, &entry)?;
                Ok::<_, ApiError>(true)
            })
        })
        .await?;
    if used { Ok(()) } else { Err(ApiError::link_invalid()) }
}

/// Order-claim token prefix (`pc_…`).
pub const CLAIM_PREFIX: &str = "pc_";

/// Ask to claim the guest orders placed with the account's address: a link goes to that address
/// (registration does not prove the address is the holder's; the link does).
pub async fn request_claim(state: &AppState, account_id: &str) -> Result<(), ApiError> {
    let id = account_id.to_owned();
    let account = state.db.run(move |conn| Ok(store::find_account(conn, &id)?)).await?.ok_or(ApiError::Unauthorized)?;
    send_link(state, account, store::CLAIM, CLAIM_PREFIX).await
}

/// Claim with the mailed link's token (once, within 15 minutes, by the account it was sent for): the
/// guest orders of the address join the account's history. Returns how many.
pub async fn complete_claim(state: &AppState, account_id: &str, token: &str) -> Result<usize, ApiError> {
    let link = valid_link(state, token, CLAIM_PREFIX, store::CLAIM).await?;
    if link.account_id != account_id {
        return Err(ApiError::link_invalid());
    }
    let id = account_id.to_owned();
    let account = state.db.run(move |conn| Ok(store::find_account(conn, &id)?)).await?.ok_or(ApiError::Unauthorized)?;
    let now = state.clock.now();
    let claimed = state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                if !store::use_link(conn, &link.id, now)? {
                    return Ok(None);
                }
                Ok::<_, ApiError>(Some(store::claim_orders(conn, &account.id, &account.subject_id)?))
            })
        })
        .await?;
    claimed.ok_or_else(ApiError::link_invalid)
}

/// Start enrolling an authenticator app on the account (opt-in for shoppers).
pub async fn begin_second_factor(state: &AppState, account_id: &str) -> Result<second_factor::Enrolment, ApiError> {
    let id = account_id.to_owned();
    let account = state.db.run(move |conn| Ok(store::find_account(conn, &id)?)).await?.ok_or(ApiError::Unauthorized)?;
    let key = state.vault.key_of(&account.subject_id).await?.ok_or(ApiError::Unauthorized)?;
    let label = account.email.open(&key.key, Field::Email).map(|e| e.expose().to_owned()).unwrap_or(account.id);
    second_factor::begin(state, Realm::Shopper, account_id, key.key.clone(), &label).await
}

/// Confirm the authenticator with its first code: from now on a login asks for a code too. Returns the
/// recovery codes (once).
pub async fn confirm_second_factor(state: &AppState, account_id: &str, code: String) -> Result<Vec<String>, ApiError> {
    let id = account_id.to_owned();
    let account = state.db.run(move |conn| Ok(store::find_account(conn, &id)?)).await?.ok_or(ApiError::Unauthorized)?;
    let key = state.vault.key_of(&account.subject_id).await?.ok_or(ApiError::Unauthorized)?;
    let codes = second_factor::confirm(state, Realm::Shopper, account_id, key.key.clone(), code).await?;
    audit(state, "second_factor.enrol", Some(account.id), "ok", None).await?;
    Ok(codes)
}

/// Turn the second factor off (the password is asked again).
pub async fn remove_second_factor(state: &AppState, account_id: &str, current: Password) -> Result<(), ApiError> {
    let id = account_id.to_owned();
    let account = state.db.run(move |conn| Ok(store::find_account(conn, &id)?)).await?.ok_or(ApiError::Unauthorized)?;
    let (throttle, key, now) = (state.hashers.throttle(), format!("a:{}", account.id), state.clock.now());
    if let Some(retry_after_secs) = throttle.check(&key, &key, now) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let stored = account.password_hash.clone();
    if !state.hashers.run(move || password::verify(&current, &stored)).await? {
        throttle.failed_reauthentication(&key, now);
        return Err(ApiError::Validation(vec![
            FieldError::new("password", "incorrect").with_message("is not the account's password".to_owned()),
        ]));
    }
    let id = account.id.clone();
    let removed = state.db.run(move |conn| Ok(second_factor::remove(conn, Realm::Shopper, &id)?)).await?;
    if removed == 0 {
        return Err(ApiError::conflict("second_factor_not_enrolled", "the account has no second factor"));
    }
    audit(state, "second_factor.remove", Some(account.id), "ok", None).await
}

/// Whether the account has a second factor.
pub async fn has_second_factor(state: &AppState, account_id: &str) -> Result<bool, ApiError> {
    let id = account_id.to_owned();
    state.db.run(move |conn| Ok(second_factor::enrolled(conn, Realm::Shopper, &id)?)).await
}

/// "Save my details" during checkout: an account for the e-mail the open guest cart `cart_id` (opened
/// by its token) was given, named after the shipping name unless the parcel goes to someone else; the
/// cart — and so its order — becomes the account's. 409 `cart_checked_out` after placement (register,
/// then claim the order by e-mail), `cart_has_account` for a cart that is an account's; 422
/// `details_required` before the cart has an e-mail.
pub async fn register_from_cart(
    state: &AppState,
    cart_id: String,
    cart_token: String,
    password: Password,
) -> Result<(Holder, NewSession), ApiError> {
    password::check(&password).map_err(|w| weak(w, "password"))?;
    let cart =
        state.db.run(move |conn| Ok(crate::checkout::service::authorize(conn, &cart_id, &cart_token)?.0)).await?;
    if !cart.is_open() {
        return Err(ApiError::conflict(
            "cart_checked_out",
            "this cart was checked out: register, then add the order with a claim link (POST /v1/account/claims)",
        ));
    }
    if cart.account_id.is_some() {
        return Err(ApiError::conflict("cart_has_account", "this cart belongs to an account already"));
    }
    let key = state.vault.key_of_opt(cart.subject_id.as_deref()).await?;
    let email = key.as_ref().and_then(|k| cart.email.as_ref().and_then(|e| e.open(&k.key, Field::Email)));
    let Some(email) = email else {
        return Err(ApiError::Unprocessable {
            code: "details_required",
            detail: "give the cart its checkout details (the e-mail) first".into(),
            extra: None,
        });
    };
    let name = match (&key, &cart.ship_name, cart.is_gift) {
        (Some(k), Some(n), false) => n.open(&k.key, Field::ShipName),
        _ => None,
    };
    let (holder, session) = register(state, email, password, name).await?;
    let (cart_id, account) = (cart.id.clone(), holder.id.clone());
    state.db.run(move |conn| Ok(crate::checkout::store::give_to_account(conn, &cart_id, &account)?)).await?;
    Ok((holder, session))
}
