//! An order's life after placement (`placement.rs`): payments drive it (the payment listener, fed by
//! placement, webhooks and the reconciliation sweep), reservations expire, staff cancel and refund.
//! Every move is checked against the state machine and recorded in the order's history.

use super::model::{Actor, OrderEventId, OrderEventRow, OrderId, OrderLineRow, OrderRow, OrderStatus};
use super::store;
use crate::billing::model::{PaymentChange, PaymentRow, PaymentStatus};
use crate::db::{DbConn, dialect};
use crate::error::ApiError;
use crate::kernel::money::Money;
use crate::kernel::secret::hash_token;
use crate::kernel::time;
use crate::state::AppState;
use chrono::NaiveDateTime;
use serde_json::json;

/// Record a transition if the state machine allows it; `Ok(false)` when the order already moved on
/// (or the transition is not legal and `strict` is off). Staff calls are strict: an illegal
/// transition is a 409 `illegal_transition`.
pub fn transition(
    conn: &mut DbConn,
    order: &OrderRow,
    to: OrderStatus,
    actor: Actor,
    reason: &str,
    strict: bool,
) -> Result<bool, ApiError> {
    let from = order.status();
    if !from.can_become(to) {
        if strict {
            return Err(ApiError::conflict(
                "illegal_transition",
                format!("an order that is {} cannot become {}", from.as_str(), to.as_str()),
            )
            .with_extra(json!({ "from": from.as_str(), "to": to.as_str() })));
        }
        if from != to {
            tracing::info!(order_id = %order.id, from = from.as_str(), to = to.as_str(), "ignored a transition the state machine does not allow");
        }
        return Ok(false);
    }
    let entry = event_row(&order.id, Some(from), to, actor, reason, time::now());
    let moved = store::Move { clear_reservation: !to.holds_reservation(), paid_by: None, entry: &entry };
    if !store::move_order(conn, &moved)? {
        return Err(ApiError::conflict("order_changed", "the order changed concurrently; retry"));
    }
    Ok(true)
}

/// A history entry: the order went `from` → `to` (`from` is `None` for its first entry).
pub(super) fn event_row(
    order_id: &str,
    from: Option<OrderStatus>,
    to: OrderStatus,
    actor: Actor,
    reason: &str,
    now: NaiveDateTime,
) -> OrderEventRow {
    OrderEventRow {
        id: OrderEventId::generate().into_string(),
        order_id: order_id.to_owned(),
        from_status: from.map(|f| f.as_str().to_owned()),
        to_status: to.as_str().to_owned(),
        actor: actor.as_str().to_owned(),
        reason: reason.to_owned(),
        created_at: now,
    }
}

pub(super) fn outbox_id() -> String {
    crate::mail::store::new_message_id()
}

/// Queue the order confirmation (once per order; the outbox row refers to the order, nothing more).
fn queue_confirmation(conn: &mut DbConn, order_id: &str, now: NaiveDateTime) -> Result<(), ApiError> {
    store::enqueue_outbox(conn, &outbox_id(), "order_confirmation", order_id, now)?;
    Ok(())
}

pub(super) fn paid_reason(payment: PaymentStatus) -> &'static str {
    if payment == PaymentStatus::Succeeded { "payment succeeded" } else { "payment authorized" }
}

/// After a failed payment the shopper may try another card: reopen the cart with the details the order
/// took from it (they were cleared from the cart at checkout).
fn reopen_cart(conn: &mut DbConn, order: &OrderRow) -> Result<(), ApiError> {
    let Some(mut cart) = crate::checkout::store::find_cart(conn, &order.cart_id)? else { return Ok(()) };
    if cart.status != "checked_out" {
        return Ok(());
    }
    cart.status = "open".into();
    cart.subject_id = order.subject_id.clone();
    cart.email = Some(order.email.clone());
    cart.ship_name = order.ship_name.clone();
    cart.ship_line1 = order.ship_line1.clone();
    cart.ship_line2 = order.ship_line2.clone();
    cart.ship_city = order.ship_city.clone();
    cart.ship_region = order.ship_region.clone();
    cart.ship_postal_code = order.ship_postal_code.clone();
    cart.ship_country = order.ship_country.clone();
    cart.ship_phone = order.ship_phone.clone();
    cart.recipient_consent_at = order.recipient_consent_at;
    cart.updated_at = time::now();
    crate::checkout::store::update_cart(conn, &cart)?;
    Ok(())
}

/// Put an unpaid order's reserved stock back, exactly once.
pub fn release_stock(conn: &mut DbConn, order_id: &str) -> Result<bool, ApiError> {
    if !store::claim_stock_release(conn, order_id, time::now())? {
        return Ok(false);
    }
    for line in store::lines_of(conn, order_id)? {
        store::return_stock(conn, &line.variant_id, line.quantity)?;
    }
    Ok(true)
}

/// The payment listener: payments drive their order (called inside billing's transaction).
/// `hold_until`: until when an order that now waits for the shopper's card authentication keeps its
/// stock (now + the action hold).
pub fn on_payment_change(conn: &mut DbConn, change: &PaymentChange, hold_until: NaiveDateTime) -> Result<(), ApiError> {
    let Some(order_id) = change.payment.order_id.as_deref() else {
        return Ok(());
    };
    // The common case, the payment of a freshly placed order succeeding: the move to `paid` as a
    // compare-and-set on the status and the paying payment, no read first.
    if change.from != change.to
        && matches!(change.to, PaymentStatus::Succeeded | PaymentStatus::RequiresCapture)
        && change.payment.amount_refunded == 0
    {
        let (from, to) = (OrderStatus::PendingPayment, OrderStatus::Paid);
        let now = time::now();
        let entry = event_row(order_id, Some(from), to, Actor::Processor, paid_reason(change.to), now);
        let paid = store::Move { clear_reservation: true, paid_by: Some(&change.payment.id), entry: &entry };
        if store::move_order(conn, &paid)? {
            queue_confirmation(conn, order_id, now)?;
            return Ok(());
        }
    }
    let Some(order) = store::find_order(conn, order_id)? else {
        return Ok(());
    };
    if order.payment_id.as_deref() != Some(change.payment.id.as_str()) {
        return Ok(());
    }
    let p = &change.payment;
    if change.from != change.to {
        match change.to {
            PaymentStatus::Succeeded | PaymentStatus::RequiresCapture => {
                if transition(conn, &order, OrderStatus::Paid, Actor::Processor, paid_reason(change.to), false)? {
                    queue_confirmation(conn, &order.id, time::now())?;
                }
            }
            PaymentStatus::RequiresAction => {
                if transition(
                    conn,
                    &order,
                    OrderStatus::AwaitingPaymentAction,
                    Actor::Processor,
                    "card authentication required",
                    false,
                )? {
                    // A shopper who does not authenticate within the hold loses the stock to others.
                    store::shorten_reservation(conn, &order.id, hold_until)?;
                }
            }
            PaymentStatus::Failed => {
                let reason = format!("payment failed: {}", p.failure_code.as_deref().unwrap_or("declined"));
                if transition(conn, &order, OrderStatus::PaymentFailed, Actor::Processor, &reason, false)? {
                    release_stock(conn, &order.id)?;
                    // The shopper may try again with another card.
                    reopen_cart(conn, &order)?;
                }
            }
            PaymentStatus::Canceled => {
                if order.status().holds_reservation()
                    && transition(conn, &order, OrderStatus::Cancelled, Actor::Processor, "payment canceled", false)?
                {
                    release_stock(conn, &order.id)?;
                }
            }
            PaymentStatus::Pending => {}
        }
    }
    // Refunds (the payment stays `succeeded`; its refunded amount grows).
    if p.amount_refunded == 0 {
        return Ok(());
    }
    let order = store::find_order(conn, order_id)?.unwrap_or(order);
    if p.amount_refunded > 0
        && matches!(
            order.status(),
            OrderStatus::Paid
                | OrderStatus::PartiallyFulfilled
                | OrderStatus::Fulfilled
                | OrderStatus::PartiallyRefunded
        )
    {
        let to = if p.amount_refunded >= order.total { OrderStatus::Refunded } else { OrderStatus::PartiallyRefunded };
        if to != order.status() {
            transition(
                conn,
                &order,
                to,
                Actor::Processor,
                &format!("refunded {} of {}", p.amount_refunded, order.total),
                false,
            )?;
        }
    }
    Ok(())
}

pub async fn find(state: &AppState, order_id: &str) -> Result<OrderRow, ApiError> {
    let id = order_id.to_owned();
    state.db.run(move |conn| store::find_order(conn, &id)?.ok_or(ApiError::NotFound)).await
}

/// An order's lines and current payment: what every view of an order shows.
pub fn lines_and_payment(
    conn: &mut DbConn,
    order: &OrderRow,
) -> Result<(Vec<OrderLineRow>, Option<PaymentRow>), ApiError> {
    let lines = store::lines_of(conn, &order.id)?;
    let payment = match &order.payment_id {
        Some(p) => crate::billing::store::find_payment(conn, p)?,
        None => None,
    };
    Ok((lines, payment))
}

/// The order, if `token` opens it. Unknown id and wrong token look the same (404).
pub fn authorize(conn: &mut DbConn, order_id: &str, token: &str) -> Result<OrderRow, ApiError> {
    let id = OrderId::parse(order_id).ok_or(ApiError::NotFound)?;
    let order = store::find_order(conn, id.as_str())?.ok_or(ApiError::NotFound)?;
    if !crate::kernel::secret::constant_time_eq(order.access_token_hash.as_bytes(), hash_token(token).as_bytes()) {
        return Err(ApiError::NotFound);
    }
    Ok(order)
}

/// Seal the personal fields of orders written before sealing existed (start-up).
pub async fn seal_earlier_orders(db: &crate::db::Db, vault: &crate::privacy::vault::Vault) -> Result<usize, ApiError> {
    let rows = crate::privacy::personal::Unsealed {
        list: store::unsealed,
        parts: |order: &OrderRow| (order.id.clone(), order.sealed()),
        seal: store::seal_in_place,
    };
    crate::privacy::personal::seal_earlier(db, vault, rows).await
}

/// Release the stock of unpaid orders whose reservation ran out: ask the processor first (the
/// payment may have succeeded unheard), cancel the payment if it has not, and the listener cancels the
/// order and returns its stock. Safe to run in several processes at once.
pub async fn expire_reservations(state: &AppState, now: NaiveDateTime) -> Result<usize, ApiError> {
    let due = state.db.run(move |conn| Ok(store::list_expired_reservations(conn, now, 100)?)).await?;
    let mut released = 0;
    for order in due {
        let Some(payment_id) = order.payment_id.clone() else {
            continue;
        };
        let refreshed = state.billing.refresh(&state.db, &payment_id).await;
        let current = find(state, &order.id).await?;
        if !current.status().holds_reservation() {
            continue;
        }
        if refreshed.as_ref().is_ok_and(|o| o.unresolved) || refreshed.is_err() {
            // The processor cannot tell us yet whether money moved: keep the reservation for now.
            continue;
        }
        match state.billing.cancel(&state.db, &payment_id).await {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(order_id = %order.id, code = e.code(), "could not cancel the payment of an expired reservation");
                continue;
            }
        }
        // The payment listener normally cancels the order and returns its stock; make sure of it.
        let id = order.id.clone();
        let done = state
            .db
            .run(move |conn| {
                dialect::write_transaction(conn, |conn| {
                    let o = store::find_order(conn, &id)?.ok_or(ApiError::NotFound)?;
                    if o.status().holds_reservation() {
                        transition(conn, &o, OrderStatus::Cancelled, Actor::System, "reservation expired", false)?;
                    }
                    release_stock(conn, &id)?;
                    Ok(store::find_order(conn, &id)?.is_some_and(|o| o.stock_released))
                })
            })
            .await?;
        if done {
            released += 1;
        }
    }
    Ok(released)
}

/// What a staff note about an order is stored as when its customer was erased (no key to seal it).
pub const NOTE_NOT_KEPT: &str = "(note not kept: the customer's personal data was erased)";

/// A staff note about `order`, sealed under its customer's key: free text may name a person, so it is
/// personal data and goes with the customer's other data on erasure.
pub async fn seal_note(state: &AppState, order: &OrderRow, note: &str) -> Result<String, ApiError> {
    use crate::privacy::sealing::{Field, Sealed};
    let Some(key) = state.vault.key_of_opt(order.subject_id.as_deref()).await? else {
        return Ok(NOTE_NOT_KEPT.to_owned());
    };
    let sealed = Sealed::seal(&key.key, Field::StaffNote, &note.to_owned())
        .map_err(|e| ApiError::internal(format!("sealing: {e}")))?;
    Ok(sealed.stored().to_owned())
}

/// A stored staff note or system reason as it reads: system reasons are in clear (fixed wording), a
/// staff note opens with its customer's key.
pub fn read_note(stored: &str, key: Option<&crate::privacy::sealing::DataKey>) -> String {
    use crate::privacy::sealing::{Field, Sealed, is_sealed};
    if !is_sealed(stored) {
        return stored.to_owned();
    }
    key.and_then(|k| Sealed::<String>::from_stored(stored.to_owned()).open(k, Field::StaffNote))
        .unwrap_or_else(|| NOTE_NOT_KEPT.to_owned())
}

/// Staff: cancel an unpaid order, or a paid order that has not shipped (refunding it in full).
pub async fn cancel(state: &AppState, order_id: &str, reason: &str) -> Result<OrderRow, ApiError> {
    let order = find(state, order_id).await?;
    let sealed_reason = seal_note(state, &order, reason).await?;
    let reason = sealed_reason.as_str();
    match order.status() {
        s if s.holds_reservation() => {
            if let Some(pid) = &order.payment_id {
                state.billing.cancel(&state.db, pid).await?;
            }
            let id = order.id.clone();
            let reason = reason.to_owned();
            state
                .db
                .run(move |conn| {
                    dialect::write_transaction(conn, |conn| {
                        let o = store::find_order(conn, &id)?.ok_or(ApiError::NotFound)?;
                        if o.status() != OrderStatus::Cancelled {
                            transition(conn, &o, OrderStatus::Cancelled, Actor::Staff, &reason, true)?;
                            crate::fulfillment::service::order_cancelled(conn, &o.id, crate::kernel::time::now())?;
                        }
                        release_stock(conn, &id)?;
                        Ok(())
                    })
                })
                .await?;
        }
        OrderStatus::Paid => {
            let id = order.id.clone();
            let why = reason.to_owned();
            state
                .db
                .run(move |conn| {
                    dialect::write_transaction(conn, |conn| {
                        let o = store::find_order(conn, &id)?.ok_or(ApiError::NotFound)?;
                        transition(conn, &o, OrderStatus::Cancelled, Actor::Staff, &why, true)?;
                        crate::fulfillment::service::order_cancelled(conn, &o.id, crate::kernel::time::now())?;
                        // Sold stock goes back on the shelf.
                        if store::claim_stock_release(conn, &id, time::now())? {
                            for line in store::lines_of(conn, &id)? {
                                store::return_stock(conn, &line.variant_id, line.quantity - line.quantity_refunded)?;
                            }
                        }
                        Ok(())
                    })
                })
                .await?;
            if let Some(pid) = &order.payment_id {
                let payment = state.billing.find(&state.db, pid).await?;
                match payment.status() {
                    PaymentStatus::RequiresCapture => {
                        state.billing.cancel(&state.db, pid).await?;
                    }
                    PaymentStatus::Succeeded if payment.amount_captured > payment.amount_refunded => {
                        state.billing.refund(&state.db, pid, None, Some("requested_by_customer".into())).await?;
                    }
                    _ => {}
                }
            }
        }
        other => {
            return Err(ApiError::conflict(
                "illegal_transition",
                format!("an order that is {} cannot be cancelled", other.as_str()),
            ));
        }
    }
    find(state, order_id).await
}

/// What to refund: an amount, or lines (with their share of tax), optionally putting units back in stock.
pub struct RefundRequest {
    pub amount: Option<i64>,
    pub lines: Vec<(String, i32)>,
    pub restock: bool,
    pub reason: Option<String>,
}

fn refundable(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Paid
            | OrderStatus::PartiallyFulfilled
            | OrderStatus::Fulfilled
            | OrderStatus::PartiallyRefunded
            | OrderStatus::Cancelled
    )
}

/// Staff: refund part or all of a paid order through the processor.
///
/// Refunds of one order run one after the other: the transaction that decides a refund locks the
/// order, counts the lines' units as refunded with conditional updates (never beyond what a line
/// holds), and billing's transaction checks the amount against what the payment has left under the
/// payment's lock. If the processor refuses, the units are given back; restocking waits for the
/// processor's yes.
pub async fn refund(state: &AppState, order_id: &str, req: RefundRequest) -> Result<OrderRow, ApiError> {
    let mut seen = std::collections::HashSet::new();
    for (i, (line_id, qty)) in req.lines.iter().enumerate() {
        if !seen.insert(line_id.as_str()) {
            return Err(ApiError::Validation(vec![
                crate::error::FieldError::new(format!("lines[{i}].line_id"), "duplicate")
                    .with_message("names a line already in this refund: give each line once, with all its units"),
            ]));
        }
        if *qty <= 0 {
            return Err(ApiError::validation(format!("lines[{i}].quantity"), "out_of_range"));
        }
    }
    match (req.lines.is_empty(), req.amount) {
        (true, None) => return Err(ApiError::validation("amount", "required")),
        (false, Some(_)) => return Err(ApiError::validation("amount", "not_with_lines")),
        _ => {}
    }
    let order = find(state, order_id).await?;
    let reason = match &req.reason {
        Some(note) => Some(seal_note(state, &order, note).await?),
        None => None,
    };
    let id = order_id.to_owned();
    let lines_req = req.lines.clone();
    let (payment_id, amount) = state
        .db
        .run_priority(move |conn| {
            dialect::write_transaction(conn, |conn| {
                if !store::lock_order(conn, &id)? {
                    return Err(ApiError::NotFound);
                }
                let order = store::find_order(conn, &id)?.ok_or(ApiError::NotFound)?;
                if !refundable(order.status()) {
                    return Err(ApiError::conflict("order_not_refundable", "only a paid order can be refunded"));
                }
                let payment_id = order
                    .payment_id
                    .clone()
                    .ok_or_else(|| ApiError::conflict("order_not_refundable", "the order has no payment"))?;
                let amount = match req.amount {
                    Some(amount) => amount, // by amount (no lines: checked above)
                    None => lines_amount(conn, &order, &lines_req)?,
                };
                Ok((payment_id, amount))
            })
        })
        .await?;
    let refunded = state.billing.refund(&state.db, &payment_id, Some(amount), reason).await;
    if !req.lines.is_empty() {
        let id = order_id.to_owned();
        let restock = req.restock && refunded.is_ok();
        let undo = refunded.is_err();
        let lines_req = req.lines.clone();
        state
            .db
            .run(move |conn| {
                dialect::write_transaction(conn, |conn| {
                    let lines = store::lines_of(conn, &id)?;
                    for (line_id, qty) in &lines_req {
                        let Some(line) = lines.iter().find(|l| &l.id == line_id) else { continue };
                        if undo {
                            store::undo_refunded_quantity(conn, line_id, *qty)?;
                        } else if restock {
                            store::return_stock(conn, &line.variant_id, *qty)?;
                        }
                    }
                    Ok::<_, ApiError>(())
                })
            })
            .await?;
    }
    refunded?;
    find(state, order_id).await
}

/// The amount of a refund by lines, counting their units as refunded (inside the transaction that
/// holds the order's lock): the units' prices and their share of the tax.
fn lines_amount(conn: &mut DbConn, order: &OrderRow, req: &[(String, i32)]) -> Result<i64, ApiError> {
    let lines = store::lines_of(conn, &order.id)?;
    let mut merchandise: i64 = 0;
    for (i, (line_id, qty)) in req.iter().enumerate() {
        let line = lines
            .iter()
            .find(|l| &l.id == line_id)
            .ok_or_else(|| ApiError::validation(format!("lines[{i}].line_id"), "not_found"))?;
        if !store::add_refunded_quantity(conn, &order.id, line_id, *qty)? {
            return Err(ApiError::validation(format!("lines[{i}].quantity"), "out_of_range"));
        }
        merchandise += line.unit_price * i64::from(*qty);
    }
    // The lines' share of the tax (exclusive prices); inclusive prices already contain it.
    let tax_share = if order.prices_include_tax || order.subtotal == 0 {
        0
    } else {
        Money::new(merchandise, order.currency.parse().map_err(|_| ApiError::internal("order currency"))?)
            .checked_mul_ratio(order.tax_total, order.subtotal + order.shipping_total)?
            .amount
    };
    Ok(merchandise + tax_share)
}
