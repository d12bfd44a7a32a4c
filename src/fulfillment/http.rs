//! The partner API: a partner's own fulfillments only (another's reference is not found), with only
//! the fields its key is granted; every read recorded.

use super::export::{self, Format, Viewer};
use super::model::Status;
use super::record::{Grant, Record};
use super::service::{self, NewShipment};
use super::store::Filter;
use crate::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::Page;
use crate::kernel::bounded::PageLimit;
use crate::partners::http::Partner;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Default `ready`: work not acknowledged yet.
    #[param(value_type = Option<String>)]
    pub status: Option<String>,
    pub limit: Option<PageLimit>,
    #[validate(length(max = 64, code = "length"))]
    pub cursor: Option<String>,
}

fn status_filter(s: Option<&str>, default: Option<Status>) -> Result<Option<Status>, ApiError> {
    match s {
        None => Ok(default),
        Some("any") => Ok(None),
        Some(s) => Status::parse(s).map(Some).ok_or_else(|| ApiError::validation("status", "invalid_choice")),
    }
}

async fn viewer(state: &AppState, partner: &Partner) -> Result<Viewer, ApiError> {
    let key = &partner.0;
    let pid = key.partner_id.clone();
    let needs_phone = state.db.run(move |conn| Ok(crate::partners::store::carrier_needs_phone(conn, &pid)?)).await?;
    Ok(Viewer { partner_id: key.partner_id.clone(), key_id: key.key_id.clone(), grant: Grant::of(key, needs_phone) })
}

/// Your fulfillments (default: `ready`, the work not acknowledged yet), by cursor. Audited.
#[utoipa::path(
    get, path = "/partner/fulfillments", tag = "fulfillment", params(ListQuery), security(("partner_key" = [])),
    responses((status = 200, body = Page<Record>))
)]
pub async fn list(
    State(state): State<AppState>,
    partner: Partner,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Record>>, ApiError> {
    let status = status_filter(q.status.as_deref(), Some(Status::Ready))?;
    let limit = crate::http::pagination::PageParams { limit: q.limit, cursor: None }.limit();
    let after = match q.cursor {
        Some(c) => Some(
            super::model::FulfillmentId::parse(&c)
                .ok_or_else(|| ApiError::validation("cursor", "invalid_cursor"))?
                .into_string(),
        ),
        None => None,
    };
    let v = viewer(&state, &partner).await?;
    let id = export::begin(&state, &v, "page", &format!("status={}", status.map_or("any", Status::as_str))).await?;
    let filter = Filter { status, ..Filter::default() };
    let (data, next) = service::page(&state, &partner.0, filter, after, i64::from(limit)).await?;
    export::carried(&state, &id, 1, &data, true).await?;
    Ok(Json(Page { has_more: next.is_some(), next_cursor: next, data }))
}

/// One of your fulfillments by its reference. Audited.
#[utoipa::path(
    get, path = "/partner/fulfillments/{reference}", tag = "fulfillment", params(("reference" = String, Path)),
    security(("partner_key" = [])),
    responses((status = 200, body = Record), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn one(
    State(state): State<AppState>,
    partner: Partner,
    Path(reference): Path<String>,
) -> Result<Json<Record>, ApiError> {
    let record = service::one(&state, &partner.0, reference).await?;
    let v = viewer(&state, &partner).await?;
    let id = export::begin(&state, &v, "record", "").await?;
    export::carried(&state, &id, 1, std::slice::from_ref(&record), true).await?;
    Ok(Json(record))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Default: every status (`ready` for only the new work).
    #[param(value_type = Option<String>)]
    pub status: Option<String>,
    /// Made at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Made before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_to: Option<chrono::DateTime<chrono::Utc>>,
}

async fn stream(state: AppState, partner: Partner, q: ExportQuery, format: Format) -> Result<Response, ApiError> {
    let status = status_filter(q.status.as_deref(), None)?;
    let filter = Filter {
        status,
        created_from: q.created_from.map(|t| t.naive_utc()),
        created_to: q.created_to.map(|t| t.naive_utc()),
        reference: None,
    };
    let v = viewer(&state, &partner).await?;
    let described = format!(
        "status={};created_from={};created_to={}",
        status.map_or("any", Status::as_str),
        q.created_from.map(|t| t.to_rfc3339()).unwrap_or_default(),
        q.created_to.map(|t| t.to_rfc3339()).unwrap_or_default()
    );
    let id = export::begin(&state, &v, &format!("export.{}", format.as_str()), &described).await?;
    let body = export::body(state, v, format, filter, id.clone());
    Ok((
        [
            (CONTENT_TYPE, format.content_type()),
            (axum::http::HeaderName::from_static("leancart-export-id"), id.as_str()),
        ],
        body,
    )
        .into_response())
}

/// Your fulfillments as CSV (one row per line), streamed. Audited with every reference it carried.
#[utoipa::path(
    get, path = "/partner/exports/fulfillments.csv", tag = "fulfillment", params(ExportQuery), security(("partner_key" = [])),
    responses((status = 200, description = "CSV, one row per line of each record", content_type = "text/csv"))
)]
pub async fn export_csv(
    State(state): State<AppState>,
    partner: Partner,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    stream(state, partner, q, Format::Csv).await
}

/// Your fulfillments as NDJSON (one record per line, as the JSON API shows it), streamed. Audited.
#[utoipa::path(
    get, path = "/partner/exports/fulfillments.ndjson", tag = "fulfillment", params(ExportQuery), security(("partner_key" = [])),
    responses((status = 200, description = "One record per line", content_type = "application/x-ndjson"))
)]
pub async fn export_ndjson(
    State(state): State<AppState>,
    partner: Partner,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    stream(state, partner, q, Format::Ndjson).await
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    /// The references received (at most 1000).
    #[validate(length(min = 1, max = 1000, code = "length"))]
    pub references: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AckDto {
    /// Those now acknowledged: the next pull of `ready` work leaves them out.
    pub acknowledged: Vec<String>,
}

/// Acknowledge what you received: the next pull returns only new work. Pulling again before
/// acknowledging is safe (the same references, no duplicates).
#[utoipa::path(
    post, path = "/partner/fulfillments/ack", tag = "fulfillment", request_body = Ack, security(("partner_key" = [])),
    responses((status = 200, body = AckDto))
)]
pub async fn ack(
    State(state): State<AppState>,
    partner: Partner,
    ApiJson(body): ApiJson<Ack>,
) -> Result<Json<AckDto>, ApiError> {
    Ok(Json(AckDto { acknowledged: service::acknowledge(&state, &partner.0.partner_id, body.references).await? }))
}

#[derive(Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippedLine {
    #[validate(length(min = 1, max = 64, code = "length"))]
    pub sku: String,
    #[validate(range(min = 1, max = 10000, code = "range"))]
    pub quantity: i32,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentInput {
    #[validate(length(min = 1, max = 64, code = "length"))]
    pub carrier: String,
    #[validate(length(min = 1, max = 64, code = "length"))]
    pub tracking_number: String,
    /// What this parcel holds; omitted: everything still to ship.
    #[serde(default)]
    #[validate(nested, length(max = 200, code = "length"))]
    pub lines: Vec<ShippedLine>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentDto {
    /// `shp_…`
    pub shipment_id: String,
    /// The fulfillment's status now.
    pub status: Status,
    /// `false`: this tracking number was recorded before; nothing changed.
    pub created: bool,
}

/// Report a shipment (the same tracking number twice is one shipment). Moves the order to
/// `partially_fulfilled` / `fulfilled` and sends the shopper their shipping confirmation.
#[utoipa::path(
    post, path = "/partner/fulfillments/{reference}/shipments", tag = "fulfillment", params(("reference" = String, Path)),
    request_body = ShipmentInput, security(("partner_key" = [])),
    responses((status = 201, body = ShipmentDto), (status = 200, description = "Recorded before", body = ShipmentDto),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "`fulfillment_not_open`", body = Problem, content_type = "application/problem+json"))
)]
pub async fn ship(
    State(state): State<AppState>,
    partner: Partner,
    Path(reference): Path<String>,
    ApiJson(body): ApiJson<ShipmentInput>,
) -> Result<Response, ApiError> {
    let s = NewShipment {
        carrier: body.carrier,
        tracking_number: body.tracking_number,
        lines: body.lines.into_iter().map(|l| (l.sku, l.quantity)).collect(),
    };
    let done = service::ship(&state, &partner.0.partner_id, reference, s).await?;
    let code = if done.new { axum::http::StatusCode::CREATED } else { axum::http::StatusCode::OK };
    Ok((code, Json(ShipmentDto { shipment_id: done.shipment_id, status: done.status, created: done.new }))
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusDto {
    pub status: Status,
}

/// Report a shipped fulfillment delivered.
#[utoipa::path(
    post, path = "/partner/fulfillments/{reference}/delivered", tag = "fulfillment", params(("reference" = String, Path)),
    security(("partner_key" = [])),
    responses((status = 200, body = StatusDto), (status = 409, body = Problem, content_type = "application/problem+json"))
)]
pub async fn delivered(
    State(state): State<AppState>,
    partner: Partner,
    Path(reference): Path<String>,
) -> Result<Json<StatusDto>, ApiError> {
    Ok(Json(StatusDto {
        status: service::report(&state, &partner.0.partner_id, reference, Status::Delivered, None).await?,
    }))
}

/// What went wrong with a parcel (a code: free text could carry personal data).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionCode {
    AddressInvalid,
    Damaged,
    Lost,
    Refused,
    OutOfStock,
    Other,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionInput {
    pub code: ExceptionCode,
}

/// Report a problem with a fulfillment.
#[utoipa::path(
    post, path = "/partner/fulfillments/{reference}/exception", tag = "fulfillment", params(("reference" = String, Path)),
    request_body = ExceptionInput, security(("partner_key" = [])),
    responses((status = 200, body = StatusDto), (status = 409, body = Problem, content_type = "application/problem+json"))
)]
pub async fn exception(
    State(state): State<AppState>,
    partner: Partner,
    Path(reference): Path<String>,
    ApiJson(body): ApiJson<ExceptionInput>,
) -> Result<Json<StatusDto>, ApiError> {
    let code = serde_json::to_value(body.code).ok().and_then(|v| v.as_str().map(str::to_owned));
    Ok(Json(StatusDto {
        status: service::report(&state, &partner.0.partner_id, reference, Status::Exception, code).await?,
    }))
}
