//! Outbound notices to a partner's HTTPS endpoint when work is ready: a durable outbox (written in the
//! transaction that made the work), delivered by a background worker on every server process — leased
//! rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so no two workers send one notice — retried with
//! back-off, and signed like Stripe's webhooks: `Leancart-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" under the partner's secret>`. A notice names a reference and an event, never personal
//! data: the partner pulls the record with its key.

use super::store;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{Duration, NaiveDateTime};
use ring::hmac;

/// Notices leased per round.
const BATCH: i64 = 50;
/// How long a lease lasts (longer than a delivery may take).
const LEASE: Duration = Duration::seconds(60);
/// Attempts before a notice is given up (the work stays pullable: a notice is only a nudge).
pub const MAX_ATTEMPTS: i32 = 12;

/// Queue a notice to `partner_id` if it has an endpoint (inside the caller's transaction).
pub fn enqueue(
    conn: &mut DbConn,
    partner_id: &str,
    event: &str,
    reference: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let Some(partner) = crate::partners::store::find_partner(conn, partner_id)? else { return Ok(()) };
    if partner.webhook_url.is_some() && partner.disabled_at.is_none() {
        let id = format!("pn_{}", crate::kernel::ids::random_base62());
        store::insert_notice(conn, &id, partner_id, event, reference, now)?;
    }
    Ok(())
}

/// The wait before attempt `attempts + 1`: 30 s doubling to an hour.
pub fn backoff(attempts: i32) -> Duration {
    Duration::seconds(30 * (1i64 << (attempts.clamp(1, 8) - 1))).min(Duration::hours(1))
}

/// The signature header's value of `body` at `unix_time` under `secret`.
pub fn signature(secret: &str, unix_time: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("{unix_time}.{body}").as_bytes());
    format!("t={unix_time},v1={}", hex::encode(tag.as_ref()))
}

/// Whether an endpoint URL may be used: HTTPS; plain HTTP only to this machine when allowed.
pub fn acceptable_url(url: &str, allow_loopback_http: bool) -> bool {
    let Ok(u) = url::Url::parse(url) else { return false };
    match u.scheme() {
        "https" => u.host().is_some(),
        "http" => allow_loopback_http && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        _ => false,
    }
}

/// One round: lease due notices and deliver them. Returns (leased, delivered).
pub async fn deliver_once(state: &AppState, client: &reqwest::Client) -> Result<(usize, usize), ApiError> {
    let now = state.clock.now();
    if !state.db.run(move |conn| Ok(store::notice_due(conn, now)?)).await? {
        return Ok((0, 0));
    }
    let token = crate::kernel::ids::random_base62();
    let lease = token.clone();
    let leased = state.db.run(move |conn| Ok(store::claim_notices(conn, now, now + LEASE, &lease, BATCH)?)).await?;
    let mut delivered = 0;
    for n in &leased {
        let outcome = deliver(state, client, n).await;
        let (id, token, now) = (n.id.clone(), token.clone(), state.clock.now());
        match outcome {
            Ok(()) => {
                state.db.run(move |conn| Ok(store::notice_delivered(conn, &id, &token, now)?)).await?;
                delivered += 1;
            }
            Err(why) => {
                tracing::warn!(notice = %n.id, partner = %n.partner_id, attempt = n.attempts, error = why, "partner notice not delivered");
                let next =
                    if n.attempts >= MAX_ATTEMPTS { now + Duration::days(36500) } else { now + backoff(n.attempts) };
                state.db.run(move |conn| Ok(store::notice_failed(conn, &id, &token, why, next)?)).await?;
            }
        }
    }
    Ok((leased.len(), delivered))
}

/// Deliver one notice: `Err` names what went wrong (a kind, never the endpoint's reply).
async fn deliver(state: &AppState, client: &reqwest::Client, n: &store::LeasedNotice) -> Result<(), &'static str> {
    let pid = n.partner_id.clone();
    let partner = state
        .db
        .run(move |conn| Ok(crate::partners::store::find_partner(conn, &pid)?))
        .await
        .map_err(|_| "database")?
        .ok_or("partner_gone")?;
    let url = partner.webhook_url.as_deref().ok_or("no_endpoint")?;
    if !acceptable_url(url, state.config.partner_webhook_allow_loopback_http) {
        return Err("endpoint_not_https");
    }
    let key =
        state.vault.find_key(&format!("partner:{}", partner.id)).await.map_err(|_| "keyring")?.ok_or("no_secret")?;
    let secret = partner
        .webhook_secret
        .as_ref()
        .and_then(|s| s.open(&key, crate::privacy::sealing::Field::WebhookSecret))
        .ok_or("no_secret")?;
    let body = serde_json::json!({
        "id": n.id,
        "type": n.event,
        "reference": n.reference,
        "created_at": crate::kernel::time::UtcTime(n.created_at),
    })
    .to_string();
    let t = state.clock.now().and_utc().timestamp();
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header("leancart-signature", signature(&secret, t, &body))
        .body(body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_err(|_| "unreachable")?;
    if res.status().is_success() { Ok(()) } else { Err("endpoint_refused") }
}

/// The fulfillment worker of one process: route paid orders, deliver notices; a round every
/// `LEANCART_FULFILLMENT_POLL_MS` (back to back while a backlog drains).
pub async fn run(state: AppState) {
    let client = reqwest::Client::builder().build().unwrap_or_default();
    loop {
        let routed = match super::service::route_once(&state, 100).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(code = e.code(), "routing paid orders failed");
                0
            }
        };
        let leased = match deliver_once(&state, &client).await {
            Ok((leased, _)) => leased,
            Err(e) => {
                tracing::warn!(code = e.code(), "partner notice round failed");
                0
            }
        };
        if routed < 100 && (leased as i64) < BATCH {
            tokio::time::sleep(state.config.fulfillment_poll).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_and_endpoints() {
        let s = super::signature("whsec_test", 1_700_000_000, "{}");
        assert!(s.starts_with("t=1700000000,v1=") && s.len() == "t=1700000000,v1=".len() + 64);
        assert_ne!(s, super::signature("whsec_other", 1_700_000_000, "{}"));
        assert!(super::acceptable_url("https://wms.example/hooks", false));
        assert!(!super::acceptable_url("http://wms.example/hooks", true));
        assert!(super::acceptable_url("http://127.0.0.1:9/x", true));
        assert!(!super::acceptable_url("http://127.0.0.1:9/x", false));
        assert!(!super::acceptable_url("ftp://x", true));
    }
}
