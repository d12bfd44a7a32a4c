//! The partner API's door: a key's bearer token (`lc_live_…`) checked on every request.

use super::keys::{self, PartnerKey};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::Serialize;
use utoipa::ToSchema;

/// The partner whose key made the request (the access gate checked it: 401 for none, a revoked or an
/// expired one; 403 for a scope it lacks).
pub struct Partner(pub PartnerKey);

/// Check the partner key a request carries.
pub async fn key_from_parts(parts: &Parts, state: &AppState) -> Result<PartnerKey, ApiError> {
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| t.starts_with(keys::KEY_PREFIX) && t.len() <= 200)
        .ok_or(ApiError::Unauthorized)?
        .to_owned();
    let now = state.clock.now();
    state.db.run(move |conn| keys::check(conn, &token, now)).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmIDto {
    /// `ptn_…`
    pub partner_id: String,
    /// `pk_…`
    pub key_id: String,
    pub scopes: Vec<String>,
}

/// The partner and key this token is, and what it may do.
#[utoipa::path(
    get, path = "/partner/whoami", tag = "partners", security(("partner_key" = [])),
    responses((status = 200, body = WhoAmIDto))
)]
pub async fn whoami(partner: Partner) -> Json<WhoAmIDto> {
    let key = partner.0;
    Json(WhoAmIDto { partner_id: key.partner_id, key_id: key.key_id, scopes: key.scopes })
}
