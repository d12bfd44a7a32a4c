//! Demo fixtures: `fixtures/demo/products.json` (embedded in the binary for the first start; `seed
//! --fixtures DIR` reads a directory). Seeding is idempotent: products are matched by handle and
//! variants by SKU; existing ones are left alone.

use super::model::{ProductId, ProductRow, VariantId, VariantRow};
use super::store;
use crate::db::{DbConn, DbError, dialect};
use crate::kernel::money::Currency;
use crate::kernel::time;
use serde::Deserialize;
use std::path::Path;

/// The demo catalog compiled into the binary.
pub const DEMO_PRODUCTS: &str = include_str!("../../fixtures/demo/products.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    pub currency: String,
    pub products: Vec<FixtureProduct>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureProduct {
    pub handle: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub variants: Vec<FixtureVariant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureVariant {
    pub sku: String,
    pub title: String,
    /// Minor units of the fixture currency.
    pub price: i64,
    pub stock: i32,
    pub weight_grams: i32,
    #[serde(default = "yes")]
    pub requires_shipping: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read fixtures: {0}")]
    Read(String),
    #[error("fixtures are priced in {fixtures} but the store currency is {store}")]
    CurrencyMismatch { fixtures: String, store: String },
    #[error("invalid fixture: {0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SeedError {
    fn from(e: diesel::result::Error) -> Self {
        SeedError::Db(DbError::Query(e))
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub products_added: usize,
    pub variants_added: usize,
}

pub fn parse(text: &str) -> Result<Fixtures, SeedError> {
    serde_json::from_str(text).map_err(|e| SeedError::Read(format!("products.json: {e}")))
}

pub fn load_dir(dir: &Path) -> Result<Fixtures, SeedError> {
    let path = dir.join("products.json");
    let text = std::fs::read_to_string(&path).map_err(|e| SeedError::Read(format!("{}: {e}", path.display())))?;
    parse(&text)
}

/// Insert what is missing, in one write transaction.
pub fn apply(conn: &mut DbConn, fixtures: &Fixtures, store_currency: Currency) -> Result<SeedReport, SeedError> {
    let currency: Currency = fixtures.currency.parse().map_err(|_| SeedError::Invalid("unknown currency".into()))?;
    if currency != store_currency {
        return Err(SeedError::CurrencyMismatch { fixtures: currency.to_string(), store: store_currency.to_string() });
    }
    dialect::write_transaction(conn, |conn| {
        let mut report = SeedReport::default();
        let now = time::now();
        for p in &fixtures.products {
            let product_id = match store::find_product_id_by_handle(conn, &p.handle)? {
                Some(id) => id,
                None => {
                    let row = ProductRow {
                        id: ProductId::generate().into_string(),
                        handle: p.handle.clone(),
                        title: p.title.clone(),
                        description: p.description.clone(),
                        status: "active".into(),
                        created_at: now,
                        updated_at: now,
                    };
                    store::insert_product(conn, &row)?;
                    report.products_added += 1;
                    row.id
                }
            };
            for (position, v) in p.variants.iter().enumerate() {
                if v.price < 0 || v.stock < 0 || v.weight_grams < 0 {
                    return Err(SeedError::Invalid(format!("variant {} has a negative number", v.sku)));
                }
                if store::sku_exists(conn, &v.sku)? {
                    continue;
                }
                store::insert_variant(
                    conn,
                    &VariantRow {
                        id: VariantId::generate().into_string(),
                        product_id: product_id.clone(),
                        sku: v.sku.clone(),
                        title: v.title.clone(),
                        price_amount: v.price,
                        currency: currency.to_string(),
                        stock_on_hand: v.stock,
                        weight_grams: v.weight_grams,
                        requires_shipping: v.requires_shipping,
                        position: i32::try_from(position).unwrap_or(i32::MAX),
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                report.variants_added += 1;
            }
        }
        Ok(report)
    })
}

/// First start: seed the embedded demo catalog when the catalog is empty. Runs under the global lock
/// so that several processes starting together seed once.
pub fn seed_if_empty(conn: &mut DbConn, store_currency: Currency) -> Result<Option<SeedReport>, SeedError> {
    let fixtures = parse(DEMO_PRODUCTS)?;
    let mut outcome: Result<Option<SeedReport>, SeedError> = Ok(None);
    dialect::with_global_lock(conn, |conn| {
        outcome = match store::count_products(conn) {
            Ok(0) => apply(conn, &fixtures, store_currency).map(Some),
            Ok(_) => Ok(None),
            Err(e) => Err(e.into()),
        };
        Ok(())
    })?;
    outcome
}
