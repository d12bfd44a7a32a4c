//! Billing: card payments through Stripe (async-stripe), the local Stripe-compatible sandbox, and
//! signed webhooks. Cards never touch leancart: the browser tokenizes with Stripe.js; this module keeps
//! processor ids, status, amounts and the card's brand, last 4 and expiry — nothing else.
//!
//! Personal data held: none (card brand/last4/expiry are not personal data on their own; no name,
//! e-mail or address is sent to or stored from the processor).

pub mod http;
pub mod model;
pub mod processor;
pub mod service;
pub mod settlement;
pub mod signature;
pub mod store;
pub mod stripe_http;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(http::stripe_webhook))
        .routes(routes!(http::list_webhook_events))
        .routes(routes!(http::get_payment))
}
