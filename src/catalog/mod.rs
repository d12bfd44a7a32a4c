//! Catalog: products and their variants (read side for shoppers, seeding for operators).
//!
//! Personal data held: none.

pub mod http;
pub mod model;
pub mod seed;
pub mod store;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(http::list_products)).routes(routes!(http::get_product))
}
