//! Order queries (one set for both backends).

use super::model::{OrderEventRow, OrderLineRow, OrderRow};
use crate::cached_sql;
use crate::db::DbConn;
use crate::db::cached::{MAX_BATCH, batch_sql, batch_template, row};
use crate::db::direct::Direct;
use crate::db::schema::{order_events, order_lines, orders, outbox, product_variants};
use crate::privacy::personal::SealedDetails;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};

/// Bind an order's columns, in the order `sql/*/insert_order.sql` lists them (`number` aside).
macro_rules! bind_order {
    ($q:expr, $row:expr) => {
        $q.bind::<Text, _>(&$row.id)
            .bind::<Text, _>(&$row.access_token_hash)
            .bind::<Text, _>(&$row.cart_id)
            .bind::<Text, _>(&$row.status)
            .bind::<Text, _>(&$row.currency)
            .bind::<BigInt, _>($row.subtotal)
            .bind::<BigInt, _>($row.shipping_total)
            .bind::<BigInt, _>($row.tax_total)
            .bind::<BigInt, _>($row.discount_total)
            .bind::<BigInt, _>($row.total)
            .bind::<Bool, _>($row.prices_include_tax)
            .bind::<Text, _>(&$row.email)
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
            .bind::<Nullable<Text>, _>(&$row.payment_id)
            .bind::<Nullable<Timestamp>, _>($row.reserved_until)
            .bind::<Bool, _>($row.stock_released)
            .bind::<Timestamp, _>($row.created_at)
            .bind::<Timestamp, _>($row.updated_at)
            .bind::<Nullable<Text>, _>(&$row.subject_id)
            .bind::<Nullable<Text>, _>(&$row.account_id)
    };
}

/// Bind a history entry's columns, in `order_events` column order.
macro_rules! bind_event {
    ($q:expr, $row:expr) => {
        $q.bind::<Text, _>(&$row.id)
            .bind::<Text, _>(&$row.order_id)
            .bind::<Nullable<Text>, _>(&$row.from_status)
            .bind::<Text, _>(&$row.to_status)
            .bind::<Text, _>(&$row.actor)
            .bind::<Text, _>(&$row.reason)
            .bind::<Timestamp, _>($row.created_at)
    };
}

/// One order line's placeholders in `sql/insert_lines.sql` (and `reserve_and_create.sql`).
const LINE_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Bind one order line's columns, in `sql/insert_lines.sql`'s order, as a batch row.
macro_rules! line_row {
    ($line:expr) => {
        row()
            .bind::<Text, _>(&$line.id)
            .bind::<Text, _>(&$line.order_id)
            .bind::<Text, _>(&$line.variant_id)
            .bind::<Text, _>(&$line.sku)
            .bind::<Text, _>(&$line.title)
            .bind::<BigInt, _>($line.unit_price)
            .bind::<Integer, _>($line.quantity)
            .bind::<Integer, _>($line.quantity_refunded)
            .bind::<BigInt, _>($line.line_total)
            .bind::<Bool, _>($line.requires_shipping)
    };
}

/// Bind a payment's columns in the order `sql/postgres/reserve_and_create.sql` lists them (the same
/// as billing's `insert_payment.sql`).
macro_rules! bind_payment {
    ($q:expr, $row:expr) => {
        bind_payment_changes!($q, $row)
            .bind::<Nullable<Text>, _>(&$row.order_id)
            .bind::<Text, _>(&$row.processor)
            .bind::<Text, _>(&$row.payment_method_id)
            .bind::<Text, _>(&$row.capture_method)
            .bind::<BigInt, _>($row.amount)
            .bind::<Text, _>(&$row.currency)
            .bind::<Timestamp, _>($row.created_at)
    };
}

/// Bind a payment's changeable columns and then its id, in the order both of this store's payment
/// statements list them (`reserve_and_create.sql`'s INSERT, `settle_paid_at_once.sql`'s UPDATE).
macro_rules! bind_payment_changes {
    ($q:expr, $row:expr) => {
        $q.bind::<Nullable<Text>, _>(&$row.payment_intent_id)
            .bind::<Nullable<Text>, _>(&$row.charge_id)
            .bind::<Text, _>(&$row.status)
            .bind::<BigInt, _>($row.amount_captured)
            .bind::<BigInt, _>($row.amount_refunded)
            .bind::<Nullable<Text>, _>(&$row.card_brand)
            .bind::<Nullable<Text>, _>(&$row.card_last4)
            .bind::<Nullable<Integer>, _>($row.card_exp_month)
            .bind::<Nullable<Integer>, _>($row.card_exp_year)
            .bind::<Nullable<Text>, _>(&$row.failure_code)
            .bind::<Bool, _>($row.disputed)
            .bind::<Timestamp, _>($row.updated_at)
            .bind::<Text, _>(&$row.id)
    };
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = Text)]
    number: String,
}

/// Create a placed order step by step (SQLite, and orders too large for [`reserve_and_create`]'s one statement): the
/// order with its human-friendly number (`row.number`; on PostgreSQL from a sequence inside the INSERT —
/// no hot row shared by concurrent checkouts —, on SQLite, whose writers are serialised anyway, from a
/// counter row), its lines and its first history entry.
fn insert_placed(
    conn: &mut DbConn,
    row: &mut OrderRow,
    lines: &[OrderLineRow],
    event: &OrderEventRow,
) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Counter {
        #[diesel(sql_type = BigInt)]
        value: i64,
    }
    match conn {
        DbConn::Pg(c) => {
            row.number = bind_order!(cached_sql!(include_str!("sql/postgres/insert_order.sql")), row)
                .get_result::<Number>(c)?
                .number;
        }
        DbConn::Sqlite(c) => {
            let n = cached_sql!("UPDATE counters SET value = value + 1 WHERE name = 'order_number' RETURNING value")
                .get_result::<Counter>(c)?
                .value;
            row.number = format!("LC-{n}");
            bind_order!(cached_sql!(include_str!("sql/sqlite/insert_order.sql")), row)
                .bind::<Text, _>(&row.number)
                .execute(c)?;
        }
    }
    insert_lines(conn, lines)?;
    insert_event(conn, event)?;
    Ok(())
}

/// What [`reserve_and_create`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Reserved {
    Created,
    /// The cart was no longer open (a concurrent placement checked it out).
    CartCheckedOut,
    /// This variant (the first in variant order) did not have enough stock.
    OutOfStock(String),
}

/// Place an order in the database: take each line's units if (and only if) they are on hand (`wanted`,
/// in variant order), check the cart out, and create the order with its lines, its first history entry
/// and its pending payment. Anything but [`Reserved::Created`] means the caller must roll the
/// transaction back (units taken, rows written).
///
/// On PostgreSQL an order of up to [`MAX_BATCH`] lines is one statement (writable CTEs; they run in a
/// fixed order — order, cart, stock, then the rest — so concurrent placements of one cart queue on the
/// cart and the later one finds it checked out). The variants are locked in id order first (`ORDER BY id
/// FOR NO KEY UPDATE`): the update itself visits rows in whatever order its scan finds them, and two
/// placements sharing variants must never lock them in opposite orders. On SQLite, and for larger orders, step by step.
#[allow(clippy::too_many_arguments)]
pub fn reserve_and_create(
    conn: &mut DbConn,
    wanted: &[(&str, i32)],
    cart_id: &str,
    now: NaiveDateTime,
    order: &mut OrderRow,
    lines: &[OrderLineRow],
    event: &OrderEventRow,
    payment: &crate::billing::model::PaymentRow,
) -> QueryResult<Reserved> {
    #[derive(QueryableByName)]
    struct Placed {
        #[diesel(sql_type = Text)]
        number: String,
        #[diesel(sql_type = BigInt)]
        checked_out: i64,
        #[diesel(sql_type = Nullable<diesel::sql_types::Array<Text>>)]
        taken: Option<Vec<String>>,
    }
    let one_statement = matches!(conn, DbConn::Pg(_))
        && !wanted.is_empty()
        && wanted.len() <= MAX_BATCH
        && !lines.is_empty()
        && lines.len() <= MAX_BATCH;
    if let (true, DbConn::Pg(c)) = (one_statement, &mut *conn) {
        let statement = batch_template(
            include_str!("sql/postgres/reserve_and_create.sql"),
            &[("{ids}", "?", wanted.len()), ("{stock}", "(?, ?)", wanted.len()), ("{lines}", LINE_ROW, lines.len())],
        );
        let q = statement
            .bind_rows(wanted.iter().map(|(id, _)| row().bind::<Text, _>(*id)).collect())
            .bind_rows(wanted.iter().map(|(id, q)| row().bind::<Text, _>(*id).bind::<Integer, _>(*q)).collect())
            .bind::<Timestamp, _>(now)
            .bind::<Text, _>(cart_id);
        let q = bind_order!(q, order);
        let q = q.bind_rows(lines.iter().map(|l| line_row!(l)).collect());
        let q = bind_payment!(bind_event!(q, event), payment);
        let placed: Placed = q.get_result(c)?;
        if placed.checked_out != 1 {
            return Ok(Reserved::CartCheckedOut);
        }
        let taken = placed.taken.unwrap_or_default();
        if let Some((id, _)) = wanted.iter().find(|(id, _)| !taken.iter().any(|t| t == id)) {
            return Ok(Reserved::OutOfStock((*id).to_owned()));
        }
        order.number = placed.number;
        return Ok(Reserved::Created);
    }
    if let Some(variant_id) = take_stock(conn, wanted)?.into_iter().next() {
        return Ok(Reserved::OutOfStock(variant_id));
    }
    if !crate::checkout::store::check_out(conn, cart_id, now)? {
        return Ok(Reserved::CartCheckedOut);
    }
    insert_placed(conn, order, lines, event)?;
    crate::billing::store::insert_payment(conn, payment)?;
    Ok(Reserved::Created)
}

/// The order's lines, a batch of up to [`MAX_BATCH`] rows per statement.
pub fn insert_lines(conn: &mut DbConn, rows: &[OrderLineRow]) -> QueryResult<usize> {
    let mut n = 0;
    for chunk in rows.chunks(MAX_BATCH) {
        n += batch_template(include_str!("sql/insert_lines.sql"), &[("{lines}", LINE_ROW, chunk.len())])
            .bind_rows(chunk.iter().map(|l| line_row!(l)).collect())
            .execute_direct(conn)?;
    }
    Ok(n)
}

pub fn insert_event(conn: &mut DbConn, row: &OrderEventRow) -> QueryResult<usize> {
    bind_event!(cached_sql!(include_str!("sql/insert_event.sql")), row).execute_direct(conn)
}

pub fn find_order(conn: &mut DbConn, id: &str) -> QueryResult<Option<OrderRow>> {
    crate::direct!(conn, |c| orders::table.find(id).select(OrderRow::as_select()).get_result(c).optional())
}

/// An account's orders, newest first (up to `limit`).
pub fn orders_of_account(conn: &mut DbConn, account: &str, limit: i64) -> QueryResult<Vec<OrderRow>> {
    orders::table
        .filter(orders::account_id.eq(account))
        .order((orders::created_at.desc(), orders::id.desc()))
        .limit(limit)
        .select(OrderRow::as_select())
        .load(conn)
}

/// A customer's orders (the subject their key belongs to), oldest first.
pub fn orders_of_subject(conn: &mut DbConn, subject: &str) -> QueryResult<Vec<OrderRow>> {
    orders::table
        .filter(orders::subject_id.eq(subject))
        .order((orders::created_at.asc(), orders::id.asc()))
        .select(OrderRow::as_select())
        .load(conn)
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

/// An order's move from one status to the next, with its history entry.
pub struct Move<'a> {
    pub clear_reservation: bool,
    /// Only if the order is paid by this payment (`None`: whatever pays it).
    pub paid_by: Option<&'a str>,
    /// The history entry: its order, from and to statuses, actor, reason and time are the move's.
    pub entry: &'a OrderEventRow,
}

/// Move an order (`sql/*/move_order.sql`): a compare-and-set of its status with its history entry.
/// `false`, nothing written, when the order was no longer in the entry's `from_status` (or is paid by
/// another payment than `paid_by`). PostgreSQL: one statement; SQLite: the update, then the entry.
pub fn move_order(conn: &mut DbConn, m: &Move<'_>) -> QueryResult<bool> {
    let e = m.entry;
    let from = e.from_status.as_deref().unwrap_or_default();
    macro_rules! bind_move {
        ($q:expr) => {
            $q.bind::<Text, _>(&e.to_status)
                .bind::<Bool, _>(m.clear_reservation)
                .bind::<Timestamp, _>(e.created_at)
                .bind::<Text, _>(&e.order_id)
                .bind::<Text, _>(from)
                .bind::<Nullable<Text>, _>(m.paid_by)
                .bind::<Nullable<Text>, _>(m.paid_by)
        };
    }
    match conn {
        DbConn::Pg(c) => {
            let q = bind_move!(cached_sql!(include_str!("sql/postgres/move_order.sql")))
                .bind::<Text, _>(&e.id)
                .bind::<Nullable<Text>, _>(&e.from_status)
                .bind::<Text, _>(&e.to_status)
                .bind::<Text, _>(&e.actor)
                .bind::<Text, _>(&e.reason)
                .bind::<Timestamp, _>(e.created_at);
            Ok(q.execute(c)? == 1)
        }
        DbConn::Sqlite(_) => {
            if bind_move!(cached_sql!(include_str!("sql/sqlite/move_order.sql"))).execute_direct(conn)? != 1 {
                return Ok(false);
            }
            insert_event(conn, e)?;
            Ok(true)
        }
    }
}

/// What [`settle_paid_at_once`] writes: the payment's move (a compare-and-set on the row as recorded),
/// and what follows from it.
pub struct PaidAtOnce<'a> {
    pub payment: &'a crate::billing::model::PaymentRow,
    pub recorded_status: &'a str,
    pub recorded_at: NaiveDateTime,
    /// The history entry of the move to `paid` (its order is the payment's).
    pub entry: &'a OrderEventRow,
    pub outbox_id: &'a str,
    pub key_hash: &'a str,
}

/// PostgreSQL, a placement's payment succeeding at once: `sql/postgres/settle_paid_at_once.sql` (the
/// measured shortcut; read its head). The paid order, or `None` — nothing written — when the order or
/// the payment moved meanwhile, and always on SQLite: the caller then takes the general path.
pub fn settle_paid_at_once(conn: &mut DbConn, w: &PaidAtOnce<'_>) -> QueryResult<Option<OrderRow>> {
    let DbConn::Pg(c) = conn else { return Ok(None) };
    let (p, e) = (w.payment, w.entry);
    let q = cached_sql!(include_str!("sql/postgres/settle_paid_at_once.sql"))
        .bind::<Text, _>(&e.order_id)
        .bind::<Text, _>(&p.id);
    bind_payment_changes!(q, p)
        .bind::<Text, _>(w.recorded_status)
        .bind::<Timestamp, _>(w.recorded_at)
        .bind::<Timestamp, _>(e.created_at)
        .bind::<Text, _>(&e.id)
        .bind::<Text, _>(&e.reason)
        .bind::<Timestamp, _>(e.created_at)
        .bind::<Text, _>(w.outbox_id)
        .bind::<Timestamp, _>(e.created_at)
        .bind::<Timestamp, _>(e.created_at)
        .bind::<Text, _>(w.key_hash)
        .get_result::<OrderRow>(c)
        .optional()
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
        // The `IN` list repeats the ids so that the variants are found through their key whatever the
        // size of the catalog (a small one otherwise gets a hash join over every variant). On PostgreSQL
        // it also locks them in id order first (see [`reserve_and_create`]); SQLite has one writer at a time.
        let ids = vec!["?"; chunk.len()].join(", ");
        let tail = format!(
            ") AS t WHERE product_variants.id = t.column1 AND product_variants.stock_on_hand >= t.column2 \
             AND product_variants.id IN ({}) RETURNING product_variants.id",
            match conn {
                DbConn::Pg(_) =>
                    format!("SELECT id FROM product_variants WHERE id IN ({ids}) ORDER BY id FOR NO KEY UPDATE"),
                DbConn::Sqlite(_) => ids,
            }
        );
        let q = batch_sql(
            "UPDATE product_variants SET stock_on_hand = stock_on_hand - t.column2 FROM (VALUES ",
            "(?, ?)",
            chunk.len(),
            &tail,
        )
        .bind_rows(chunk.iter().map(|(id, q)| row().bind::<Text, _>(*id).bind::<Integer, _>(*q)).collect())
        .bind_rows(chunk.iter().map(|(id, _)| row().bind::<Text, _>(*id)).collect());
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

/// Which of these orders no longer hold stock unpaid (paid, failed, cancelled, or unknown).
pub fn settled_among(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<String>> {
    let unpaid: Vec<String> = orders::table
        .filter(orders::id.eq_any(ids))
        .filter(orders::status.eq_any(["pending_payment", "awaiting_payment_action"]))
        .select(orders::id)
        .load(conn)?;
    Ok(ids.iter().filter(|id| !unpaid.contains(id)).cloned().collect())
}

/// Shorten an unpaid order's stock reservation to `until` (never lengthen it).
pub fn shorten_reservation(conn: &mut DbConn, id: &str, until: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(orders::table.filter(orders::id.eq(id)).filter(orders::reserved_until.gt(until)))
        .set(orders::reserved_until.eq(until))
        .execute(conn)
}

/// Lock an order's row until the transaction ends, so that units of work on one order (refunds) run
/// one after the other. PostgreSQL: `FOR UPDATE`; SQLite: the write transaction's lock already
/// serialises every writer.
pub fn lock_order(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    match conn {
        DbConn::Pg(_) => {
            Ok(diesel::sql_query("SELECT id FROM orders WHERE id = $1 FOR UPDATE").bind::<Text, _>(id).execute(conn)?
                == 1)
        }
        DbConn::Sqlite(_) => Ok(orders::table.find(id).select(orders::id).first::<String>(conn).optional()?.is_some()),
    }
}

/// Add `quantity` to a line's refunded units, unless that would refund more than it holds.
pub fn add_refunded_quantity(conn: &mut DbConn, order_id: &str, line_id: &str, quantity: i32) -> QueryResult<bool> {
    let n = diesel::update(
        order_lines::table
            .filter(order_lines::id.eq(line_id))
            .filter(order_lines::order_id.eq(order_id))
            .filter((order_lines::quantity_refunded + quantity).le(order_lines::quantity)),
    )
    .set(order_lines::quantity_refunded.eq(order_lines::quantity_refunded + quantity))
    .execute(conn)?;
    Ok(n == 1)
}

/// Take back units counted as refunded by a refund the processor then refused.
pub fn undo_refunded_quantity(conn: &mut DbConn, line_id: &str, quantity: i32) -> QueryResult<usize> {
    diesel::update(
        order_lines::table.filter(order_lines::id.eq(line_id)).filter(order_lines::quantity_refunded.ge(quantity)),
    )
    .set(order_lines::quantity_refunded.eq(order_lines::quantity_refunded - quantity))
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

/// Staff search: by status and/or exact order number or customer (the subject an e-mail names), newest
/// first, after a cursor id.
pub fn search(
    conn: &mut DbConn,
    status: Option<&str>,
    number: Option<&str>,
    subject: Option<&str>,
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
    if let Some(s) = subject {
        q = q.filter(orders::subject_id.eq(s.to_owned()));
    }
    if let Some((t, id)) = before {
        q = q.filter(orders::created_at.lt(t).or(orders::created_at.eq(t).and(orders::id.lt(id))));
    }
    q.load(conn)
}

/// Orders written before sealing existed (no subject): their personal fields are still in clear.
pub fn unsealed(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<OrderRow>> {
    orders::table
        .filter(orders::subject_id.is_null())
        .order(orders::id.asc())
        .limit(limit)
        .select(OrderRow::as_select())
        .load(conn)
}

/// Replace an order's clear personal fields with their sealed form, if no one did meanwhile.
pub fn seal_in_place(conn: &mut DbConn, id: &str, subject: &str, d: &SealedDetails) -> QueryResult<usize> {
    let email = d.email.as_ref().map(|e| e.stored().to_owned()).unwrap_or_default();
    diesel::update(orders::table.find(id).filter(orders::subject_id.is_null()))
        .set((
            orders::subject_id.eq(subject),
            orders::email.eq(email),
            orders::ship_name.eq(&d.name),
            orders::ship_line1.eq(&d.line1),
            orders::ship_line2.eq(&d.line2),
            orders::ship_city.eq(&d.city),
            orders::ship_postal_code.eq(&d.postal_code),
            orders::ship_phone.eq(&d.phone),
        ))
        .execute(conn)
}

/// Queue a transactional message once per (kind, order): one `INSERT … ON CONFLICT DO NOTHING`.
pub fn enqueue_outbox(
    conn: &mut DbConn,
    id: &str,
    kind: &str,
    order_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = cached_sql!(include_str!("sql/enqueue_outbox.sql"))
        .bind::<Text, _>(id)
        .bind::<Text, _>(kind)
        .bind::<Text, _>(order_id)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(now)
        .execute_direct(conn)?;
    Ok(n == 1)
}

pub fn outbox_for(conn: &mut DbConn, order_id: &str) -> QueryResult<Vec<(String, String)>> {
    outbox::table.filter(outbox::order_id.eq(order_id)).select((outbox::kind, outbox::status)).load(conn)
}
