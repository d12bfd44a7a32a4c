use crate::kernel::money::{Currency, Money};
use crate::typed_id;
use chrono::NaiveDateTime;
use diesel::prelude::*;

typed_id!(
    /// A product (`prod_…`).
    ProductId, "prod_"
);
typed_id!(
    /// A purchasable variant of a product (`var_…`).
    VariantId, "var_"
);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::products)]
pub struct ProductRow {
    pub id: String,
    pub handle: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::product_variants)]
pub struct VariantRow {
    pub id: String,
    pub product_id: String,
    pub sku: String,
    pub title: String,
    pub price_amount: i64,
    pub currency: String,
    pub stock_on_hand: i32,
    pub weight_grams: i32,
    pub requires_shipping: bool,
    pub position: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl VariantRow {
    /// The variant's price; a currency the database should never hold is an internal error.
    pub fn price(&self) -> Result<Money, crate::error::ApiError> {
        let currency: Currency =
            self.currency.parse().map_err(|_| crate::error::ApiError::internal("variant with unknown currency"))?;
        Ok(Money::new(self.price_amount, currency))
    }
}

/// A product with its variants, in position order.
#[derive(Debug, Clone)]
pub struct Product {
    pub row: ProductRow,
    pub variants: Vec<VariantRow>,
}
