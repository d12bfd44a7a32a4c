//! The messages about privacy requests, rendered when sent: the e-mail proof link, the access
//! export's link, the erasure confirmation. Each goes to the address sealed under the request's own
//! key; once sent (or given up), that key is destroyed and the sealed address and link token cleared.

use super::requests::{EXPORT_LIFETIME, request_key_owner};
use super::sealing::Field;
use super::store;
use crate::error::ApiError;
use crate::mail::letter::Letter;
use crate::mail::worker::Composed;
use crate::state::AppState;
use chrono::NaiveDateTime;

/// The signed download link of access request `id`, valid until `expires`.
pub fn export_link(state: &AppState, id: &str, expires: NaiveDateTime) -> String {
    let at = expires.and_utc().timestamp();
    let signature = state.vault.keys().links.sign(&export_message(id, at));
    format!("{}/v1/privacy/exports/{id}?expires={at}&signature={signature}", state.public_url)
}

/// What an export link's signature signs.
pub fn export_message(id: &str, expires: i64) -> String {
    format!("export\0{id}\0{expires}")
}

/// Render the message `kind` about request `request_id`.
pub async fn compose(state: &AppState, kind: &str, request_id: &str) -> Result<Composed, ApiError> {
    let id = request_id.to_owned();
    let Some(row) = state.db.run(move |c| Ok(store::find_request(c, &id)?)).await? else {
        return Ok(Composed::Nothing("request_gone"));
    };
    let Some(key) = state.vault.find_key(&request_key_owner(&row.id)).await? else {
        return Ok(Composed::Nothing("request_key_gone"));
    };
    let Some(to) = row.contact.as_ref().and_then(|c| c.open(&key, Field::Email)) else {
        return Ok(Composed::Nothing("no_contact"));
    };
    let composed = match kind {
        "privacy_proof" => {
            let now = state.clock.now();
            if row.status != "pending" || row.expires_at.is_none_or(|e| e <= now) {
                return Ok(Composed::Nothing("proof_no_longer_valid"));
            }
            let Some(token) = row.secret.as_ref().and_then(|s| s.open(&key, Field::LinkToken)) else {
                return Ok(Composed::Nothing("no_token"));
            };
            let base = state.config.storefront_url.as_deref().unwrap_or(&state.public_url);
            let link = format!("{base}/privacy/verify?token={token}");
            Letter::paragraphs(
                to,
                "Confirm it is you",
                &[
                    "Someone, hopefully you, asked to see or erase the personal data this shop holds for this \
                     address. To confirm it is you, open this link within 15 minutes (it works once):"
                        .to_owned(),
                    // On a line of its own, short enough to stay whole in any transfer encoding.
                    format!("If the link does not open, the code is:\n{token}"),
                    "If it was not you, ignore this message: nothing happens without the link.".to_owned(),
                ],
                Some(&link),
            )
        }
        "privacy_access_ready" => {
            let expires = row.expires_at.unwrap_or(row.created_at + EXPORT_LIFETIME);
            let link = export_link(state, &row.id, expires);
            Letter::paragraphs(
                to,
                "Your data export is ready",
                &[
                    "The personal data this shop holds on you, and every order, is ready to download:".to_owned(),
                    format!(
                        "The link gives a JSON document (add &format=html for a readable page) and works until {} UTC.",
                        expires.format("%Y-%m-%d %H:%M")
                    ),
                ],
                Some(&link),
            )
        }
        "privacy_erasure_done" => {
            let done = row.done_at.unwrap_or(row.created_at);
            Letter::paragraphs(
                to,
                "Your personal data was erased",
                &[
                    format!(
                        "On {} UTC this shop erased the personal data it held on you: your name, addresses, \
                         phone and e-mail can no longer be read, in its database or in any backup.",
                        done.format("%Y-%m-%d %H:%M")
                    ),
                    "Records the law requires for accounting (order numbers, amounts, taxes, payments) are kept \
                     without anything that names you. This is the last message you will receive."
                        .to_owned(),
                ],
                None,
            )
        }
        _ => return Ok(Composed::Nothing("unknown_kind")),
    };
    Ok(Composed::Send(composed))
}

/// A request's message was sent (or given up): its key and what it sealed go.
pub async fn sent(state: &AppState, request_id: &str) -> Result<(), ApiError> {
    state.vault.destroy_key(&request_key_owner(request_id)).await?;
    let id = request_id.to_owned();
    state.db.run(move |c| Ok(store::clear_request_contact(c, &id).map(|_| ())?)).await
}
