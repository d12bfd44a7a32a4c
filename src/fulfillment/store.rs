//! Fulfillment queries (one set for both backends).

use super::model::{FulfillmentRow, LineRow, RuleRow, Status};
use crate::db::DbConn;
use crate::db::schema::{fulfillment_lines, fulfillments, order_lines, orders, product_variants, routing_rules};
use crate::kernel::pii::{AddressText, Email, PersonName, Phone, PostalCode};
use crate::privacy::sealing::Sealed;
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn rules(conn: &mut DbConn) -> QueryResult<Vec<RuleRow>> {
    routing_rules::table
        .order((routing_rules::priority.asc(), routing_rules::created_at.asc(), routing_rules::id.asc()))
        .select(RuleRow::as_select())
        .load(conn)
}

pub fn insert_rule(conn: &mut DbConn, row: &RuleRow) -> QueryResult<usize> {
    diesel::insert_into(routing_rules::table).values(row).execute(conn)
}

pub fn delete_rule(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(routing_rules::table.find(id)).execute(conn)
}

/// An order to route: (id, shipping method, destination country).
pub type Unrouted = (String, Option<String>, Option<String>);

/// An order line that ships: (line id, SKU, title, quantity still owed, unit price, unit weight).
pub type ShippableLine = (String, String, String, i32, i64, i32);

/// An order's contact for its messages: (sealed e-mail, subject, order number).
pub type OrderContact = (Sealed<Email>, Option<String>, String);

/// Paid orders not routed yet, oldest first.
pub fn unrouted(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<Unrouted>> {
    orders::table
        .filter(orders::routed_at.is_null())
        .filter(orders::status.eq("paid"))
        .order(orders::created_at.asc())
        .limit(limit)
        .select((orders::id, orders::shipping_method, orders::ship_country))
        .load(conn)
}

/// Take an order for routing (`false`: another process did).
pub fn claim_order(conn: &mut DbConn, order_id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(orders::table.find(order_id).filter(orders::routed_at.is_null()))
        .set(orders::routed_at.eq(now))
        .execute(conn)?;
    Ok(n == 1)
}

/// An order's lines that ship.
pub fn shippable_lines(conn: &mut DbConn, order_id: &str) -> QueryResult<Vec<ShippableLine>> {
    order_lines::table
        .inner_join(product_variants::table.on(product_variants::id.eq(order_lines::variant_id)))
        .filter(order_lines::order_id.eq(order_id))
        .filter(order_lines::requires_shipping.eq(true))
        .order(order_lines::id.asc())
        .select((
            order_lines::id,
            order_lines::sku,
            order_lines::title,
            order_lines::quantity - order_lines::quantity_refunded,
            order_lines::unit_price,
            product_variants::weight_grams,
        ))
        .load(conn)
}

pub fn insert(conn: &mut DbConn, row: &FulfillmentRow, lines: &[LineRow]) -> QueryResult<()> {
    diesel::insert_into(fulfillments::table).values(row).execute(conn)?;
    for line in lines {
        diesel::insert_into(fulfillment_lines::table).values(line).execute(conn)?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<FulfillmentRow>> {
    fulfillments::table.find(id).select(FulfillmentRow::as_select()).first(conn).optional()
}

/// A partner's fulfillment by its reference (another partner's is not found).
pub fn by_reference(conn: &mut DbConn, partner_id: &str, reference: &str) -> QueryResult<Option<FulfillmentRow>> {
    fulfillments::table
        .filter(fulfillments::reference.eq(reference))
        .filter(fulfillments::partner_id.eq(partner_id))
        .select(FulfillmentRow::as_select())
        .first(conn)
        .optional()
}

pub fn of_order(conn: &mut DbConn, order_id: &str) -> QueryResult<Vec<FulfillmentRow>> {
    fulfillments::table
        .filter(fulfillments::order_id.eq(order_id))
        .order(fulfillments::created_at.asc())
        .select(FulfillmentRow::as_select())
        .load(conn)
}

pub fn lines_of(conn: &mut DbConn, ids: &[&str]) -> QueryResult<Vec<LineRow>> {
    fulfillment_lines::table
        .filter(fulfillment_lines::fulfillment_id.eq_any(ids))
        .order((fulfillment_lines::fulfillment_id.asc(), fulfillment_lines::order_line_id.asc()))
        .select(LineRow::as_select())
        .load(conn)
}

pub fn set_status(conn: &mut DbConn, id: &str, status: Status, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(fulfillments::table.find(id))
        .set((fulfillments::status.eq(status.as_str()), fulfillments::updated_at.eq(now)))
        .execute(conn)
}

/// What a partner's record is made of: the fulfillment and its order's shipping fields (sealed).
#[derive(Debug, Clone, Queryable)]
pub struct Source {
    pub id: String,
    pub reference: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub shipped_at: Option<NaiveDateTime>,
    pub subject_id: Option<String>,
    pub name: Option<Sealed<PersonName>>,
    pub line1: Option<Sealed<AddressText>>,
    pub line2: Option<Sealed<AddressText>>,
    pub city: Option<Sealed<AddressText>>,
    pub region: Option<String>,
    pub postal_code: Option<Sealed<PostalCode>>,
    pub country: Option<String>,
    pub phone: Option<Sealed<Phone>>,
    pub shipping_method: Option<String>,
    pub currency: String,
}

/// Which of a partner's fulfillments to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// One record, by its reference.
    pub reference: Option<String>,
    pub status: Option<Status>,
    pub created_from: Option<NaiveDateTime>,
    pub created_to: Option<NaiveDateTime>,
}

/// A partner's fulfillments after id `after` (by id), at most `limit`.
pub fn page(
    conn: &mut DbConn,
    partner_id: &str,
    filter: &Filter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Source>> {
    let mut q =
        fulfillments::table.inner_join(orders::table).filter(fulfillments::partner_id.eq(partner_id)).into_boxed();
    if let Some(r) = &filter.reference {
        q = q.filter(fulfillments::reference.eq(r.clone()));
    }
    if let Some(s) = filter.status {
        q = q.filter(fulfillments::status.eq(s.as_str()));
    }
    if let Some(t) = filter.created_from {
        q = q.filter(fulfillments::created_at.ge(t));
    }
    if let Some(t) = filter.created_to {
        q = q.filter(fulfillments::created_at.lt(t));
    }
    if let Some(a) = after {
        q = q.filter(fulfillments::id.gt(a.to_owned()));
    }
    q.order(fulfillments::id.asc())
        .limit(limit)
        .select((
            fulfillments::id,
            fulfillments::reference,
            fulfillments::status,
            fulfillments::created_at,
            fulfillments::shipped_at,
            orders::subject_id,
            orders::ship_name,
            orders::ship_line1,
            orders::ship_line2,
            orders::ship_city,
            orders::ship_region,
            orders::ship_postal_code,
            orders::ship_country,
            orders::ship_phone,
            orders::shipping_method,
            orders::currency,
        ))
        .load(conn)
}

/// One source by reference (the partner's own).
pub fn source(conn: &mut DbConn, partner_id: &str, reference: &str) -> QueryResult<Option<Source>> {
    let filter = Filter { reference: Some(reference.to_owned()), ..Filter::default() };
    Ok(page(conn, partner_id, &filter, None, 1)?.pop())
}

/// Acknowledge `references` of a partner that are ready; returns those acknowledged.
pub fn acknowledge(
    conn: &mut DbConn,
    partner_id: &str,
    references: &[String],
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let ready: Vec<String> = fulfillments::table
        .filter(fulfillments::partner_id.eq(partner_id))
        .filter(fulfillments::reference.eq_any(references))
        .filter(fulfillments::status.eq(Status::Ready.as_str()))
        .select(fulfillments::reference)
        .load(conn)?;
    diesel::update(
        fulfillments::table
            .filter(fulfillments::partner_id.eq(partner_id))
            .filter(fulfillments::reference.eq_any(&ready))
            .filter(fulfillments::status.eq(Status::Ready.as_str())),
    )
    .set((
        fulfillments::status.eq(Status::Acknowledged.as_str()),
        fulfillments::acknowledged_at.eq(now),
        fulfillments::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(ready)
}

/// Cancel the fulfillments of an order that have not shipped (the order was cancelled).
pub fn cancel_open_of_order(conn: &mut DbConn, order_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    let open: Vec<&str> =
        Status::ALL.iter().filter(|s| s.open() || **s == Status::Unassigned).map(|s| s.as_str()).collect();
    diesel::update(
        fulfillments::table.filter(fulfillments::order_id.eq(order_id)).filter(fulfillments::status.eq_any(open)),
    )
    .set((fulfillments::status.eq(Status::Cancelled.as_str()), fulfillments::updated_at.eq(now)))
    .execute(conn)
}

/// The e-mail of an order (for its shipping confirmation), sealed, with its subject.
pub fn order_contact(conn: &mut DbConn, order_id: &str) -> QueryResult<Option<OrderContact>> {
    orders::table.find(order_id).select((orders::email, orders::subject_id, orders::number)).first(conn).optional()
}

// --- Partner notices (outbound webhooks) ---

use crate::db::schema::partner_notices;

/// A leased notice.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct LeasedNotice {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub partner_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub event: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub reference: String,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    pub created_at: NaiveDateTime,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
}

pub fn insert_notice(
    conn: &mut DbConn,
    id: &str,
    partner_id: &str,
    event: &str,
    reference: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(partner_notices::table)
        .values((
            partner_notices::id.eq(id),
            partner_notices::partner_id.eq(partner_id),
            partner_notices::event.eq(event),
            partner_notices::reference.eq(reference),
            partner_notices::created_at.eq(now),
            partner_notices::next_attempt_at.eq(now),
        ))
        .execute(conn)
}

/// Whether a notice is due (a read: an idle shop takes no write lock to find out).
pub fn notice_due(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        partner_notices::table
            .filter(partner_notices::delivered_at.is_null())
            .filter(partner_notices::next_attempt_at.le(now))
            .filter(partner_notices::lease_until.is_null().or(partner_notices::lease_until.lt(now))),
    ))
    .get_result(conn)
}

/// Lease up to `limit` due notices until `lease_until` under `token`, each counted as an attempt. On
/// PostgreSQL the rows another worker holds are skipped (`FOR UPDATE SKIP LOCKED`): workers of several
/// processes take different rows and none waits; SQLite has one writer at a time.
pub fn claim_notices(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    token: &str,
    limit: i64,
) -> QueryResult<Vec<LeasedNotice>> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    match conn {
        DbConn::Pg(c) => crate::cached_sql!(include_str!("sql/postgres/claim_notices.sql"))
            .bind::<Timestamp, _>(lease_until)
            .bind::<Text, _>(token)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(c),
        DbConn::Sqlite(c) => crate::cached_sql!(include_str!("sql/sqlite/claim_notices.sql"))
            .bind::<Timestamp, _>(lease_until)
            .bind::<Text, _>(token)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(c),
    }
}

/// A notice was delivered (under its lease); `false` when the lease was lost.
pub fn notice_delivered(conn: &mut DbConn, id: &str, token: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(partner_notices::table.find(id).filter(partner_notices::lease_token.eq(token)))
        .set((partner_notices::delivered_at.eq(now), partner_notices::lease_until.eq(None::<NaiveDateTime>)))
        .execute(conn)?;
    Ok(n == 1)
}

/// A delivery failed: try again at `next` (under its lease).
pub fn notice_failed(conn: &mut DbConn, id: &str, token: &str, error: &str, next: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(partner_notices::table.find(id).filter(partner_notices::lease_token.eq(token)))
        .set((
            partner_notices::last_error.eq(error),
            partner_notices::next_attempt_at.eq(next),
            partner_notices::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}

// --- Benchmark seeding ---

/// A person of the seeding pool: their subject and their fields, sealed under their key.
pub struct SeedPerson {
    pub subject_id: String,
    pub email: String,
    pub name: String,
    pub line1: String,
    pub city: String,
    pub postal_code: String,
    pub phone: String,
}

/// Seed `count` paid, routed orders of one line each, with a fulfillment each for `partner_id`,
/// their customers drawn in turn from `people` (for `leancart seed-fulfillments`: benchmarks). The
/// rows are made by the database from a counter (a recursive CTE both backends run), on one connection.
pub fn seed(
    conn: &mut DbConn,
    partner_id: &str,
    variant: &(String, String, String),
    people: &[SeedPerson],
    count: i64,
    tag: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    diesel::sql_query("CREATE TEMP TABLE IF NOT EXISTS seed_people (i BIGINT PRIMARY KEY, subject_id TEXT, email TEXT, name TEXT, line1 TEXT, city TEXT, postal TEXT, phone TEXT)").execute(conn)?;
    diesel::sql_query("DELETE FROM seed_people").execute(conn)?;
    for (i, p) in people.iter().enumerate() {
        diesel::sql_query("INSERT INTO seed_people VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind::<BigInt, _>(i as i64)
            .bind::<Text, _>(&p.subject_id)
            .bind::<Text, _>(&p.email)
            .bind::<Text, _>(&p.name)
            .bind::<Text, _>(&p.line1)
            .bind::<Text, _>(&p.city)
            .bind::<Text, _>(&p.postal_code)
            .bind::<Text, _>(&p.phone)
            .execute(conn)?;
    }
    let k = people.len().max(1) as i64;
    let counter = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $1) ";
    let statements = [
        "INSERT INTO carts (id, token_hash, status, currency, is_gift, created_at, updated_at) \
         SELECT 'cart_' || $2 || n, 'seed' || $3 || n, 'checked_out', 'USD', FALSE, $4, $5 FROM g",
        "INSERT INTO orders (id, number, access_token_hash, cart_id, status, currency, subtotal, shipping_total, \
         tax_total, discount_total, total, prices_include_tax, email, ship_name, ship_line1, ship_city, \
         ship_postal_code, ship_country, ship_phone, shipping_method, is_gift, stock_released, created_at, \
         updated_at, subject_id, routed_at) \
         SELECT 'ord_' || $2 || n, 'SD-' || $3 || n, 'seed' || $4 || n, 'cart_' || $5 || n, 'paid', 'USD', 2500, 0, 0, 0, \
         2500, FALSE, p.email, p.name, p.line1, p.city, p.postal, 'DE', p.phone, 'express', FALSE, FALSE, $6, $7, \
         p.subject_id, $8 FROM g JOIN seed_people p ON p.i = n % $9",
    ];
    diesel::sql_query(format!("{counter}{}", statements[0]))
        .bind::<BigInt, _>(count)
        .bind::<Text, _>(tag)
        .bind::<Text, _>(tag)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(now)
        .execute(conn)?;
    diesel::sql_query(format!("{counter}{}", statements[1]))
        .bind::<BigInt, _>(count)
        .bind::<Text, _>(tag)
        .bind::<Text, _>(tag)
        .bind::<Text, _>(tag)
        .bind::<Text, _>(tag)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(k)
        .execute(conn)?;
    let (variant_id, sku, title) = variant;
    diesel::sql_query(format!(
        "{counter}INSERT INTO order_lines (id, order_id, variant_id, sku, title, unit_price, quantity, \
         quantity_refunded, line_total, requires_shipping) \
         SELECT 'ol_' || $2 || n, 'ord_' || $3 || n, $4, $5, $6, 2500, 1, 0, 2500, TRUE FROM g"
    ))
    .bind::<BigInt, _>(count)
    .bind::<Text, _>(tag)
    .bind::<Text, _>(tag)
    .bind::<Text, _>(variant_id)
    .bind::<Text, _>(sku)
    .bind::<Text, _>(title)
    .execute(conn)?;
    diesel::sql_query(format!(
        "{counter}INSERT INTO fulfillments (id, order_id, partner_id, reference, status, created_at, updated_at) \
         SELECT 'ful_' || $2 || n, 'ord_' || $3 || n, $4, 'FR-' || $5 || n, 'ready', $6, $7 FROM g"
    ))
    .bind::<BigInt, _>(count)
    .bind::<Text, _>(tag)
    .bind::<Text, _>(tag)
    .bind::<Text, _>(partner_id)
    .bind::<Text, _>(tag)
    .bind::<Timestamp, _>(now)
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    diesel::sql_query(format!(
        "{counter}INSERT INTO fulfillment_lines (fulfillment_id, order_line_id, sku, title, quantity, weight_grams, \
         unit_value, quantity_shipped) SELECT 'ful_' || $2 || n, 'ol_' || $3 || n, $4, $5, 1, 250, 2500, 0 FROM g"
    ))
    .bind::<BigInt, _>(count)
    .bind::<Text, _>(tag)
    .bind::<Text, _>(tag)
    .bind::<Text, _>(sku)
    .bind::<Text, _>(title)
    .execute(conn)?;
    Ok(())
}
