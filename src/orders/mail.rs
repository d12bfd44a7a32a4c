//! The order's messages, rendered when they are sent: the confirmation (the receipt).

use super::model::{OrderLineRow, OrderRow};
use super::store;
use crate::error::ApiError;
use crate::kernel::money::{Currency, Money};
use crate::mail::letter::{Letter, escape, html_page};
use crate::mail::worker::Composed;
use crate::privacy::personal::Details;
use crate::state::AppState;

/// The order confirmation of `order_id`, to the address the order holds (opened with its customer's
/// key; nothing once that key is destroyed).
pub async fn confirmation(state: &AppState, order_id: &str) -> Result<Composed, ApiError> {
    let id = order_id.to_owned();
    let found = state
        .db
        .run(move |conn| {
            let Some(order) = store::find_order(conn, &id)? else { return Ok(None) };
            let lines = store::lines_of(conn, &id)?;
            Ok(Some((order, lines)))
        })
        .await?;
    let Some((order, lines)) = found else { return Ok(Composed::Nothing("order_gone")) };
    let Some(key) = state.vault.key_of_opt(order.subject_id.as_deref()).await? else {
        return Ok(Composed::Nothing("recipient_erased"));
    };
    let details = order.sealed().open(Some(&key.key));
    let Some(to) = details.email.clone() else { return Ok(Composed::Nothing("recipient_erased")) };
    Ok(Composed::Send(render(&order, &lines, &details, to)?))
}

fn render(
    order: &OrderRow,
    lines: &[OrderLineRow],
    d: &Details,
    to: crate::kernel::pii::Email,
) -> Result<Letter, ApiError> {
    let currency: Currency = order.currency.parse().map_err(|_| ApiError::internal("order currency"))?;
    let m = |amount: i64| Money::new(amount, currency).to_string();
    let subject = format!("Your order {}", order.number);
    let mut text = format!("Thank you for your order {}.\n\n", order.number);
    let mut rows = String::new();
    for l in lines {
        text.push_str(&format!("{} x {}  {}\n", l.quantity, l.title, m(l.line_total)));
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td style=\"text-align:right\">{}</td></tr>\n",
            l.quantity,
            escape(&l.title),
            m(l.line_total)
        ));
    }
    let totals = [
        ("Subtotal", order.subtotal),
        ("Shipping", order.shipping_total),
        ("Tax", order.tax_total),
        ("Total", order.total),
    ];
    text.push('\n');
    for (label, amount) in totals {
        text.push_str(&format!("{label}: {}\n", m(amount)));
        rows.push_str(&format!(
            "<tr><td></td><td>{label}</td><td style=\"text-align:right\">{}</td></tr>\n",
            m(amount)
        ));
    }
    let mut ship_html = String::new();
    if let (Some(name), Some(line1), Some(city)) = (&d.name, &d.line1, &d.city) {
        let mut parts = vec![name.expose().to_owned(), line1.expose().to_owned()];
        parts.extend(d.line2.as_ref().map(|l| l.expose().to_owned()));
        let mut town = city.expose().to_owned();
        if let Some(region) = &order.ship_region {
            town.push_str(&format!(", {region}"));
        }
        if let Some(code) = &d.postal_code {
            town = format!("{} {town}", code.expose());
        }
        parts.push(town);
        parts.extend(order.ship_country.clone());
        text.push_str(&format!("\nShipping to:\n{}\n", parts.join("\n")));
        let escaped: Vec<String> = parts.iter().map(|p| escape(p)).collect();
        ship_html = format!("<h2>Shipping to</h2>\n<p>{}</p>\n", escaped.join("<br>"));
    }
    let html = html_page(
        &subject,
        &format!("<h1>Thank you for your order {}</h1>\n<table>\n{rows}</table>\n{ship_html}", escape(&order.number)),
    );
    Ok(Letter { to, subject, text, html })
}
