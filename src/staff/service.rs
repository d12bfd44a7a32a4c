//! Staff rules: creation with a one-time setup link, login (password, then the second factor), sessions,
//! enrolment of the authenticator, and what admins do to other members — each of those audited.

use super::model::{SESSION_PREFIX, SETUP_PREFIX, StaffId, StaffRow, StaffSessionRow, key_owner};
use super::store;
use crate::access::{Role, StaffActor};
use crate::accounts::password::{self, Password};
use crate::accounts::second_factor::{self, Presented, Realm};
use crate::db::DbConn;
use crate::error::{ApiError, FieldError};
use crate::kernel::pii::Email;
use crate::kernel::secret::{SecretString, hash_token, issue_token};
use crate::privacy::sealing::{Field, Sealed};
use crate::state::AppState;
use chrono::{Duration, NaiveDateTime};

/// How long a setup link works.
pub const SETUP_LIFETIME: Duration = Duration::hours(24);
/// How often a session's last use is written.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// Who did something to a member: another member, or an operator at the CLI.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    Staff(&'a str),
    Operator,
}

impl By<'_> {
    fn actor(&self) -> (&'static str, Option<&str>) {
        match self {
            By::Staff(id) => ("staff", Some(id)),
            By::Operator => ("operator", None),
        }
    }
}

/// An audit entry about member `subject` (inside the caller's write transaction).
fn audit(conn: &mut DbConn, by: By<'_>, action: &str, subject: &str, outcome: &str) -> diesel::QueryResult<usize> {
    let (actor, actor_id) = by.actor();
    crate::audit::write(
        conn,
        &crate::audit::Entry { actor, actor_id, action, subject_id: Some(subject), outcome, network: None },
    )
}

/// A member, opened.
pub struct Member {
    pub id: String,
    pub email: Option<Email>,
    pub role: Role,
    pub password_set: bool,
    pub second_factor: bool,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
}

/// A one-time setup link's token (shown once) and when it stops working.
pub struct SetupLink {
    pub token: SecretString,
    pub expires_at: NaiveDateTime,
}

async fn open(state: &AppState, row: StaffRow) -> Result<Member, ApiError> {
    let key = state.vault.find_key(&key_owner(&row.id)).await?;
    let id = row.id.clone();
    let second_factor = state.db.run(move |conn| Ok(second_factor::enrolled(conn, Realm::Staff, &id)?)).await?;
    Ok(Member {
        email: key.and_then(|k| row.email.open(&k, Field::Email)),
        role: Role::parse(&row.role).ok_or_else(|| ApiError::internal("staff role"))?,
        password_set: row.password_hash.is_some(),
        second_factor,
        disabled: row.disabled_at.is_some(),
        created_at: row.created_at,
        id: row.id,
    })
}

/// Create a member with a role: no password yet, a setup link to choose one. 409 when the e-mail has
/// a member already.
pub async fn create(state: &AppState, email: Email, role: Role, by: By<'_>) -> Result<(Member, SetupLink), ApiError> {
    let index = state.vault.email_index(&email);
    let id = StaffId::generate().into_string();
    let key = state.vault.new_key(&key_owner(&id)).await?;
    let now = state.clock.now();
    let row = StaffRow {
        id: id.clone(),
        email_index: index,
        email: Sealed::seal(&key, Field::Email, &email).map_err(|e| ApiError::internal(format!("sealing: {e}")))?,
        role: role.as_str().to_owned(),
        password_hash: None,
        created_at: now,
        updated_at: now,
        disabled_at: None,
    };
    let link = issue_token(SETUP_PREFIX);
    let (link_hash, by_owned) = (link.hash.clone(), owned(by));
    let created = state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                if !store::insert_member(conn, &row)? {
                    return Ok(false);
                }
                store::replace_setup_link(conn, &row.id, &link_hash, now, now + SETUP_LIFETIME)?;
                audit(conn, by_owned.as_by(), &format!("staff.create.{}", row.role), &row.id, "ok")?;
                Ok::<_, ApiError>(true)
            })
        })
        .await?;
    if !created {
        state.vault.destroy_key(&key_owner(&id)).await?;
        return Err(ApiError::conflict("staff_exists", "a member of staff has this e-mail already"));
    }
    let member = Member {
        id,
        email: Some(email),
        role,
        password_set: false,
        second_factor: false,
        disabled: false,
        created_at: now,
    };
    Ok((member, SetupLink { token: link.plaintext, expires_at: now + SETUP_LIFETIME }))
}

/// `By` without the borrow, to move into a database closure.
enum ByOwned {
    Staff(String),
    Operator,
}

impl ByOwned {
    fn as_by(&self) -> By<'_> {
        match self {
            ByOwned::Staff(id) => By::Staff(id),
            ByOwned::Operator => By::Operator,
        }
    }
}

fn owned(by: By<'_>) -> ByOwned {
    match by {
        By::Staff(id) => ByOwned::Staff(id.to_owned()),
        By::Operator => ByOwned::Operator,
    }
}

/// Set the password with a setup link (once, within its lifetime). Every session of the member ends.
pub async fn setup(state: &AppState, token: &str, new: Password) -> Result<(), ApiError> {
    password::check(&new)
        .map_err(|w| ApiError::Validation(vec![FieldError::new("password", w.code()).with_message(w.message())]))?;
    if !token.starts_with(SETUP_PREFIX) {
        return Err(ApiError::link_invalid());
    }
    let hash = state.hashers.run(move || password::hash(&new)).await?.map_err(ApiError::internal)?;
    let (token_hash, now) = (hash_token(token), state.clock.now());
    let done = state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                let Some(id) = store::use_setup_link(conn, &token_hash, now)? else { return Ok(false) };
                let member = store::find_member(conn, &id)?.filter(|m| m.disabled_at.is_none());
                let Some(member) = member else { return Ok(false) };
                store::set_password(conn, &member.id, &hash, now)?;
                store::delete_sessions_of(conn, &member.id)?;
                audit(conn, By::Staff(&member.id), "staff.password.set", &member.id, "ok")?;
                Ok::<_, ApiError>(true)
            })
        })
        .await?;
    if done { Ok(()) } else { Err(ApiError::link_invalid()) }
}

/// A new session (its token shown once).
pub struct NewSession {
    pub token: SecretString,
    pub expires_at: NaiveDateTime,
    /// The second factor was shown; `false`: the member has none yet and must enrol first.
    pub verified: bool,
}

fn lifetimes(state: &AppState) -> (Duration, Duration) {
    let idle = Duration::from_std(state.config.session_idle).unwrap_or(Duration::minutes(30));
    let absolute = Duration::from_std(state.config.session_absolute).unwrap_or(Duration::days(7));
    (idle, absolute)
}

/// Log in: the password, then — for a member with an authenticator — its code or a recovery code
/// (401 `second_factor_required` without a right one). A member without one gets a session that can
/// only enrol. Unknown e-mail, disabled member, no password yet and wrong password answer alike, after
/// the same work. Throttled per e-mail and per client like shoppers' logins; every attempt audited.
pub async fn login(
    state: &AppState,
    client: std::net::IpAddr,
    email: Email,
    password: Password,
    presented: Presented,
) -> Result<NewSession, ApiError> {
    let index = state.vault.email_index(&email);
    let throttle = state.hashers.throttle();
    let (email_key, client_key, now) = (format!("s:{index}"), format!("c:{client}"), state.clock.now());
    if let Some(retry_after_secs) = throttle.check(&email_key, &client_key, now) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let member = state
        .db
        .run(move |conn| Ok(store::member_by_index(conn, &index)?))
        .await?
        .filter(|m| m.disabled_at.is_none() && m.password_hash.is_some());
    let stored = member.as_ref().and_then(|m| m.password_hash.clone()).unwrap_or_else(|| password::decoy().to_owned());
    let matches = state.hashers.run(move || password::verify(&password, &stored)).await?;
    let network = Some(crate::audit::network_of(client));
    let record = |id: Option<String>, outcome: &'static str| {
        let network = network.clone();
        state.db.run(move |conn| {
            let entry = crate::audit::Entry {
                actor: "staff",
                actor_id: id.as_deref(),
                action: "staff.login",
                subject_id: id.as_deref(),
                outcome,
                network,
            };
            Ok(crate::db::dialect::write_transaction(conn, |conn| crate::audit::write(conn, &entry)).map(|_| ())?)
        })
    };
    let Some(member) = member.filter(|_| matches) else {
        throttle.failed(&email_key, &client_key, now);
        record(None, "failed").await?;
        return Err(ApiError::InvalidCredentials);
    };
    let id = member.id.clone();
    let enrolled = state.db.run(move |conn| Ok(second_factor::enrolled(conn, Realm::Staff, &id)?)).await?;
    if enrolled {
        let key = state.vault.find_key(&key_owner(&member.id)).await?;
        if !second_factor::check(state, Realm::Staff, &member.id, key, presented).await? {
            throttle.failed(&email_key, &client_key, now);
            record(Some(member.id), "second_factor_failed").await?;
            return Err(ApiError::SecondFactorRequired);
        }
    }
    throttle.succeeded(&email_key);
    record(Some(member.id.clone()), "ok").await?;
    let token = issue_token(SESSION_PREFIX);
    let (_, absolute) = lifetimes(state);
    let row = StaffSessionRow {
        token_hash: token.hash.clone(),
        staff_id: member.id,
        verified: enrolled,
        created_at: now,
        last_seen_at: now,
        expires_at: now + absolute,
    };
    state.db.run(move |conn| Ok(store::insert_session(conn, &row)?)).await?;
    Ok(NewSession { token: token.plaintext, expires_at: now + absolute, verified: enrolled })
}

/// The member a session token opens: 401 for an unknown, idle or expired session, or a disabled member.
pub async fn authenticate(state: &AppState, token: &str) -> Result<StaffActor, ApiError> {
    if !token.starts_with(SESSION_PREFIX) {
        return Err(ApiError::Unauthorized);
    }
    let (hash, now) = (hash_token(token), state.clock.now());
    let (idle, _) = lifetimes(state);
    state
        .db
        .run(move |conn| {
            let session = store::find_session(conn, &hash)?.ok_or(ApiError::Unauthorized)?;
            let member = store::find_member(conn, &session.staff_id)?.filter(|m| m.disabled_at.is_none());
            if now >= session.expires_at || now - session.last_seen_at >= idle || member.is_none() {
                store::delete_session(conn, &hash)?;
                return Err(ApiError::Unauthorized);
            }
            if now - session.last_seen_at >= TOUCH_EVERY {
                store::touch_session(conn, &hash, now)?;
            }
            let member = member.ok_or(ApiError::Unauthorized)?;
            Ok(StaffActor {
                role: Role::parse(&member.role).ok_or_else(|| ApiError::internal("staff role"))?,
                id: member.id,
                verified: session.verified,
                session_hash: hash,
            })
        })
        .await
}

/// Log out this session.
pub async fn logout(state: &AppState, session_hash: String) -> Result<(), ApiError> {
    state.db.run(move |conn| Ok(store::delete_session(conn, &session_hash).map(|_| ())?)).await
}

/// A member, opened (404 for none).
pub async fn member(state: &AppState, id: &str) -> Result<Member, ApiError> {
    let id = id.to_owned();
    let row = state.db.run(move |conn| Ok(store::find_member(conn, &id)?)).await?.ok_or(ApiError::NotFound)?;
    open(state, row).await
}

/// Every member, opened (oldest first). Their e-mails are personal data: one audit entry per member
/// shown.
pub async fn list(state: &AppState, by: By<'_>) -> Result<Vec<Member>, ApiError> {
    let by = owned(by);
    let rows = state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                let rows = store::list_members(conn)?;
                for row in &rows {
                    audit(conn, by.as_by(), "staff.read", &row.id, "ok")?;
                }
                Ok::<_, ApiError>(rows)
            })
        })
        .await?;
    let mut members = Vec::with_capacity(rows.len());
    for row in rows {
        members.push(open(state, row).await?);
    }
    Ok(members)
}

/// Start enrolling the member's authenticator (the secret, shown once).
pub async fn begin_enrolment(state: &AppState, actor: &StaffActor) -> Result<second_factor::Enrolment, ApiError> {
    let key = state.vault.find_key(&key_owner(&actor.id)).await?.ok_or_else(|| ApiError::internal("staff key"))?;
    let label =
        member(state, &actor.id).await?.email.map(|e| e.expose().to_owned()).unwrap_or_else(|| actor.id.clone());
    second_factor::begin(state, Realm::Staff, &actor.id, key, &label).await
}

/// Finish enrolment with a first code: recovery codes (once), and this session counts as verified.
pub async fn confirm_enrolment(state: &AppState, actor: &StaffActor, code: String) -> Result<Vec<String>, ApiError> {
    let key = state.vault.find_key(&key_owner(&actor.id)).await?.ok_or_else(|| ApiError::internal("staff key"))?;
    let codes = second_factor::confirm(state, Realm::Staff, &actor.id, key, code).await?;
    let (id, hash) = (actor.id.clone(), actor.session_hash.clone());
    state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                store::verify_session(conn, &hash)?;
                audit(conn, By::Staff(&id), "staff.second_factor.enrol", &id, "ok")?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(codes)
}

/// What an admin changes of a member.
pub enum Change {
    Role(Role),
    Disable,
}

/// Change another member's role, or disable them (their sessions end). An admin cannot demote or
/// disable the last active admin (409 `last_admin`) — nor themselves, which another admin does.
pub async fn change(state: &AppState, by: &StaffActor, id: &str, change: Change) -> Result<Member, ApiError> {
    if by.id == id {
        return Err(ApiError::conflict("own_membership", "another admin changes your role or disables you"));
    }
    let (target, by_id, now) = (id.to_owned(), by.id.clone(), state.clock.now());
    state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                let member = store::find_member(conn, &target)?.ok_or(ApiError::NotFound)?;
                let stays_admin = matches!(change, Change::Role(Role::Admin));
                if member.role == "admin" && !stays_admin && store::other_active_admins(conn, &member.id)? == 0 {
                    return Err(ApiError::conflict("last_admin", "this is the last active admin"));
                }
                match change {
                    Change::Role(role) => {
                        store::set_role(conn, &member.id, role.as_str(), now)?;
                        // Sessions end: the next sign-in carries the new role from the start.
                        store::delete_sessions_of(conn, &member.id)?;
                        let action = format!("staff.role.{}.{}", member.role, role.as_str());
                        audit(conn, By::Staff(&by_id), &action, &member.id, "ok")?;
                    }
                    Change::Disable => {
                        store::disable(conn, &member.id, now)?;
                        store::delete_sessions_of(conn, &member.id)?;
                        audit(conn, By::Staff(&by_id), "staff.disable", &member.id, "ok")?;
                    }
                }
                Ok(())
            })
        })
        .await?;
    member(state, id).await
}

/// A new setup link for a member (a forgotten password): the old password works until it is used.
pub async fn new_setup_link(state: &AppState, by: By<'_>, id: &str) -> Result<SetupLink, ApiError> {
    let link = issue_token(SETUP_PREFIX);
    let (target, hash, now, by) = (id.to_owned(), link.hash.clone(), state.clock.now(), owned(by));
    state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                let member = store::find_member(conn, &target)?.filter(|m| m.disabled_at.is_none());
                let member = member.ok_or(ApiError::NotFound)?;
                store::replace_setup_link(conn, &member.id, &hash, now, now + SETUP_LIFETIME)?;
                audit(conn, by.as_by(), "staff.setup_link.issue", &member.id, "ok")?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(SetupLink { token: link.plaintext, expires_at: now + SETUP_LIFETIME })
}

/// Reset a member's lost second factor (another admin only): factor and recovery codes go, sessions
/// end, and the member enrols again at their next sign-in.
pub async fn reset_second_factor(state: &AppState, by: &StaffActor, id: &str) -> Result<(), ApiError> {
    if by.id == id {
        return Err(ApiError::conflict("own_membership", "another admin resets your second factor"));
    }
    let (target, by_id) = (id.to_owned(), by.id.clone());
    state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                let member = store::find_member(conn, &target)?.ok_or(ApiError::NotFound)?;
                second_factor::remove(conn, Realm::Staff, &member.id)?;
                store::delete_sessions_of(conn, &member.id)?;
                audit(conn, By::Staff(&by_id), "staff.second_factor.reset", &member.id, "ok")?;
                Ok::<_, ApiError>(())
            })
        })
        .await
}

/// For the CLI: the id of the member with this e-mail.
pub async fn id_of(state: &AppState, email: &Email) -> Result<Option<String>, ApiError> {
    let index = state.vault.email_index(email);
    state.db.run(move |conn| Ok(store::member_by_index(conn, &index)?.map(|m| m.id))).await
}
