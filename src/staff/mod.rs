//! Staff: a sign-in realm of its own (not shopper accounts), with one role each (`access::Role`), a
//! required second factor, and management by admins — bootstrapped from the CLI
//! (`leancart staff create`), which prints a one-time setup link.
//!
//! Personal data held: a member's work e-mail, sealed under a key of their own (`staff:<id>`), found by
//! its blind index; the password only as an argon2id hash; the TOTP secret sealed under the same key.

pub mod http;
pub mod model;
pub mod service;
pub mod session;
pub mod store;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The staff routes; `limit` guards those that check a password or a link.
pub fn router(limit: Option<&crate::http::limits::RateLimit>) -> OpenApiRouter<AppState> {
    let guarded = OpenApiRouter::new().routes(routes!(http::login)).routes(routes!(http::setup));
    let guarded = match limit {
        Some(l) => guarded.layer(l.layer()),
        None => guarded,
    };
    OpenApiRouter::new()
        .merge(guarded)
        .routes(routes!(http::me))
        .routes(routes!(http::logout))
        .routes(routes!(http::begin_second_factor))
        .routes(routes!(http::confirm_second_factor))
        .routes(routes!(http::list, http::create))
        .routes(routes!(http::update, http::disable))
        .routes(routes!(http::setup_link))
        .routes(routes!(http::reset_second_factor))
}
