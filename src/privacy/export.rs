//! The access export (GDPR Art. 15 and 20): every personal datum held on a person and every order
//! of theirs, as a machine-readable JSON document and the same content as a readable HTML page. Built
//! when it is downloaded, from the records as they are then: no copy of it is stored.

use super::registry;
use crate::error::ApiError;
use crate::mail::letter::{escape, html_page};
use crate::state::AppState;
use serde_json::{Value, json};

/// The export of `subject`. Once the person was erased it holds nothing about them.
pub async fn document(state: &AppState, subject: &str) -> Result<Value, ApiError> {
    let generated_at = crate::kernel::time::UtcTime::from(state.clock.now());
    let Some(key) = state.vault.key_of(subject).await? else {
        return Ok(json!({
            "generated_at": generated_at,
            "subject": subject,
            "erased": true,
            "orders": [],
            "open_carts": [],
            "note": "this person's personal data was erased: nothing that names them can be read any more",
        }));
    };
    let sub = subject.to_owned();
    let (orders, carts, requests) = state
        .db
        .run(move |conn| {
            let mut orders = Vec::new();
            for order in crate::orders::store::orders_of_subject(conn, &sub)? {
                let (lines, payment) = crate::orders::service::lines_and_payment(conn, &order)?;
                let events = crate::orders::store::events_of(conn, &order.id)?;
                orders.push((order, lines, payment, events));
            }
            let carts = crate::checkout::store::open_carts_of_subject(conn, &sub)?;
            let requests = super::store::requests_of(conn, &sub)?;
            Ok((orders, carts, requests))
        })
        .await?;
    let mut order_docs = Vec::new();
    for (order, lines, payment, events) in orders {
        let opened = crate::orders::http::Opened::of(&order, Some(&key));
        let dto = crate::orders::http::order_dto(&order, &opened, &lines, payment.as_ref())?;
        let history: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "actor": e.actor,
                    "reason": crate::orders::service::read_note(&e.reason, Some(&key.key)),
                    "at": crate::kernel::time::UtcTime::from(e.created_at),
                })
            })
            .collect();
        let mut doc = serde_json::to_value(dto).map_err(ApiError::internal)?;
        doc["history"] = Value::Array(history);
        order_docs.push(doc);
    }
    let cart_docs: Vec<Value> = carts
        .iter()
        .map(|cart| {
            let d = cart.sealed().open(Some(&key.key));
            json!({
                "id": cart.id,
                "email": d.email.as_ref().map(|e| e.expose().to_owned()),
                "shipping_address": crate::checkout::http::address_dto(&d, cart.ship_region.as_ref(), cart.ship_country.as_ref()),
                "phone": d.phone.as_ref().map(|p| p.expose().to_owned()),
                "created_at": crate::kernel::time::UtcTime::from(cart.created_at),
            })
        })
        .collect();
    let held: Vec<Value> = registry::PERSONAL
        .iter()
        .map(|p| json!({ "record": p.table, "field": p.column, "purpose": p.purpose, "kept": format!("{:?}", p.retention) }))
        .collect();
    let request_docs: Vec<Value> = requests
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "kind": r.kind, "status": r.status, "raised_by": r.raised_by,
                "created_at": crate::kernel::time::UtcTime::from(r.created_at),
            })
        })
        .collect();
    Ok(json!({
        "generated_at": generated_at,
        "subject": subject,
        "erased": false,
        "orders": order_docs,
        "open_carts": cart_docs,
        "privacy_requests": request_docs,
        "what_we_hold_and_why": held,
    }))
}

/// The same document as a readable HTML page: every value, nested as it is in the JSON.
pub fn html(document: &Value) -> String {
    fn render(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                out.push_str("<dl>\n");
                for (k, v) in map {
                    out.push_str(&format!("<dt>{}</dt><dd>", escape(&k.replace('_', " "))));
                    render(v, out);
                    out.push_str("</dd>\n");
                }
                out.push_str("</dl>\n");
            }
            Value::Array(items) if items.is_empty() => out.push_str("<em>none</em>"),
            Value::Array(items) => {
                out.push_str("<ol>\n");
                for item in items {
                    out.push_str("<li>");
                    render(item, out);
                    out.push_str("</li>\n");
                }
                out.push_str("</ol>\n");
            }
            Value::Null => out.push_str("<em>—</em>"),
            Value::String(s) => out.push_str(&escape(s)),
            other => out.push_str(&escape(&other.to_string())),
        }
    }
    let mut body = String::from("<h1>Your personal data</h1>\n");
    render(document, &mut body);
    html_page("Your personal data", &body)
}
