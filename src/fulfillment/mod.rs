//! Fulfillment: paid orders routed to partners (warehouses, 3PLs, carriers) by rules, each partner's
//! share a fulfillment with a pseudonymous reference; partners pull minimized records (JSON pages,
//! streamed CSV/NDJSON exports), acknowledge them and report shipments back; notices to their
//! endpoints; admins manage partners, rules and assignments.
//!
//! Personal data held: none of its own — a record is opened from the order's sealed fields when read,
//! for the fields the partner's key is granted, within the purpose's window.

pub mod admin;
pub mod export;
pub mod http;
pub mod mail;
pub mod model;
pub mod notices;
pub mod record;
pub mod service;
pub mod store;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(http::list))
        .routes(routes!(http::one))
        .routes(routes!(http::export_csv))
        .routes(routes!(http::export_ndjson))
        .routes(routes!(http::ack))
        .routes(routes!(http::ship))
        .routes(routes!(http::delivered))
        .routes(routes!(http::exception))
        .routes(routes!(admin::list_partners, admin::create_partner))
        .routes(routes!(admin::update_partner))
        .routes(routes!(admin::issue_key))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(admin::preview))
        .routes(routes!(admin::list_rules, admin::create_rule))
        .routes(routes!(admin::delete_rule))
        .routes(routes!(admin::list_fulfillments))
        .routes(routes!(admin::assign))
}
