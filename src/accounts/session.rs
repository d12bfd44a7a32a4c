//! How an account session reaches the server: `Authorization: Bearer sa_…` (API clients), or the
//! `lc_session` cookie (`Secure; HttpOnly; SameSite=Lax`) a browser keeps. A cookie-authenticated
//! request that changes something must also carry `X-CSRF-Token`: the value the login answered with,
//! derived from the session token — a page on another site can make the browser send the cookie, but
//! cannot read the token to derive it.

use super::service;
use crate::error::ApiError;
use crate::state::AppState;
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
    named_cookie(COOKIE_NAME, token, max_age_secs)
}

/// A session cookie of `name`.
pub fn named_cookie(name: &str, token: &str, max_age_secs: i64) -> String {
    format!("{name}={token}; Path=/; Max-Age={max_age_secs}; Secure; HttpOnly; SameSite=Lax")
}

/// The `Set-Cookie` value that ends it in the browser.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax")
}

fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts.headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (n, value) = c.trim().split_once('=')?;
        (n == name && !value.is_empty() && value.len() <= 200).then(|| value.to_owned())
    })
}

/// The session token a request carries: the bearer token, or the cookie `cookie_name` — then, for a
/// method that changes something, with the session's CSRF token (403 without it).
pub fn credential(parts: &Parts, cookie_name: &str) -> Result<String, ApiError> {
    let bearer = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .map(str::to_owned);
    if let Some(token) = bearer {
        return Ok(token);
    }
    let token = cookie(parts, cookie_name).ok_or(ApiError::Unauthorized)?;
    let unsafe_method = !matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    let presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if unsafe_method && !crate::kernel::secret::constant_time_eq(presented.as_bytes(), csrf_token(&token).as_bytes()) {
        return Err(ApiError::Denied {
            code: "csrf_token_missing",
            detail:
                "a request authenticated by the session cookie that changes something needs the X-CSRF-Token header"
                    .into(),
        });
    }
    Ok(token)
}

/// The signed-in account of a request: its id and the session's token hash. Handlers take it as an
/// extractor; the access gate (`access::gate`) authenticated it.
#[derive(Debug, Clone)]
pub struct AccountSession {
    pub account_id: String,
    pub session_hash: String,
}

/// Authenticate the account session a request carries (401 without a live one).
pub async fn from_parts(parts: &Parts, state: &AppState) -> Result<AccountSession, ApiError> {
    let token = credential(parts, COOKIE_NAME)?;
    let (account_id, session_hash) = service::authenticate(state, &token).await?;
    Ok(AccountSession { account_id, session_hash })
}

/// The signed-in account a request may carry, on a route open to guests too (creating a cart): a bearer
/// session must be live (401 otherwise); a cookie session counts only with its CSRF token (without, the
/// request goes on as a guest's, so a page on another site cannot attach a cart to the account).
pub struct MaybeAccount(pub Option<AccountSession>);

impl axum::extract::FromRequestParts<AppState> for MaybeAccount {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let has_bearer = parts.headers.contains_key(AUTHORIZATION);
        match credential(parts, COOKIE_NAME) {
            Ok(token) => match service::authenticate(state, &token).await {
                Ok((account_id, session_hash)) => Ok(MaybeAccount(Some(AccountSession { account_id, session_hash }))),
                Err(e) if has_bearer => Err(e),
                Err(_) => Ok(MaybeAccount(None)),
            },
            Err(e) if has_bearer => Err(e),
            Err(_) => Ok(MaybeAccount(None)),
        }
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
