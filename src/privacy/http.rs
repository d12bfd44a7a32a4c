//! Privacy requests over HTTP: e-mail proof, session, access and erasure requests, the export
//! download; staff raise requests for a customer (audited).

use super::requests::{self, Kind, RaisedBy};
use super::store::RequestRow;
use crate::access::StaffActor;
use crate::error::{ApiError, Problem};
use crate::http::auth::BearerToken;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::kernel::pii::Email;
use crate::kernel::time::UtcTime;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofRequest {
    /// The address whose data you want to see or erase: a single-use link valid for 15 minutes goes to
    /// it, if this shop holds data on it.
    pub email: Email,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedDto {
    pub detail: String,
}

/// Ask for an e-mail proof link. The answer is the same whether or not the address is known.
#[utoipa::path(
    post, path = "/privacy/proofs", tag = "privacy", request_body = ProofRequest,
    responses((status = 202, body = AcceptedDto), (status = 422, body = Problem, content_type = "application/problem+json"))
)]
pub async fn request_proof(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ProofRequest>,
) -> Result<(StatusCode, Json<AcceptedDto>), ApiError> {
    // The work is the same or none depending on whether the address is known: done after the answer,
    // so the answer's timing tells nothing either.
    let worker = state.clone();
    tokio::spawn(async move {
        if let Err(e) = requests::request_proof(&worker, &body.email).await {
            tracing::warn!(code = e.code(), "an e-mail proof could not be prepared");
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedDto {
            detail: "If this shop holds data on the address, a link to confirm it is yours was sent to it; it \
                     works once, within 15 minutes."
                .into(),
        }),
    ))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// The token of the e-mail proof link (`pp_…`).
    #[validate(length(min = 1, max = 200, code = "length"))]
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    /// `Authorization: Bearer` for the privacy requests (`ps_…`); shown once.
    pub session_token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UtcTime,
}

/// Use an e-mail proof link's token (once, within 15 minutes) for a one-hour privacy session.
#[utoipa::path(
    post, path = "/privacy/sessions", tag = "privacy", request_body = SessionRequest,
    responses((status = 201, body = SessionDto), (status = 422, description = "`link_invalid`: unknown, used or expired", body = Problem, content_type = "application/problem+json"))
)]
pub async fn open_session(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SessionRequest>,
) -> Result<(StatusCode, Json<SessionDto>), ApiError> {
    let session = requests::open_session(&state, &body.token).await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionDto { session_token: session.token.expose().to_owned(), expires_at: session.expires_at.into() }),
    ))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KindDto {
    /// Everything held on you and every order, as a download link (JSON and HTML) sent by mail.
    Access,
    /// Erase your personal data (orders stay for accounting, without anything that names you).
    Erasure,
}

impl From<KindDto> for Kind {
    fn from(k: KindDto) -> Kind {
        match k {
            KindDto::Access => Kind::Access,
            KindDto::Erasure => Kind::Erasure,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub kind: KindDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestDto {
    pub id: String,
    /// `access` or `erasure`
    pub kind: String,
    /// `pending`, `deferred` (a hold: see `hold_reason`) or `done`
    pub status: String,
    /// Deferred erasure: what it waits for; it is carried out when that ends.
    pub hold_reason: Option<String>,
    /// Access: the download link was sent by mail and works until then.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub link_expires_at: Option<UtcTime>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UtcTime,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<UtcTime>,
}

fn request_dto(r: &RequestRow) -> RequestDto {
    RequestDto {
        id: r.id.clone(),
        kind: r.kind.clone(),
        status: r.status.clone(),
        hold_reason: r.hold_reason.clone(),
        link_expires_at: if r.kind == "access" { r.expires_at.map(Into::into) } else { None },
        created_at: r.created_at.into(),
        done_at: r.done_at.map(Into::into),
    }
}

pub fn raised_response(raised: requests::Raised) -> Response {
    let status = if raised.existing { StatusCode::OK } else { StatusCode::CREATED };
    (status, Json(request_dto(&raised.request))).into_response()
}

/// Raise an access or erasure request (privacy session from an e-mail proof). A request of the same
/// kind in flight is returned (200) instead of a new one (201).
#[utoipa::path(
    post, path = "/privacy/requests", tag = "privacy", request_body = NewRequest, security(("privacy_session" = [])),
    responses((status = 201, body = RequestDto), (status = 200, description = "Already in flight", body = RequestDto),
              (status = 401, body = Problem, content_type = "application/problem+json"))
)]
pub async fn raise_request(
    State(state): State<AppState>,
    token: BearerToken,
    ApiJson(body): ApiJson<NewRequest>,
) -> Result<Response, ApiError> {
    let subject = requests::session_subject(&state, token.0.expose()).await?;
    let raised = requests::raise(&state, &subject, body.kind.into(), RaisedBy::Subject, None).await?;
    Ok(raised_response(raised))
}

/// One of your privacy requests (privacy session).
#[utoipa::path(
    get, path = "/privacy/requests/{id}", tag = "privacy", params(("id" = String, Path)), security(("privacy_session" = [])),
    responses((status = 200, body = RequestDto), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn get_request(
    State(state): State<AppState>,
    Path(id): Path<String>,
    token: BearerToken,
) -> Result<Json<RequestDto>, ApiError> {
    let subject = requests::session_subject(&state, token.0.expose()).await?;
    let row = find(&state, id).await?;
    if row.subject_id != subject || row.kind == "proof" {
        return Err(ApiError::NotFound);
    }
    Ok(Json(request_dto(&row)))
}

async fn find(state: &AppState, id: String) -> Result<RequestRow, ApiError> {
    if requests::PrivacyRequestId::parse(&id).is_none() {
        return Err(ApiError::NotFound);
    }
    state.db.run(move |c| Ok(super::store::find_request(c, &id)?)).await?.ok_or(ApiError::NotFound)
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// When the link stops working (Unix seconds), as the mailed link says.
    pub expires: i64,
    /// The link's signature, as the mailed link says.
    #[validate(length(min = 64, max = 64, code = "length"))]
    pub signature: String,
    /// `json` (default) or `html`.
    pub format: Option<String>,
}

/// Download an access export: the signed link sent by mail (valid 24 hours). JSON, or a readable
/// HTML page with `format=html`.
#[utoipa::path(
    get, path = "/privacy/exports/{id}", tag = "privacy", params(("id" = String, Path), ExportQuery),
    responses((status = 200, description = "The export (application/json, or text/html)", body = serde_json::Value),
              (status = 404, description = "Unknown, tampered with or expired link", body = Problem, content_type = "application/problem+json"))
)]
pub async fn download_export(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let signed = state.vault.keys().links.verify(&super::mail::export_message(&id, q.expires), &q.signature);
    let now = state.clock.now().and_utc().timestamp();
    if !signed || q.expires <= now {
        return Err(ApiError::NotFound);
    }
    let row = find(&state, id).await?;
    if row.kind != "access" {
        return Err(ApiError::NotFound);
    }
    let document = super::export::document(&state, &row.subject_id).await?;
    let html = match q.format.as_deref() {
        Some("html") => true,
        Some("json") => false,
        Some(_) => return Err(ApiError::validation("format", "invalid_choice")),
        None => headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.starts_with("text/html")),
    };
    Ok(if html {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], super::export::html(&document)).into_response()
    } else {
        Json(document).into_response()
    })
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffRequest {
    pub kind: KindDto,
    /// The customer's e-mail: the request's messages go to it.
    pub email: Email,
}

/// Staff: raise an access or erasure request for a customer (audited).
#[utoipa::path(
    post, path = "/admin/privacy/requests", tag = "privacy", request_body = StaffRequest, security(("staff_session" = [])),
    responses((status = 201, body = RequestDto), (status = 200, description = "Already in flight", body = RequestDto),
              (status = 404, description = "`no_data_held`: this shop holds nothing on the address", body = Problem, content_type = "application/problem+json"))
)]
pub async fn admin_raise_request(
    actor: StaffActor,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<StaffRequest>,
) -> Result<Response, ApiError> {
    let subject = state.vault.find_subject(&body.email).await?.ok_or_else(|| ApiError::Unprocessable {
        code: "no_data_held",
        detail: "this shop holds no personal data on the address".into(),
        extra: None,
    })?;
    let kind: Kind = body.kind.into();
    let raised = requests::raise(&state, &subject, kind, RaisedBy::Staff, Some(body.email)).await?;
    let (id, action) = (raised.request.id.clone(), format!("privacy.request.{}", kind.as_str()));
    let audited = move |c: &mut crate::db::DbConn| crate::audit::record(c, &actor.id, &action, Some(&id));
    state.db.run(move |c| Ok(crate::db::dialect::write_transaction(c, audited).map(|_| ())?)).await?;
    Ok(raised_response(raised))
}

/// Staff: a privacy request (audited).
#[utoipa::path(
    get, path = "/admin/privacy/requests/{id}", tag = "privacy", params(("id" = String, Path)), security(("staff_session" = [])),
    responses((status = 200, body = RequestDto), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn admin_get_request(
    actor: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RequestDto>, ApiError> {
    let row = find(&state, id).await?;
    let rid = row.id.clone();
    state
        .db
        .run(move |c| {
            let audited =
                |c: &mut crate::db::DbConn| crate::audit::record(c, &actor.id, "privacy.request.read", Some(&rid));
            Ok(crate::db::dialect::write_transaction(c, audited).map(|_| ())?)
        })
        .await?;
    Ok(Json(request_dto(&row)))
}
