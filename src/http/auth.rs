//! Principals. Until the accounts module arrives, the staff API is protected by one configured admin
//! token (`LEANCART_ADMIN_TOKEN`), compared in constant time; without it the staff API is disabled.

use crate::error::ApiError;
use crate::kernel::secret::constant_time_eq;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

/// A member of staff, authenticated by the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Staff;

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.config.admin_token else {
            return Err(ApiError::Forbidden);
        };
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        if constant_time_eq(presented.as_bytes(), expected.expose().as_bytes()) {
            Ok(Staff)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

/// A bearer credential of a shopper's resource (cart token `ct_…`, order token `ot_…`). Never logged.
pub struct BearerToken(pub crate::kernel::secret::SecretString);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| !t.is_empty() && t.len() <= 200)
            .map(|t| BearerToken(crate::kernel::secret::SecretString::new(t)))
            .ok_or(ApiError::Unauthorized)
    }
}
