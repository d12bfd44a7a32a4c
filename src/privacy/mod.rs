//! Privacy: the personal-data registry (every column of the schema, declared), per-person sealing at
//! rest (data subjects and their keys in the keyring), access and erasure requests, retention
//! schedules. See docs/privacy.md.
//!
//! Personal data held: where to write about a privacy request (sealed under the request's own key
//! until its message is sent); the export it builds on download is not stored.

pub mod export;
pub mod http;
pub mod keyring;
pub mod mail;
pub mod personal;
pub mod registry;
pub mod requests;
pub mod retention;
pub mod sealing;
pub mod store;
pub mod vault;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The privacy routes; `limit` guards the two that send mail or try a link's token.
pub fn router(limit: Option<&crate::http::limits::RateLimit>) -> OpenApiRouter<AppState> {
    let guarded = OpenApiRouter::new().routes(routes!(http::request_proof)).routes(routes!(http::open_session));
    let guarded = match limit {
        Some(l) => guarded.layer(l.layer()),
        None => guarded,
    };
    OpenApiRouter::new()
        .merge(guarded)
        .routes(routes!(http::raise_request))
        .routes(routes!(http::get_request))
        .routes(routes!(http::download_export))
        .routes(routes!(http::admin_raise_request))
        .routes(routes!(http::admin_get_request))
}
