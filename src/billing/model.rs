//! Payments and refunds as leancart records them, and the payment state machine.

use crate::typed_id;
use chrono::NaiveDateTime;
use diesel::prelude::*;

typed_id!(
    /// A payment attempt (`pay_…`); one PaymentIntent at the processor.
    PaymentId, "pay_"
);
typed_id!(
    /// A refund (`rfd_…`).
    RefundId, "rfd_"
);

/// Payment status. Transitions only move forward, so events delivered late or twice never undo a
/// later state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Recorded before the processor call; the outcome is not known yet.
    Pending,
    /// 3-D Secure: the shopper must authenticate.
    RequiresAction,
    /// Authorized, waiting for a manual capture.
    RequiresCapture,
    Succeeded,
    Failed,
    Canceled,
}

impl PaymentStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::RequiresAction => "requires_action",
            PaymentStatus::RequiresCapture => "requires_capture",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentStatus> {
        Some(match s {
            "pending" => PaymentStatus::Pending,
            "requires_action" => PaymentStatus::RequiresAction,
            "requires_capture" => PaymentStatus::RequiresCapture,
            "succeeded" => PaymentStatus::Succeeded,
            "failed" => PaymentStatus::Failed,
            "canceled" => PaymentStatus::Canceled,
            _ => return None,
        })
    }

    /// Whether moving from `self` to `next` is progress (not a replay or a late, older event).
    pub fn can_become(self, next: PaymentStatus) -> bool {
        use PaymentStatus::*;
        match (self, next) {
            (a, b) if a == b => false,
            (Pending, _) => true,
            (RequiresAction, _) => true,
            (RequiresCapture, Succeeded | Canceled | Failed) => true,
            (Failed, Succeeded | Canceled | RequiresAction) => true,
            _ => false,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, PaymentStatus::Succeeded | PaymentStatus::Failed | PaymentStatus::Canceled)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::payments)]
pub struct PaymentRow {
    pub id: String,
    pub order_id: Option<String>,
    pub processor: String,
    pub payment_intent_id: Option<String>,
    pub payment_method_id: String,
    pub charge_id: Option<String>,
    pub status: String,
    pub capture_method: String,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub card_exp_month: Option<i32>,
    pub card_exp_year: Option<i32>,
    pub failure_code: Option<String>,
    pub disputed: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl PaymentRow {
    pub fn status(&self) -> PaymentStatus {
        PaymentStatus::parse(&self.status).unwrap_or(PaymentStatus::Pending)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::refunds)]
pub struct RefundRow {
    pub id: String,
    pub payment_id: String,
    pub processor_refund_id: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What the processor told us about a PaymentIntent, reduced to what leancart keeps.
#[derive(Debug, Clone, Default)]
pub struct IntentFacts {
    pub payment_intent_id: String,
    pub status: Option<PaymentStatus>,
    pub amount_received: i64,
    pub charge_id: Option<String>,
    pub card: Option<CardFacts>,
    pub failure_code: Option<String>,
    /// The shopper's next step for 3-D Secure.
    pub next_action_url: Option<String>,
    pub client_secret: Option<String>,
}

/// Brand, last 4 and expiry: everything leancart keeps about a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFacts {
    pub brand: String,
    pub last4: String,
    pub exp_month: i32,
    pub exp_year: i32,
}

/// A change of a payment's status, for the modules that follow payments (orders).
#[derive(Debug, Clone)]
pub struct PaymentChange {
    pub payment: PaymentRow,
    pub from: PaymentStatus,
    pub to: PaymentStatus,
}
