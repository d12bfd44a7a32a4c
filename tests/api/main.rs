#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The one integration-test binary: the real app on a random port, a fresh database per test, HTTP.
//! Backend: LEANCART_TEST_DB=sqlite|postgres (default sqlite).

mod support;

mod abuse;
mod access;
mod accounts;
mod audit;
mod billing;
mod catalog;
mod checkout;
mod cli;
mod errors;
mod fulfillment;
mod guard;
mod layout;
mod mail;
mod migrations;
mod openapi;
mod operations;
mod orders;
mod partners;
mod privacy;
mod privacy_requests;
mod privacy_types;
mod roundtrip;
mod staff;
mod tls;
