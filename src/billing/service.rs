//! Billing's service API, used by checkout and orders (no HTTP types here):
//! `pay`, `capture`, `cancel`, `refund`, `refresh`, `reconcile`, and `apply_event` for webhooks; and,
//! for a caller that runs its own unit of work around a charge (placement), its three steps:
//! [`Billing::ask_processor`] (no database), [`interpret`] (pure, in `settlement`) and
//! [`Billing::record`] (inside the caller's transaction).
//!
//! Every payment is recorded (`pending`) *before* the processor is called, with the idempotency key
//! derived from its id; processor calls run outside database transactions; their answers — and
//! webhook events, which may arrive first, twice or out of order — are applied through the same
//! forward-only state machine, so the record converges whatever the order.

use super::model::{IntentFacts, PaymentChange, PaymentId, PaymentRow, PaymentStatus, RefundId, RefundRow};
use super::processor::{ChargeRequest, Processor, ProcessorError};
use super::settlement::{Decline, NextAction, ProcessorAnswer, Settlement, decline_code, interpret, merge_facts};
use super::store;
use crate::config::CaptureMethod;
use crate::db::{Db, DbConn, dialect};
use crate::error::ApiError;
use crate::kernel::money::Money;
use crate::kernel::secret::SecretString;
use crate::kernel::time;
use serde_json::{Value, json};
use std::sync::Arc;

/// Called inside the transaction that changes a payment's status (orders follow their payments).
pub type PaymentListener = Arc<dyn Fn(&mut DbConn, &PaymentChange) -> Result<(), ApiError> + Send + Sync>;

/// Webhook event types leancart acts on (what its Stripe webhook endpoint subscribes to).
pub const HANDLED_EVENTS: &[&str] = &[
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.requires_action",
    "payment_intent.amount_capturable_updated",
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "charge.dispute.created",
];

/// The billing service.
#[derive(Clone)]
pub struct Billing {
    processor: Processor,
    capture: CaptureMethod,
    webhook_secrets: Vec<SecretString>,
    listeners: Vec<PaymentListener>,
}

/// What happened to a payment attempt, once written.
#[derive(Debug, Clone)]
pub struct PaymentOutcome {
    pub payment: PaymentRow,
    /// Where the shopper completes 3-D Secure, when the status is `requires_action`.
    pub next_action: Option<NextAction>,
    /// Why the card was declined, when it was.
    pub decline: Option<Decline>,
    /// The processor did not answer; the payment stays `pending` until a webhook or the
    /// reconciliation sweep settles it.
    pub unresolved: bool,
}

/// A new payment for an amount with a payment method tokenized by the processor.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub order_id: Option<String>,
    pub amount: Money,
    pub payment_method: String,
    pub description: Option<String>,
}

fn processor_problem(e: &ProcessorError) -> ApiError {
    match e {
        ProcessorError::Declined { .. } => ApiError::Payment {
            status: axum::http::StatusCode::PAYMENT_REQUIRED,
            code: "card_declined",
            detail: "The card was declined.".into(),
            extra: None,
        },
        ProcessorError::Invalid { code, .. } if code == "resource_missing" => ApiError::Unprocessable {
            code: "payment_method_invalid",
            detail: "The payment method is unknown to the processor; tokenize the card again.".into(),
            extra: None,
        },
        ProcessorError::Invalid { .. } => ApiError::Unprocessable {
            code: "payment_refused",
            detail: "The payment processor refused the request.".into(),
            extra: None,
        },
        ProcessorError::RateLimited => ApiError::Payment {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            code: "payment_processor_busy",
            detail: "The payment processor is busy; try again shortly.".into(),
            extra: None,
        },
        ProcessorError::Unavailable(_) => ApiError::Payment {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            code: "payment_processor_unavailable",
            detail: "The payment processor did not answer; try again shortly.".into(),
            extra: None,
        },
        ProcessorError::Integration(cause) => ApiError::internal(format!("processor: {cause}")),
    }
}

impl From<ProcessorError> for ApiError {
    fn from(e: ProcessorError) -> Self {
        processor_problem(&e)
    }
}

impl Billing {
    pub fn new(processor: Processor, capture: CaptureMethod, webhook_secrets: Vec<SecretString>) -> Billing {
        Billing { processor, capture, webhook_secrets, listeners: Vec::new() }
    }

    /// Register a module that follows payment status changes (in the same transaction).
    pub fn on_payment_change(&mut self, listener: PaymentListener) {
        self.listeners.push(listener);
    }

    pub fn capture_method(&self) -> CaptureMethod {
        self.capture
    }

    pub fn webhook_secrets(&self) -> &[SecretString] {
        &self.webhook_secrets
    }

    /// A fresh payment record (status `pending`), to be written in the caller's transaction before
    /// the processor is called.
    pub fn new_payment_row(&self, req: &NewPayment) -> PaymentRow {
        let now = time::now();
        PaymentRow {
            id: PaymentId::generate().into_string(),
            order_id: req.order_id.clone(),
            processor: "stripe".into(),
            payment_intent_id: None,
            payment_method_id: req.payment_method.clone(),
            charge_id: None,
            status: PaymentStatus::Pending.as_str().into(),
            capture_method: match self.capture {
                CaptureMethod::Automatic => "automatic".into(),
                CaptureMethod::Manual => "manual".into(),
            },
            amount: req.amount.amount,
            amount_captured: 0,
            amount_refunded: 0,
            currency: req.amount.currency.to_string(),
            card_brand: None,
            card_last4: None,
            card_exp_month: None,
            card_exp_year: None,
            failure_code: None,
            disputed: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// Record and charge a new payment.
    pub async fn pay(&self, db: &Db, req: NewPayment) -> Result<PaymentOutcome, ApiError> {
        validate_payment_method(&req.payment_method)?;
        let row = self.new_payment_row(&req);
        let insert = row.clone();
        db.run(move |conn| dialect::write_unit(conn, |conn| Ok(store::insert_payment(conn, &insert)?))).await?;
        self.charge(db, &row, req.description).await
    }

    /// Call the processor for a recorded `pending` payment and apply the answer.
    pub async fn charge(
        &self,
        db: &Db,
        row: &PaymentRow,
        description: Option<String>,
    ) -> Result<PaymentOutcome, ApiError> {
        let answer = self.ask_processor(row, description).await?;
        self.settle(db, row, answer).await
    }

    /// Ask the processor to create and confirm the payment recorded as `row` (its idempotency key
    /// derives from the payment id, so asking again is safe). No database: the answer means nothing
    /// until [`interpret`]ed and [`Billing::record`]ed.
    pub async fn ask_processor(
        &self,
        row: &PaymentRow,
        description: Option<String>,
    ) -> Result<ProcessorAnswer, ApiError> {
        let currency = row.currency.parse().map_err(|_| ApiError::internal("payment with unknown currency"))?;
        let capture = if row.capture_method == "manual" { CaptureMethod::Manual } else { CaptureMethod::Automatic };
        let request = ChargeRequest {
            payment_id: row.id.clone(),
            order_id: row.order_id.clone(),
            amount: Money::new(row.amount, currency),
            payment_method: row.payment_method_id.clone(),
            capture,
            description,
        };
        Ok(self.processor.create_and_confirm(&request).await)
    }

    /// Write a settlement inside the caller's transaction: the payment as the answer leaves it — a
    /// compare-and-set on the row as it was recorded; if a webhook changed it meanwhile, the answer is
    /// applied to the row as it now is — and, when its status moved, the listeners (orders follow their
    /// payments). Returns what was written.
    pub fn record(&self, conn: &mut DbConn, s: &Settlement) -> Result<PaymentOutcome, ApiError> {
        let payment = match &s.facts {
            None => store::find_payment(conn, &s.payment.id)?.ok_or(ApiError::NotFound)?,
            Some(f) if !s.changed => apply_facts(conn, &self.listeners, &s.payment.id, f)?,
            Some(f) => {
                if store::update_payment_if_unchanged(conn, &s.payment, &s.recorded_status, s.recorded_at)? {
                    notify(conn, &self.listeners, &s.payment, s.from, s.moved_to)?;
                    s.payment.clone()
                } else {
                    apply_facts(conn, &self.listeners, &s.payment.id, f)?
                }
            }
        };
        let requires_action = payment.status() == PaymentStatus::RequiresAction;
        Ok(PaymentOutcome {
            next_action: if requires_action { s.next_action.clone() } else { None },
            decline: s.decline.clone(),
            unresolved: s.unresolved,
            payment,
        })
    }

    /// Apply a processor's answer about the payment `recorded` in a transaction of its own. A refusal
    /// of the request itself is written (the payment failed) and returned as the error.
    async fn settle(
        &self,
        db: &Db,
        recorded: &PaymentRow,
        answer: ProcessorAnswer,
    ) -> Result<PaymentOutcome, ApiError> {
        let mut settlement = interpret(recorded, answer);
        let refusal = settlement.refusal.take();
        let billing = self.clone();
        let outcome = db
            .run_priority(move |conn| dialect::write_transaction(conn, |conn| billing.record(conn, &settlement)))
            .await?;
        match refusal {
            Some(e) => Err(e.into()),
            None => Ok(outcome),
        }
    }

    pub async fn find(&self, db: &Db, payment_id: &str) -> Result<PaymentRow, ApiError> {
        let id = payment_id.to_owned();
        db.run(move |conn| store::find_payment(conn, &id)?.ok_or(ApiError::NotFound)).await
    }

    /// Ask the processor for the current state and apply it. For a payment whose creation got no
    /// answer, re-send the creation with the same idempotency key: Stripe answers with the original
    /// result (or performs it once, if it never arrived).
    pub async fn refresh(&self, db: &Db, payment_id: &str) -> Result<PaymentOutcome, ApiError> {
        let row = self.find(db, payment_id).await?;
        match &row.payment_intent_id {
            None if row.status() == PaymentStatus::Pending => self.charge(db, &row, None).await,
            None => Ok(PaymentOutcome { payment: row, next_action: None, decline: None, unresolved: false }),
            Some(pi) => {
                let answer = self.processor.retrieve(pi).await;
                self.settle(db, &row, answer).await
            }
        }
    }

    /// Settle payments still `pending`/`requires_action` created before `before`: the sweep that
    /// guarantees nothing stays in limbo when a response or a webhook was lost.
    pub async fn reconcile(&self, db: &Db, before: chrono::NaiveDateTime, limit: i64) -> Result<usize, ApiError> {
        let rows = db.run(move |conn| Ok(store::list_unsettled(conn, before, limit)?)).await?;
        let mut settled = 0;
        for row in rows {
            match self.refresh(db, &row.id).await {
                Ok(o) if !o.unresolved && o.payment.status() != row.status() => settled += 1,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(payment_id = %row.id, code = e.code(), "reconciliation of a payment failed")
                }
            }
        }
        Ok(settled)
    }

    pub async fn capture(&self, db: &Db, payment_id: &str, amount: Option<i64>) -> Result<PaymentRow, ApiError> {
        let row = self.find(db, payment_id).await?;
        if row.status() != PaymentStatus::RequiresCapture {
            return Err(ApiError::conflict("payment_not_capturable", "the payment is not awaiting capture"));
        }
        if amount.is_some_and(|a| a <= 0 || a > row.amount) {
            return Err(ApiError::validation("amount", "out_of_range"));
        }
        let pi =
            row.payment_intent_id.clone().ok_or_else(|| ApiError::internal("authorized payment without intent"))?;
        let key = format!("{}:capture", row.id);
        let answer = self.processor.capture(&pi, amount, &key).await;
        Ok(self.settle(db, &row, answer).await?.payment)
    }

    pub async fn cancel(&self, db: &Db, payment_id: &str) -> Result<PaymentRow, ApiError> {
        let row = self.find(db, payment_id).await?;
        match (row.status(), &row.payment_intent_id) {
            (PaymentStatus::Canceled, _) => Ok(row),
            (PaymentStatus::Succeeded, _) => {
                Err(ApiError::conflict("payment_already_captured", "a captured payment is refunded, not canceled"))
            }
            (_, Some(pi)) => {
                let key = format!("{}:cancel", row.id);
                let answer = self.processor.cancel(pi, &key).await;
                Ok(self.settle(db, &row, answer).await?.payment)
            }
            (_, None) => {
                // Never reached the processor with a result: mark it canceled locally.
                let id = payment_id.to_owned();
                let listeners = self.listeners.clone();
                let f = IntentFacts { status: Some(PaymentStatus::Canceled), ..Default::default() };
                db.run(move |conn| dialect::write_transaction(conn, |conn| apply_facts(conn, &listeners, &id, &f)))
                    .await
            }
        }
    }

    /// Refund part or all of a captured payment. The refund is recorded before the processor call and
    /// its idempotency key derives from the refund id, so a retry never refunds twice.
    pub async fn refund(
        &self,
        db: &Db,
        payment_id: &str,
        amount: Option<i64>,
        reason: Option<String>,
    ) -> Result<RefundRow, ApiError> {
        let id = payment_id.to_owned();
        let refund = db
            .run(move |conn| {
                dialect::write_transaction(conn, |conn| {
                    // Under the payment's lock: two refunds at once never exceed what was captured.
                    store::lock_payment(conn, &id)?;
                    let row = store::find_payment(conn, &id)?.ok_or(ApiError::NotFound)?;
                    if row.status() != PaymentStatus::Succeeded {
                        return Err(ApiError::conflict(
                            "payment_not_refundable",
                            "only a captured payment can be refunded",
                        ));
                    }
                    let pending: i64 = store::refunds_of_payment(conn, &id)?
                        .iter()
                        .filter(|r| r.status == "pending" || r.status == "succeeded")
                        .map(|r| r.amount)
                        .sum();
                    let refundable = row.amount_captured - pending.max(row.amount_refunded);
                    let amount = amount.unwrap_or(refundable);
                    if amount <= 0 || amount > refundable {
                        return Err(ApiError::Unprocessable {
                            code: "refund_exceeds_payment",
                            detail: "the refund is larger than what remains refundable".into(),
                            extra: Some(json!({ "refundable": refundable })),
                        });
                    }
                    let now = time::now();
                    let refund = RefundRow {
                        id: RefundId::generate().into_string(),
                        payment_id: id.clone(),
                        processor_refund_id: None,
                        amount,
                        currency: row.currency.clone(),
                        status: "pending".into(),
                        reason,
                        created_at: now,
                        updated_at: now,
                    };
                    store::insert_refund(conn, &refund)?;
                    Ok((refund, row.payment_intent_id.clone()))
                })
            })
            .await?;
        let (refund, pi) = refund;
        let pi = pi.ok_or_else(|| ApiError::internal("captured payment without intent"))?;
        match self.processor.refund(&pi, refund.amount, &refund.id).await {
            Ok((processor_id, status)) => {
                let refund_id = refund.id.clone();
                let listeners = self.listeners.clone();
                db.run(move |conn| {
                    dialect::write_transaction(conn, |conn| {
                        apply_refund(conn, &listeners, &refund_id, &processor_id, &status)?;
                        store::find_refund(conn, &refund_id)?.ok_or(ApiError::NotFound)
                    })
                })
                .await
            }
            Err(ProcessorError::Unavailable(_)) => Ok(refund),
            Err(e) => {
                let refund_id = refund.id.clone();
                db.run(move |conn| {
                    dialect::write_unit(conn, |conn| {
                        Ok(store::update_refund(conn, &refund_id, None, "failed", time::now())?)
                    })
                })
                .await?;
                Err(e.into())
            }
        }
    }

    /// Verify a webhook's signature against the configured secrets (several during a rotation).
    pub fn verify_webhook(&self, signature: &str, payload: &[u8]) -> Result<(), super::signature::SignatureError> {
        let now = chrono::Utc::now().timestamp();
        super::signature::verify(signature, payload, &self.webhook_secrets, now)
    }

    /// Apply a verified webhook event exactly once (recorded by event id in the same transaction).
    /// Returns whether it was new.
    pub fn apply_event(&self, conn: &mut DbConn, event: &Value) -> Result<bool, ApiError> {
        let event_id = event["id"].as_str().ok_or_else(|| ApiError::validation("id", "required"))?.to_owned();
        let event_type = event["type"].as_str().unwrap_or_default().to_owned();
        let object = &event["data"]["object"];
        let object_id = object["id"].as_str().map(str::to_owned);
        let listeners = self.listeners.clone();
        // The common case, the success of a payment the API answer already settled: one statement.
        if event_type == "payment_intent.succeeded"
            && let (Some(pi), Some(pid), Some(charge)) = (
                object["id"].as_str(),
                object["metadata"]["leancart_payment_id"].as_str(),
                object["latest_charge"].as_str().or_else(|| object["latest_charge"]["id"].as_str()),
            )
        {
            let received = object["amount_received"].as_i64().unwrap_or(0);
            let recorded = dialect::write_unit(conn, |conn| {
                store::record_settled_success(conn, &event_id, pi, pid, charge, received, time::now())
            })?;
            if recorded {
                return Ok(true);
            }
        }
        // An event that changes nothing (the API answer got there first, or a redelivery): recording
        // its id is the whole work, one autocommit statement on PostgreSQL. Payments only move forward,
        // so "changes nothing" cannot become false meanwhile.
        if let Some((payment, facts)) = intent_event(conn, &event_type, object)?
            && !merge_facts(payment, &facts).2
        {
            return dialect::write_unit(conn, |conn| {
                Ok(store::record_event(conn, &event_id, &event_type, object_id.as_deref(), "applied", time::now())?)
            });
        }
        dialect::write_transaction(conn, |conn| {
            // Recording the event id first makes a redelivery a single-statement no-op, also when two
            // deliveries race (`ON CONFLICT DO NOTHING` waits for the first and does nothing).
            if !store::record_event(conn, &event_id, &event_type, object_id.as_deref(), "applied", time::now())? {
                return Ok(false);
            }
            if !apply_event_object(conn, &listeners, &event_type, object)? {
                store::set_event_outcome(conn, &event_id, "ignored")?;
            }
            Ok(true)
        })
    }
}

fn validate_payment_method(pm: &str) -> Result<(), ApiError> {
    let ok = pm.starts_with("pm_") && pm.len() <= 255 && pm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok { Ok(()) } else { Err(ApiError::validation("payment_method", "invalid_format")) }
}

/// Apply what the processor says about an intent to the payment, moving forward only, and notify
/// listeners of a status change. Runs inside the caller's transaction.
pub fn apply_facts(
    conn: &mut DbConn,
    listeners: &[PaymentListener],
    payment_id: &str,
    f: &IntentFacts,
) -> Result<PaymentRow, ApiError> {
    let row = store::find_payment(conn, payment_id)?.ok_or(ApiError::NotFound)?;
    apply_facts_to(conn, listeners, row, f)
}

fn notify(
    conn: &mut DbConn,
    listeners: &[PaymentListener],
    row: &PaymentRow,
    from: PaymentStatus,
    changed_status: Option<PaymentStatus>,
) -> Result<(), ApiError> {
    if let Some(to) = changed_status {
        let change = PaymentChange { payment: row.clone(), from, to };
        for l in listeners {
            l(conn, &change)?;
        }
    }
    Ok(())
}

/// [`apply_facts`] on a row already read in this transaction. Writes only when something changed.
fn apply_facts_to(
    conn: &mut DbConn,
    listeners: &[PaymentListener],
    row: PaymentRow,
    f: &IntentFacts,
) -> Result<PaymentRow, ApiError> {
    let from = row.status();
    let (mut row, changed_status, changed) = merge_facts(row, f);
    if !changed {
        // A replay or a late event: nothing to write.
        return Ok(row);
    }
    row.updated_at = time::now();
    store::update_payment(conn, &row)?;
    notify(conn, listeners, &row, from, changed_status)?;
    Ok(row)
}

fn apply_refund(
    conn: &mut DbConn,
    listeners: &[PaymentListener],
    refund_id: &str,
    processor_id: &str,
    status: &str,
) -> Result<(), ApiError> {
    let status = match status {
        "succeeded" => "succeeded",
        "failed" => "failed",
        "canceled" => "canceled",
        _ => "pending",
    };
    let Some(refund) = store::find_refund(conn, refund_id)? else {
        return Ok(());
    };
    // A final status is never replaced by an older "pending".
    if refund.status != "pending" && status == "pending" {
        return Ok(());
    }
    store::update_refund(conn, refund_id, Some(processor_id), status, time::now())?;
    if status == "succeeded" && refund.status != "succeeded" {
        let mut payment = store::find_payment(conn, &refund.payment_id)?.ok_or(ApiError::NotFound)?;
        let succeeded: i64 = store::refunds_of_payment(conn, &payment.id)?
            .iter()
            .filter(|r| r.status == "succeeded")
            .map(|r| r.amount)
            .sum();
        payment.amount_refunded = payment.amount_refunded.max(succeeded);
        payment.updated_at = time::now();
        store::update_payment(conn, &payment)?;
        let change = PaymentChange { from: payment.status(), to: payment.status(), payment };
        for l in listeners {
            l(conn, &change)?;
        }
    }
    Ok(())
}

/// A `payment_intent.*` event of ours: the payment it is about and what it says, or `None` (not a
/// payment intent event leancart handles, or not one of our payments).
fn intent_event(
    conn: &mut DbConn,
    event_type: &str,
    object: &Value,
) -> Result<Option<(PaymentRow, IntentFacts)>, ApiError> {
    if !matches!(
        event_type,
        "payment_intent.succeeded"
            | "payment_intent.payment_failed"
            | "payment_intent.canceled"
            | "payment_intent.requires_action"
            | "payment_intent.amount_capturable_updated"
    ) {
        return Ok(None);
    }
    let str_of = |v: &Value| v.as_str().map(str::to_owned);
    let pi = str_of(&object["id"]).unwrap_or_default();
    // Our own id (metadata) first: a primary-key hit even when the event outruns the API
    // answer that records the intent id; a foreign or mismatched id falls back to the intent.
    let by_metadata = match object["metadata"]["leancart_payment_id"].as_str() {
        Some(id) => {
            store::find_payment(conn, id)?.filter(|p| p.payment_intent_id.as_deref().is_none_or(|known| known == pi))
        }
        None => None,
    };
    let payment = match by_metadata {
        Some(p) => Some(p),
        None => store::find_payment_by_intent(conn, &pi)?,
    };
    let Some(payment) = payment else {
        return Ok(None);
    };
    let status = match event_type {
        "payment_intent.succeeded" => PaymentStatus::Succeeded,
        "payment_intent.payment_failed" => PaymentStatus::Failed,
        "payment_intent.canceled" => PaymentStatus::Canceled,
        "payment_intent.requires_action" => PaymentStatus::RequiresAction,
        _ => PaymentStatus::RequiresCapture,
    };
    let error = &object["last_payment_error"];
    let failure = str_of(&error["decline_code"]).or_else(|| str_of(&error["code"]));
    let facts = IntentFacts {
        payment_intent_id: pi,
        status: Some(status),
        amount_received: object["amount_received"].as_i64().unwrap_or(0),
        charge_id: str_of(&object["latest_charge"]).or_else(|| str_of(&object["latest_charge"]["id"])),
        card: None,
        failure_code: failure.map(|c| decline_code(&c, Some(&c)).to_owned()),
        next_action_url: None,
        client_secret: None,
    };
    Ok(Some((payment, facts)))
}

/// The event types leancart acts on; anything else is recorded as ignored.
fn apply_event_object(
    conn: &mut DbConn,
    listeners: &[PaymentListener],
    event_type: &str,
    object: &Value,
) -> Result<bool, ApiError> {
    let str_of = |v: &Value| v.as_str().map(str::to_owned);
    match event_type {
        t if t.starts_with("payment_intent.") => match intent_event(conn, t, object)? {
            Some((payment, facts)) => {
                apply_facts_to(conn, listeners, payment, &facts)?;
                Ok(true)
            }
            None => Ok(false),
        },
        "refund.created" | "refund.updated" => {
            let processor_id = str_of(&object["id"]).unwrap_or_default();
            let status = object["status"].as_str().unwrap_or("pending");
            let refund = match store::find_refund_by_processor_id(conn, &processor_id)? {
                Some(r) => Some(r),
                None => match object["metadata"]["leancart_refund_id"].as_str() {
                    Some(id) => store::find_refund(conn, id)?,
                    None => None,
                },
            };
            match refund {
                Some(r) => {
                    apply_refund(conn, listeners, &r.id, &processor_id, status)?;
                    Ok(true)
                }
                None => {
                    // A refund made at the processor directly (e.g. its dashboard): record it.
                    let pi = str_of(&object["payment_intent"]).unwrap_or_default();
                    let Some(payment) = store::find_payment_by_intent(conn, &pi)? else {
                        return Ok(false);
                    };
                    let now = time::now();
                    let row = RefundRow {
                        id: RefundId::generate().into_string(),
                        payment_id: payment.id,
                        processor_refund_id: None,
                        amount: object["amount"].as_i64().unwrap_or(0).max(1),
                        currency: payment.currency,
                        status: "pending".into(),
                        reason: str_of(&object["reason"]),
                        created_at: now,
                        updated_at: now,
                    };
                    store::insert_refund(conn, &row)?;
                    apply_refund(conn, listeners, &row.id, &processor_id, status)?;
                    Ok(true)
                }
            }
        }
        "charge.refunded" => {
            let pi = str_of(&object["payment_intent"]).unwrap_or_default();
            let Some(mut payment) = store::find_payment_by_intent(conn, &pi)? else {
                return Ok(false);
            };
            let refunded = object["amount_refunded"].as_i64().unwrap_or(0);
            if refunded > payment.amount_refunded {
                payment.amount_refunded = refunded;
                payment.updated_at = time::now();
                store::update_payment(conn, &payment)?;
                let change = PaymentChange { from: payment.status(), to: payment.status(), payment };
                for l in listeners {
                    l(conn, &change)?;
                }
            }
            Ok(true)
        }
        "charge.dispute.created" => {
            let pi = str_of(&object["payment_intent"]).unwrap_or_default();
            let Some(mut payment) = store::find_payment_by_intent(conn, &pi)? else {
                return Ok(false);
            };
            if !payment.disputed {
                payment.disputed = true;
                payment.updated_at = time::now();
                store::update_payment(conn, &payment)?;
                tracing::warn!(payment_id = %payment.id, "a payment was disputed");
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}
