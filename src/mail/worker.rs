//! The delivery worker: lease due outbox rows, render each from what it refers to, send it, record
//! the outcome. Safe in every process at once: a row is leased to one worker at a time, and its
//! outcome is recorded only under that lease.
//!
//! Exactly once, as far as SMTP allows: a row is sent by one worker and marked sent right after the
//! server accepted it. Should a process die between the two, the lease expires and the row is sent
//! again, with the same Message-ID (`<outbox id@leancart>`), which receivers use to drop duplicates.

use super::letter::Letter;
use super::store::{self, Leased};
use super::transport::Failure;
use crate::error::ApiError;
use crate::state::AppState;
use chrono::Duration;

/// How long a worker holds a leased row: longer than an SMTP exchange may take (20 s timeout).
const LEASE: Duration = Duration::seconds(120);
/// Rows leased per round.
const BATCH: i64 = 20;

/// The wait before attempt `n + 1` after `n` failed attempts: 30 s, doubling, at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(7);
    Duration::seconds((30_i64 << doublings).min(3600))
}

/// What a row's message is once rendered: a letter to send, or nothing to send any more (its
/// recipient's data was erased, its request is gone), with the reason.
pub enum Composed {
    Send(Letter),
    Nothing(&'static str),
}

/// Render the message of a leased row, by kind.
async fn compose(state: &AppState, row: &Leased) -> Result<Composed, ApiError> {
    match (row.kind.as_str(), &row.order_id, &row.request_id) {
        ("order_confirmation", Some(order_id), _) => crate::orders::mail::confirmation(state, order_id).await,
        ("password_reset" | "order_claim", _, Some(link_id)) => crate::accounts::mail::link(state, link_id).await,
        (crate::fulfillment::service::SHIPPING_MAIL, _, Some(shipment_id)) => {
            crate::fulfillment::mail::shipped(state, shipment_id).await
        }
        (kind, _, Some(request_id)) => crate::privacy::mail::compose(state, kind, request_id).await,
        _ => Ok(Composed::Nothing("unknown_kind")),
    }
}

/// After a row was sent: what its domain does then (a privacy request's contact key is destroyed).
async fn after_sent(state: &AppState, row: &Leased) -> Result<(), ApiError> {
    match (row.kind.as_str(), &row.request_id) {
        ("password_reset" | "order_claim", Some(link_id)) => crate::accounts::mail::sent(state, link_id).await,
        (crate::fulfillment::service::SHIPPING_MAIL, _) => Ok(()),
        (_, Some(request_id)) => crate::privacy::mail::sent(state, request_id).await,
        (_, None) => Ok(()),
    }
}

/// One round: lease what is due and deliver it. Returns how many rows were sent.
pub async fn run_once(state: &AppState) -> Result<usize, ApiError> {
    Ok(round(state).await?.1)
}

/// One round: (rows leased, rows sent).
async fn round(state: &AppState) -> Result<(usize, usize), ApiError> {
    let now = state.clock.now();
    let token = crate::kernel::ids::random_base62();
    let lease_token = token.clone();
    let leased = state.db.run(move |conn| Ok(store::claim(conn, now, now + LEASE, &lease_token, BATCH)?)).await?;
    let mut sent = 0;
    let count = leased.len();
    for row in leased {
        let outcome = match compose(state, &row).await {
            Ok(Composed::Send(letter)) => state.mailer.send(&row.id, &letter).await,
            Ok(Composed::Nothing(why)) => Err(Failure::Permanent(why)),
            Err(e) => {
                tracing::warn!(outbox_id = %row.id, kind = %row.kind, code = e.code(), "could not render a message");
                Err(Failure::Transient("render_failed"))
            }
        };
        let (id, token) = (row.id.clone(), token.clone());
        match outcome {
            Ok(()) => {
                let at = state.clock.now();
                if !state.db.run(move |conn| Ok(store::mark_sent(conn, &id, &token, at)?)).await? {
                    tracing::warn!(outbox_id = %row.id, "a message was sent after its lease ran out");
                }
                tracing::info!(outbox_id = %row.id, kind = %row.kind, attempt = row.attempts, "message sent");
                after_sent(state, &row).await?;
                sent += 1;
            }
            Err(failure) => {
                let give_up = matches!(failure, Failure::Permanent(_))
                    || u32::try_from(row.attempts).unwrap_or(u32::MAX) >= state.config.mail_max_attempts;
                let next = (!give_up).then(|| state.clock.now() + backoff(row.attempts));
                let kind = failure.kind();
                tracing::warn!(
                    outbox_id = %row.id, kind = %row.kind, attempt = row.attempts, error = kind, given_up = give_up,
                    "message not sent"
                );
                state.db.run(move |conn| Ok(store::mark_failed_attempt(conn, &id, &token, kind, next)?)).await?;
                if give_up {
                    after_sent(state, &row).await?;
                }
            }
        }
    }
    Ok((count, sent))
}

/// The worker of one process: rounds back to back while they find a full batch (a backlog drains at
/// the speed of the transport), else one every `LEANCART_MAIL_POLL_MS`.
pub async fn run(state: AppState) {
    loop {
        match round(&state).await {
            Ok((leased, _)) if leased as i64 >= BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(code = e.code(), "mail round failed"),
        }
        tokio::time::sleep(state.config.mail_poll).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_to_an_hour() {
        let secs: Vec<i64> = (1..=9).map(|n| super::backoff(n).num_seconds()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
