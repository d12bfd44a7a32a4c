//! The bearer credential of a shopper's own resource. Who may call which route is decided in `access`.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

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
