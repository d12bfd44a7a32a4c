//! Per-client rate limits (tower_governor: GCRA, keyed by the client's address, in this process's
//! memory). A refused request gets the `rate_limited` problem with `Retry-After`.

use super::client::ClientKey;
use crate::error::ApiError;
use axum::response::IntoResponse;
use governor::middleware::NoOpMiddleware;
use std::sync::Arc;
use std::time::Duration;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::{GovernorError, GovernorLayer};

/// One limit: so many requests per minute per client, in a burst or spread out.
#[derive(Clone)]
pub struct RateLimit(Arc<GovernorConfig<ClientKey, NoOpMiddleware>>);

impl RateLimit {
    /// `per_minute` requests per minute, all of them allowed at once; `None` when 0 (no limit).
    pub fn per_minute(per_minute: u32) -> Option<RateLimit> {
        if per_minute == 0 {
            return None;
        }
        let config = GovernorConfigBuilder::default()
            .period(Duration::from_secs(60) / per_minute)
            .burst_size(per_minute)
            .key_extractor(ClientKey)
            .finish()?;
        Some(RateLimit(Arc::new(config)))
    }

    /// The layer for the routes this limit guards.
    pub fn layer(&self) -> GovernorLayer<ClientKey, NoOpMiddleware, axum::body::Body> {
        GovernorLayer::new(self.0.clone()).error_handler(|e| match e {
            GovernorError::TooManyRequests { wait_time, .. } => {
                ApiError::TooManyRequests { retry_after_secs: wait_time.max(1) }.into_response()
            }
            _ => ApiError::internal("rate limit: no client address").into_response(),
        })
    }

    /// Forget clients that have been quiet long enough to have their whole allowance back.
    pub fn forget_idle(&self) {
        self.0.limiter().retain_recent();
        self.0.limiter().shrink_to_fit();
    }
}

/// The limits of the routes that could be used to hoard stock, or to send mail and guess links.
#[derive(Clone, Default)]
pub struct Limits {
    /// `POST /v1/carts`.
    pub carts: Option<RateLimit>,
    /// `POST /v1/orders`.
    pub orders: Option<RateLimit>,
    /// `POST /v1/privacy/proofs`, `POST /v1/privacy/sessions`, `POST /v1/accounts`, `POST /v1/sessions`:
    /// one budget for what sends mail or checks a secret.
    pub privacy: Option<RateLimit>,
}

impl Limits {
    pub fn from_config(config: &crate::config::Config) -> Limits {
        Limits {
            carts: RateLimit::per_minute(config.carts_per_minute),
            orders: RateLimit::per_minute(config.orders_per_minute),
            privacy: RateLimit::per_minute(config.privacy_per_minute),
        }
    }

    pub fn forget_idle(&self) {
        self.carts.iter().chain(self.orders.iter()).chain(self.privacy.iter()).for_each(RateLimit::forget_idle);
    }
}
