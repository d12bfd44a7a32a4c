//! Orders: placement from a cart (idempotent, no oversell), the lifecycle state machine driven by
//! payments, shopper access by order token, staff operations.
//!
//! Personal data held: the contact e-mail and, for shippable goods, the shipping name, address and (only
//! when the carrier needs it) phone — for this order only, never as a customer record.

pub mod holds;
pub mod http;
pub mod mail;
pub mod model;
pub mod placement;
pub mod service;
pub mod store;

use crate::http::limits::RateLimit;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The order routes; `limit` guards placement.
pub fn router(limit: Option<&RateLimit>) -> OpenApiRouter<AppState> {
    let place = OpenApiRouter::new().routes(routes!(http::place_order));
    let place = match limit {
        Some(l) => place.layer(l.layer()),
        None => place,
    };
    OpenApiRouter::new()
        .merge(place)
        .routes(routes!(http::get_order))
        .routes(routes!(http::admin_list_orders))
        .routes(routes!(http::admin_get_order))
        .routes(routes!(http::admin_cancel_order))
        .routes(routes!(http::admin_refund_order))
        .routes(routes!(http::admin_capture_order))
}
