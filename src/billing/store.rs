//! Billing queries (one set for both backends).

use super::model::{PaymentRow, RefundRow};
use crate::db::DbConn;
use crate::db::schema::{payments, refunds, webhook_events};
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn insert_payment(conn: &mut DbConn, row: &PaymentRow) -> QueryResult<usize> {
    diesel::insert_into(payments::table).values(row).execute(conn)
}

pub fn find_payment(conn: &mut DbConn, id: &str) -> QueryResult<Option<PaymentRow>> {
    payments::table.find(id).select(PaymentRow::as_select()).get_result(conn).optional()
}

pub fn find_payment_by_intent(conn: &mut DbConn, intent: &str) -> QueryResult<Option<PaymentRow>> {
    payments::table
        .filter(payments::payment_intent_id.eq(intent))
        .select(PaymentRow::as_select())
        .get_result(conn)
        .optional()
}

/// Payments still waiting for their outcome, created before `before`.
pub fn list_unsettled(conn: &mut DbConn, before: NaiveDateTime, limit: i64) -> QueryResult<Vec<PaymentRow>> {
    payments::table
        .filter(payments::status.eq_any(["pending", "requires_action"]))
        .filter(payments::created_at.lt(before))
        .order(payments::created_at.asc())
        .limit(limit)
        .select(PaymentRow::as_select())
        .load(conn)
}

/// Write the full row back (the service computed it under a row lock / write transaction).
pub fn update_payment(conn: &mut DbConn, row: &PaymentRow) -> QueryResult<usize> {
    diesel::update(payments::table.find(&row.id)).set(changes(row)).execute(conn)
}

/// [`update_payment`] only if the row still has the status and `updated_at` the caller last saw;
/// `false` when somebody changed it meanwhile.
pub fn update_payment_if_unchanged(
    conn: &mut DbConn,
    row: &PaymentRow,
    status: &str,
    updated_at: NaiveDateTime,
) -> QueryResult<bool> {
    let target = payments::table
        .filter(payments::id.eq(&row.id))
        .filter(payments::status.eq(status))
        .filter(payments::updated_at.eq(updated_at));
    Ok(diesel::update(target).set(changes(row)).execute(conn)? == 1)
}

#[allow(clippy::type_complexity)]
fn changes(
    row: &PaymentRow,
) -> (
    diesel::dsl::Eq<payments::payment_intent_id, &Option<String>>,
    diesel::dsl::Eq<payments::charge_id, &Option<String>>,
    diesel::dsl::Eq<payments::status, &String>,
    diesel::dsl::Eq<payments::amount_captured, i64>,
    diesel::dsl::Eq<payments::amount_refunded, i64>,
    diesel::dsl::Eq<payments::card_brand, &Option<String>>,
    diesel::dsl::Eq<payments::card_last4, &Option<String>>,
    diesel::dsl::Eq<payments::card_exp_month, Option<i32>>,
    diesel::dsl::Eq<payments::card_exp_year, Option<i32>>,
    diesel::dsl::Eq<payments::failure_code, &Option<String>>,
    diesel::dsl::Eq<payments::disputed, bool>,
    diesel::dsl::Eq<payments::updated_at, NaiveDateTime>,
) {
    (
        payments::payment_intent_id.eq(&row.payment_intent_id),
        payments::charge_id.eq(&row.charge_id),
        payments::status.eq(&row.status),
        payments::amount_captured.eq(row.amount_captured),
        payments::amount_refunded.eq(row.amount_refunded),
        payments::card_brand.eq(&row.card_brand),
        payments::card_last4.eq(&row.card_last4),
        payments::card_exp_month.eq(row.card_exp_month),
        payments::card_exp_year.eq(row.card_exp_year),
        payments::failure_code.eq(&row.failure_code),
        payments::disputed.eq(row.disputed),
        payments::updated_at.eq(row.updated_at),
    )
}

pub fn insert_refund(conn: &mut DbConn, row: &RefundRow) -> QueryResult<usize> {
    diesel::insert_into(refunds::table).values(row).execute(conn)
}

pub fn find_refund(conn: &mut DbConn, id: &str) -> QueryResult<Option<RefundRow>> {
    refunds::table.find(id).select(RefundRow::as_select()).get_result(conn).optional()
}

pub fn find_refund_by_processor_id(conn: &mut DbConn, id: &str) -> QueryResult<Option<RefundRow>> {
    refunds::table
        .filter(refunds::processor_refund_id.eq(id))
        .select(RefundRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn refunds_of_payment(conn: &mut DbConn, payment_id: &str) -> QueryResult<Vec<RefundRow>> {
    refunds::table
        .filter(refunds::payment_id.eq(payment_id))
        .order(refunds::created_at.asc())
        .select(RefundRow::as_select())
        .load(conn)
}

pub fn update_refund(
    conn: &mut DbConn,
    id: &str,
    processor_id: Option<&str>,
    status: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(refunds::table.find(id))
        .set((refunds::processor_refund_id.eq(processor_id), refunds::status.eq(status), refunds::updated_at.eq(now)))
        .execute(conn)
}

/// Record an event id; `false` when it was already recorded (a redelivery). One statement:
/// `INSERT … ON CONFLICT DO NOTHING` (SQLite and PostgreSQL share the syntax).
pub fn record_event(
    conn: &mut DbConn,
    event_id: &str,
    event_type: &str,
    object_id: Option<&str>,
    outcome: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    use diesel::sql_types::{Nullable, Text, Timestamp};
    let n = diesel::sql_query(
        "INSERT INTO webhook_events (event_id, event_type, object_id, outcome, received_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind::<Text, _>(event_id)
    .bind::<Text, _>(event_type)
    .bind::<Nullable<Text>, _>(object_id)
    .bind::<Text, _>(outcome)
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn set_event_outcome(conn: &mut DbConn, event_id: &str, outcome: &str) -> QueryResult<usize> {
    diesel::update(webhook_events::table.find(event_id)).set(webhook_events::outcome.eq(outcome)).execute(conn)
}

#[derive(Debug, Clone, Queryable)]
pub struct WebhookEventRow {
    pub event_id: String,
    pub event_type: String,
    pub object_id: Option<String>,
    pub outcome: String,
    pub received_at: NaiveDateTime,
}

pub fn list_events(conn: &mut DbConn, object_id: Option<&str>, limit: i64) -> QueryResult<Vec<WebhookEventRow>> {
    let mut q = webhook_events::table
        .order((webhook_events::received_at.desc(), webhook_events::event_id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(o) = object_id {
        q = q.filter(webhook_events::object_id.eq(o.to_owned()));
    }
    q.load(conn)
}
