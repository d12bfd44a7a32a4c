//! Order queries (one set for both backends).

use super::model::{OrderEventRow, OrderLineRow, OrderRow};
use crate::db::DbConn;
use crate::db::cached::{MAX_BATCH, batch_sql, cached_sql, row};
use crate::db::direct::Direct;
use crate::db::schema::{order_events, order_lines, orders, outbox, product_variants};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};

/// An order INSERT with `number` as the last column; `$tail` gives its value and closes the statement.
macro_rules! insert_order_sql {
    ($tail:literal) => {
        concat!(
            "INSERT INTO orders (id, access_token_hash, cart_id, status, currency, subtotal, shipping_total, \
             tax_total, discount_total, total, prices_include_tax, email, ship_name, ship_line1, ship_line2, \
             ship_city, ship_region, ship_postal_code, ship_country, ship_phone, shipping_method, is_gift, \
             recipient_consent_at, payment_id, reserved_until, stock_released, created_at, updated_at, number) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ",
            $tail
        )
    };
}

/// Insert the order and give it its human-friendly number (`row.number`): on PostgreSQL taken from a
/// sequence inside the INSERT itself (no hot row shared by concurrent checkouts, no extra round trip),
/// on SQLite from a counter row (writers are serialised anyway).
pub fn insert_order(conn: &mut DbConn, row: &mut OrderRow) -> QueryResult<()> {
    macro_rules! with_order_binds {
        ($sql:expr) => {
            cached_sql($sql)
                .bind::<Text, _>(&row.id)
                .bind::<Text, _>(&row.access_token_hash)
                .bind::<Text, _>(&row.cart_id)
                .bind::<Text, _>(&row.status)
                .bind::<Text, _>(&row.currency)
                .bind::<BigInt, _>(row.subtotal)
                .bind::<BigInt, _>(row.shipping_total)
                .bind::<BigInt, _>(row.tax_total)
                .bind::<BigInt, _>(row.discount_total)
                .bind::<BigInt, _>(row.total)
                .bind::<Bool, _>(row.prices_include_tax)
                .bind::<Text, _>(&row.email)
                .bind::<Nullable<Text>, _>(&row.ship_name)
                .bind::<Nullable<Text>, _>(&row.ship_line1)
                .bind::<Nullable<Text>, _>(&row.ship_line2)
                .bind::<Nullable<Text>, _>(&row.ship_city)
                .bind::<Nullable<Text>, _>(&row.ship_region)
                .bind::<Nullable<Text>, _>(&row.ship_postal_code)
                .bind::<Nullable<Text>, _>(&row.ship_country)
                .bind::<Nullable<Text>, _>(&row.ship_phone)
                .bind::<Nullable<Text>, _>(&row.shipping_method)
                .bind::<Bool, _>(row.is_gift)
                .bind::<Nullable<Timestamp>, _>(row.recipient_consent_at)
                .bind::<Nullable<Text>, _>(&row.payment_id)
                .bind::<Nullable<Timestamp>, _>(row.reserved_until)
                .bind::<Bool, _>(row.stock_released)
                .bind::<Timestamp, _>(row.created_at)
                .bind::<Timestamp, _>(row.updated_at)
        };
    }
    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = Text)]
        number: String,
    }
    #[derive(QueryableByName)]
    struct Counter {
        #[diesel(sql_type = BigInt)]
        value: i64,
    }
    let number = match conn {
        DbConn::Pg(c) => {
            with_order_binds!(insert_order_sql!("'LC-' || nextval('order_number_seq')) RETURNING number"))
                .get_result::<Number>(c)?
                .number
        }
        DbConn::Sqlite(c) => {
            let n = cached_sql("UPDATE counters SET value = value + 1 WHERE name = 'order_number' RETURNING value")
                .get_result::<Counter>(c)?
                .value;
            let number = format!("LC-{n}");
            with_order_binds!(insert_order_sql!("?)")).bind::<Text, _>(&number).execute(c)?;
            number
        }
    };
    row.number = number;
    Ok(())
}

/// The order's lines, a batch of up to [`MAX_BATCH`] rows per statement.
pub fn insert_lines(conn: &mut DbConn, rows: &[OrderLineRow]) -> QueryResult<usize> {
    let mut n = 0;
    for chunk in rows.chunks(MAX_BATCH) {
        n += batch_sql(
            "INSERT INTO order_lines (id, order_id, variant_id, sku, title, unit_price, quantity, quantity_refunded, \
             line_total, requires_shipping) VALUES ",
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            chunk.len(),
            "",
        )
        .bind_rows(
            chunk
                .iter()
                .map(|line| {
                    row()
                        .bind::<Text, _>(&line.id)
                        .bind::<Text, _>(&line.order_id)
                        .bind::<Text, _>(&line.variant_id)
                        .bind::<Text, _>(&line.sku)
                        .bind::<Text, _>(&line.title)
                        .bind::<BigInt, _>(line.unit_price)
                        .bind::<Integer, _>(line.quantity)
                        .bind::<Integer, _>(line.quantity_refunded)
                        .bind::<BigInt, _>(line.line_total)
                        .bind::<Bool, _>(line.requires_shipping)
                })
                .collect(),
        )
        .execute_direct(conn)?;
    }
    Ok(n)
}

pub fn insert_event(conn: &mut DbConn, row: &OrderEventRow) -> QueryResult<usize> {
    cached_sql(
        "INSERT INTO order_events (id, order_id, from_status, to_status, actor, reason, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind::<Text, _>(&row.id)
    .bind::<Text, _>(&row.order_id)
    .bind::<Nullable<Text>, _>(&row.from_status)
    .bind::<Text, _>(&row.to_status)
    .bind::<Text, _>(&row.actor)
    .bind::<Text, _>(&row.reason)
    .bind::<Timestamp, _>(row.created_at)
    .execute_direct(conn)
}

pub fn find_order(conn: &mut DbConn, id: &str) -> QueryResult<Option<OrderRow>> {
    crate::direct!(conn, |c| orders::table.find(id).select(OrderRow::as_select()).get_result(c).optional())
}

pub fn lines_of(conn: &mut DbConn, order_id: &str) -> QueryResult<Vec<OrderLineRow>> {
    crate::direct!(conn, |c| order_lines::table
        .filter(order_lines::order_id.eq(order_id))
        .order(order_lines::id.asc())
        .select(OrderLineRow::as_select())
        .load(c))
}

pub fn events_of(conn: &mut DbConn, order_id: &str) -> QueryResult<Vec<OrderEventRow>> {
    order_events::table
        .filter(order_events::order_id.eq(order_id))
        .order((order_events::created_at.asc(), order_events::id.asc()))
        .select(OrderEventRow::as_select())
        .load(conn)
}

/// Compare-and-set of the status: `false` when the order was no longer in `from`.
pub fn set_status(
    conn: &mut DbConn,
    id: &str,
    from: &str,
    to: &str,
    reserved_until: Option<Option<NaiveDateTime>>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = match reserved_until {
        Some(r) => {
            cached_sql("UPDATE orders SET status = ?, reserved_until = ?, updated_at = ? WHERE id = ? AND status = ?")
                .bind::<Text, _>(to)
                .bind::<Nullable<Timestamp>, _>(r)
                .bind::<Timestamp, _>(now)
                .bind::<Text, _>(id)
                .bind::<Text, _>(from)
                .execute_direct(conn)?
        }
        None => cached_sql("UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status = ?")
            .bind::<Text, _>(to)
            .bind::<Timestamp, _>(now)
            .bind::<Text, _>(id)
            .bind::<Text, _>(from)
            .execute_direct(conn)?,
    };
    Ok(n == 1)
}

/// A freshly placed order (`pending_payment`, paid by `payment_id`) becomes `paid` — a compare-and-set
/// that needs no read of the order first. `false` when the order is in any other state or is paid by
/// another payment (the caller then takes the general path).
pub fn mark_placed_order_paid(conn: &mut DbConn, id: &str, payment_id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = cached_sql(
        "UPDATE orders SET status = 'paid', reserved_until = NULL, updated_at = ? \
         WHERE id = ? AND payment_id = ? AND status = 'pending_payment'",
    )
    .bind::<Timestamp, _>(now)
    .bind::<Text, _>(id)
    .bind::<Text, _>(payment_id)
    .execute_direct(conn)?;
    Ok(n == 1)
}

/// Mark the order's stock as released; `true` only for the caller that flipped the flag.
pub fn claim_stock_release(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(orders::table.filter(orders::id.eq(id)).filter(orders::stock_released.eq(false)))
        .set((
            orders::stock_released.eq(true),
            orders::reserved_until.eq(None::<NaiveDateTime>),
            orders::updated_at.eq(now),
        ))
        .execute_direct(conn)?;
    Ok(n == 1)
}

/// Take each line's units if (and only if) that many are on hand — the conditional update that makes
/// overselling impossible under any concurrency — in batches of up to [`MAX_BATCH`] lines per statement.
/// Returns the variants that did not have enough (empty: all taken). Call it inside the placement's
/// transaction: when something is missing the caller fails, and the units taken are put back by the
/// rollback.
pub fn take_stock(conn: &mut DbConn, lines: &[(&str, i32)]) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let mut missing = Vec::new();
    for chunk in lines.chunks(MAX_BATCH) {
        let q = batch_sql(
            "UPDATE product_variants SET stock_on_hand = stock_on_hand - t.column2 FROM (VALUES ",
            "(?, ?)",
            chunk.len(),
            ") AS t WHERE product_variants.id = t.column1 AND product_variants.stock_on_hand >= t.column2 \
             RETURNING product_variants.id",
        )
        .bind_rows(chunk.iter().map(|(id, q)| row().bind::<Text, _>(*id).bind::<Integer, _>(*q)).collect());
        let taken: Vec<Taken> = crate::direct!(conn, |c| q.load(c))?;
        missing
            .extend(chunk.iter().filter(|(id, _)| !taken.iter().any(|t| t.id == *id)).map(|(id, _)| (*id).to_owned()));
    }
    Ok(missing)
}

pub fn return_stock(conn: &mut DbConn, variant_id: &str, quantity: i32) -> QueryResult<usize> {
    diesel::update(product_variants::table.filter(product_variants::id.eq(variant_id)))
        .set(product_variants::stock_on_hand.eq(product_variants::stock_on_hand + quantity))
        .execute(conn)
}

pub fn set_refunded_quantity(conn: &mut DbConn, line_id: &str, quantity_refunded: i32) -> QueryResult<usize> {
    diesel::update(order_lines::table.find(line_id))
        .set(order_lines::quantity_refunded.eq(quantity_refunded))
        .execute(conn)
}

/// Unpaid orders whose reservation has run out.
pub fn list_expired_reservations(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<OrderRow>> {
    orders::table
        .filter(orders::status.eq_any(["pending_payment", "awaiting_payment_action"]))
        .filter(orders::reserved_until.lt(now))
        .order(orders::reserved_until.asc())
        .limit(limit)
        .select(OrderRow::as_select())
        .load(conn)
}

/// Staff search: by status and/or exact order number or e-mail, newest first, after a cursor id.
pub fn search(
    conn: &mut DbConn,
    status: Option<&str>,
    number: Option<&str>,
    email: Option<&str>,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<OrderRow>> {
    let mut q = orders::table
        .select(OrderRow::as_select())
        .order((orders::created_at.desc(), orders::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(orders::status.eq(s.to_owned()));
    }
    if let Some(n) = number {
        q = q.filter(orders::number.eq(n.to_owned()));
    }
    if let Some(e) = email {
        q = q.filter(
            orders::email.eq(crate::kernel::pii::Email::parse(e).map(|e| e.expose().to_owned()).unwrap_or_default()),
        );
    }
    if let Some((t, id)) = before {
        q = q.filter(orders::created_at.lt(t).or(orders::created_at.eq(t).and(orders::id.lt(id))));
    }
    q.load(conn)
}

/// Queue a transactional message once per (kind, order): one `INSERT … ON CONFLICT DO NOTHING`.
pub fn enqueue_outbox(
    conn: &mut DbConn,
    id: &str,
    kind: &str,
    order_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = cached_sql(
        "INSERT INTO outbox (id, kind, order_id, status, attempts, created_at) \
         VALUES (?, ?, ?, 'pending', 0, ?) ON CONFLICT (kind, order_id) DO NOTHING",
    )
    .bind::<Text, _>(id)
    .bind::<Text, _>(kind)
    .bind::<Text, _>(order_id)
    .bind::<Timestamp, _>(now)
    .execute_direct(conn)?;
    Ok(n == 1)
}

pub fn outbox_for(conn: &mut DbConn, order_id: &str) -> QueryResult<Vec<(String, String)>> {
    outbox::table.filter(outbox::order_id.eq(order_id)).select((outbox::kind, outbox::status)).load(conn)
}
