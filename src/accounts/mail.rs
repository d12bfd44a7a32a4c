//! The account's messages, rendered when sent: the password-reset link, the order-claim link.

use super::store;
use crate::error::ApiError;
use crate::mail::letter::Letter;
use crate::mail::worker::Composed;
use crate::privacy::sealing::Field;
use crate::state::AppState;

/// The link of account link `id` (a reset or a claim), to the account's address.
pub async fn link(state: &AppState, id: &str) -> Result<Composed, ApiError> {
    let rid = id.to_owned();
    let found = state
        .db
        .run(move |conn| {
            let Some(link_row) = store::find_link(conn, &rid)? else { return Ok(None) };
            let account = store::find_account(conn, &link_row.account_id)?;
            Ok(account.map(|a| (link_row, a)))
        })
        .await?;
    let Some((link_row, account)) = found else { return Ok(Composed::Nothing("reset_gone")) };
    if link_row.used_at.is_some() || link_row.expires_at <= state.clock.now() {
        return Ok(Composed::Nothing("reset_no_longer_valid"));
    }
    let Some(key) = state.vault.key_of(&account.subject_id).await? else {
        return Ok(Composed::Nothing("recipient_erased"));
    };
    let (Some(to), Some(token)) = (
        account.email.open(&key.key, Field::Email),
        link_row.secret.as_ref().and_then(|s| s.open(&key.key, Field::LinkToken)),
    ) else {
        return Ok(Composed::Nothing("no_token"));
    };
    let base = state.config.storefront_url.as_deref().unwrap_or(&state.public_url);
    let claim = link_row.purpose == store::CLAIM;
    let link = format!("{base}/account/{}?token={token}", if claim { "claim" } else { "reset" });
    let (subject, lead, ignore) = if claim {
        (
            "Add your earlier orders to your account",
            "You asked to add the orders placed as a guest with this address to your account. Open this link \
             within 15 minutes (it works once), signed in:",
            "If it was not you, ignore this message: nothing changes without the link.",
        )
    } else {
        (
            "Reset your password",
            "Someone, hopefully you, asked to reset this account's password. Open this link within 15 minutes \
             (it works once) to choose a new one:",
            "If it was not you, ignore this message: your password stays as it is.",
        )
    };
    let paragraphs = [lead.to_owned(), format!("If the link does not open, the code is:\n{token}"), ignore.to_owned()];
    Ok(Composed::Send(Letter::paragraphs(to, subject, &paragraphs, Some(&link))))
}

/// The link was mailed (or given up): its sealed token goes.
pub async fn sent(state: &AppState, id: &str) -> Result<(), ApiError> {
    let rid = id.to_owned();
    state.db.run(move |conn| Ok(store::clear_link_secret(conn, &rid).map(|_| ())?)).await
}
