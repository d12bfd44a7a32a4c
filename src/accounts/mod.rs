//! Shopper accounts (optional: guest checkout stays first-class): registration, login, sessions.
//!
//! Personal data held: the account holder's e-mail and name, sealed under their key like a guest's
//! details; the password only as an argon2id hash.

pub mod http;
pub mod mail;
pub mod model;
pub mod password;
pub mod second_factor;
pub mod service;
pub mod session;
pub mod store;
pub mod throttle;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The account routes; `limit` guards those that check a password or a link, or send mail.
pub fn router(limit: Option<&crate::http::limits::RateLimit>) -> OpenApiRouter<AppState> {
    let guarded = OpenApiRouter::new()
        .routes(routes!(http::register))
        .routes(routes!(http::register_from_cart))
        .routes(routes!(http::login))
        .routes(routes!(http::request_reset))
        .routes(routes!(http::complete_reset));
    let guarded = match limit {
        Some(l) => guarded.layer(l.layer()),
        None => guarded,
    };
    OpenApiRouter::new()
        .merge(guarded)
        .routes(routes!(http::me))
        .routes(routes!(http::logout))
        .routes(routes!(http::logout_everywhere))
        .routes(routes!(http::change_password))
        .routes(routes!(http::my_orders))
        .routes(routes!(http::my_order))
        .routes(routes!(http::my_privacy_request))
        .routes(routes!(http::request_claim))
        .routes(routes!(http::complete_claim))
        .routes(routes!(http::begin_second_factor, http::remove_second_factor))
        .routes(routes!(http::confirm_second_factor))
}
