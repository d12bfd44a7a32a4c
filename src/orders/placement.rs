//! `POST /v1/orders`: one unit of work, top to bottom.
//!
//! 1. **Admit** — a client may hold only so many unpaid orders at once (`holds`); a retry of a placement
//!    already made is let through, it reserves nothing new.
//! 2. **Claim, reserve, create** — one write transaction: claim the Idempotency-Key, take every line's
//!    units if (and only if) they are on hand, check the cart out, create the order with its lines, its
//!    first history entry and its `pending` payment. If anything fails nothing is kept, not even the key.
//!    A key already claimed replays the answer it completed with, or resumes an attempt that died.
//! 3. **Ask the processor** — outside any transaction ([`Billing::ask_processor`]).
//! 4. **Write the outcome** — one write transaction: what the answer means for the payment
//!    ([`settlement::interpret`], pure) is recorded by billing, whose listener moves the order
//!    (`service::on_payment_change`); then the answer is read from the order as it now is and the key's
//!    record is completed with it.
//! 5. **Answer** — the placed order, or the payment's failure for the HTTP layer to render.

use super::model::{
    Actor, ORDER_TOKEN_PREFIX, OrderId, OrderLineId, OrderLineRow, OrderRow, OrderStatus, PaymentFailure,
};
use super::service::{event_row, find, lines_and_payment, outbox_id, paid_reason};
use super::store;
use crate::billing::model::{PaymentRow, PaymentStatus};
use crate::billing::service::{Billing, NewPayment, PaymentOutcome};
use crate::billing::settlement::{self, NextAction};
use crate::checkout::model::{CartRow, PricedLine};
use crate::checkout::service as carts;
use crate::db::{DbConn, dialect};
use crate::error::ApiError;
use crate::idempotency::{self, Begin, IdempotencyKey};
use crate::kernel::secret::{hash_token, issue_token};
use crate::kernel::time;
use crate::shipping::policy::ShopPolicy;
use crate::state::AppState;
use serde_json::json;

/// What the shopper asked for.
pub struct PlaceOrder {
    pub cart_id: String,
    /// The cart's token: it opens the cart, and it is the client whose Idempotency-Key namespace holds
    /// the key.
    pub cart_token: String,
    pub payment_method: String,
}

/// What a placement comes to.
pub enum Placement {
    /// The order exists: paid, awaiting the shopper's card authentication, or pending the processor's
    /// answer.
    Placed(Box<Placed>),
    /// The order was created but its payment failed; the cart is open again for another card.
    PaymentFailed(Box<FailedPayment>),
}

pub struct Placed {
    pub order: OrderRow,
    pub lines: Vec<OrderLineRow>,
    pub payment: Option<PaymentRow>,
    /// The order's access token (shown once; a replay gets it back from the key's sealed record).
    pub access_token: String,
    pub next_action: Option<NextAction>,
    pub replayed: bool,
}

pub struct FailedPayment {
    pub order_id: String,
    pub number: String,
    pub status: OrderStatus,
    pub failure: PaymentFailure,
    pub replayed: bool,
}

/// How many times a placement given up for contention is tried in all.
const PLACEMENT_ATTEMPTS: u32 = 3;

/// The Idempotency-Key scope of placements.
const SCOPE: &str = "orders";

/// Place an order from a cart, exactly once per Idempotency-Key.
pub async fn place(
    state: &AppState,
    client: std::net::IpAddr,
    key: IdempotencyKey,
    request: PlaceOrder,
) -> Result<Placement, ApiError> {
    let key = key.within(&request.cart_token);
    let key_hash = key.hash(SCOPE);

    // 1. Admit.
    let ticket = match state.holds.admit(client, &state.db).await {
        Ok(ticket) => Some(ticket),
        Err(refused) => {
            let (kh, now) = (key_hash.clone(), state.clock.now());
            let known = state.db.run(move |conn| Ok(idempotency::store::is_live(conn, &kh, now)?)).await?;
            if !known {
                return Err(refused);
            }
            None
        }
    };

    // 2. Claim, reserve, create.
    let token = issue_token(ORDER_TOKEN_PREFIX);
    let sealed_token =
        key.seal(token.plaintext.expose()).ok_or_else(|| ApiError::internal("sealing the order token"))?;
    let draft = Draft {
        order_id: OrderId::generate(),
        token_hash: token.hash.clone(),
        reserved_for: chrono::Duration::from_std(state.config.reservation_ttl).unwrap_or(chrono::Duration::minutes(30)),
        max_units: state.config.max_units_per_order,
        payment_method: request.payment_method.clone(),
    };
    let claim = OwnedClaim {
        key_hash: key_hash.clone(),
        request_hash: request_hash(&request),
        resource_id: draft.order_id.as_str().to_owned(),
        sealed_secret: sealed_token,
        ttl: chrono::Duration::from_std(state.config.idempotency_ttl).unwrap_or(chrono::Duration::hours(24)),
    };
    let (policy, billing, clock) = (state.policy.clone(), state.billing.clone(), state.clock.clone());
    let (cart_id, cart_token) = (request.cart_id, request.cart_token);
    let created = state
        .db
        .run_priority(move |conn| {
            // Each attempt builds everything afresh: one given up for contention (a deadlock among
            // placements of the same hot items) kept nothing.
            dialect::write_transaction_retrying(conn, PLACEMENT_ATTEMPTS, |conn| {
                match idempotency::store::begin(conn, &claim.borrow(), clock.now(), claim.ttl)? {
                    Begin::New => {}
                    earlier => return Ok(Claimed::Earlier(earlier)),
                }
                let (cart, lines) = carts::authorize(conn, &cart_id, &cart_token)?;
                let shop = Shop { policy: &policy, billing: &billing };
                let created = reserve_and_create(conn, cart, lines, &shop, &draft, clock.now())?;
                Ok(Claimed::Created(Box::new(created)))
            })
        })
        .await?;
    let (order, lines, payment) = match created {
        Claimed::Created(created) => *created,
        Claimed::Earlier(Begin::Completed(record)) => return replay(state, &key, record).await,
        Claimed::Earlier(Begin::Resume(record)) => return resume(state, &key, &key_hash, record).await,
        Claimed::Earlier(Begin::New) => return Err(ApiError::internal("idempotency claim inconsistent")),
    };

    // 3. Ask the processor.
    let answer = state.billing.ask_processor(&payment, Some(format!("Order {}", order.number))).await?;

    // 4. Write the outcome.
    let mut settlement = settlement::interpret(&payment, answer);
    if let Some(refusal) = settlement.refusal.take() {
        tracing::warn!(order_id = %order.id, %refusal, "the processor refused the payment");
    }
    let (billing, kh, order_id) = (state.billing.clone(), key_hash.clone(), order.id.clone());
    let placement = state
        .db
        .run_priority(move |conn| {
            // Measured shortcut (PostgreSQL: +0.23 ms database CPU and −8 % checkouts/s without it; see
            // sql/postgres/settle_paid_at_once.sql): a payment that succeeded at once, in one statement.
            if let Some(paid) = settle_paid_at_once(conn, &settlement, &order, &kh)? {
                tracing::debug!(order_id = %paid.id, "placement settled in one statement");
                return Ok(Placement::Placed(Box::new(Placed {
                    order: paid,
                    lines,
                    payment: Some(settlement.payment),
                    access_token: String::new(),
                    next_action: None,
                    replayed: false,
                })));
            }
            dialect::write_transaction(conn, |conn| {
                let outcome = billing.record(conn, &settlement)?;
                conclude(conn, &kh, &order.id, Some(lines), Some(&outcome))
            })
        })
        .await?;

    // 5. Answer. An order still unpaid keeps the client's place as long as it keeps its stock.
    if let Some(ticket) = ticket {
        let hold = match &placement {
            Placement::Placed(p) if p.order.status() == OrderStatus::AwaitingPaymentAction => {
                Some(state.config.action_hold)
            }
            Placement::Placed(p) if p.order.status().holds_reservation() => Some(state.config.reservation_ttl),
            _ => None,
        };
        ticket.settle(&order_id, hold);
    }
    Ok(match placement {
        Placement::Placed(mut placed) => {
            placed.access_token = token.plaintext.expose().to_owned();
            Placement::Placed(placed)
        }
        failed => failed,
    })
}

/// [`store::settle_paid_at_once`] when the answer moved the freshly placed order's payment to succeeded
/// or authorized with nothing refunded; `None` (nothing written) otherwise.
fn settle_paid_at_once(
    conn: &mut DbConn,
    s: &settlement::Settlement,
    order: &OrderRow,
    key_hash: &str,
) -> Result<Option<OrderRow>, ApiError> {
    let Some(to) = s.moved_to.filter(|to| matches!(to, PaymentStatus::Succeeded | PaymentStatus::RequiresCapture))
    else {
        return Ok(None);
    };
    if s.payment.amount_refunded != 0 {
        return Ok(None);
    }
    let (from, paid) = (OrderStatus::PendingPayment, OrderStatus::Paid);
    let entry = event_row(&order.id, Some(from), paid, Actor::Processor, paid_reason(to), time::now());
    let write = store::PaidAtOnce {
        payment: &s.payment,
        recorded_status: &s.recorded_status,
        recorded_at: s.recorded_at,
        entry: &entry,
        outbox_id: &outbox_id(),
        key_hash,
    };
    Ok(store::settle_paid_at_once(conn, &write)?)
}

/// The request a key stands for: the same key with another cart, token or card is refused.
fn request_hash(r: &PlaceOrder) -> String {
    hash_token(&format!("{}\0{}\0{}", r.cart_id, hash_token(&r.cart_token), r.payment_method))
}

/// The key's claim, owned so it can move into the unit of work.
struct OwnedClaim {
    key_hash: String,
    request_hash: String,
    resource_id: String,
    sealed_secret: String,
    ttl: chrono::Duration,
}

impl OwnedClaim {
    fn borrow(&self) -> idempotency::Claim<'_> {
        idempotency::Claim {
            key_hash: &self.key_hash,
            scope: SCOPE,
            request_hash: &self.request_hash,
            resource_id: &self.resource_id,
            sealed_secret: &self.sealed_secret,
        }
    }
}

enum Claimed {
    Created(Box<(OrderRow, Vec<OrderLineRow>, PaymentRow)>),
    Earlier(Begin),
}

/// What placement reads of the shop: its policy and its billing.
#[derive(Clone, Copy)]
struct Shop<'a> {
    policy: &'a ShopPolicy,
    billing: &'a Billing,
}

/// What is decided before the transaction: the order's id and token, and the shop's limits.
struct Draft {
    order_id: OrderId,
    token_hash: String,
    reserved_for: chrono::Duration,
    max_units: u32,
    payment_method: String,
}

/// Inside the placement's transaction: check the cart is ready, then take the stock and write the order,
/// its lines, its first history entry and its pending payment.
fn reserve_and_create(
    conn: &mut DbConn,
    cart: CartRow,
    lines: Vec<PricedLine>,
    shop: &Shop<'_>,
    draft: &Draft,
    now: chrono::NaiveDateTime,
) -> Result<(OrderRow, Vec<OrderLineRow>, PaymentRow), ApiError> {
    let Shop { policy, billing } = *shop;
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
    if units > i64::from(draft.max_units) {
        return Err(ApiError::Unprocessable {
            code: "order_too_large",
            detail: "the order holds more units than one order may; split it or ask the shop".into(),
            extra: Some(json!({ "units": units, "max_units": draft.max_units })),
        });
    }
    let cart = view.cart;
    let totals = view.totals;
    // The cart's sealed fields move as they are: sealed under the same person's key, for the field
    // they are (see `privacy::sealing`), never opened here.
    let mut order = OrderRow {
        id: draft.order_id.as_str().to_owned(),
        number: String::new(), // given by the INSERT
        access_token_hash: draft.token_hash.clone(),
        cart_id: cart.id.clone(),
        status: OrderStatus::PendingPayment.as_str().into(),
        currency: cart.currency.clone(),
        subtotal: totals.subtotal.amount,
        shipping_total: totals.shipping.amount,
        tax_total: totals.tax.amount,
        discount_total: totals.discount.amount,
        total: totals.total.amount,
        prices_include_tax: totals.prices_include_tax,
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
        reserved_until: Some(now + draft.reserved_for),
        stock_released: false,
        created_at: now,
        updated_at: now,
        subject_id: cart.subject_id.clone(),
        account_id: cart.account_id.clone(),
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
        amount: totals.total,
        payment_method: draft.payment_method.clone(),
        description: None,
    });
    order.payment_id = Some(payment.id.clone());
    let first_entry = event_row(&order.id, None, OrderStatus::PendingPayment, Actor::Shopper, "order placed", now);
    // No oversell: each line takes its units only if they are there, in variant order, so concurrent
    // placements lock shared rows in the same order (no deadlock).
    let mut wanted: Vec<(&str, i32)> = view.lines.iter().map(|l| (l.variant.id.as_str(), l.quantity)).collect();
    wanted.sort_unstable();
    match store::reserve_and_create(conn, &wanted, &cart.id, now, &mut order, &lines, &first_entry, &payment)? {
        store::Reserved::Created => Ok((order, lines, payment)),
        store::Reserved::CartCheckedOut => {
            Err(ApiError::conflict("cart_checked_out", "this cart has already been checked out"))
        }
        store::Reserved::OutOfStock(variant_id) => {
            Err(ApiError::conflict("insufficient_stock", "not enough stock left for this order")
                .with_extra(json!({ "variant_id": variant_id })))
        }
    }
}

/// The end of every placement (inside the transaction that wrote the payment's outcome, or on its own
/// when resuming): read the order as it now is — a webhook may have moved it — and complete the key's
/// record with what a retry must see: `201` (rebuilt from the order), or the payment's failure.
fn conclude(
    conn: &mut DbConn,
    key_hash: &str,
    order_id: &str,
    known_lines: Option<Vec<OrderLineRow>>,
    outcome: Option<&PaymentOutcome>,
) -> Result<Placement, ApiError> {
    let order = store::find_order(conn, order_id)?.ok_or(ApiError::NotFound)?;
    let payment = match (outcome, &order.payment_id) {
        (Some(o), Some(pid)) if &o.payment.id == pid => Some(o.payment.clone()),
        (_, Some(pid)) => crate::billing::store::find_payment(conn, pid)?,
        (_, None) => None,
    };
    if order.status() == OrderStatus::PaymentFailed {
        let failure = PaymentFailure::of_code(payment.as_ref().and_then(|p| p.failure_code.as_deref()));
        idempotency::store::complete(conn, key_hash, failure.status(), Some(failure.code()))?;
        return Ok(Placement::PaymentFailed(Box::new(FailedPayment {
            order_id: order.id,
            number: order.number,
            status: OrderStatus::PaymentFailed,
            failure,
            replayed: false,
        })));
    }
    idempotency::store::complete(conn, key_hash, 201, None)?;
    let lines = match known_lines {
        Some(lines) => lines,
        None => store::lines_of(conn, order_id)?,
    };
    let next_action = outcome.and_then(|o| o.next_action.clone());
    Ok(Placement::Placed(Box::new(Placed {
        order,
        lines,
        payment,
        access_token: String::new(),
        next_action,
        replayed: false,
    })))
}

/// A retry of a completed placement: the same answer, rebuilt from the order (and the token, unsealed
/// with the key).
async fn replay(state: &AppState, key: &IdempotencyKey, record: idempotency::Record) -> Result<Placement, ApiError> {
    let order_id = record.resource_id.clone().unwrap_or_default();
    if record.response_status.is_some_and(|s| s != 201) {
        let order = find(state, &order_id).await?;
        return Ok(Placement::PaymentFailed(Box::new(FailedPayment {
            order_id: order.id,
            number: order.number,
            status: OrderStatus::PaymentFailed,
            failure: PaymentFailure::of_record(record.response_body.as_deref()),
            replayed: true,
        })));
    }
    let (order, lines, payment) = state
        .db
        .run(move |conn| {
            let order = store::find_order(conn, &order_id)?.ok_or(ApiError::NotFound)?;
            let (lines, payment) = lines_and_payment(conn, &order)?;
            Ok((order, lines, payment))
        })
        .await?;
    let mut next_action = None;
    if order.status() == OrderStatus::AwaitingPaymentAction
        && let Some(p) = &payment
        && let Ok(outcome) = state.billing.refresh(&state.db, &p.id).await
    {
        next_action = outcome.next_action;
    }
    let access_token = record.sealed_secret.as_deref().and_then(|s| key.unseal(s)).unwrap_or_default();
    Ok(Placement::Placed(Box::new(Placed { order, lines, payment, access_token, next_action, replayed: true })))
}

/// A retry of a placement whose process died after creating the order: ask the processor again (the
/// payment's own idempotency key makes that safe), then conclude as the first attempt would have.
async fn resume(
    state: &AppState,
    key: &IdempotencyKey,
    key_hash: &str,
    record: idempotency::Record,
) -> Result<Placement, ApiError> {
    let order_id = record.resource_id.clone().unwrap_or_default();
    let order = find(state, &order_id).await?;
    if let Some(pid) = &order.payment_id {
        let _ = state.billing.refresh(&state.db, pid).await;
    }
    let kh = key_hash.to_owned();
    let placement = state
        .db
        .run_priority(move |conn| dialect::write_unit(conn, |conn| conclude(conn, &kh, &order_id, None, None)))
        .await?;
    Ok(match placement {
        Placement::Placed(mut placed) => {
            placed.access_token = record.sealed_secret.as_deref().and_then(|s| key.unseal(s)).unwrap_or_default();
            placed.replayed = true;
            Placement::Placed(placed)
        }
        Placement::PaymentFailed(mut failed) => {
            failed.replayed = true;
            Placement::PaymentFailed(failed)
        }
    })
}
