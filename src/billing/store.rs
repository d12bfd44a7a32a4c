//! Billing queries (one set for both backends).

use super::model::{PaymentRow, RefundRow};
use crate::cached_sql;
use crate::db::DbConn;
use crate::db::direct::Direct;
use crate::db::schema::{payments, refunds, webhook_events};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

/// Bind the changeable columns of a payment, in the order its UPDATEs set them, then its id.
macro_rules! bind_payment_changes {
    ($q:expr, $row:expr) => {
        $q.bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(&$row.payment_intent_id)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(&$row.charge_id)
            .bind::<diesel::sql_types::Text, _>(&$row.status)
            .bind::<diesel::sql_types::BigInt, _>($row.amount_captured)
            .bind::<diesel::sql_types::BigInt, _>($row.amount_refunded)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(&$row.card_brand)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(&$row.card_last4)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Integer>, _>($row.card_exp_month)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Integer>, _>($row.card_exp_year)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(&$row.failure_code)
            .bind::<diesel::sql_types::Bool, _>($row.disputed)
            .bind::<diesel::sql_types::Timestamp, _>($row.updated_at)
            .bind::<diesel::sql_types::Text, _>(&$row.id)
    };
}

pub fn insert_payment(conn: &mut DbConn, row: &PaymentRow) -> QueryResult<usize> {
    bind_payment_changes!(cached_sql!(include_str!("sql/insert_payment.sql")), row)
        .bind::<Nullable<Text>, _>(&row.order_id)
        .bind::<Text, _>(&row.processor)
        .bind::<Text, _>(&row.payment_method_id)
        .bind::<Text, _>(&row.capture_method)
        .bind::<BigInt, _>(row.amount)
        .bind::<Text, _>(&row.currency)
        .bind::<Timestamp, _>(row.created_at)
        .execute_direct(conn)
}

/// Lock a payment's row until the transaction ends (PostgreSQL `FOR UPDATE`; on SQLite the write
/// transaction already holds the database's one write lock).
pub fn lock_payment(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    if let DbConn::Pg(_) = conn {
        diesel::sql_query("SELECT id FROM payments WHERE id = $1 FOR UPDATE").bind::<Text, _>(id).execute(conn)?;
    }
    Ok(())
}

pub fn find_payment(conn: &mut DbConn, id: &str) -> QueryResult<Option<PaymentRow>> {
    crate::direct!(conn, |c| payments::table.find(id).select(PaymentRow::as_select()).get_result(c).optional())
}

pub fn find_payment_by_intent(conn: &mut DbConn, intent: &str) -> QueryResult<Option<PaymentRow>> {
    payments::table
        .filter(payments::payment_intent_id.eq(intent))
        .select(PaymentRow::as_select())
        .get_result(conn)
        .optional()
}

/// Payments still waiting for their outcome, created before `before`. The status condition is written
/// as the partial index `payments_unsettled` states it, so that the index serves it.
pub fn list_unsettled(conn: &mut DbConn, before: NaiveDateTime, limit: i64) -> QueryResult<Vec<PaymentRow>> {
    payments::table
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("payments.status IN ('pending', 'requires_action')"))
        .filter(payments::created_at.lt(before))
        .order(payments::created_at.asc())
        .limit(limit)
        .select(PaymentRow::as_select())
        .load(conn)
}

/// Write the full row back (the service computed it under a row lock / write transaction).
pub fn update_payment(conn: &mut DbConn, row: &PaymentRow) -> QueryResult<usize> {
    bind_payment_changes!(cached_sql!(include_str!("sql/update_payment.sql")), row).execute_direct(conn)
}

/// [`update_payment`] only if the row still has the status and `updated_at` the caller last saw;
/// `false` when somebody changed it meanwhile.
pub fn update_payment_if_unchanged(
    conn: &mut DbConn,
    row: &PaymentRow,
    status: &str,
    updated_at: NaiveDateTime,
) -> QueryResult<bool> {
    let q = cached_sql!(include_str!("sql/update_payment_if_unchanged.sql"));
    let n =
        bind_payment_changes!(q, row).bind::<Text, _>(status).bind::<Timestamp, _>(updated_at).execute_direct(conn)?;
    Ok(n == 1)
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

/// Record a `payment_intent.succeeded` event in one statement if it has nothing left to do: our payment
/// `payment_id` for intent `object_id` has already succeeded with charge `charge_id` and at least
/// `amount_received` captured (the API answer got there first). `false` when it was not recorded —
/// the payment is not there yet, or the event was recorded before: the caller takes the general path.
#[allow(clippy::too_many_arguments)]
pub fn record_settled_success(
    conn: &mut DbConn,
    event_id: &str,
    object_id: &str,
    payment_id: &str,
    charge_id: &str,
    amount_received: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = cached_sql!(include_str!("sql/record_settled_success.sql"))
        .bind::<Text, _>(event_id)
        .bind::<Text, _>(object_id)
        .bind::<Timestamp, _>(now)
        .bind::<Text, _>(payment_id)
        .bind::<Text, _>(object_id)
        .bind::<Text, _>(charge_id)
        .bind::<BigInt, _>(amount_received)
        .execute_direct(conn)?;
    Ok(n == 1)
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
    let n = cached_sql!(
        "INSERT INTO webhook_events (event_id, event_type, object_id, outcome, received_at) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind::<Text, _>(event_id)
    .bind::<Text, _>(event_type)
    .bind::<Nullable<Text>, _>(object_id)
    .bind::<Text, _>(outcome)
    .bind::<Timestamp, _>(now)
    .execute_direct(conn)?;
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
