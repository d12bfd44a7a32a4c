//! Orders and their lifecycle as an explicit state machine.

use crate::kernel::pii::{AddressText, Email, PersonName, Phone, PostalCode};
use crate::privacy::personal::SealedDetails;
use crate::privacy::sealing::Sealed;
use crate::typed_id;
use chrono::NaiveDateTime;
use diesel::prelude::*;

typed_id!(
    /// An order (`ord_…`); shoppers reach it with its access token.
    OrderId, "ord_"
);
typed_id!(
    /// A line of an order (`ol_…`).
    OrderLineId, "ol_"
);
typed_id!(
    /// A recorded status change (`oev_…`).
    OrderEventId, "oev_"
);

pub const ORDER_TOKEN_PREFIX: &str = "ot_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    PendingPayment,
    AwaitingPaymentAction,
    Paid,
    PaymentFailed,
    Cancelled,
    PartiallyFulfilled,
    Fulfilled,
    PartiallyRefunded,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::PendingPayment,
        OrderStatus::AwaitingPaymentAction,
        OrderStatus::Paid,
        OrderStatus::PaymentFailed,
        OrderStatus::Cancelled,
        OrderStatus::PartiallyFulfilled,
        OrderStatus::Fulfilled,
        OrderStatus::PartiallyRefunded,
        OrderStatus::Refunded,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::AwaitingPaymentAction => "awaiting_payment_action",
            OrderStatus::Paid => "paid",
            OrderStatus::PaymentFailed => "payment_failed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::PartiallyFulfilled => "partially_fulfilled",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The legal transitions. Everything else is refused.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (PendingPayment, AwaitingPaymentAction | Paid | PaymentFailed | Cancelled)
                | (AwaitingPaymentAction, Paid | PaymentFailed | Cancelled)
                | (Paid, PartiallyFulfilled | Fulfilled | PartiallyRefunded | Refunded | Cancelled)
                | (PartiallyFulfilled, Fulfilled | PartiallyRefunded | Refunded)
                | (Fulfilled, PartiallyRefunded | Refunded)
                | (PartiallyRefunded, Refunded | PartiallyFulfilled | Fulfilled)
        )
    }

    /// Unpaid orders that still hold stock.
    pub fn holds_reservation(self) -> bool {
        matches!(self, OrderStatus::PendingPayment | OrderStatus::AwaitingPaymentAction)
    }
}

/// In the OpenAPI document: a string, one of the statuses [`OrderStatus::parse`] accepts.
impl utoipa::PartialSchema for OrderStatus {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(OrderStatus::ALL.iter().map(|o| o.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for OrderStatus {}

/// Who caused a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Shopper,
    Staff,
    Processor,
    System,
}

impl Actor {
    pub fn as_str(&self) -> &'static str {
        match self {
            Actor::Shopper => "shopper",
            Actor::Staff => "staff",
            Actor::Processor => "processor",
            Actor::System => "system",
        }
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::orders)]
pub struct OrderRow {
    pub id: String,
    pub number: String,
    pub access_token_hash: String,
    pub cart_id: String,
    pub status: String,
    pub currency: String,
    pub subtotal: i64,
    pub shipping_total: i64,
    pub tax_total: i64,
    pub discount_total: i64,
    pub total: i64,
    pub prices_include_tax: bool,
    pub email: Sealed<Email>,
    pub ship_name: Option<Sealed<PersonName>>,
    pub ship_line1: Option<Sealed<AddressText>>,
    pub ship_line2: Option<Sealed<AddressText>>,
    pub ship_city: Option<Sealed<AddressText>>,
    /// In clear: the tax jurisdiction (see the registry).
    pub ship_region: Option<String>,
    pub ship_postal_code: Option<Sealed<PostalCode>>,
    pub ship_country: Option<String>,
    pub ship_phone: Option<Sealed<Phone>>,
    pub shipping_method: Option<String>,
    pub is_gift: bool,
    pub recipient_consent_at: Option<NaiveDateTime>,
    pub payment_id: Option<String>,
    pub reserved_until: Option<NaiveDateTime>,
    pub stock_released: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Whose key seals the personal fields (`sub_…`).
    pub subject_id: Option<String>,
    /// The account whose history it is in (`acct_…`); `None` for a guest's.
    pub account_id: Option<String>,
}

impl OrderRow {
    /// The personal fields as stored.
    pub fn sealed(&self) -> SealedDetails {
        SealedDetails {
            email: Some(self.email.clone()),
            name: self.ship_name.clone(),
            line1: self.ship_line1.clone(),
            line2: self.ship_line2.clone(),
            city: self.ship_city.clone(),
            postal_code: self.ship_postal_code.clone(),
            phone: self.ship_phone.clone(),
        }
    }

    pub fn status(&self) -> OrderStatus {
        OrderStatus::parse(&self.status).unwrap_or(OrderStatus::PendingPayment)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::order_lines)]
pub struct OrderLineRow {
    pub id: String,
    pub order_id: String,
    pub variant_id: String,
    pub sku: String,
    pub title: String,
    pub unit_price: i64,
    pub quantity: i32,
    pub quantity_refunded: i32,
    pub line_total: i64,
    pub requires_shipping: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::order_events)]
pub struct OrderEventRow {
    pub id: String,
    pub order_id: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub reason: String,
    pub created_at: NaiveDateTime,
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;

    #[test]
    fn state_machine() {
        assert!(PendingPayment.can_become(Paid));
        assert!(AwaitingPaymentAction.can_become(PaymentFailed));
        assert!(Paid.can_become(Cancelled));
        assert!(!Paid.can_become(PendingPayment));
        assert!(!Refunded.can_become(Paid));
        assert!(!Cancelled.can_become(Paid));
        assert!(!PaymentFailed.can_become(Paid));
        assert!(!Fulfilled.can_become(Cancelled));
        assert!(!PendingPayment.can_become(Fulfilled));
        for s in super::OrderStatus::ALL {
            assert!(!s.can_become(s), "{s:?} to itself is not a transition");
            assert_eq!(super::OrderStatus::parse(s.as_str()), Some(s));
        }
    }
}

/// Why an order's payment failed, as the shopper is told (and as a retry of the placement is told again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentFailure {
    /// The card was declined: `card_declined`, `insufficient_funds`, `expired_card`, `incorrect_cvc` or
    /// `authentication_failed`.
    Declined(&'static str),
    /// The processor does not know the payment method: tokenize the card again.
    MethodInvalid,
    /// The processor refused the request itself.
    Refused,
}

impl PaymentFailure {
    /// From the payment's failure code.
    pub fn of_code(code: Option<&str>) -> PaymentFailure {
        match code.unwrap_or("card_declined") {
            "payment_method_invalid" => PaymentFailure::MethodInvalid,
            "payment_refused" => PaymentFailure::Refused,
            other => PaymentFailure::Declined(crate::billing::settlement::decline_code(other, Some(other))),
        }
    }

    /// From what an Idempotency-Key record keeps: the code (records written before this type kept the
    /// whole problem document; its `code` is read from it).
    pub fn of_record(body: Option<&str>) -> PaymentFailure {
        let body = body.unwrap_or_default();
        if body.starts_with('{') {
            let doc: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            return PaymentFailure::of_code(doc["code"].as_str());
        }
        PaymentFailure::of_code(Some(body))
    }

    pub fn code(self) -> &'static str {
        match self {
            PaymentFailure::Declined(code) => code,
            PaymentFailure::MethodInvalid => "payment_method_invalid",
            PaymentFailure::Refused => "payment_refused",
        }
    }

    /// The HTTP status its problem answers with (kept in the key's record): 402 for the card, 422 when
    /// the processor refused the request.
    pub fn status(self) -> u16 {
        match self {
            PaymentFailure::Declined(_) => 402,
            PaymentFailure::MethodInvalid | PaymentFailure::Refused => 422,
        }
    }
}
