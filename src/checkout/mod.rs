//! Checkout: guest carts reachable only with their token, lines checked against catalog and stock,
//! checkout details limited to what each purpose needs, server-side totals.
//!
//! Personal data held (on the cart, until it is checked out): contact e-mail; for shippable goods the
//! recipient's name and address, and a phone number only when the carrier needs it.

pub mod http;
pub mod model;
pub mod service;
pub mod store;

use crate::http::limits::RateLimit;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The checkout routes; `limit` guards the creation of carts.
pub fn router(limit: Option<&RateLimit>) -> OpenApiRouter<AppState> {
    let create = OpenApiRouter::new().routes(routes!(http::create_cart));
    let create = match limit {
        Some(l) => create.layer(l.layer()),
        None => create,
    };
    OpenApiRouter::new()
        .merge(create)
        .routes(routes!(http::get_cart))
        .routes(routes!(http::add_line))
        .routes(routes!(http::set_line, http::remove_line))
        .routes(routes!(http::set_details))
        .routes(routes!(http::shipping_methods))
}
