//! Request middleware, outermost first: request id + trace span + access log → timeout → body
//! buffering (size limit and the card-number guard) → handler.
//!
//! The access log records method, route template, status and latency — never the raw URI (query
//! strings can carry tokens) and never a body.

use crate::error::ApiError;
use crate::http::guard;
use crate::kernel::card;
use crate::kernel::ids::random_base62;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::{Duration, Instant};
use tracing::Instrument;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of the current request, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A client's `X-Request-Id` is adopted only in a shape that cannot carry a name, an e-mail or a card
/// number: a UUID (8-4-4-4-12) or 16–64 hexadecimal digits (trace ids), and even then not with a run of
/// more than 12 digits or digits the card guard would refuse. Anything else is replaced by a fresh `req_…`.
fn acceptable_request_id(v: &str) -> bool {
    let uuid = card::is_uuid(v);
    let hex = (16..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_hexdigit());
    // A long digit run is a number, not an id: a card number may hide in one (42424242424242420000…).
    let longest_digit_run = v.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
    (uuid || hex) && longest_digit_run <= 12 && !card::contains_card_number(&v.replace('-', " "))
}

/// The method as the access log may print it: one the router knows, or `OTHER` (an extension method
/// is any token a client likes, digits included).
fn loggable_method(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Adopt a harmless incoming `X-Request-Id` or mint `req_…`; run the request inside a span that
/// carries it; echo it on the response; log one line per request.
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", random_base62()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let method = loggable_method(req.method());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let started = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    // Whole microseconds: a float of milliseconds prints as 2.6325659999999997.
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, latency_us, "request failed");
        } else {
            tracing::info!(status, latency_us, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    res
}

/// Per-request deadline; a request that runs over gets a 408 problem.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// Settings of the body-buffering layer.
#[derive(Clone)]
pub struct BodyPolicy {
    pub limit: usize,
}

/// Paths whose bodies legitimately carry processor data and are verified otherwise (signed webhooks).
pub const CARD_GUARD_EXEMPT: &[&str] = &["/v1/webhooks/stripe"];

/// Buffer the body up to the limit (413 problem beyond it), then apply the input guard
/// ([`guard::inspect`]) to every request, on every endpoint present and future: anything that looks
/// like a card number is refused with `card_data_not_accepted` before any handler, store or log sees
/// it. The number itself is never logged or echoed.
pub async fn buffer_body(State(policy): State<BodyPolicy>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, policy.limit).await {
        Ok(b) => b,
        Err(_) => return ApiError::PayloadTooLarge.into_response(),
    };
    if !CARD_GUARD_EXEMPT.contains(&parts.uri.path())
        && let Err(refusal) = guard::inspect(&parts, &bytes)
    {
        if refusal == guard::Refusal::CardData {
            tracing::warn!("refused a request that contained card data");
        }
        return ApiError::from(refusal).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// 404 for every unknown route, as a problem document.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// 405, as a problem document.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A panic in a handler becomes a 500 problem; the payload (which could hold anything) is not logged.
pub fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::Internal("handler panicked".into()).into_response()
}
