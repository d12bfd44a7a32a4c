//! Cart queries (one set for both backends).

use super::model::CartRow;
use crate::catalog::model::VariantRow;
use crate::db::DbConn;
use crate::db::cached::cached_sql;
use crate::db::direct::Direct;
use crate::db::schema::{cart_lines, carts, product_variants, products};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text, Timestamp};

/// Bind a cart's checkout details, `email` through `recipient_consent_at` in column order (the run both
/// the cart's INSERT and UPDATE list).
macro_rules! bind_details {
    ($q:expr, $row:expr) => {
        $q.bind::<Nullable<Text>, _>(&$row.email)
            .bind::<Nullable<Text>, _>(&$row.ship_name)
            .bind::<Nullable<Text>, _>(&$row.ship_line1)
            .bind::<Nullable<Text>, _>(&$row.ship_line2)
            .bind::<Nullable<Text>, _>(&$row.ship_city)
            .bind::<Nullable<Text>, _>(&$row.ship_region)
            .bind::<Nullable<Text>, _>(&$row.ship_postal_code)
            .bind::<Nullable<Text>, _>(&$row.ship_country)
            .bind::<Nullable<Text>, _>(&$row.ship_phone)
            .bind::<Nullable<Text>, _>(&$row.shipping_method)
            .bind::<Bool, _>($row.is_gift)
            .bind::<Nullable<Timestamp>, _>($row.recipient_consent_at)
    };
}

pub fn insert_cart(conn: &mut DbConn, row: &CartRow) -> QueryResult<usize> {
    let q = cached_sql(
        "INSERT INTO carts (id, token_hash, status, currency, email, ship_name, ship_line1, ship_line2, ship_city, \
         ship_region, ship_postal_code, ship_country, ship_phone, shipping_method, is_gift, recipient_consent_at, \
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind::<Text, _>(&row.id)
    .bind::<Text, _>(&row.token_hash)
    .bind::<Text, _>(&row.status)
    .bind::<Text, _>(&row.currency);
    bind_details!(q, row).bind::<Timestamp, _>(row.created_at).bind::<Timestamp, _>(row.updated_at).execute_direct(conn)
}

pub fn find_cart(conn: &mut DbConn, id: &str) -> QueryResult<Option<CartRow>> {
    carts::table.find(id).select(CartRow::as_select()).get_result(conn).optional()
}

/// Write back what a shopper can change: status and checkout details (never the token or currency).
pub fn update_cart(conn: &mut DbConn, row: &CartRow) -> QueryResult<usize> {
    let q = cached_sql(
        "UPDATE carts SET status = ?, email = ?, ship_name = ?, ship_line1 = ?, ship_line2 = ?, ship_city = ?, \
         ship_region = ?, ship_postal_code = ?, ship_country = ?, ship_phone = ?, shipping_method = ?, is_gift = ?, \
         recipient_consent_at = ?, updated_at = ? WHERE id = ?",
    )
    .bind::<Text, _>(&row.status);
    bind_details!(q, row).bind::<Timestamp, _>(row.updated_at).bind::<Text, _>(&row.id).execute_direct(conn)
}

pub fn touch_cart(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(carts::table.find(id)).set(carts::updated_at.eq(now)).execute(conn)
}

/// Add `quantity` units of a variant to an open cart in one statement, if everything checks out in the
/// database itself: the cart's token hash, the cart open, the product active, the variant in the cart's
/// currency, the merged quantity within [`MAX_LINE_QUANTITY`](super::model::MAX_LINE_QUANTITY) and the
/// stock, a new line within [`MAX_LINES`](super::model::MAX_LINES).
/// `false` when any check fails (the caller then finds out which, the slow way).
///
/// The product is looked up by key in a scalar subquery, not joined: a join let PostgreSQL hash every
/// product of a small catalog on each call.
pub fn add_line_checked(
    conn: &mut DbConn,
    cart_id: &str,
    token_hash: &str,
    variant_id: &str,
    quantity: i32,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    use super::model::{MAX_LINE_QUANTITY, MAX_LINES};
    let max_lines = i64::try_from(MAX_LINES).unwrap_or(i64::MAX);
    let n = cached_sql(
        "INSERT INTO cart_lines (cart_id, variant_id, quantity, created_at) \
         SELECT c.id, v.id, ?, ? FROM carts c \
         JOIN product_variants v ON v.id = ? AND v.currency = c.currency \
         WHERE c.id = ? AND c.token_hash = ? AND c.status = 'open' AND v.stock_on_hand >= ? \
         AND (SELECT p.status FROM products p WHERE p.id = v.product_id) = 'active' \
         AND (EXISTS (SELECT 1 FROM cart_lines l WHERE l.cart_id = c.id AND l.variant_id = v.id) \
              OR (SELECT COUNT(*) FROM cart_lines l WHERE l.cart_id = c.id) < ?) \
         ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = cart_lines.quantity + excluded.quantity \
         WHERE cart_lines.quantity + excluded.quantity <= ? \
         AND cart_lines.quantity + excluded.quantity <= \
             (SELECT stock_on_hand FROM product_variants WHERE id = excluded.variant_id)",
    )
    .bind::<Integer, _>(quantity)
    .bind::<Timestamp, _>(now)
    .bind::<Text, _>(variant_id)
    .bind::<Text, _>(cart_id)
    .bind::<Text, _>(token_hash)
    .bind::<Integer, _>(quantity)
    .bind::<diesel::sql_types::BigInt, _>(max_lines)
    .bind::<Integer, _>(MAX_LINE_QUANTITY)
    .execute_direct(conn)?;
    Ok(n == 1)
}

/// Insert a line or set its quantity, in one atomic statement.
pub fn upsert_line(
    conn: &mut DbConn,
    cart_id: &str,
    variant_id: &str,
    quantity: i32,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    cached_sql(
        "INSERT INTO cart_lines (cart_id, variant_id, quantity, created_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = excluded.quantity",
    )
    .bind::<Text, _>(cart_id)
    .bind::<Text, _>(variant_id)
    .bind::<Integer, _>(quantity)
    .bind::<Timestamp, _>(now)
    .execute_direct(conn)
}

pub fn set_line_quantity(conn: &mut DbConn, cart_id: &str, variant_id: &str, quantity: i32) -> QueryResult<usize> {
    diesel::update(cart_lines::table.find((cart_id, variant_id))).set(cart_lines::quantity.eq(quantity)).execute(conn)
}

pub fn delete_line(conn: &mut DbConn, cart_id: &str, variant_id: &str) -> QueryResult<usize> {
    diesel::delete(cart_lines::table.find((cart_id, variant_id))).execute(conn)
}

/// An active product's variant, with the product's title.
pub fn find_sellable_variant(conn: &mut DbConn, variant_id: &str) -> QueryResult<Option<(VariantRow, String)>> {
    crate::direct!(conn, |c| product_variants::table
        .inner_join(products::table)
        .filter(product_variants::id.eq(variant_id))
        .filter(products::status.eq("active"))
        .select((VariantRow::as_select(), products::title))
        .get_result(c)
        .optional())
}

/// The UPDATE of [`check_out`]: binds `updated_at`, then the cart id.
macro_rules! check_out_sql {
    () => {
        "UPDATE carts SET status = 'checked_out', email = NULL, ship_name = NULL, ship_line1 = NULL, \
         ship_line2 = NULL, ship_city = NULL, ship_region = NULL, ship_postal_code = NULL, ship_country = NULL, \
         ship_phone = NULL, recipient_consent_at = NULL, updated_at = ? WHERE id = ? AND status = 'open'"
    };
}
pub(crate) use check_out_sql;

/// Check a cart out and, in the same statement, forget its copy of the shopper's details (the order
/// keeps what it needs). `false` if the cart was not open (a concurrent checkout).
pub fn check_out(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = cached_sql(check_out_sql!()).bind::<Timestamp, _>(now).bind::<Text, _>(id).execute_direct(conn)?;
    Ok(n == 1)
}

/// A cart line as read: quantity, variant, product title.
pub type CartLine = (i32, VariantRow, String);

/// A cart line joined with its variant and product title.
#[derive(Queryable, Selectable)]
#[diesel(table_name = cart_lines)]
pub struct LineWithVariant {
    quantity: i32,
    #[diesel(embed)]
    variant: VariantRow,
    #[diesel(select_expression = products::title)]
    product_title: String,
}

/// The query behind [`find_cart_with_lines`]: a flat chain of left joins, so that SQLite looks up the
/// cart's lines by key (a parenthesised `carts LEFT JOIN (cart_lines JOIN …)` made it materialise every
/// cart line of the shop on each request; the plan is checked by a test below).
macro_rules! cart_with_lines {
    ($id:expr) => {
        carts::table
            .left_join(cart_lines::table)
            .left_join(product_variants::table.on(product_variants::id.eq(cart_lines::variant_id)))
            .left_join(products::table.on(products::id.eq(product_variants::product_id)))
            .filter(carts::id.eq($id))
            .order((cart_lines::created_at.asc(), cart_lines::variant_id.asc()))
            .select((CartRow::as_select(), Option::<LineWithVariant>::as_select()))
    };
}

/// The cart and its lines (with variants and product titles, in insertion order) in one query.
pub fn find_cart_with_lines(conn: &mut DbConn, id: &str) -> QueryResult<Option<(CartRow, Vec<CartLine>)>> {
    let rows: Vec<(CartRow, Option<LineWithVariant>)> = crate::direct!(conn, |c| cart_with_lines!(id).load(c))?;
    let mut rows = rows.into_iter();
    let Some((cart, first)) = rows.next() else { return Ok(None) };
    let lines = first
        .into_iter()
        .chain(rows.filter_map(|(_, l)| l))
        .map(|l| (l.quantity, l.variant, l.product_title))
        .collect();
    Ok(Some((cart, lines)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sqlite::{Sqlite, SqliteConnection};

    #[derive(QueryableByName)]
    struct PlanRow {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    #[test]
    fn a_cart_and_its_lines_are_found_by_key_on_sqlite() {
        let mut conn = DbConn::Sqlite(SqliteConnection::establish(":memory:").expect("in-memory SQLite"));
        crate::db::run_migrations(&mut conn).expect("migrations");
        let sql = diesel::debug_query::<Sqlite, _>(&cart_with_lines!("cart_x")).to_string();
        let sql = sql.split(" -- binds:").next().unwrap_or_default().to_owned();
        let plan: Vec<PlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .bind::<diesel::sql_types::Text, _>("cart_x")
            .load(&mut conn)
            .expect("plan");
        let plan: Vec<String> = plan.into_iter().map(|r| r.detail).collect();
        assert!(plan.iter().all(|d| !d.starts_with("SCAN") && !d.starts_with("MATERIALIZE")), "no scans: {plan:?}");
        assert!(plan.iter().any(|d| d.starts_with("SEARCH cart_lines")), "{plan:?}");
    }
}
