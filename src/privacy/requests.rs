//! Privacy requests (GDPR Art. 15, 17, 20): a guest proves control of their e-mail through a
//! single-use link valid for 15 minutes, which opens a short session; with it they ask for an access
//! export (a signed link to their data as JSON and HTML, valid 24 hours) or for erasure. Staff can
//! raise either for a customer (audited). A request of a kind already in flight is returned, not made
//! again.
//!
//! Erasure is crypto-shredding: the person's data key is destroyed, so every copy of their sealed
//! data — live database, replicas, backups taken before — is unreadable at once; the clear remnants go
//! (open carts, messages not yet sent, sessions, the e-mail's blind-index entry). Orders, lines,
//! totals, tax, payments and refunds stay for accounting and read "erased customer". Legal holds defer
//! it (an order not yet delivered, a disputed payment); the sweep carries it out when they end.

use super::sealing::{Field, Sealed};
use super::store::{self, RequestRow};
use crate::db::dialect;
use crate::error::ApiError;
use crate::kernel::pii::Email;
use crate::kernel::secret::{hash_token, issue_token};
use crate::state::AppState;
use crate::typed_id;
use chrono::{Duration, NaiveDateTime};

typed_id!(
    /// A privacy request (`prq_…`).
    PrivacyRequestId, "prq_"
);

/// How long an e-mail proof link is valid.
pub const PROOF_LIFETIME: Duration = Duration::minutes(15);
/// How long the session a proof opens lasts.
pub const SESSION_LIFETIME: Duration = Duration::hours(1);
/// How long an access export's link is valid.
pub const EXPORT_LIFETIME: Duration = Duration::hours(24);

pub const PROOF_PREFIX: &str = "pp_";
pub const SESSION_PREFIX: &str = "ps_";

/// What a person may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Erasure,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Access => "access",
            Kind::Erasure => "erasure",
        }
    }
}

/// Who raised a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaisedBy {
    Subject,
    Staff,
    Retention,
}

impl RaisedBy {
    fn as_str(self) -> &'static str {
        match self {
            RaisedBy::Subject => "subject",
            RaisedBy::Staff => "staff",
            RaisedBy::Retention => "retention",
        }
    }
}

/// The keyring's name for a request's own key (it seals where to write about the request).
pub fn request_key_owner(id: &str) -> String {
    format!("request:{id}")
}

fn sealing(e: super::sealing::KeyError) -> ApiError {
    ApiError::internal(format!("sealing: {e}"))
}

fn new_row(id: &str, kind: &str, subject: &str, raised_by: RaisedBy, now: NaiveDateTime) -> RequestRow {
    RequestRow {
        id: id.to_owned(),
        kind: kind.to_owned(),
        subject_id: subject.to_owned(),
        status: "pending".into(),
        raised_by: raised_by.as_str().into(),
        contact: None,
        secret: None,
        token_hash: None,
        hold_reason: None,
        created_at: now,
        expires_at: None,
        used_at: None,
        done_at: None,
    }
}

/// Ask for an e-mail proof link. Says nothing about whether the address is known: an address no
/// one used gets no message, and one with a link still valid gets no second one.
pub async fn request_proof(state: &AppState, email: &Email) -> Result<(), ApiError> {
    let Some(subject) = state.vault.find_subject(email).await? else { return Ok(()) };
    let now = state.clock.now();
    let sub = subject.clone();
    if state.db.run(move |c| Ok(store::in_flight(c, &sub, "proof", now)?)).await?.is_some() {
        return Ok(());
    }
    let id = PrivacyRequestId::generate().into_string();
    let key = state.vault.new_key(&request_key_owner(&id)).await?;
    let token = issue_token(PROOF_PREFIX);
    let mut row = new_row(&id, "proof", &subject, RaisedBy::Subject, now);
    row.contact = Some(Sealed::seal(&key, Field::Email, email).map_err(sealing)?);
    row.secret = Some(Sealed::seal(&key, Field::LinkToken, &token.plaintext.expose().to_owned()).map_err(sealing)?);
    row.token_hash = Some(token.hash);
    row.expires_at = Some(now + PROOF_LIFETIME);
    state
        .db
        .run(move |conn| {
            dialect::write_transaction(conn, |conn| {
                store::insert_request(conn, &row)?;
                crate::mail::store::enqueue_for_request(
                    conn,
                    &crate::mail::store::new_message_id(),
                    "privacy_proof",
                    &id,
                    now,
                )?;
                Ok(())
            })
        })
        .await
}

/// A session opened with a proof link's token: the session token (shown once) and when it ends.
pub struct Session {
    pub token: crate::kernel::secret::SecretString,
    pub expires_at: NaiveDateTime,
}

/// Use a proof link's token, once, within its 15 minutes: a session for its subject. An unknown,
/// used or expired token is refused alike.
pub async fn open_session(state: &AppState, token: &str) -> Result<Session, ApiError> {
    let invalid = ApiError::link_invalid;
    if !token.starts_with(PROOF_PREFIX) {
        return Err(invalid());
    }
    let now = state.clock.now();
    let hash = hash_token(token);
    let session = issue_token(SESSION_PREFIX);
    let session_hash = session.hash.clone();
    let opened = state
        .db
        .run(move |conn| {
            dialect::write_transaction(conn, |conn| {
                let Some(proof) = store::proof_by_token(conn, &hash)? else { return Ok(false) };
                if !store::use_proof(conn, &proof.id, now)? {
                    return Ok(false);
                }
                store::insert_session(conn, &session_hash, &proof.subject_id, now, now + SESSION_LIFETIME)?;
                Ok::<_, ApiError>(true)
            })
        })
        .await?;
    if !opened {
        return Err(invalid());
    }
    Ok(Session { token: session.plaintext, expires_at: now + SESSION_LIFETIME })
}

/// The subject a session token opens (401 for none, or an expired one).
pub async fn session_subject(state: &AppState, token: &str) -> Result<String, ApiError> {
    if !token.starts_with(SESSION_PREFIX) {
        return Err(ApiError::Unauthorized);
    }
    let (hash, now) = (hash_token(token), state.clock.now());
    state.db.run(move |c| Ok(store::session_subject(c, &hash, now)?)).await?.ok_or(ApiError::Unauthorized)
}

/// The address a subject's messages go to: the one on their latest order or open cart.
async fn contact_of(state: &AppState, subject: &str) -> Result<Option<Email>, ApiError> {
    let Some(key) = state.vault.key_of(subject).await? else { return Ok(None) };
    let sub = subject.to_owned();
    let sealed = state
        .db
        .run(move |conn| {
            use crate::db::schema::{carts, orders};
            use diesel::prelude::*;
            let from_order: Option<String> = orders::table
                .filter(orders::subject_id.eq(&sub))
                .order(orders::created_at.desc())
                .select(orders::email)
                .first(conn)
                .optional()?;
            if from_order.is_some() {
                return Ok(from_order);
            }
            let from_cart: Option<Option<String>> =
                carts::table.filter(carts::subject_id.eq(&sub)).select(carts::email).first(conn).optional()?;
            Ok(from_cart.flatten())
        })
        .await?;
    Ok(sealed.and_then(|s| Sealed::<Email>::from_stored(s).open(&key.key, Field::Email)))
}

/// What raising a request gave: the request, and whether it was already in flight.
pub struct Raised {
    pub request: RequestRow,
    pub existing: bool,
}

/// Raise a request of `kind` for `subject` (already in flight: that one). Access: the export link is
/// sent at once. Erasure: carried out at once, or deferred by a hold (the request says why).
pub async fn raise(
    state: &AppState,
    subject: &str,
    kind: Kind,
    raised_by: RaisedBy,
    contact: Option<Email>,
) -> Result<Raised, ApiError> {
    let now = state.clock.now();
    let sub = subject.to_owned();
    if let Some(request) = state.db.run(move |c| Ok(store::in_flight(c, &sub, kind.as_str(), now)?)).await? {
        return Ok(Raised { request, existing: true });
    }
    let contact = match (contact, raised_by) {
        (Some(c), _) => Some(c),
        // Retention erases quietly: nobody asked.
        (None, RaisedBy::Retention) => None,
        (None, _) => contact_of(state, subject).await?,
    };
    let id = PrivacyRequestId::generate().into_string();
    let mut row = new_row(&id, kind.as_str(), subject, raised_by, now);
    if let Some(email) = &contact {
        let key = state.vault.new_key(&request_key_owner(&id)).await?;
        row.contact = Some(Sealed::seal(&key, Field::Email, email).map_err(sealing)?);
    }
    if kind == Kind::Access {
        row.status = "done".into();
        row.done_at = Some(now);
        row.expires_at = Some(now + EXPORT_LIFETIME);
    }
    let (inserted, notify) = (row.clone(), contact.is_some());
    state
        .db
        .run(move |conn| {
            dialect::write_transaction(conn, |conn| {
                store::insert_request(conn, &inserted)?;
                if kind == Kind::Access && notify {
                    let msg = crate::mail::store::new_message_id();
                    crate::mail::store::enqueue_for_request(conn, &msg, "privacy_access_ready", &inserted.id, now)?;
                }
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    let request = match kind {
        Kind::Access => row,
        Kind::Erasure => carry_out_erasure(state, row).await?,
    };
    Ok(Raised { request, existing: false })
}

/// Why erasing `subject` must wait, if it must: orders not yet delivered, disputed payments.
async fn holds(state: &AppState, subject: &str) -> Result<Option<String>, ApiError> {
    use crate::orders::model::OrderStatus;
    let sub = subject.to_owned();
    let orders = state.db.run(move |c| Ok(store::orders_of(c, &sub)?)).await?;
    let mut reasons = Vec::new();
    for store::SubjectOrder { number, status, payment_id, .. } in &orders {
        let status = OrderStatus::parse(status).unwrap_or(OrderStatus::PendingPayment);
        if matches!(
            status,
            OrderStatus::PendingPayment
                | OrderStatus::AwaitingPaymentAction
                | OrderStatus::Paid
                | OrderStatus::PartiallyFulfilled
        ) {
            reasons.push(format!("order {number} is not yet delivered or closed"));
        }
        if let Some(pid) = payment_id
            && state.billing.find(&state.db, pid).await.is_ok_and(|p| p.disputed)
        {
            reasons.push(format!("the payment of order {number} is disputed"));
        }
    }
    Ok((!reasons.is_empty()).then(|| reasons.join("; ")))
}

/// Erase now, unless a hold defers it (then the request is `deferred`, with the reason).
async fn carry_out_erasure(state: &AppState, mut row: RequestRow) -> Result<RequestRow, ApiError> {
    if let Some(reason) = holds(state, &row.subject_id).await? {
        if row.status != "deferred" || row.hold_reason.as_deref() != Some(reason.as_str()) {
            let (id, why) = (row.id.clone(), reason.clone());
            state.db.run(move |c| Ok(store::set_request_status(c, &id, "deferred", Some(&why), None)?)).await?;
        }
        row.status = "deferred".into();
        row.hold_reason = Some(reason);
        return Ok(row);
    }
    let subject = row.subject_id.clone();
    let now = state.clock.now();
    // 1. The clear remnants in the shop's database (idempotent: a retry after a crash redoes it).
    let sub = subject.clone();
    state
        .db
        .run(move |conn| {
            dialect::write_transaction(conn, |conn| {
                store::delete_open_carts(conn, &sub)?;
                let orders: Vec<String> = store::orders_of(conn, &sub)?.into_iter().map(|o| o.id).collect();
                crate::mail::store::drop_unsent_for_orders(conn, &orders)?;
                store::drop_sessions(conn, now, Some(&sub))?;
                crate::accounts::store::delete_sessions_of_subject(conn, &sub)?;
                store::expire_proofs_of(conn, &sub)?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    // 2. The key: from here on, the person's sealed data is unreadable everywhere.
    state.vault.shred(&subject).await?;
    // 3. Done, and the confirmation queued (to the address sealed under the request's own key).
    let (id, notify) = (row.id.clone(), row.contact.is_some());
    state
        .db
        .run(move |conn| {
            dialect::write_transaction(conn, |conn| {
                store::set_request_status(conn, &id, "done", None, Some(now))?;
                if notify {
                    let msg = crate::mail::store::new_message_id();
                    crate::mail::store::enqueue_for_request(conn, &msg, "privacy_erasure_done", &id, now)?;
                }
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    tracing::info!(request_id = %row.id, "personal data erased");
    row.status = "done".into();
    row.hold_reason = None;
    row.done_at = Some(now);
    Ok(row)
}

/// The background part: expire proofs and sessions, carry out erasures whose holds ended (or that a
/// crash interrupted), and erase guests whose data is past its retention. Safe in several processes
/// (every step is idempotent). Returns how many people were erased.
pub async fn sweep(state: &AppState, now: NaiveDateTime) -> Result<usize, ApiError> {
    let expired = state
        .db
        .run(move |conn| {
            store::drop_sessions(conn, now, None)?;
            Ok(store::expire_proofs(conn, now)?)
        })
        .await?;
    for id in expired {
        state.vault.destroy_key(&request_key_owner(&id)).await?;
    }
    let mut erased = 0;
    let waiting = state.db.run(|conn| Ok(store::erasures_waiting(conn, 100)?)).await?;
    for row in waiting {
        if carry_out_erasure(state, row).await?.status == "done" {
            erased += 1;
        }
    }
    // Guest-data retention reads every order with a subject: hourly is often enough for a schedule
    // counted in days.
    if state.vault.retention_due(now, Duration::hours(1)) {
        erased += erase_due(state, now, 100).await?;
    }
    Ok(erased)
}

/// Guest-data retention: erase (up to `limit`) people whose every order closed longer ago than
/// `LEANCART_GUEST_DATA_RETENTION_SECS` and who have nothing open. No message is sent. Returns how
/// many were erased.
pub async fn erase_due(state: &AppState, now: NaiveDateTime, limit: i64) -> Result<usize, ApiError> {
    let before = now - Duration::from_std(state.config.guest_data_retention).unwrap_or(Duration::days(730));
    let due = state.db.run(move |conn| Ok(store::subjects_due(conn, before, limit)?)).await?;
    let mut erased = 0;
    for subject in due {
        let raised = raise(state, &subject, Kind::Erasure, RaisedBy::Retention, None).await?;
        if raised.request.status == "done" {
            erased += 1;
        }
    }
    Ok(erased)
}
