//! Privacy: the personal-data registry (every column of the schema, declared), and — as the personal-data
//! issue lands — per-person sealing at rest, access exports, erasure and retention.
//!
//! Personal data held: none of its own; it describes what every other module holds.

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

/// The privacy routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(http::request_proof))
        .routes(routes!(http::open_session))
        .routes(routes!(http::raise_request))
        .routes(routes!(http::get_request))
        .routes(routes!(http::download_export))
        .routes(routes!(http::admin_raise_request))
        .routes(routes!(http::admin_get_request))
}
