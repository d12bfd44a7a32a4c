//! Order placement and lifecycle.
//!
//! Placement: claim the Idempotency-Key → one write transaction that reserves stock with conditional
//! updates (no oversell), creates the order, its lines, its first history entry and the `pending`
//! payment record, and checks the cart out → the processor call, outside any transaction → the answer
//! drives the order through the payment listener. Payments drive orders from then on (webhooks, the
//! reconciliation sweep), and every transition is checked against the state machine and recorded.

use super::model::{
    Actor, ORDER_TOKEN_PREFIX, OrderEventId, OrderEventRow, OrderId, OrderLineId, OrderLineRow, OrderRow, OrderStatus,
};
use super::store;
use crate::billing::model::{PaymentChange, PaymentRow, PaymentStatus};
use crate::billing::service::{Billing, NewPayment, PaymentOutcome, SuccessWrite};
use crate::checkout::service as carts;
use crate::db::{DbConn, dialect};
use crate::error::ApiError;
use crate::http::idempotency::{self, Begin, IdempotencyKey};
use crate::kernel::ids::random_base62;
use crate::kernel::money::Money;
use crate::kernel::secret::{hash_token, issue_token};
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
    let now = time::now();
    let reserved = if to.holds_reservation() { None } else { Some(None) };
    if !store::set_status(conn, &order.id, from.as_str(), to.as_str(), reserved, now)? {
        return Err(ApiError::conflict("order_changed", "the order changed concurrently; retry"));
    }
    record_event(conn, &order.id, Some(from), to, actor, reason, now)?;
    Ok(true)
}

/// A history entry: the order went `from` → `to` (`from` is `None` for its first entry).
fn event_row(
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

/// Append to an order's history.
fn record_event(
    conn: &mut DbConn,
    order_id: &str,
    from: Option<OrderStatus>,
    to: OrderStatus,
    actor: Actor,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    store::insert_event(conn, &event_row(order_id, from, to, actor, reason, now))?;
    Ok(())
}

fn outbox_id() -> String {
    format!("msg_{}", random_base62())
}

/// Queue the order confirmation (once per order; the outbox row refers to the order, nothing more).
fn queue_confirmation(conn: &mut DbConn, order_id: &str, now: NaiveDateTime) -> Result<(), ApiError> {
    store::enqueue_outbox(conn, &outbox_id(), "order_confirmation", order_id, now)?;
    Ok(())
}

fn paid_reason(payment: PaymentStatus) -> &'static str {
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
/// `action_hold`: how long an order waiting for the shopper's card authentication keeps its stock.
pub fn on_payment_change(
    conn: &mut DbConn,
    change: &PaymentChange,
    action_hold: chrono::Duration,
) -> Result<(), ApiError> {
    let Some(order_id) = change.payment.order_id.as_deref() else {
        return Ok(());
    };
    // The common case, the payment of a freshly placed order succeeding: one compare-and-set (with its
    // history entry and confirmation), no read.
    if change.from != change.to
        && matches!(change.to, PaymentStatus::Succeeded | PaymentStatus::RequiresCapture)
        && change.payment.amount_refunded == 0
    {
        let (from, to) = (OrderStatus::PendingPayment, OrderStatus::Paid);
        debug_assert!(from.can_become(to));
        let event = event_row(order_id, Some(from), to, Actor::Processor, paid_reason(change.to), time::now());
        if store::mark_placed_order_paid(conn, &event, &change.payment.id, &outbox_id())? {
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
                    store::shorten_reservation(conn, &order.id, time::now() + action_hold)?;
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

/// What `POST /v1/orders` answers.
pub struct Placed {
    pub order: OrderRow,
    pub lines: Vec<OrderLineRow>,
    pub payment: Option<PaymentRow>,
    pub access_token: String,
    pub next_action: Option<NextAction>,
    pub replayed: bool,
}

#[derive(Debug, Clone)]
pub struct NextAction {
    pub url: String,
    pub client_secret: Option<String>,
}

/// The result of a placement: a created order, or a problem to answer with (replayable).
pub enum PlaceResult {
    Created(Box<Placed>),
    Problem { status: u16, body: String, replayed: bool },
}

fn request_hash(cart_id: &str, cart_token: &str, payment_method: &str) -> String {
    hash_token(&format!("{cart_id}\0{}\0{payment_method}", hash_token(cart_token)))
}

enum Claimed {
    Created(Box<(OrderRow, Vec<OrderLineRow>, PaymentRow)>),
    Earlier(Begin),
}

/// How many times a placement given up for contention is tried in all.
const PLACEMENT_ATTEMPTS: u32 = 3;

/// Place an order from a cart, exactly once per Idempotency-Key.
pub async fn place(
    state: &AppState,
    client: std::net::IpAddr,
    key: IdempotencyKey,
    cart_id: String,
    cart_token: String,
    payment_method: String,
) -> Result<PlaceResult, ApiError> {
    let key = key.within(&cart_token);
    let key_hash = key.hash("orders");
    // Before anything is reserved: this client may not hold more unpaid orders at once. A retry of a
    // placement already made (its key is known) is let through: it reserves nothing new, it replays.
    let ticket = match state.holds.admit(client, &state.db).await {
        Ok(ticket) => Some(ticket),
        Err(refused) => {
            let kh = key_hash.clone();
            let known = state.db.run(move |conn| Ok(idempotency::is_live(conn, &kh, time::now())?)).await?;
            if !known {
                return Err(refused);
            }
            None
        }
    };
    let fingerprint = request_hash(&cart_id, &cart_token, &payment_method);
    let ttl = chrono::Duration::from_std(state.config.idempotency_ttl).unwrap_or(chrono::Duration::hours(24));
    let policy = state.policy.clone();
    let billing = state.billing.clone();
    let ttl_reservation =
        chrono::Duration::from_std(state.config.reservation_ttl).unwrap_or(chrono::Duration::minutes(30));
    let max_units = state.config.max_units_per_order;
    let token = issue_token(ORDER_TOKEN_PREFIX);
    let token_hash = token.hash.clone();
    let sealed = key.seal(token.plaintext.expose()).ok_or_else(|| ApiError::internal("sealing the order token"))?;
    let kh = key_hash.clone();
    let pm = payment_method.clone();
    let order_id = OrderId::generate();
    // One transaction: claim the key, reserve stock, create the order. If anything fails, nothing is
    // kept — not even the key, which may then be used again; so one given up for contention (a deadlock
    // among placements of the same hot items) simply runs again.
    let begun = state
        .db
        .run_priority(move |conn| {
            dialect::write_transaction_retrying(conn, PLACEMENT_ATTEMPTS, |conn| {
                let claim = idempotency::Claim {
                    key_hash: &kh,
                    scope: "orders",
                    request_hash: &fingerprint,
                    resource_id: order_id.as_str(),
                    sealed_secret: &sealed,
                };
                match idempotency::begin(conn, &claim, time::now(), ttl)? {
                    Begin::New => {}
                    other => return Ok(Claimed::Earlier(other)),
                }
                let (cart, lines) = carts::authorize(conn, &cart_id, &cart_token)?;
                create_order(
                    conn,
                    cart,
                    lines,
                    &policy,
                    &billing,
                    &pm,
                    order_id.clone(),
                    token_hash.clone(),
                    ttl_reservation,
                    max_units,
                )
                .map(|(o, l, p)| Claimed::Created(Box::new((o, l, p))))
            })
        })
        .await?;
    let (order, lines, payment) = match begun {
        Claimed::Created(created) => *created,
        Claimed::Earlier(Begin::Completed(r)) => return replay(state, &key, r).await,
        Claimed::Earlier(Begin::Resume(r)) => {
            let order_id = r.resource_id.clone().unwrap_or_default();
            let order = find(state, &order_id).await?;
            if let Some(pid) = &order.payment_id {
                let _ = state.billing.refresh(&state.db, pid).await;
            }
            let result = finish(state, &key_hash, &order_id).await?;
            return Ok(with_token(result, &key, r.sealed_secret.as_deref(), true));
        }
        Claimed::Earlier(Begin::New) => return Err(ApiError::internal("idempotency claim inconsistent")),
    };

    // The processor call, outside any transaction; its answer drives the order.
    // The answer is written and the response built in the same blocking hop as the settlement.
    let (kh, oid) = (key_hash.clone(), order.id.clone());
    let (paid_kh, paid_lines) = (key_hash.clone(), lines.clone());
    let charged = state
        .billing
        .charge_then(
            &state.db,
            &payment,
            Some(format!("Order {}", order.number)),
            move |conn, write| settle_paid(conn, write, &paid_kh, paid_lines),
            move |conn, outcome| respond(conn, &kh, &oid, Some(lines), Some(outcome)),
        )
        .await;
    let result = match charged {
        Ok((_, result)) => result,
        Err(e) => {
            tracing::warn!(order_id = %order.id, code = e.code(), "payment refused");
            finish(state, &key_hash, &order.id).await?
        }
    };
    // An order still unpaid keeps the client's place as long as it keeps its stock.
    let hold = match &result {
        PlaceResult::Created(p) if p.order.status() == OrderStatus::AwaitingPaymentAction => {
            Some(state.config.action_hold)
        }
        PlaceResult::Created(p) if p.order.status().holds_reservation() => Some(state.config.reservation_ttl),
        _ => None,
    };
    if let Some(ticket) = ticket {
        ticket.settle(&order.id, hold);
    }
    Ok(match result {
        PlaceResult::Created(mut placed) => {
            placed.access_token = token.plaintext.expose().to_owned();
            PlaceResult::Created(placed)
        }
        other => other,
    })
}

#[allow(clippy::too_many_arguments)]
fn create_order(
    conn: &mut DbConn,
    cart: crate::checkout::model::CartRow,
    lines: Vec<crate::checkout::model::PricedLine>,
    policy: &crate::shipping::policy::ShopPolicy,
    billing: &Billing,
    payment_method: &str,
    order_id: OrderId,
    token_hash: String,
    reservation: chrono::Duration,
    max_units: u32,
) -> Result<(OrderRow, Vec<OrderLineRow>, PaymentRow), ApiError> {
    if !cart.is_open() {
        return Err(ApiError::conflict("cart_checked_out", "this cart has already been checked out"));
    }
    let view = carts::view(cart, lines, policy)?;
    if !view.missing.is_empty() {
        return Err(ApiError::Unprocessable {
            code: "checkout_incomplete",
            detail: "the cart is missing what checkout needs".into(),
            extra: Some(json!({ "missing": view.missing })),
        });
    }
    let units: i64 = view.lines.iter().map(|l| i64::from(l.quantity)).sum();
    if units > i64::from(max_units) {
        return Err(ApiError::Unprocessable {
            code: "order_too_large",
            detail: "the order holds more units than one order may; split it or ask the shop".into(),
            extra: Some(json!({ "units": units, "max_units": max_units })),
        });
    }
    let cart = view.cart;
    let now = time::now();
    let t = view.totals;
    let order = OrderRow {
        id: order_id.into_string(),
        number: String::new(), // given by the INSERT
        access_token_hash: token_hash,
        cart_id: cart.id.clone(),
        status: OrderStatus::PendingPayment.as_str().into(),
        currency: cart.currency.clone(),
        subtotal: t.subtotal.amount,
        shipping_total: t.shipping.amount,
        tax_total: t.tax.amount,
        discount_total: t.discount.amount,
        total: t.total.amount,
        prices_include_tax: t.prices_include_tax,
        email: cart.email.clone().ok_or_else(|| ApiError::validation("email", "required"))?,
        ship_name: cart.ship_name.clone(),
        ship_line1: cart.ship_line1.clone(),
        ship_line2: cart.ship_line2.clone(),
        ship_city: cart.ship_city.clone(),
        ship_region: cart.ship_region.clone(),
        ship_postal_code: cart.ship_postal_code.clone(),
        ship_country: cart.ship_country.clone(),
        ship_phone: cart.ship_phone.clone(),
        shipping_method: cart.shipping_method.clone(),
        is_gift: cart.is_gift,
        recipient_consent_at: cart.recipient_consent_at,
        payment_id: None,
        reserved_until: Some(now + reservation),
        stock_released: false,
        created_at: now,
        updated_at: now,
    };
    let lines: Vec<OrderLineRow> = view
        .lines
        .iter()
        .map(|l| OrderLineRow {
            id: OrderLineId::generate().into_string(),
            order_id: order.id.clone(),
            variant_id: l.variant.id.clone(),
            sku: l.variant.sku.clone(),
            title: format!("{} — {}", l.product_title, l.variant.title),
            unit_price: l.variant.price_amount,
            quantity: l.quantity,
            quantity_refunded: 0,
            line_total: l.line_total.amount,
            requires_shipping: l.variant.requires_shipping,
        })
        .collect();
    let payment = billing.new_payment_row(&NewPayment {
        order_id: Some(order.id.clone()),
        amount: t.total,
        payment_method: payment_method.to_owned(),
        description: None,
    });
    let mut order = order;
    order.payment_id = Some(payment.id.clone());
    let placed = event_row(&order.id, None, OrderStatus::PendingPayment, Actor::Shopper, "order placed", now);
    // No oversell: each line takes its units only if they are there. In variant order: each statement
    // locks its batch of variants in id order, and batches (orders of many lines) follow in that order,
    // so concurrent placements lock shared rows in the same order (no deadlock).
    let mut wanted: Vec<(&str, i32)> = view.lines.iter().map(|l| (l.variant.id.as_str(), l.quantity)).collect();
    wanted.sort_unstable();
    match store::place(conn, &wanted, &cart.id, now, &mut order, &lines, &placed, &payment)? {
        store::Placement::Placed => Ok((order, lines, payment)),
        store::Placement::CartCheckedOut => {
            Err(ApiError::conflict("cart_checked_out", "this cart has already been checked out"))
        }
        store::Placement::OutOfStock(variant_id) => {
            Err(ApiError::conflict("insufficient_stock", "not enough stock left for this order")
                .with_extra(json!({ "variant_id": variant_id })))
        }
    }
}

/// Build the answer from the order as it now is, and complete the idempotency record.
async fn finish(state: &AppState, key_hash: &str, order_id: &str) -> Result<PlaceResult, ApiError> {
    let (kh, id) = (key_hash.to_owned(), order_id.to_owned());
    // No transaction needed: the record is written once, after the order settled.
    state.db.run_priority(move |conn| dialect::write_unit(conn, |conn| respond(conn, &kh, &id, None, None))).await
}

/// PostgreSQL, a placement whose payment succeeded at once (the common case): settle the payment, pay
/// the order and complete the Idempotency-Key record in one statement
/// ([`store::settle_placed_order_paid`]), and answer. `None`, nothing written, when the order or the
/// payment moved meanwhile: the caller settles the general way.
fn settle_paid(
    conn: &mut DbConn,
    write: &SuccessWrite,
    kh: &str,
    lines: Vec<OrderLineRow>,
) -> Result<Option<PlaceResult>, ApiError> {
    let Some(order_id) = write.row.order_id.as_deref() else { return Ok(None) };
    let (from, to) = (OrderStatus::PendingPayment, OrderStatus::Paid);
    debug_assert!(from.can_become(to));
    let event = event_row(order_id, Some(from), to, Actor::Processor, paid_reason(write.to), time::now());
    let Some((order, completed)) = store::settle_placed_order_paid(conn, write, &event, &outbox_id(), kh)? else {
        return Ok(None);
    };
    if !completed {
        idempotency::complete(conn, kh, 201, None)?;
    }
    Ok(Some(PlaceResult::Created(Box::new(Placed {
        order,
        lines,
        payment: Some(write.row.clone()),
        access_token: String::new(),
        next_action: None,
        replayed: false,
    }))))
}

/// Read the order as it now is (a webhook may have moved it meanwhile), build the answer and complete
/// the idempotency record with it. Runs inside the settlement's transaction, or on its own.
fn respond(
    conn: &mut DbConn,
    kh: &str,
    id: &str,
    known_lines: Option<Vec<OrderLineRow>>,
    outcome: Option<&PaymentOutcome>,
) -> Result<PlaceResult, ApiError> {
    let next_action = outcome
        .and_then(|o| o.next_action_url.clone().map(|url| NextAction { url, client_secret: o.client_secret.clone() }));
    let known_payment = outcome.map(|o| o.payment.clone());
    let (order, completed) = store::find_order_completing_key(conn, id, kh)?.ok_or(ApiError::NotFound)?;
    let lines = match known_lines {
        Some(l) => l,
        None => store::lines_of(conn, id)?,
    };
    let payment = match (known_payment, &order.payment_id) {
        (Some(p), Some(pid)) if &p.id == pid && p.status().is_final() => Some(p),
        (_, Some(pid)) => crate::billing::store::find_payment(conn, pid)?,
        (_, None) => None,
    };
    let result = if order.status() == OrderStatus::PaymentFailed {
        let code = payment.as_ref().and_then(|p| p.failure_code.clone()).unwrap_or_else(|| "card_declined".into());
        let extra = Some(json!({ "order": { "id": order.id, "number": order.number, "status": order.status } }));
        let problem = match code.as_str() {
            // Not the card's fault: the processor refused the request itself.
            "payment_method_invalid" => ApiError::Unprocessable {
                code: "payment_method_invalid",
                detail: "The payment method is unknown to the processor; tokenize the card again.".into(),
                extra,
            },
            "payment_refused" => ApiError::Unprocessable {
                code: "payment_refused",
                detail: "The payment processor refused the request; the order was not paid.".into(),
                extra,
            },
            _ => {
                let stable: &'static str = crate::billing::service::decline_code(&code, Some(&code));
                ApiError::Payment {
                    status: axum::http::StatusCode::PAYMENT_REQUIRED,
                    code: stable,
                    detail: decline_detail(stable).into(),
                    extra,
                }
            }
        };
        let status = problem.status().as_u16();
        let body = serde_json::to_string(&problem.to_problem()).unwrap_or_default();
        idempotency::complete(conn, kh, status, Some(&body))?;
        PlaceResult::Problem { status, body, replayed: false }
    } else {
        if !completed {
            idempotency::complete(conn, kh, 201, None)?;
        }
        PlaceResult::Created(Box::new(Placed {
            order,
            lines,
            payment,
            access_token: String::new(),
            next_action,
            replayed: false,
        }))
    };
    Ok(result)
}

fn decline_detail(code: &str) -> &'static str {
    match code {
        "insufficient_funds" => "The card has insufficient funds. The order was not paid; try another card.",
        "expired_card" => "The card has expired. The order was not paid; try another card.",
        "incorrect_cvc" => "The card's security code is incorrect. The order was not paid.",
        "authentication_failed" => "The card could not be authenticated. The order was not paid.",
        _ => "The card was declined. The order was not paid; try another card.",
    }
}

fn with_token(result: PlaceResult, key: &IdempotencyKey, sealed: Option<&str>, replayed: bool) -> PlaceResult {
    match result {
        PlaceResult::Created(mut p) => {
            p.access_token = sealed.and_then(|s| key.unseal(s)).unwrap_or_default();
            p.replayed = replayed;
            PlaceResult::Created(p)
        }
        PlaceResult::Problem { status, body, .. } => PlaceResult::Problem { status, body, replayed },
    }
}

async fn replay(state: &AppState, key: &IdempotencyKey, r: idempotency::Record) -> Result<PlaceResult, ApiError> {
    let status = r.response_status.unwrap_or(201);
    if status != 201 {
        return Ok(PlaceResult::Problem {
            status: status as u16,
            body: r.response_body.unwrap_or_default(),
            replayed: true,
        });
    }
    let order_id = r.resource_id.clone().unwrap_or_default();
    let id = order_id.clone();
    let (order, lines, payment) = state
        .db
        .run(move |conn| {
            let order = store::find_order(conn, &id)?.ok_or(ApiError::NotFound)?;
            let (lines, payment) = lines_and_payment(conn, &order)?;
            Ok((order, lines, payment))
        })
        .await?;
    let mut next_action = None;
    if order.status() == OrderStatus::AwaitingPaymentAction
        && let Some(p) = &payment
        && let Ok(o) = state.billing.refresh(&state.db, &p.id).await
    {
        next_action = o.next_action_url.map(|url| NextAction { url, client_secret: o.client_secret });
    }
    let placed = Placed { order, lines, payment, access_token: String::new(), next_action, replayed: true };
    Ok(with_token(PlaceResult::Created(Box::new(placed)), key, r.sealed_secret.as_deref(), true))
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

/// Staff: cancel an unpaid order, or a paid order that has not shipped (refunding it in full).
pub async fn cancel(state: &AppState, order_id: &str, reason: &str) -> Result<OrderRow, ApiError> {
    let order = find(state, order_id).await?;
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
    let refunded = state.billing.refund(&state.db, &payment_id, Some(amount), req.reason.clone()).await;
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
