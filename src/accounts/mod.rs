//! Shopper accounts (optional: guest checkout stays first-class): registration, login, sessions.
//!
//! Personal data held: the account holder's e-mail and name, sealed under their key like a guest's
//! details; the password only as an argon2id hash.

pub mod http;
pub mod model;
pub mod password;
pub mod service;
pub mod store;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The account routes; `limit` guards the two that check a password.
pub fn router(limit: Option<&crate::http::limits::RateLimit>) -> OpenApiRouter<AppState> {
    let guarded = OpenApiRouter::new().routes(routes!(http::register)).routes(routes!(http::login));
    let guarded = match limit {
        Some(l) => guarded.layer(l.layer()),
        None => guarded,
    };
    OpenApiRouter::new()
        .merge(guarded)
        .routes(routes!(http::me))
        .routes(routes!(http::logout))
        .routes(routes!(http::logout_everywhere))
}
