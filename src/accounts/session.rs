//! How an account session reaches the server: `Authorization: Bearer sa_…` (API clients), or the
//! `lc_session` cookie (`Secure; HttpOnly; SameSite=Lax`) a browser keeps. A cookie-authenticated
//! request that changes something must also carry `X-CSRF-Token`: the value the login answered with,
//! derived from the session token — a page on another site can make the browser send the cookie, but
//! cannot read the token to derive it.

use super::service;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "lc_session";
/// The header a cookie-authenticated unsafe request carries.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of a session (hex; the same for the session's whole life).
pub fn csrf_token(session_token: &str) -> String {
    hex::encode(&Sha256::digest(format!("leancart-csrf\0{session_token}").as_bytes())[..16])
}

/// The `Set-Cookie` value of a new session.
pub fn set_cookie(token: &str, max_age_secs: i64) -> String {
    format!("{COOKIE_NAME}={token}; Path=/; Max-Age={max_age_secs}; Secure; HttpOnly; SameSite=Lax")
}

/// The `Set-Cookie` value that ends it in the browser.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax")
}

fn cookie(parts: &Parts) -> Option<String> {
    parts.headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == COOKIE_NAME && !value.is_empty() && value.len() <= 200).then(|| value.to_owned())
    })
}

/// The signed-in account of a request: its id and the session's token hash.
pub struct AccountSession {
    pub account_id: String,
    pub session_hash: String,
}

impl FromRequestParts<AppState> for AccountSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| !t.is_empty() && t.len() <= 200)
            .map(str::to_owned);
        let token = match bearer {
            Some(token) => token,
            None => {
                let token = cookie(parts).ok_or(ApiError::Unauthorized)?;
                let unsafe_method = !matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS");
                let presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
                let expected = csrf_token(&token);
                if unsafe_method && !crate::kernel::secret::constant_time_eq(presented.as_bytes(), expected.as_bytes())
                {
                    return Err(ApiError::Forbidden);
                }
                token
            }
        };
        let (account_id, session_hash) = service::authenticate(state, &token).await?;
        Ok(AccountSession { account_id, session_hash })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_csrf_token_is_the_sessions_own() {
        let a = super::csrf_token("sa_one");
        assert_eq!(a, super::csrf_token("sa_one"));
        assert_ne!(a, super::csrf_token("sa_two"));
        assert_eq!(a.len(), 32);
        assert!(super::set_cookie("sa_x", 60).contains("Secure; HttpOnly; SameSite=Lax"));
    }
}
