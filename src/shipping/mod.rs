//! Shipping: which address fields each destination needs (rules as data per country), shipping
//! methods and their rates, and the tax table — the shop policy loaded from `shop.toml`.
//!
//! Personal data held: none (addresses live on carts and orders; this module only validates them).

pub mod address;
pub mod country;
pub mod policy;
