//! Fulfillment rules: routing paid orders to partners, partners' records (read, acknowledged), shipments
//! and deliveries moving the order on, re-assignment by an admin.

use super::model::{FulfillmentId, FulfillmentRow, LineRow, RuleRow, ShipmentId, Status, new_reference, route};
use super::record::{self, Grant, Reading, Record};
use super::store::{self, Filter, Source};
use crate::db::DbConn;
use crate::db::dialect::write_transaction;
use crate::error::ApiError;
use crate::orders::model::{Actor, OrderStatus};
use crate::partners::keys::PartnerKey;
use crate::state::AppState;
use chrono::NaiveDateTime;
use std::collections::HashMap;

/// Route up to `limit` paid orders not routed yet: each shippable line goes to the partner of the first
/// matching rule (unmatched lines: one fulfillment waiting for an admin); one fulfillment per partner
/// per order. An order is claimed in the same transaction (several processes route without doubling).
/// Returns how many orders were routed.
pub async fn route_once(state: &AppState, limit: i64) -> Result<usize, ApiError> {
    let now = state.clock.now();
    // A read first: an idle shop takes no write lock every round.
    if state.db.run(|conn| Ok(store::unrouted(conn, 1)?)).await?.is_empty() {
        return Ok(0);
    }
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let due = store::unrouted(conn, limit)?;
                if due.is_empty() {
                    return Ok(0);
                }
                let rules = store::rules(conn)?;
                let mut routed = 0;
                for (order_id, method, country) in due {
                    if !store::claim_order(conn, &order_id, now)? {
                        continue;
                    }
                    route_order(conn, &order_id, method.as_deref(), country.as_deref(), &rules, now)?;
                    routed += 1;
                }
                Ok::<_, ApiError>(routed)
            })
        })
        .await
}

fn route_order(
    conn: &mut DbConn,
    order_id: &str,
    method: Option<&str>,
    country: Option<&str>,
    rules: &[RuleRow],
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let mut shares: Vec<(Option<String>, Vec<LineRow>)> = Vec::new();
    for (line_id, sku, title, quantity, unit_value, weight) in store::shippable_lines(conn, order_id)? {
        if quantity <= 0 {
            continue;
        }
        let partner = route(rules, method, country, &sku).map(str::to_owned);
        let line = LineRow {
            fulfillment_id: String::new(),
            order_line_id: line_id,
            sku,
            title,
            quantity,
            weight_grams: weight,
            unit_value,
            quantity_shipped: 0,
        };
        match shares.iter_mut().find(|(p, _)| *p == partner) {
            Some((_, lines)) => lines.push(line),
            None => shares.push((partner, vec![line])),
        }
    }
    for (partner, mut lines) in shares {
        let id = FulfillmentId::generate().into_string();
        for l in &mut lines {
            l.fulfillment_id = id.clone();
        }
        let status = if partner.is_some() { Status::Ready } else { Status::Unassigned };
        let row = FulfillmentRow {
            id,
            order_id: order_id.to_owned(),
            partner_id: partner.clone(),
            reference: new_reference(),
            status: status.as_str().to_owned(),
            created_at: now,
            updated_at: now,
            acknowledged_at: None,
            shipped_at: None,
            delivered_at: None,
            exception: None,
        };
        store::insert(conn, &row, &lines)?;
        if let Some(p) = &partner {
            super::notices::enqueue(conn, p, "fulfillment.ready", &row.reference, now)?;
        }
    }
    Ok(())
}

/// Its order was cancelled (inside the caller's transaction): the fulfillments not shipped are
/// cancelled, and their partners told.
pub fn order_cancelled(conn: &mut DbConn, order_id: &str, now: NaiveDateTime) -> Result<(), ApiError> {
    let open: Vec<FulfillmentRow> = store::of_order(conn, order_id)?
        .into_iter()
        .filter(|f| f.status().open() || f.status() == Status::Unassigned)
        .collect();
    store::cancel_open_of_order(conn, order_id, now)?;
    for f in open {
        if let Some(p) = &f.partner_id {
            super::notices::enqueue(conn, p, "fulfillment.cancelled", &f.reference, now)?;
        }
    }
    Ok(())
}

/// The reading rules for a partner's key (its grant, the window, where parcels leave from).
pub async fn reading<'a>(state: &'a AppState, key: &PartnerKey) -> Result<Reading<'a>, ApiError> {
    let partner = key.partner_id.clone();
    let needs_phone =
        state.db.run(move |conn| Ok(crate::partners::store::carrier_needs_phone(conn, &partner)?)).await?;
    Ok(reading_with(state, Grant::of(key, needs_phone)))
}

pub fn reading_with(state: &AppState, grant: Grant) -> Reading<'_> {
    Reading {
        now: state.clock.now(),
        window: chrono::Duration::from_std(state.config.partner_data_window).unwrap_or(chrono::Duration::days(30)),
        ship_from: &state.config.ship_from_country,
        grant,
    }
}

/// Records of `sources` (their lines loaded, their customers' keys fetched at once); erased customers'
/// are left out.
pub async fn records(state: &AppState, sources: Vec<Source>, reading: &Reading<'_>) -> Result<Vec<Record>, ApiError> {
    let ids: Vec<String> = sources.iter().map(|s| s.id.clone()).collect();
    let lines = state
        .db
        .run(move |conn| Ok(store::lines_of(conn, &ids.iter().map(String::as_str).collect::<Vec<_>>())?))
        .await?;
    records_with(state, &sources, lines, reading).await
}

/// Records of `sources` with their `lines` already read.
pub async fn records_with(
    state: &AppState,
    sources: &[Source],
    lines: Vec<LineRow>,
    reading: &Reading<'_>,
) -> Result<Vec<Record>, ApiError> {
    let mut by_fulfillment: HashMap<String, Vec<LineRow>> = HashMap::with_capacity(sources.len());
    for l in lines {
        by_fulfillment.entry(l.fulfillment_id.clone()).or_default().push(l);
    }
    let subjects: Vec<String> = sources.iter().filter_map(|s| s.subject_id.clone()).collect();
    let keys = state.vault.keys_of(subjects).await?;
    Ok(sources
        .iter()
        .filter_map(|s| {
            let key = s.subject_id.as_ref().and_then(|k| keys.get(k)).map(|k| &**k);
            record::build(s, by_fulfillment.get(s.id.as_str()).map_or(&[][..], Vec::as_slice), key, reading)
        })
        .collect())
}

/// A page of a partner's records after `after` (an id), and the id to go on from.
pub async fn page(
    state: &AppState,
    key: &PartnerKey,
    filter: Filter,
    after: Option<String>,
    limit: i64,
) -> Result<(Vec<Record>, Option<String>), ApiError> {
    let partner = key.partner_id.clone();
    let sources =
        state.db.run(move |conn| Ok(store::page(conn, &partner, &filter, after.as_deref(), limit + 1)?)).await?;
    let more = sources.len() as i64 > limit;
    let sources: Vec<Source> = sources.into_iter().take(limit as usize).collect();
    let next = if more { sources.last().map(|s| s.id.clone()) } else { None };
    let reading = reading(state, key).await?;
    Ok((records(state, sources, &reading).await?, next))
}

/// One record of the partner's, by reference (404 for another partner's, an unknown one, or an
/// erased customer's).
pub async fn one(state: &AppState, key: &PartnerKey, reference: String) -> Result<Record, ApiError> {
    let partner = key.partner_id.clone();
    let source =
        state.db.run(move |conn| Ok(store::source(conn, &partner, &reference)?)).await?.ok_or(ApiError::NotFound)?;
    let reading = reading(state, key).await?;
    records(state, vec![source], &reading).await?.into_iter().next().ok_or(ApiError::NotFound)
}

/// Acknowledge received references (those ready and the partner's); returns them.
pub async fn acknowledge(state: &AppState, partner_id: &str, references: Vec<String>) -> Result<Vec<String>, ApiError> {
    let (partner, now) = (partner_id.to_owned(), state.clock.now());
    state
        .db
        .run(move |conn| Ok(write_transaction(conn, |conn| store::acknowledge(conn, &partner, &references, now))?))
        .await
}

/// A shipment a partner reports.
pub struct NewShipment {
    pub carrier: String,
    pub tracking_number: String,
    /// (SKU, quantity); empty: everything still to ship.
    pub lines: Vec<(String, i32)>,
}

/// What recording a shipment did.
pub struct Shipped {
    pub shipment_id: String,
    /// `false`: the same tracking number was recorded before (nothing changed).
    pub new: bool,
    pub status: Status,
}

/// Record a shipment of a partner's fulfillment: lines shipped, the fulfillment and its order moved on
/// (`partially_fulfilled` / `fulfilled`), the shopper's shipping confirmation queued — in one
/// transaction. The same tracking number again is the same shipment.
pub async fn ship(state: &AppState, partner_id: &str, reference: String, s: NewShipment) -> Result<Shipped, ApiError> {
    let (partner, now) = (partner_id.to_owned(), state.clock.now());
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                use crate::db::schema::{fulfillment_lines, shipment_lines, shipments};
                use diesel::prelude::*;
                let f = store::by_reference(conn, &partner, &reference)?.ok_or(ApiError::NotFound)?;
                let existing: Option<String> = shipments::table
                    .filter(shipments::fulfillment_id.eq(&f.id))
                    .filter(shipments::tracking_number.eq(&s.tracking_number))
                    .select(shipments::id)
                    .first(conn)
                    .optional()?;
                if let Some(id) = existing {
                    return Ok(Shipped { shipment_id: id, new: false, status: f.status() });
                }
                if !f.status().open() {
                    return Err(ApiError::conflict(
                        "fulfillment_not_open",
                        format!("this fulfillment is {}: nothing is left to ship", f.status),
                    ));
                }
                let lines = store::lines_of(conn, &[f.id.as_str()])?;
                let wanted: Vec<(LineRow, i32)> = if s.lines.is_empty() {
                    lines
                        .iter()
                        .filter(|l| l.quantity > l.quantity_shipped)
                        .map(|l| (l.clone(), l.quantity - l.quantity_shipped))
                        .collect()
                } else {
                    let mut out = Vec::new();
                    for (sku, qty) in &s.lines {
                        let line = lines.iter().find(|l| &l.sku == sku).ok_or_else(|| {
                            ApiError::validation("lines", "unknown_sku").with_extra(serde_json::json!({"sku": sku}))
                        })?;
                        if *qty > line.quantity - line.quantity_shipped {
                            return Err(ApiError::Unprocessable {
                                code: "quantity_exceeds_remaining",
                                detail: "more units than are left to ship on that line".into(),
                                extra: Some(
                                    serde_json::json!({"sku": sku, "remaining": line.quantity - line.quantity_shipped}),
                                ),
                            });
                        }
                        out.push((line.clone(), *qty));
                    }
                    out
                };
                if wanted.is_empty() {
                    return Err(ApiError::conflict("fulfillment_not_open", "nothing is left to ship"));
                }
                let id = ShipmentId::generate().into_string();
                diesel::insert_into(shipments::table)
                    .values((
                        shipments::id.eq(&id),
                        shipments::fulfillment_id.eq(&f.id),
                        shipments::carrier.eq(&s.carrier),
                        shipments::tracking_number.eq(&s.tracking_number),
                        shipments::created_at.eq(now),
                    ))
                    .execute(conn)?;
                for (line, qty) in &wanted {
                    diesel::insert_into(shipment_lines::table)
                        .values((
                            shipment_lines::shipment_id.eq(&id),
                            shipment_lines::order_line_id.eq(&line.order_line_id),
                            shipment_lines::quantity.eq(qty),
                        ))
                        .execute(conn)?;
                    diesel::update(fulfillment_lines::table.find((&f.id, &line.order_line_id)))
                        .set(fulfillment_lines::quantity_shipped.eq(fulfillment_lines::quantity_shipped + qty))
                        .execute(conn)?;
                }
                let after = store::lines_of(conn, &[f.id.as_str()])?;
                let all = after.iter().all(|l| l.quantity_shipped >= l.quantity);
                let status = if all { Status::Shipped } else { Status::PartiallyShipped };
                {
                    use crate::db::schema::fulfillments;
                    diesel::update(fulfillments::table.find(&f.id))
                        .set((
                            fulfillments::status.eq(status.as_str()),
                            fulfillments::updated_at.eq(now),
                            fulfillments::shipped_at.eq(if all { Some(now) } else { None }),
                        ))
                        .execute(conn)?;
                }
                advance_order(conn, &f.order_id)?;
                let msg = crate::mail::store::new_message_id();
                crate::mail::store::enqueue_for_request(conn, &msg, SHIPPING_MAIL, &id, now)?;
                Ok(Shipped { shipment_id: id, new: true, status })
            })
        })
        .await
}

/// The outbox kind of the shopper's shipping confirmation.
pub const SHIPPING_MAIL: &str = "shipping_confirmation";

/// Move an order on from its fulfillments: all shipped (or delivered) → `fulfilled`; some → `partially_fulfilled`.
fn advance_order(conn: &mut DbConn, order_id: &str) -> Result<(), ApiError> {
    let all = store::of_order(conn, order_id)?;
    let live: Vec<&FulfillmentRow> = all.iter().filter(|f| f.status() != Status::Cancelled).collect();
    let done = live.iter().filter(|f| matches!(f.status(), Status::Shipped | Status::Delivered)).count();
    let some =
        live.iter().any(|f| matches!(f.status(), Status::Shipped | Status::Delivered | Status::PartiallyShipped));
    let to = if !live.is_empty() && done == live.len() {
        OrderStatus::Fulfilled
    } else if some {
        OrderStatus::PartiallyFulfilled
    } else {
        return Ok(());
    };
    let order = crate::orders::store::find_order(conn, order_id)?.ok_or(ApiError::NotFound)?;
    if order.status() != to {
        crate::orders::service::transition(
            conn,
            &order,
            to,
            Actor::System,
            "shipped by the fulfillment partner",
            false,
        )?;
    }
    Ok(())
}

/// A partner's report on a shipped fulfillment: delivered, or a problem (a code, never free text).
pub async fn report(
    state: &AppState,
    partner_id: &str,
    reference: String,
    to: Status,
    code: Option<String>,
) -> Result<Status, ApiError> {
    let (partner, now) = (partner_id.to_owned(), state.clock.now());
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                use crate::db::schema::fulfillments;
                use diesel::prelude::*;
                let f = store::by_reference(conn, &partner, &reference)?.ok_or(ApiError::NotFound)?;
                let from = f.status();
                if from == to && to == Status::Delivered {
                    return Ok(to); // a repeat
                }
                let allowed = match to {
                    Status::Delivered => matches!(from, Status::Shipped | Status::Exception),
                    _ => from.open() || matches!(from, Status::Shipped | Status::Exception),
                };
                if !allowed {
                    return Err(ApiError::conflict(
                        "illegal_transition",
                        format!("a fulfillment that is {} cannot become {}", from.as_str(), to.as_str()),
                    ));
                }
                diesel::update(fulfillments::table.find(&f.id))
                    .set((
                        fulfillments::status.eq(to.as_str()),
                        fulfillments::updated_at.eq(now),
                        fulfillments::delivered_at.eq(if to == Status::Delivered { Some(now) } else { f.delivered_at }),
                        fulfillments::exception.eq(code.clone().or(f.exception.clone())),
                    ))
                    .execute(conn)?;
                if to == Status::Delivered {
                    advance_order(conn, &f.order_id)?;
                }
                Ok::<_, ApiError>(to)
            })
        })
        .await
}

/// Admin: give a fulfillment to another partner (or a first one). It gets a new reference — the old
/// partner's no longer opens anything — and is ready again for the new partner.
pub async fn assign(state: &AppState, staff_id: &str, id: &str, partner_id: &str) -> Result<FulfillmentRow, ApiError> {
    let (fid, partner, staff, now) = (id.to_owned(), partner_id.to_owned(), staff_id.to_owned(), state.clock.now());
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                use crate::db::schema::fulfillments;
                use diesel::prelude::*;
                let f = store::find(conn, &fid)?.ok_or(ApiError::NotFound)?;
                if !(f.status().open() || f.status() == Status::Unassigned) || f.status() == Status::PartiallyShipped {
                    return Err(ApiError::conflict(
                        "fulfillment_not_reassignable",
                        "only a fulfillment nothing of which has shipped can change partner",
                    ));
                }
                if !crate::partners::store::partner_exists(conn, &partner)? {
                    return Err(ApiError::validation("partner_id", "unknown_partner"));
                }
                let reference = new_reference();
                diesel::update(fulfillments::table.find(&f.id))
                    .set((
                        fulfillments::partner_id.eq(&partner),
                        fulfillments::reference.eq(&reference),
                        fulfillments::status.eq(Status::Ready.as_str()),
                        fulfillments::acknowledged_at.eq(None::<NaiveDateTime>),
                        fulfillments::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                super::notices::enqueue(conn, &partner, "fulfillment.ready", &reference, now)?;
                crate::audit::record(conn, &staff, "fulfillment.assign", Some(&f.id))?;
                store::find(conn, &f.id)?.ok_or(ApiError::NotFound)
            })
        })
        .await
}

/// Seed `count` fulfillments for `partner_id` (benchmarks: `leancart seed-fulfillments`), their
/// customers `people` distinct persons (each with a key and sealed fields, as a real checkout makes).
pub async fn seed(state: &AppState, partner_id: &str, count: i64, people: usize) -> Result<(), ApiError> {
    use crate::kernel::pii::{AddressText, Email, PersonName, Phone, PostalCode};
    use crate::privacy::sealing::{Field, Sealed};
    let tag = crate::kernel::ids::random_base62()[..6].to_lowercase();
    let sealing = |e| ApiError::internal(format!("sealing: {e}"));
    let mut pool = Vec::with_capacity(people);
    for i in 0..people {
        let email = Email::parse(&format!("seed{i}@{tag}.example")).map_err(|_| ApiError::internal("seed e-mail"))?;
        let key = state.vault.for_email(&email).await?;
        let k = &key.key;
        let text = |v: &str| AddressText::parse(v).map_err(|_| ApiError::internal("seed text"));
        pool.push(store::SeedPerson {
            subject_id: key.subject.clone(),
            email: Sealed::seal(k, Field::Email, &email).map_err(sealing)?.stored().to_owned(),
            name: Sealed::seal(
                k,
                Field::ShipName,
                &PersonName::parse(&format!("Customer {i}")).map_err(|_| ApiError::internal("seed name"))?,
            )
            .map_err(sealing)?
            .stored()
            .to_owned(),
            line1: Sealed::seal(k, Field::ShipLine1, &text(&format!("{} Seed Street", i + 1))?)
                .map_err(sealing)?
                .stored()
                .to_owned(),
            city: Sealed::seal(k, Field::ShipCity, &text("Berlin")?).map_err(sealing)?.stored().to_owned(),
            postal_code: Sealed::seal(
                k,
                Field::ShipPostalCode,
                &PostalCode::parse("10115").map_err(|_| ApiError::internal("seed postal code"))?,
            )
            .map_err(sealing)?
            .stored()
            .to_owned(),
            phone: Sealed::seal(
                k,
                Field::ShipPhone,
                &Phone::parse("+49 30 1234567").map_err(|_| ApiError::internal("seed phone"))?,
            )
            .map_err(sealing)?
            .stored()
            .to_owned(),
        });
    }
    let (partner, now) = (partner_id.to_owned(), state.clock.now());
    state
        .db
        .run(move |conn| {
            use crate::db::schema::product_variants as v;
            use diesel::prelude::*;
            if !crate::partners::store::partner_exists(conn, &partner)? {
                return Err(ApiError::NotFound);
            }
            let variant: (String, String) = v::table
                .filter(v::requires_shipping.eq(true))
                .order(v::id.asc())
                .select((v::id, v::sku))
                .first(conn)
                .optional()?
                .ok_or_else(|| ApiError::internal("no shippable variant: seed the catalog first"))?;
            let variant = (variant.0, variant.1.clone(), format!("Product {}", variant.1));
            write_transaction(conn, |conn| store::seed(conn, &partner, &variant, &pool, count, &tag, now))?;
            Ok(())
        })
        .await
}
