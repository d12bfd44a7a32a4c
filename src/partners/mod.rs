//! Fulfillment partners (warehouses, 3PLs, carriers) and their API keys: made and managed by operators
//! (`leancart partner …`), presented as `Authorization: Bearer lc_live_…`. A key carries scopes
//! (`orders:read`, `shipments:write`, `shipping.phone:read`, `customs:read`); it can expire and is
//! rotated with overlap (issue the new key, move the partner to it, then revoke or let the old expire).
//!
//! Personal data held: none (a partner is a business; its keys are hashes).

pub mod http;
pub mod keys;
pub mod store;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(http::whoami))
}
