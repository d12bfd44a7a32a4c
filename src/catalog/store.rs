//! Catalog queries (one set for both backends).

use super::model::{Product, ProductRow, VariantRow};
use crate::db::DbConn;
use crate::db::schema::{product_variants, products};
use diesel::prelude::*;
use std::collections::HashMap;

/// Active products after `cursor` (by id), at most `limit` of them, with their variants.
pub fn list_active(conn: &mut DbConn, cursor: Option<&str>, limit: i64) -> QueryResult<Vec<Product>> {
    let mut q = products::table
        .filter(products::status.eq("active"))
        .order(products::id.asc())
        .limit(limit)
        .select(ProductRow::as_select())
        .into_boxed();
    if let Some(c) = cursor {
        q = q.filter(products::id.gt(c.to_owned()));
    }
    let rows: Vec<ProductRow> = q.load(conn)?;
    with_variants(conn, rows)
}

pub fn find_active(conn: &mut DbConn, id: &str) -> QueryResult<Option<Product>> {
    let row: Option<ProductRow> = products::table
        .filter(products::id.eq(id))
        .filter(products::status.eq("active"))
        .select(ProductRow::as_select())
        .get_result(conn)
        .optional()?;
    Ok(with_variants(conn, row.into_iter().collect())?.pop())
}

fn with_variants(conn: &mut DbConn, rows: Vec<ProductRow>) -> QueryResult<Vec<Product>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let variants: Vec<VariantRow> = product_variants::table
        .filter(product_variants::product_id.eq_any(ids))
        .order((product_variants::product_id.asc(), product_variants::position.asc(), product_variants::id.asc()))
        .select(VariantRow::as_select())
        .load(conn)?;
    let mut by_product: HashMap<String, Vec<VariantRow>> = HashMap::new();
    for v in variants {
        by_product.entry(v.product_id.clone()).or_default().push(v);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let variants = by_product.remove(&row.id).unwrap_or_default();
            Product { row, variants }
        })
        .collect())
}

pub fn count_products(conn: &mut DbConn) -> QueryResult<i64> {
    products::table.count().get_result(conn)
}

pub fn find_product_id_by_handle(conn: &mut DbConn, handle: &str) -> QueryResult<Option<String>> {
    products::table.filter(products::handle.eq(handle)).select(products::id).get_result(conn).optional()
}

pub fn sku_exists(conn: &mut DbConn, sku: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(product_variants::table.filter(product_variants::sku.eq(sku)))).get_result(conn)
}

pub fn insert_product(conn: &mut DbConn, row: &ProductRow) -> QueryResult<usize> {
    diesel::insert_into(products::table).values(row).execute(conn)
}

pub fn insert_variant(conn: &mut DbConn, row: &VariantRow) -> QueryResult<usize> {
    diesel::insert_into(product_variants::table).values(row).execute(conn)
}
