//! Cart queries (one set for both backends).

use super::model::CartRow;
use crate::cached_sql;
use crate::catalog::model::VariantRow;
use crate::db::DbConn;
use crate::db::direct::Direct;
use crate::db::schema::{cart_lines, carts, product_variants, products};
use crate::privacy::personal::SealedDetails;
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
    let q = cached_sql!(include_str!("sql/insert_cart.sql"))
        .bind::<Text, _>(&row.id)
        .bind::<Text, _>(&row.token_hash)
        .bind::<Text, _>(&row.status)
        .bind::<Text, _>(&row.currency);
    bind_details!(q, row)
        .bind::<Timestamp, _>(row.created_at)
        .bind::<Timestamp, _>(row.updated_at)
        .bind::<Nullable<Text>, _>(&row.subject_id)
        .bind::<Nullable<Text>, _>(&row.account_id)
        .execute_direct(conn)
}

pub fn find_cart(conn: &mut DbConn, id: &str) -> QueryResult<Option<CartRow>> {
    carts::table.find(id).select(CartRow::as_select()).get_result(conn).optional()
}

/// Write back what a shopper can change: status and checkout details (never the token or currency).
pub fn update_cart(conn: &mut DbConn, row: &CartRow) -> QueryResult<usize> {
    let q = cached_sql!(include_str!("sql/update_cart.sql")).bind::<Text, _>(&row.status);
    bind_details!(q, row)
        .bind::<Timestamp, _>(row.updated_at)
        .bind::<Nullable<Text>, _>(&row.subject_id)
        .bind::<Text, _>(&row.id)
        .execute_direct(conn)
}

pub fn touch_cart(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(carts::table.find(id)).set(carts::updated_at.eq(now)).execute(conn)
}

/// Bind `sql/add_line.sql`'s placeholders.
macro_rules! bind_add_line {
    ($q:expr, $cart_id:expr, $token_hash:expr, $variant_id:expr, $quantity:expr, $now:expr) => {{
        use super::model::{MAX_LINE_QUANTITY, MAX_LINES};
        let max_lines = i64::try_from(MAX_LINES).unwrap_or(i64::MAX);
        $q.bind::<Integer, _>($quantity)
            .bind::<Timestamp, _>($now)
            .bind::<Text, _>($variant_id)
            .bind::<Text, _>($cart_id)
            .bind::<Text, _>($token_hash)
            .bind::<Integer, _>($quantity)
            .bind::<diesel::sql_types::BigInt, _>(max_lines)
            .bind::<Integer, _>(MAX_LINE_QUANTITY)
    }};
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
    let n =
        bind_add_line!(cached_sql!(include_str!("sql/add_line.sql")), cart_id, token_hash, variant_id, quantity, now)
            .execute_direct(conn)?;
    Ok(n == 1)
}

/// What [`add_line`] did.
pub enum LineAdded {
    /// A check failed; nothing was written.
    Refused,
    /// Added; the cart as it now is, when the backend read it back in the same statement (PostgreSQL).
    Added(Option<Box<(CartRow, Vec<StoredLine>)>>),
}

/// Add a line when every check passes ([`add_line_checked`]), reading the cart back in the same
/// statement where the backend can (PostgreSQL: [`add_line_returning_cart`]); on SQLite, which runs in
/// process, the caller reads it.
pub fn add_line(
    conn: &mut DbConn,
    cart_id: &str,
    token_hash: &str,
    variant_id: &str,
    quantity: i32,
    now: NaiveDateTime,
) -> QueryResult<LineAdded> {
    Ok(match conn {
        DbConn::Pg(_) => match add_line_returning_cart(conn, cart_id, token_hash, variant_id, quantity, now)? {
            Some(read) => LineAdded::Added(Some(Box::new(read))),
            None => LineAdded::Refused,
        },
        DbConn::Sqlite(_) => match add_line_checked(conn, cart_id, token_hash, variant_id, quantity, now)? {
            true => LineAdded::Added(None),
            false => LineAdded::Refused,
        },
    })
}

/// A row of [`add_line_returning_cart`]: the cart and one of its lines.
#[derive(QueryableByName)]
struct CartAndLine {
    #[diesel(embed)]
    cart: CartRow,
    #[diesel(sql_type = Integer)]
    l_quantity: i32,
    #[diesel(sql_type = Text)]
    v_id: String,
    #[diesel(sql_type = Text)]
    v_product_id: String,
    #[diesel(sql_type = Text)]
    v_sku: String,
    #[diesel(sql_type = Text)]
    v_title: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    v_price_amount: i64,
    #[diesel(sql_type = Text)]
    v_currency: String,
    #[diesel(sql_type = Integer)]
    v_stock_on_hand: i32,
    #[diesel(sql_type = Integer)]
    v_weight_grams: i32,
    #[diesel(sql_type = Bool)]
    v_requires_shipping: bool,
    #[diesel(sql_type = Integer)]
    v_position: i32,
    #[diesel(sql_type = Timestamp)]
    v_created_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    v_updated_at: NaiveDateTime,
    #[diesel(sql_type = Text)]
    p_title: String,
}

/// PostgreSQL: [`add_line_checked`] and [`find_cart_with_lines`] in one statement (one round trip
/// instead of two). The read cannot see the upsert's own row (one snapshot for the whole statement),
/// so it takes that line from the upsert's `RETURNING` and every other line from the table. `None`
/// when a check failed (nothing was written) — and on SQLite, where the two statements run in process.
pub fn add_line_returning_cart(
    conn: &mut DbConn,
    cart_id: &str,
    token_hash: &str,
    variant_id: &str,
    quantity: i32,
    now: NaiveDateTime,
) -> QueryResult<Option<(CartRow, Vec<StoredLine>)>> {
    let DbConn::Pg(c) = conn else { return Ok(None) };
    let q = cached_sql!(include_str!("sql/postgres/add_line_returning_cart.sql"));
    let rows: Vec<CartAndLine> = bind_add_line!(q, cart_id, token_hash, variant_id, quantity, now)
        .bind::<Text, _>(cart_id)
        .bind::<Text, _>(variant_id)
        .bind::<Text, _>(cart_id)
        .load(c)?;
    let mut cart = None;
    let lines = rows
        .into_iter()
        .map(|r| {
            cart.get_or_insert(r.cart);
            let variant = VariantRow {
                id: r.v_id,
                product_id: r.v_product_id,
                sku: r.v_sku,
                title: r.v_title,
                price_amount: r.v_price_amount,
                currency: r.v_currency,
                stock_on_hand: r.v_stock_on_hand,
                weight_grams: r.v_weight_grams,
                requires_shipping: r.v_requires_shipping,
                position: r.v_position,
                created_at: r.v_created_at,
                updated_at: r.v_updated_at,
            };
            StoredLine { quantity: r.l_quantity, variant, product_title: r.p_title }
        })
        .collect();
    Ok(cart.map(|cart| (cart, lines)))
}

/// Insert a line or set its quantity, in one atomic statement.
pub fn upsert_line(
    conn: &mut DbConn,
    cart_id: &str,
    variant_id: &str,
    quantity: i32,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    cached_sql!(
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

/// Check a cart out and, in the same statement, forget its copy of the shopper's details (the order
/// keeps what it needs). `false` if the cart was not open (a concurrent checkout).
pub fn check_out(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = cached_sql!(include_str!("sql/check_out.sql"))
        .bind::<Timestamp, _>(now)
        .bind::<Text, _>(id)
        .execute_direct(conn)?;
    Ok(n == 1)
}

/// A cart line as stored, with the variant it is for and its product's title (not yet priced).
#[derive(Debug, Clone)]
pub struct StoredLine {
    pub quantity: i32,
    pub variant: VariantRow,
    pub product_title: String,
}

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
pub fn find_cart_with_lines(conn: &mut DbConn, id: &str) -> QueryResult<Option<(CartRow, Vec<StoredLine>)>> {
    let rows: Vec<(CartRow, Option<LineWithVariant>)> = crate::direct!(conn, |c| cart_with_lines!(id).load(c))?;
    let mut rows = rows.into_iter();
    let Some((cart, first)) = rows.next() else { return Ok(None) };
    let lines = first
        .into_iter()
        .chain(rows.filter_map(|(_, l)| l))
        .map(|l| StoredLine { quantity: l.quantity, variant: l.variant, product_title: l.product_title })
        .collect();
    Ok(Some((cart, lines)))
}

/// Most carts one purge handles (the sweep comes back every 30 s for the rest).
pub const PURGE_BATCH: i64 = 500;

/// Delete open carts untouched since `before` that never became an order (their lines go with them);
/// empty the ones an order came from (reopened after a failed payment): lines and checkout details
/// gone, the row kept for the order's reference. At most [`PURGE_BATCH`] carts per call.
pub fn purge_abandoned(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    use crate::db::schema::orders;
    let oldest = carts::table
        .filter(carts::status.eq("open"))
        .filter(carts::updated_at.lt(before))
        .order(carts::updated_at.asc())
        .limit(PURGE_BATCH)
        .select(carts::id);
    // PostgreSQL: several processes purging at once each take carts the others have not locked.
    let stale: Vec<String> = match conn {
        DbConn::Pg(c) => oldest.for_update().skip_locked().load(c)?,
        DbConn::Sqlite(c) => oldest.load(c)?,
    };
    if stale.is_empty() {
        return Ok(0);
    }
    diesel::delete(cart_lines::table.filter(cart_lines::cart_id.eq_any(&stale))).execute(conn)?;
    let referenced: Vec<String> =
        orders::table.filter(orders::cart_id.eq_any(&stale)).select(orders::cart_id).distinct().load(conn)?;
    let (emptied, deleted): (Vec<String>, Vec<String>) = stale.into_iter().partition(|id| referenced.contains(id));
    diesel::delete(carts::table.filter(carts::id.eq_any(&deleted))).execute(conn)?;
    if !emptied.is_empty() {
        diesel::update(carts::table.filter(carts::id.eq_any(&emptied)))
            .set((
                carts::status.eq("checked_out"),
                carts::email.eq(None::<String>),
                carts::ship_name.eq(None::<String>),
                carts::ship_line1.eq(None::<String>),
                carts::ship_line2.eq(None::<String>),
                carts::ship_city.eq(None::<String>),
                carts::ship_region.eq(None::<String>),
                carts::ship_postal_code.eq(None::<String>),
                carts::ship_country.eq(None::<String>),
                carts::ship_phone.eq(None::<String>),
                carts::recipient_consent_at.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
    }
    Ok(deleted.len() + emptied.len())
}

/// How many open carts are untouched since `before` (what [`purge_abandoned`] would take, all batches).
pub fn count_abandoned(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<i64> {
    carts::table.filter(carts::status.eq("open")).filter(carts::updated_at.lt(before)).count().get_result(conn)
}

/// A person's open carts (the subject their details are sealed for).
pub fn open_carts_of_subject(conn: &mut DbConn, subject: &str) -> QueryResult<Vec<CartRow>> {
    carts::table
        .filter(carts::subject_id.eq(subject))
        .filter(carts::status.eq("open"))
        .order(carts::created_at.asc())
        .select(CartRow::as_select())
        .load(conn)
}

/// Carts whose checkout details were written before sealing existed (an e-mail, no subject).
pub fn unsealed(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<CartRow>> {
    carts::table
        .filter(carts::subject_id.is_null())
        .filter(carts::email.is_not_null())
        .order(carts::id.asc())
        .limit(limit)
        .select(CartRow::as_select())
        .load(conn)
}

/// Replace a cart's clear personal fields with their sealed form, if no one did meanwhile.
pub fn seal_in_place(conn: &mut DbConn, id: &str, subject: &str, d: &SealedDetails) -> QueryResult<usize> {
    diesel::update(carts::table.find(id).filter(carts::subject_id.is_null()))
        .set((
            carts::subject_id.eq(subject),
            carts::email.eq(&d.email),
            carts::ship_name.eq(&d.name),
            carts::ship_line1.eq(&d.line1),
            carts::ship_line2.eq(&d.line2),
            carts::ship_city.eq(&d.city),
            carts::ship_postal_code.eq(&d.postal_code),
            carts::ship_phone.eq(&d.phone),
        ))
        .execute(conn)
}

/// Give an open guest cart to an account (the shopper registered during checkout); `false` when the
/// cart is not open or has an account already.
pub fn give_to_account(conn: &mut DbConn, cart_id: &str, account_id: &str) -> QueryResult<bool> {
    let n =
        diesel::update(carts::table.find(cart_id).filter(carts::account_id.is_null()).filter(carts::status.eq("open")))
            .set(carts::account_id.eq(account_id))
            .execute(conn)?;
    Ok(n == 1)
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
