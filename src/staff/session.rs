//! How a staff session reaches the server: `Authorization: Bearer ss_…`, or the `lc_staff_session`
//! cookie with `X-CSRF-Token` on requests that change something (as for shoppers, in a realm apart).

use super::service;
use crate::access::StaffActor;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::request::Parts;

/// Authenticate the staff session a request carries (401 without a live one).
pub async fn from_parts(parts: &Parts, state: &AppState) -> Result<StaffActor, ApiError> {
    let token = crate::accounts::session::credential(parts, super::model::COOKIE_NAME)?;
    service::authenticate(state, &token).await
}
