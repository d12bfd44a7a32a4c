//! The shopper's shipping confirmation, rendered when it is sent (to the order's address, opened with
//! its customer's key; nothing once that key is destroyed).

use crate::error::ApiError;
use crate::mail::letter::Letter;
use crate::mail::worker::Composed;
use crate::privacy::sealing::Field;
use crate::state::AppState;

/// The confirmation of shipment `shipment_id`.
pub async fn shipped(state: &AppState, shipment_id: &str) -> Result<Composed, ApiError> {
    use crate::db::schema::{fulfillments, shipment_lines, shipments};
    use diesel::prelude::*;
    let id = shipment_id.to_owned();
    let found = state
        .db
        .run(move |conn| {
            let Some((carrier, tracking, order_id)) = shipments::table
                .inner_join(fulfillments::table)
                .filter(shipments::id.eq(&id))
                .select((shipments::carrier, shipments::tracking_number, fulfillments::order_id))
                .first::<(String, String, String)>(conn)
                .optional()?
            else {
                return Ok(None);
            };
            let units: i64 = shipment_lines::table
                .filter(shipment_lines::shipment_id.eq(&id))
                .select(diesel::dsl::sum(shipment_lines::quantity))
                .first::<Option<i64>>(conn)?
                .unwrap_or(0);
            let contact = super::store::order_contact(conn, &order_id)?;
            Ok(contact.map(|c| (carrier, tracking, units, c)))
        })
        .await?;
    let Some((carrier, tracking, units, (email, subject, number))) = found else {
        return Ok(Composed::Nothing("shipment_gone"));
    };
    let Some(key) = state.vault.key_of_opt(subject.as_deref()).await? else {
        return Ok(Composed::Nothing("recipient_erased"));
    };
    let Some(to) = email.open(&key.key, Field::Email) else { return Ok(Composed::Nothing("recipient_erased")) };
    let paragraphs = [
        format!("Good news: {units} item(s) of your order {number} are on their way."),
        format!("Carrier: {carrier}\nTracking number: {tracking}"),
    ];
    Ok(Composed::Send(Letter::paragraphs(to, &format!("Your order {number} has shipped"), &paragraphs, None)))
}
