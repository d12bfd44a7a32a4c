//! Order queries (one set for both backends).

use super::model::{OrderEventRow, OrderLineRow, OrderRow};
use crate::db::DbConn;
use crate::db::schema::{order_events, order_lines, orders, outbox, product_variants};
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn insert_order(conn: &mut DbConn, row: &OrderRow) -> QueryResult<usize> {
    diesel::insert_into(orders::table).values(row).execute(conn)
}

/// One statement per line: multi-row inserts do not compile on the two-backend connection type.
pub fn insert_lines(conn: &mut DbConn, rows: &[OrderLineRow]) -> QueryResult<usize> {
    let mut n = 0;
    for row in rows {
        n += diesel::insert_into(order_lines::table).values(row).execute(conn)?;
    }
    Ok(n)
}

pub fn insert_event(conn: &mut DbConn, row: &OrderEventRow) -> QueryResult<usize> {
    diesel::insert_into(order_events::table).values(row).execute(conn)
}

pub fn find_order(conn: &mut DbConn, id: &str) -> QueryResult<Option<OrderRow>> {
    orders::table.find(id).select(OrderRow::as_select()).get_result(conn).optional()
}

pub fn lines_of(conn: &mut DbConn, order_id: &str) -> QueryResult<Vec<OrderLineRow>> {
    order_lines::table
        .filter(order_lines::order_id.eq(order_id))
        .order(order_lines::id.asc())
        .select(OrderLineRow::as_select())
        .load(conn)
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
    let target = orders::table.filter(orders::id.eq(id)).filter(orders::status.eq(from));
    let n = match reserved_until {
        Some(r) => diesel::update(target)
            .set((orders::status.eq(to), orders::reserved_until.eq(r), orders::updated_at.eq(now)))
            .execute(conn)?,
        None => diesel::update(target).set((orders::status.eq(to), orders::updated_at.eq(now))).execute(conn)?,
    };
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
        .execute(conn)?;
    Ok(n == 1)
}

/// Take `quantity` units if (and only if) that many are on hand: the conditional update that makes
/// overselling impossible under any concurrency. `false` when there is not enough.
pub fn take_stock(conn: &mut DbConn, variant_id: &str, quantity: i32) -> QueryResult<bool> {
    let n = diesel::update(
        product_variants::table
            .filter(product_variants::id.eq(variant_id))
            .filter(product_variants::stock_on_hand.ge(quantity)),
    )
    .set(product_variants::stock_on_hand.eq(product_variants::stock_on_hand - quantity))
    .execute(conn)?;
    Ok(n == 1)
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
    use diesel::sql_types::{Text, Timestamp};
    let n = diesel::sql_query(
        "INSERT INTO outbox (id, kind, order_id, status, attempts, created_at) \
         VALUES ($1, $2, $3, 'pending', 0, $4) ON CONFLICT (kind, order_id) DO NOTHING",
    )
    .bind::<Text, _>(id)
    .bind::<Text, _>(kind)
    .bind::<Text, _>(order_id)
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn outbox_for(conn: &mut DbConn, order_id: &str) -> QueryResult<Vec<(String, String)>> {
    outbox::table.filter(outbox::order_id.eq(order_id)).select((outbox::kind, outbox::status)).load(conn)
}
