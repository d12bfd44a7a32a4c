//! Order endpoints: placement (`Idempotency-Key` required), shopper access with the order token, and
//! the staff API (staff sessions; `access` decides which role does what), whose reads are audited.

use super::model::PaymentFailure;
use super::model::{OrderEventRow, OrderId, OrderLineRow, OrderRow};
use super::placement::{self, FailedPayment, PlaceOrder as Placing, Placed, Placement};
use super::service::{self, RefundRequest};
use super::store;
use crate::access::StaffActor;
use crate::billing::model::PaymentRow;
use crate::checkout::http::{AddressDto, TotalsDto, address_dto};
use crate::db::dialect;
use crate::error::{ApiError, Problem};
use crate::http::auth::BearerToken;
use crate::http::client::ClientAddr;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::idempotency::IdempotencyKey;
use crate::kernel::bounded::{PageLimit, PositiveAmount, Quantity};
use crate::kernel::money::{Currency, Money};
use crate::kernel::time::UtcTime;
use crate::privacy::personal::Details;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineDto {
    /// `ol_…`
    pub id: String,
    pub variant_id: String,
    pub sku: String,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i32,
    pub quantity_refunded: i32,
    pub line_total: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPaymentDto {
    /// `pending`, `requires_action`, `requires_capture`, `succeeded`, `failed`, `canceled`
    pub status: String,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub amount_refunded: Money,
}

/// An order as its shopper sees it: never more personal data than they gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDto {
    /// `ord_…`
    pub id: String,
    /// Human-friendly number, e.g. `LC-100042`.
    pub number: String,
    /// `pending_payment`, `awaiting_payment_action`, `paid`, `payment_failed`, `cancelled`,
    /// `partially_fulfilled`, `fulfilled`, `partially_refunded`, `refunded`
    pub status: String,
    pub currency: String,
    pub lines: Vec<OrderLineDto>,
    pub totals: TotalsDto,
    /// `null` once the customer's personal data was erased (see `customer_erased`).
    pub email: Option<String>,
    pub shipping_address: Option<AddressDto>,
    pub shipping_method: Option<String>,
    pub phone: Option<String>,
    pub ship_to_someone_else: bool,
    /// The customer's personal data was erased at their request: the order stays complete for
    /// accounting, without anything that names them.
    pub customer_erased: bool,
    pub payment: Option<OrderPaymentDto>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UtcTime,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: UtcTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NextActionDto {
    /// `redirect_to_url`
    #[serde(rename = "type")]
    pub type_: String,
    /// Where the shopper authenticates the card (3-D Secure).
    pub url: String,
    /// For Stripe.js `handleNextAction`.
    pub client_secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlacedOrderDto {
    /// The order's access token (`ot_…`): `Authorization: Bearer` for `GET /v1/orders/{id}`. Returned
    /// again on an idempotent replay.
    pub access_token: String,
    pub order: OrderDto,
    /// Present when the card needs authentication (`awaiting_payment_action`).
    pub next_action: Option<NextActionDto>,
}

fn money(amount: i64, currency: Currency) -> Money {
    Money::new(amount, currency)
}

/// An order's personal fields, opened with its customer's key; empty and `erased` once that key was
/// destroyed.
#[derive(Debug, Default)]
pub struct Opened {
    pub details: Details,
    pub erased: bool,
}

impl Opened {
    /// `order`'s fields opened with its customer's key; `None`: the key was destroyed.
    pub fn of(order: &OrderRow, key: Option<&crate::privacy::vault::SubjectKey>) -> Opened {
        match key {
            Some(key) => Opened { details: order.sealed().open(Some(&key.key)), erased: false },
            None => Opened { details: Details::default(), erased: true },
        }
    }
}

/// Open an order's personal fields (the key fetched from the keyring, or the vault's cache).
pub async fn open(state: &AppState, order: &OrderRow) -> Result<Opened, ApiError> {
    Ok(Opened::of(order, state.vault.key_of_opt(order.subject_id.as_deref()).await?.as_ref()))
}

pub fn order_dto(
    order: &OrderRow,
    opened: &Opened,
    lines: &[OrderLineRow],
    payment: Option<&PaymentRow>,
) -> Result<OrderDto, ApiError> {
    let currency: Currency = order.currency.parse().map_err(|_| ApiError::internal("order currency"))?;
    let details = &opened.details;
    let shipping_address = address_dto(details, order.ship_region.as_ref(), order.ship_country.as_ref());
    Ok(OrderDto {
        id: order.id.clone(),
        number: order.number.clone(),
        status: order.status.clone(),
        currency: order.currency.clone(),
        lines: lines
            .iter()
            .map(|line| OrderLineDto {
                id: line.id.clone(),
                variant_id: line.variant_id.clone(),
                sku: line.sku.clone(),
                title: line.title.clone(),
                unit_price: money(line.unit_price, currency),
                quantity: line.quantity,
                quantity_refunded: line.quantity_refunded,
                line_total: money(line.line_total, currency),
            })
            .collect(),
        totals: TotalsDto {
            subtotal: money(order.subtotal, currency),
            shipping: money(order.shipping_total, currency),
            tax: money(order.tax_total, currency),
            discount: money(order.discount_total, currency),
            total: money(order.total, currency),
            prices_include_tax: order.prices_include_tax,
        },
        email: details.email.as_ref().map(|e| e.expose().to_owned()),
        shipping_address,
        shipping_method: order.shipping_method.clone(),
        phone: details.phone.as_ref().map(|p| p.expose().to_owned()),
        ship_to_someone_else: order.is_gift,
        customer_erased: opened.erased,
        payment: payment.map(|payment| OrderPaymentDto {
            status: payment.status.clone(),
            card_brand: payment.card_brand.clone(),
            card_last4: payment.card_last4.clone(),
            amount_refunded: money(payment.amount_refunded, currency),
        }),
        created_at: order.created_at.into(),
        updated_at: order.updated_at.into(),
    })
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    /// The cart to check out (`cart_…`); its token goes in `Authorization: Bearer`.
    #[schema(value_type = crate::checkout::model::CartId)]
    pub cart_id: String,
    /// The `pm_…` id Stripe.js returned for the shopper's card. Never card data.
    #[validate(length(min = 4, max = 255, code = "invalid_format"))]
    #[schema(pattern = "^pm_[A-Za-z0-9_]+$", min_length = 4, max_length = 255)]
    pub payment_method: String,
}

fn replayed_header(mut res: Response, replayed: bool) -> Response {
    if replayed {
        res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}

/// Place the order: reserve stock, create the order, charge the card, settle the outcome.
/// `Idempotency-Key` is required: a retry with the same key and body returns the same answer and never
/// charges twice.
#[utoipa::path(
    post, path = "/orders", tag = "orders",
    params(("Idempotency-Key" = String, Header, description = "Unique per order attempt; reuse it on retries")),
    security(("cart_token" = [])), request_body = PlaceOrder,
    responses(
        (status = 201, description = "Order created: paid, awaiting card authentication, or pending the processor's answer", body = PlacedOrderDto),
        (status = 400, description = "Missing Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "Card declined (order payment_failed, stock released)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Out of stock, cart already checked out, or same key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Checkout incomplete, order too large, or key reused with another body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many placements (`rate_limited`) or unpaid orders (`too_many_unpaid_orders`) from this address; see `Retry-After`",
         body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn place_order(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    token: BearerToken,
    ApiJson(body): ApiJson<PlaceOrder>,
) -> Result<Response, ApiError> {
    let key = IdempotencyKey::from_headers(&headers)?;
    // What the document's pattern for `payment_method` says (`^pm_[A-Za-z0-9_]+$`).
    let pm = &body.payment_method;
    if !(pm.starts_with("pm_") && pm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) {
        return Err(ApiError::validation("payment_method", "invalid_format"));
    }
    let request =
        Placing { cart_id: body.cart_id, cart_token: token.0.expose().to_owned(), payment_method: body.payment_method };
    match placement::place(&state, client.0, key, request).await? {
        Placement::Placed(p) => {
            let Placed { order, lines, payment, access_token, next_action, replayed } = *p;
            let opened = open(&state, &order).await?;
            let dto = PlacedOrderDto {
                access_token,
                order: order_dto(&order, &opened, &lines, payment.as_ref())?,
                next_action: next_action.map(|n| NextActionDto {
                    type_: "redirect_to_url".into(),
                    url: n.url,
                    client_secret: n.client_secret,
                }),
            };
            Ok(replayed_header((StatusCode::CREATED, Json(dto)).into_response(), replayed))
        }
        Placement::PaymentFailed(failed) => {
            let replayed = failed.replayed;
            Ok(replayed_header(payment_failed_problem(*failed).into_response(), replayed))
        }
    }
}

/// The problem a failed payment answers with; it names the order (created, not paid) so the shopper's
/// client can show it, and says what to do next.
fn payment_failed_problem(failed: FailedPayment) -> ApiError {
    let extra =
        Some(json!({ "order": { "id": failed.order_id, "number": failed.number, "status": failed.status.as_str() } }));
    let code = failed.failure.code();
    match failed.failure {
        PaymentFailure::MethodInvalid => ApiError::Unprocessable {
            code,
            detail: "The payment method is unknown to the processor; tokenize the card again.".into(),
            extra,
        },
        PaymentFailure::Refused => ApiError::Unprocessable {
            code,
            detail: "The payment processor refused the request; the order was not paid.".into(),
            extra,
        },
        PaymentFailure::Declined(_) => ApiError::Payment {
            status: StatusCode::PAYMENT_REQUIRED,
            code,
            detail: match code {
                "insufficient_funds" => "The card has insufficient funds. The order was not paid; try another card.",
                "expired_card" => "The card has expired. The order was not paid; try another card.",
                "incorrect_cvc" => "The card's security code is incorrect. The order was not paid.",
                "authentication_failed" => "The card could not be authenticated. The order was not paid.",
                _ => "The card was declined. The order was not paid; try another card.",
            }
            .into(),
            extra,
        },
    }
}

/// The order, for the shopper holding its access token.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders",
    params(("id" = OrderId, Path)), security(("order_token" = [])),
    responses((status = 200, body = OrderDto), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    token: BearerToken,
) -> Result<Json<OrderDto>, ApiError> {
    let (order, lines, payment) = state
        .db
        .run(move |conn| {
            let order = service::authorize(conn, &id, token.0.expose())?;
            let (lines, payment) = service::lines_and_payment(conn, &order)?;
            Ok((order, lines, payment))
        })
        .await?;
    let opened = open(&state, &order).await?;
    Ok(Json(order_dto(&order, &opened, &lines, payment.as_ref())?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderSummaryDto {
    pub id: String,
    pub number: String,
    pub status: String,
    pub total: Money,
    /// `null` once the customer's personal data was erased.
    pub email: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UtcTime,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderSearch {
    /// Only orders in this status.
    #[param(value_type = Option<super::model::OrderStatus>)]
    pub status: Option<String>,
    /// Exact order number, e.g. `LC-100042`.
    pub number: Option<String>,
    /// Exact contact e-mail.
    pub email: Option<String>,
    pub limit: Option<PageLimit>,
    pub cursor: Option<String>,
}

/// Staff: list and search orders (newest first). Audited.
#[utoipa::path(
    get, path = "/admin/orders", tag = "orders", params(OrderSearch), security(("staff_session" = [])),
    responses((status = 200, body = Page<OrderSummaryDto>), (status = 401, body = Problem, content_type = "application/problem+json"))
)]
pub async fn admin_list_orders(
    actor: StaffActor,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<OrderSearch>,
) -> Result<Json<Page<OrderSummaryDto>>, ApiError> {
    if let Some(s) = &q.status
        && super::model::OrderStatus::parse(s).is_none()
    {
        return Err(ApiError::validation("status", "invalid_choice"));
    }
    let limit = PageParams { limit: q.limit, cursor: None }.limit();
    // By the subject the e-mail's blind-index entry names in the keyring: an address that does not
    // parse, or that no one used, matches nothing.
    let subject = match q.email.as_deref().map(crate::kernel::pii::Email::parse) {
        None => None,
        Some(Ok(email)) => Some(state.vault.find_subject(&email).await?.unwrap_or_default()),
        Some(Err(_)) => Some(String::new()),
    };
    let rows = state
        .db
        .run(move |conn| {
            let before = match q.cursor.as_deref() {
                None => None,
                Some(c) => {
                    let id = OrderId::parse(c).ok_or_else(|| ApiError::validation("cursor", "invalid_cursor"))?;
                    let o = store::find_order(conn, id.as_str())?
                        .ok_or_else(|| ApiError::validation("cursor", "invalid_cursor"))?;
                    Some((o.created_at, o.id))
                }
            };
            let rows = store::search(
                conn,
                q.status.as_deref(),
                q.number.as_deref(),
                subject.as_deref(),
                before,
                i64::from(limit) + 1,
            )?;
            // One record per order shown (the overfetched row that only says "more" is not shown).
            let shown: Vec<&str> = rows.iter().take(limit as usize).map(|o| o.id.as_str()).collect();
            dialect::write_transaction(conn, |conn| {
                crate::audit::record_each(conn, &actor.id, "orders.search", &shown)
            })?;
            Ok(rows)
        })
        .await?;
    let page = Page::from_overfetch(rows, limit, |o| o.id.clone(), |o| o);
    let mut data = Vec::with_capacity(page.data.len());
    for o in page.data {
        let c: Currency = o.currency.parse().map_err(|_| ApiError::internal("order currency"))?;
        let key = state.vault.key_of_opt(o.subject_id.as_deref()).await?;
        let email = key.and_then(|k| o.email.open(&k.key, crate::privacy::sealing::Field::Email));
        data.push(OrderSummaryDto {
            total: money(o.total, c),
            email: email.map(|e| e.expose().to_owned()),
            id: o.id,
            number: o.number,
            status: o.status,
            created_at: o.created_at.into(),
        });
    }
    Ok(Json(Page { data, has_more: page.has_more, next_cursor: page.next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderEventDto {
    pub from_status: Option<String>,
    pub to_status: String,
    /// `shopper`, `staff`, `processor`, `system`
    pub actor: String,
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: UtcTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffOrderDto {
    pub order: OrderDto,
    pub payment_id: Option<String>,
    pub history: Vec<OrderEventDto>,
}

/// What a staff note shows to a role that does not see personal data (a note may name the customer).
const NOTE_WITHHELD: &str = "(a staff note, not shown to this role)";

fn event_dto(e: OrderEventRow, key: Option<&crate::privacy::sealing::DataKey>, personal: bool) -> OrderEventDto {
    let reason = if personal || !crate::privacy::sealing::is_sealed(&e.reason) {
        service::read_note(&e.reason, key)
    } else {
        NOTE_WITHHELD.to_owned()
    };
    OrderEventDto {
        from_status: e.from_status,
        to_status: e.to_status,
        actor: e.actor,
        reason,
        at: e.created_at.into(),
    }
}

/// An order as a member of staff sees it: with the customer's personal data for roles that see it
/// (`Role::sees_personal_data`), without for the others — the key is not even fetched for them.
async fn staff_view(
    state: &AppState,
    actor: &StaffActor,
    id: String,
    action: &'static str,
) -> Result<StaffOrderDto, ApiError> {
    let (staff_id, personal) = (actor.id.clone(), actor.role.sees_personal_data());
    let (order, lines, payment, history) = state
        .db
        .run(move |conn| {
            let oid = OrderId::parse(&id).ok_or(ApiError::NotFound)?;
            let order = store::find_order(conn, oid.as_str())?.ok_or(ApiError::NotFound)?;
            let (lines, payment) = service::lines_and_payment(conn, &order)?;
            let history = store::events_of(conn, &order.id)?;
            dialect::write_transaction(conn, |conn| crate::audit::record(conn, &staff_id, action, Some(&order.id)))?;
            Ok((order, lines, payment, history))
        })
        .await?;
    let (key, opened) = if personal {
        let key = state.vault.key_of_opt(order.subject_id.as_deref()).await?;
        let opened = Opened::of(&order, key.as_ref());
        (key, opened)
    } else {
        (None, Opened { details: crate::privacy::personal::Details::default(), erased: false })
    };
    let history = history.into_iter().map(|e| event_dto(e, key.as_ref().map(|k| &*k.key), personal)).collect();
    Ok(StaffOrderDto {
        order: order_dto(&order, &opened, &lines, payment.as_ref())?,
        payment_id: order.payment_id,
        history,
    })
}

/// Staff: one order with its history. Audited.
#[utoipa::path(
    get, path = "/admin/orders/{id}", tag = "orders", params(("id" = OrderId, Path)), security(("staff_session" = [])),
    responses((status = 200, body = StaffOrderDto), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn admin_get_order(
    actor: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StaffOrderDto>, ApiError> {
    Ok(Json(staff_view(&state, &actor, id, "order.read").await?))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelOrder {
    #[validate(length(min = 1, max = 200, code = "length"))]
    pub reason: String,
}

/// Staff: cancel an unpaid order, or a paid one that has not shipped (refunded in full, restocked).
#[utoipa::path(
    post, path = "/admin/orders/{id}/cancel", tag = "orders", params(("id" = OrderId, Path)), security(("staff_session" = [])),
    request_body = CancelOrder,
    responses((status = 200, body = StaffOrderDto), (status = 409, description = "Illegal transition", body = Problem, content_type = "application/problem+json"))
)]
pub async fn admin_cancel_order(
    actor: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CancelOrder>,
) -> Result<Json<StaffOrderDto>, ApiError> {
    let oid = OrderId::parse(&id).ok_or(ApiError::NotFound)?;
    service::cancel(&state, oid.as_str(), &body.reason).await?;
    Ok(Json(staff_view(&state, &actor, id, "order.cancel").await?))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLine {
    /// `ol_…`
    #[schema(value_type = super::model::OrderLineId)]
    pub line_id: String,
    pub quantity: Quantity,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundOrder {
    /// Minor units; or give `lines` instead.
    pub amount: Option<PositiveAmount>,
    /// Refund these units (with their share of tax).
    #[serde(default)]
    #[validate(nested)]
    pub lines: Vec<RefundLine>,
    /// Put refunded units back in stock.
    #[serde(default)]
    pub restock: bool,
    #[validate(length(max = 200, code = "length"))]
    pub reason: Option<String>,
}

/// Staff: refund part or all of a paid order, by amount or by line.
#[utoipa::path(
    post, path = "/admin/orders/{id}/refunds", tag = "orders", params(("id" = OrderId, Path)), security(("staff_session" = [])),
    request_body = RefundOrder,
    responses((status = 200, body = StaffOrderDto), (status = 422, body = Problem, content_type = "application/problem+json"))
)]
pub async fn admin_refund_order(
    actor: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RefundOrder>,
) -> Result<Json<StaffOrderDto>, ApiError> {
    let oid = OrderId::parse(&id).ok_or(ApiError::NotFound)?;
    let req = RefundRequest {
        amount: body.amount.map(PositiveAmount::get),
        lines: body.lines.into_iter().map(|l| (l.line_id, l.quantity.get_i32())).collect(),
        restock: body.restock,
        reason: body.reason,
    };
    service::refund(&state, oid.as_str(), req).await?;
    Ok(Json(staff_view(&state, &actor, id, "order.refund").await?))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureOrder {
    /// Capture less than authorized (minor units); default: all.
    pub amount: Option<PositiveAmount>,
}

/// Staff: capture an authorized payment (manual capture mode).
#[utoipa::path(
    post, path = "/admin/orders/{id}/capture", tag = "orders", params(("id" = OrderId, Path)), security(("staff_session" = [])),
    request_body = CaptureOrder,
    responses((status = 200, body = StaffOrderDto), (status = 409, body = Problem, content_type = "application/problem+json"))
)]
pub async fn admin_capture_order(
    actor: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CaptureOrder>,
) -> Result<Json<StaffOrderDto>, ApiError> {
    let oid = OrderId::parse(&id).ok_or(ApiError::NotFound)?;
    let order = service::find(&state, oid.as_str()).await?;
    let pid =
        order.payment_id.ok_or_else(|| ApiError::conflict("payment_not_capturable", "the order has no payment"))?;
    state.billing.capture(&state.db, &pid, body.amount.map(PositiveAmount::get)).await?;
    Ok(Json(staff_view(&state, &actor, id, "order.capture").await?))
}
