//! The Stripe webhook endpoint and the staff view of payments and received events.

use super::model::PaymentRow;
use super::store;
use crate::access::StaffActor;
use crate::error::{ApiError, Problem};
use crate::http::pagination::Page;
use crate::kernel::time::UtcTime;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
    /// True when this event id had been processed before (a redelivery): nothing was done again.
    pub duplicate: bool,
}

/// Receive a Stripe event. The `Stripe-Signature` header is verified (HMAC-SHA256, 5-minute
/// tolerance, any configured secret) before anything else; each event id is applied once.
#[utoipa::path(
    post, path = "/webhooks/stripe", tag = "billing",
    request_body(content = Object, description = "A Stripe event object", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=… signature")),
    responses(
        (status = 200, body = WebhookAck),
        (status = 400, description = "Missing, invalid or stale signature", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAck>, ApiError> {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).ok_or(ApiError::BadRequest {
        code: "invalid_signature",
        detail: "the Stripe-Signature header is missing".into(),
    })?;
    state.billing.verify_webhook(signature, &body).map_err(|e| {
        tracing::warn!(reason = %e, "webhook refused");
        match e {
            super::signature::SignatureError::Stale => {
                ApiError::BadRequest { code: "stale_signature", detail: "the signature timestamp is too old".into() }
            }
            _ => ApiError::BadRequest { code: "invalid_signature", detail: "the signature does not verify".into() },
        }
    })?;
    let event: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::MalformedBody("the event is not JSON".into()))?;
    let event_type = event["type"].as_str().unwrap_or_default().to_owned();
    let event_id = event["id"].as_str().unwrap_or_default().to_owned();
    let billing = state.billing.clone();
    let new = state.db.run_priority(move |conn| billing.apply_event(conn, &event)).await?;
    tracing::info!(%event_id, %event_type, duplicate = !new, "stripe webhook");
    Ok(Json(WebhookAck { received: true, duplicate: !new }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventDto {
    pub event_id: String,
    pub event_type: String,
    pub object_id: Option<String>,
    /// `applied` or `ignored`
    pub outcome: String,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: UtcTime,
}

/// Webhook events received and recorded (newest first, up to 100). Staff only.
#[utoipa::path(
    get, path = "/admin/webhook-events", tag = "billing",
    security(("staff_session" = [])),
    responses((status = 200, body = Page<WebhookEventDto>), (status = 401, body = Problem, content_type = "application/problem+json"))
)]
pub async fn list_webhook_events(
    _: StaffActor,
    State(state): State<AppState>,
) -> Result<Json<Page<WebhookEventDto>>, ApiError> {
    let rows = state.db.run(|conn| Ok(store::list_events(conn, None, 100)?)).await?;
    let data = rows
        .into_iter()
        .map(|r| WebhookEventDto {
            event_id: r.event_id,
            event_type: r.event_type,
            object_id: r.object_id,
            outcome: r.outcome,
            received_at: r.received_at.into(),
        })
        .collect();
    Ok(Json(Page { data, has_more: false, next_cursor: None }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentDto {
    pub id: String,
    pub order_id: Option<String>,
    pub status: String,
    pub capture_method: String,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub payment_intent_id: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub card_exp_month: Option<i32>,
    pub card_exp_year: Option<i32>,
    pub failure_code: Option<String>,
    pub disputed: bool,
}

impl From<PaymentRow> for PaymentDto {
    fn from(p: PaymentRow) -> Self {
        PaymentDto {
            id: p.id,
            order_id: p.order_id,
            status: p.status,
            capture_method: p.capture_method,
            amount: p.amount,
            amount_captured: p.amount_captured,
            amount_refunded: p.amount_refunded,
            currency: p.currency,
            payment_intent_id: p.payment_intent_id,
            card_brand: p.card_brand,
            card_last4: p.card_last4,
            card_exp_month: p.card_exp_month,
            card_exp_year: p.card_exp_year,
            failure_code: p.failure_code,
            disputed: p.disputed,
        }
    }
}

/// One payment as recorded. Staff only.
#[utoipa::path(
    get, path = "/admin/payments/{id}", tag = "billing",
    security(("staff_session" = [])),
    params(("id" = super::model::PaymentId, Path, description = "Payment id (`pay_…`)")),
    responses((status = 200, body = PaymentDto), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn get_payment(
    actor: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PaymentDto>, ApiError> {
    let id = super::model::PaymentId::parse(&id).ok_or(ApiError::NotFound)?;
    // Brand, last 4 and expiry are the cardholder's: the read is audited in the same transaction.
    let row = state
        .db
        .run(move |conn| {
            crate::db::dialect::write_transaction(conn, |conn| {
                let row = super::store::find_payment(conn, id.as_str())?.ok_or(ApiError::NotFound)?;
                crate::audit::record(conn, &actor.id, "payment.read", Some(&row.id))?;
                Ok::<_, ApiError>(row)
            })
        })
        .await?;
    Ok(Json(row.into()))
}
