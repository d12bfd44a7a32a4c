//! The main resources as the API serves them, typed. Every struct refuses fields it does not name
//! (`deny_unknown_fields`), so a test that reads a response through these also asserts that nothing
//! more came back than the contract says — a field added by mistake (a personal datum, an internal id)
//! fails every test that reads that resource.

#![allow(dead_code)] // each test reads the fields it is about

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    pub subtotal: Money,
    pub shipping: Money,
    pub tax: Money,
    pub discount: Money,
    pub total: Money,
    pub prices_include_tax: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    pub id: String,
    pub variant_id: String,
    pub sku: String,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i32,
    pub quantity_refunded: i32,
    pub line_total: Money,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPayment {
    pub status: String,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub amount_refunded: Money,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub id: String,
    pub number: String,
    pub status: String,
    pub currency: String,
    pub lines: Vec<OrderLine>,
    pub totals: Totals,
    pub email: Option<String>,
    pub shipping_address: Option<Address>,
    pub shipping_method: Option<String>,
    pub phone: Option<String>,
    pub ship_to_someone_else: bool,
    pub customer_erased: bool,
    pub payment: Option<OrderPayment>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub client_secret: Option<String>,
}

/// `201` of `POST /v1/orders`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacedOrder {
    pub access_token: String,
    pub order: Order,
    pub next_action: Option<NextAction>,
}

/// One entry of an order's history, as staff read it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub reason: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// An order as staff read, cancel, refund or capture it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffOrder {
    pub order: Order,
    pub payment_id: Option<String>,
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartLine {
    pub variant_id: String,
    pub sku: String,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i32,
    pub line_total: Money,
    pub requires_shipping: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Details {
    pub email: Option<String>,
    pub shipping_address: Option<Address>,
    pub shipping_method: Option<String>,
    pub phone: Option<String>,
    pub ship_to_someone_else: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cart {
    pub id: String,
    pub status: String,
    pub currency: String,
    pub lines: Vec<CartLine>,
    pub totals: Totals,
    pub requires_shipping: bool,
    pub details: Details,
    pub missing: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// An RFC 9457 problem document as leancart writes them (the fields every problem has; extensions
/// such as `errors` or `order` vary by code and are kept in `extra`).
#[derive(Debug, Clone, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub code: String,
    pub detail: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A JSON answer already read, as `T` (failing the test with the body when it does not fit).
pub fn from<T: serde::de::DeserializeOwned>(body: &serde_json::Value) -> T {
    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Read a response as `T`, failing the test with the body when it does not fit.
pub async fn read<T: serde::de::DeserializeOwned>(res: reqwest::Response) -> T {
    let body = res.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}
