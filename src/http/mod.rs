//! Shared HTTP plumbing: request extractors (JSON and query with unknown-field refusal and
//! validation), the list envelope, middleware (request id, trace span, timeout, body buffering with the
//! card-number guard), the OpenAPI document and TLS.

pub mod auth;
pub mod client;
pub mod extract;
pub mod guard;
pub mod limits;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod tls;
