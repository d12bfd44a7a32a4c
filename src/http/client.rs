//! The client's address: what per-client limits count by (rate limits, unpaid orders). Held in memory
//! only, never stored and never logged.
//!
//! By default the TCP peer. Behind a reverse proxy every request comes from the proxy, so
//! `LEANCART_CLIENT_IP_HEADER` names the header the proxy sets: `x-real-ip`, or `x-forwarded-for`, of
//! which only the last entry is taken (the one our proxy appended; earlier entries are whatever the
//! client sent).

use crate::error::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The address requests of one client share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

/// Where the address comes from: `None` for the TCP peer, else the header's name.
#[derive(Clone)]
pub struct ClientSource(pub Option<Arc<str>>);

fn from_header(headers: &HeaderMap, name: &str) -> Option<IpAddr> {
    let v = headers.get(name)?.to_str().ok()?;
    let last = v.rsplit(',').next()?.trim();
    last.parse().ok()
}

/// Work out the client's address once per request and attach it as an extension.
pub async fn client_address(State(source): State<ClientSource>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let addr = match &source.0 {
        Some(name) => from_header(req.headers(), name).or(peer),
        None => peer,
    };
    // Unknown only when served without connection info (never by `Application`): one shared bucket.
    let addr = addr.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    req.extensions_mut().insert(ClientAddr(addr));
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<ClientAddr>().copied().ok_or_else(|| ApiError::internal("client address missing"))
    }
}

/// The key per-client rate limits count by (tower_governor).
#[derive(Debug, Clone, Copy)]
pub struct ClientKey;

impl tower_governor::key_extractor::KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<Self::Key, tower_governor::GovernorError> {
        req.extensions().get::<ClientAddr>().map(|c| c.0).ok_or(tower_governor::GovernorError::UnableToExtractKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxys_entry_is_the_last() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 10.0.0.7".parse().unwrap());
        assert_eq!(from_header(&h, "x-forwarded-for"), Some("10.0.0.7".parse().unwrap()));
        h.insert("x-real-ip", "not an address".parse().unwrap());
        assert_eq!(from_header(&h, "x-real-ip"), None);
    }
}
