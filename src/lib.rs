//! leancart — a privacy-first checkout and order backend.
//!
//! Plumbing lives in `http`, `db` and `kernel`; each business domain has its own module with the same
//! few files (`mod.rs`, `http.rs`, `service.rs`, `store.rs`, `model.rs`).

pub mod access;
pub mod accounts;
pub mod app;
pub mod audit;
pub mod billing;
pub mod catalog;
pub mod checkout;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod fulfillment;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod kernel;
pub mod mail;
pub mod orders;
pub mod partners;
pub mod privacy;
pub mod sandbox;
pub mod shipping;
pub mod staff;
pub mod state;
pub mod telemetry;
