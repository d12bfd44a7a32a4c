//! The personal-data registry: every column of the schema, declared once, personal or not.
//!
//! A personal column says what it holds (its category), why it is held (its purpose), how long
//! (its retention rule) and what erasing its person does to it. A column kept in clear although it says
//! something about a person (a destination country) says why. Every other column says why it is not
//! personal. A test walks the migrated schema on both backends and fails on any column declared
//! nowhere, and on any declaration whose column does not exist — so a new column cannot escape
//! sealing, access exports, erasure or retention by being forgotten here.

/// What a personal datum is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Where the receipt and order messages go: the shopper's e-mail.
    Contact,
    /// The name and address a parcel is delivered to (the shopper's own, or a gift recipient's).
    ShippingAddress,
    /// The recipient's phone, collected only when the carrier needs it.
    CarrierPhone,
    /// A note written by staff about an order or refund (free text: it may name a person).
    StaffNote,
}

/// How long a personal datum is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// On a cart: until checkout (the order takes its own copy and the cart's is cleared), or until the
    /// abandoned cart is purged (`LEANCART_CART_RETENTION_SECS`).
    UntilCheckoutOrCartPurge,
    /// On an order: as long as the order needs it to be delivered, returned and answered for, then
    /// removed by the guest-data retention schedule.
    OrderFulfilment,
    /// As long as the record it annotates (accounting records: the legal retention period).
    WithItsRecord,
    /// Until the message about a privacy request is sent (its key is then destroyed).
    UntilMessageSent,
    /// As long as the account exists (its holder erases it, or it is closed).
    WhileTheAccountExists,
}

/// What erasing the person does to the datum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnErasure {
    /// Sealed under the person's data key: unreadable everywhere once the key is destroyed.
    Shred,
    /// The row goes (an open cart).
    DeleteRow,
    /// Set to NULL: a clear remnant such as a blind-index entry.
    Clear,
}

/// A column holding personal data.
#[derive(Debug, Clone, Copy)]
pub struct Personal {
    pub table: &'static str,
    pub column: &'static str,
    /// The field it is sealed as.
    pub field: Field,
    pub category: Category,
    pub purpose: &'static str,
    pub retention: Retention,
    pub erasure: OnErasure,
}

/// A column about a person that is kept in clear on purpose, and why.
#[derive(Debug, Clone, Copy)]
pub struct InClear {
    pub table: &'static str,
    pub column: &'static str,
    pub why: &'static str,
}

/// Columns that hold no personal data, a table at a time, and why.
#[derive(Debug, Clone, Copy)]
pub struct NotPersonal {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub why: &'static str,
}

const fn personal(
    table: &'static str,
    column: &'static str,
    field: Field,
    category: Category,
    purpose: &'static str,
    retention: Retention,
    erasure: OnErasure,
) -> Personal {
    Personal { table, column, field, category, purpose, retention, erasure }
}

use super::sealing::Field;
use Category::{CarrierPhone, Contact, ShippingAddress};
use Field::*;
use OnErasure::*;
use Retention::*;

const RECEIPT: &str = "send the receipt and the order's messages";
const DELIVERY: &str = "deliver the parcel";
const CARRIER: &str = "the carrier's contact for delivery (only when the shipping method needs it)";
const NOTE: &str = "record why staff acted on an order or refund";
const ACCOUNT: &str = "sign the account holder in and write to them";

/// Every column holding personal data. Each is stored sealed under its person's data key (the field
/// named here is the associated data it is sealed with); a test checks every stored value is.
pub const PERSONAL: &[Personal] = &[
    personal("carts", "email", Email, Contact, RECEIPT, UntilCheckoutOrCartPurge, DeleteRow),
    personal("carts", "ship_name", ShipName, ShippingAddress, DELIVERY, UntilCheckoutOrCartPurge, DeleteRow),
    personal("carts", "ship_line1", ShipLine1, ShippingAddress, DELIVERY, UntilCheckoutOrCartPurge, DeleteRow),
    personal("carts", "ship_line2", ShipLine2, ShippingAddress, DELIVERY, UntilCheckoutOrCartPurge, DeleteRow),
    personal("carts", "ship_city", ShipCity, ShippingAddress, DELIVERY, UntilCheckoutOrCartPurge, DeleteRow),
    personal(
        "carts",
        "ship_postal_code",
        ShipPostalCode,
        ShippingAddress,
        DELIVERY,
        UntilCheckoutOrCartPurge,
        DeleteRow,
    ),
    personal("carts", "ship_phone", ShipPhone, CarrierPhone, CARRIER, UntilCheckoutOrCartPurge, DeleteRow),
    personal("orders", "email", Email, Contact, RECEIPT, OrderFulfilment, Shred),
    personal("orders", "ship_name", ShipName, ShippingAddress, DELIVERY, OrderFulfilment, Shred),
    personal("orders", "ship_line1", ShipLine1, ShippingAddress, DELIVERY, OrderFulfilment, Shred),
    personal("orders", "ship_line2", ShipLine2, ShippingAddress, DELIVERY, OrderFulfilment, Shred),
    personal("orders", "ship_city", ShipCity, ShippingAddress, DELIVERY, OrderFulfilment, Shred),
    personal("orders", "ship_postal_code", ShipPostalCode, ShippingAddress, DELIVERY, OrderFulfilment, Shred),
    personal("orders", "ship_phone", ShipPhone, CarrierPhone, CARRIER, OrderFulfilment, Shred),
    personal("order_events", "reason", StaffNote, Category::StaffNote, NOTE, WithItsRecord, Shred),
    personal("refunds", "reason", StaffNote, Category::StaffNote, NOTE, WithItsRecord, Shred),
    personal("accounts", "email", Email, Contact, ACCOUNT, WhileTheAccountExists, Shred),
    personal("accounts", "name", Name, Contact, ACCOUNT, WhileTheAccountExists, Shred),
    personal(
        "staff_members",
        "email",
        Email,
        Contact,
        "sign a member of staff in, and name them to admins (sealed under the member's own key)",
        WhileTheAccountExists,
        Shred,
    ),
    personal(
        "privacy_requests",
        "contact",
        Email,
        Contact,
        "write to the person about their privacy request (sealed under the request's own key)",
        UntilMessageSent,
        Shred,
    ),
];

/// Staff notes share their columns with fixed wording that names no one, kept in clear: the history's
/// system reasons (`order placed`, `payment failed: card_declined`: rows whose actor is not staff) and
/// the processor's refund reason codes.
pub const PROCESSOR_REFUND_REASONS: &[&str] =
    &["duplicate", "fraudulent", "requested_by_customer", "expired_uncaptured_charge"];

/// The subject of a row: says whose key seals it, and nothing else.
const SUBJECT: &str = "the pseudonymous id of the person whose data key seals the row's personal fields: a \
                       random id, meaningless without the keyring";
/// The region of a destination.
const REGION: &str = "the tax jurisdiction (tax rates differ by state or province) and shipping statistics; \
                      a region with a country does not identify anyone";

/// Columns about a person kept in clear on purpose.
pub const IN_CLEAR: &[InClear] = &[
    InClear { table: "carts", column: "subject_id", why: SUBJECT },
    InClear { table: "orders", column: "subject_id", why: SUBJECT },
    InClear { table: "privacy_requests", column: "subject_id", why: SUBJECT },
    InClear { table: "privacy_sessions", column: "subject_id", why: SUBJECT },
    InClear { table: "accounts", column: "subject_id", why: SUBJECT },
    InClear {
        table: "staff_members",
        column: "email_index",
        why: "the blind index (keyed HMAC) of a member of staff's work e-mail, which finds them at sign-in; \
              it cannot be turned back into the address",
    },
    InClear {
        table: "audit_log",
        column: "network",
        why: "where an access to personal data or an account came from, for security: the network only \
              (IPv4 /24, IPv6 /48), never the device's address",
    },
    InClear {
        table: "carts",
        column: "account_id",
        why: "whose account the cart was started in (an id): the order history it leads to",
    },
    InClear { table: "orders", column: "account_id", why: "whose order history the order is in (an id)" },
    InClear { table: "carts", column: "ship_region", why: REGION },
    InClear { table: "orders", column: "ship_region", why: REGION },
    InClear {
        table: "carts",
        column: "ship_country",
        why: "prices shipping and tax before checkout; a country alone does not identify anyone",
    },
    InClear {
        table: "orders",
        column: "ship_country",
        why: "tax and shipping statistics and partner routing by destination; a country alone does not \
              identify anyone",
    },
    InClear {
        table: "carts",
        column: "recipient_consent_at",
        why: "when the shopper confirmed a gift recipient's consent: the proof of a lawful basis, no \
              datum of the recipient",
    },
    InClear { table: "orders", column: "recipient_consent_at", why: "as on carts, kept with the order" },
    InClear {
        table: "carts",
        column: "is_gift",
        why: "whether the parcel goes to someone else: says nothing about who",
    },
    InClear { table: "orders", column: "is_gift", why: "as on carts, kept with the order" },
];

const ORDER_DATA: &[&str] = &[
    "id",
    "number",
    "access_token_hash",
    "cart_id",
    "status",
    "currency",
    "subtotal",
    "shipping_total",
    "tax_total",
    "discount_total",
    "total",
    "prices_include_tax",
    "shipping_method",
    "payment_id",
    "reserved_until",
    "stock_released",
    "created_at",
    "updated_at",
    "routed_at",
];

/// Columns holding no personal data.
pub const NOT_PERSONAL: &[NotPersonal] = &[
    NotPersonal {
        table: "products",
        columns: &["id", "handle", "title", "description", "status", "created_at", "updated_at"],
        why: "the catalog",
    },
    NotPersonal {
        table: "product_variants",
        columns: &[
            "id",
            "product_id",
            "sku",
            "title",
            "price_amount",
            "currency",
            "stock_on_hand",
            "weight_grams",
            "requires_shipping",
            "position",
            "created_at",
            "updated_at",
        ],
        why: "the catalog",
    },
    NotPersonal {
        table: "carts",
        columns: &["id", "token_hash", "status", "currency", "shipping_method", "created_at", "updated_at"],
        why: "the cart's own state; the token only as a hash",
    },
    NotPersonal {
        table: "cart_lines",
        columns: &["cart_id", "variant_id", "quantity", "created_at"],
        why: "what is in a cart",
    },
    NotPersonal {
        table: "orders",
        columns: ORDER_DATA,
        why: "the order's accounting and state; the token only as a hash",
    },
    NotPersonal {
        table: "order_lines",
        columns: &[
            "id",
            "order_id",
            "variant_id",
            "sku",
            "title",
            "unit_price",
            "quantity",
            "quantity_refunded",
            "line_total",
            "requires_shipping",
        ],
        why: "what was sold, at what price",
    },
    NotPersonal {
        table: "order_events",
        columns: &["id", "order_id", "from_status", "to_status", "actor", "created_at"],
        why: "the order's history: statuses and the kind of actor (shopper, staff, processor, system), never who",
    },
    NotPersonal {
        table: "payments",
        columns: &[
            "id",
            "order_id",
            "processor",
            "payment_intent_id",
            "payment_method_id",
            "charge_id",
            "status",
            "capture_method",
            "amount",
            "amount_captured",
            "amount_refunded",
            "currency",
            "card_brand",
            "card_last4",
            "card_exp_month",
            "card_exp_year",
            "failure_code",
            "disputed",
            "created_at",
            "updated_at",
        ],
        why: "processor ids, amounts and the card's brand, last 4 and expiry (not personal data on their own: \
              no name, no number)",
    },
    NotPersonal {
        table: "refunds",
        columns: &[
            "id",
            "payment_id",
            "processor_refund_id",
            "amount",
            "currency",
            "status",
            "created_at",
            "updated_at",
        ],
        why: "amounts and processor ids",
    },
    NotPersonal {
        table: "webhook_events",
        columns: &["event_id", "event_type", "object_id", "outcome", "received_at"],
        why: "which processor event was applied (ids and types; the payload is not kept)",
    },
    NotPersonal {
        table: "idempotency_keys",
        columns: &[
            "key_hash",
            "scope",
            "request_hash",
            "state",
            "response_status",
            "response_body",
            "resource_id",
            "sealed_secret",
            "created_at",
            "expires_at",
        ],
        why: "hashes, the answer's status and problem code (never personal data), the token sealed with the key",
    },
    NotPersonal {
        table: "outbox",
        columns: &[
            "id",
            "kind",
            "order_id",
            "request_id",
            "status",
            "attempts",
            "created_at",
            "next_attempt_at",
            "lease_until",
            "lease_token",
            "sent_at",
            "last_error",
        ],
        why: "a reference to the order or privacy request a message is about, never a copy of its contents; \
              delivery state (the last error is a kind, never a server's reply)",
    },
    NotPersonal {
        table: "privacy_requests",
        columns: &[
            "id",
            "kind",
            "status",
            "raised_by",
            "secret",
            "token_hash",
            "hold_reason",
            "created_at",
            "expires_at",
            "used_at",
            "done_at",
        ],
        why: "what was asked and its progress; a proof link's token only sealed (under the request's key) and \
              hashed; a hold's reason in fixed wording with order numbers",
    },
    NotPersonal {
        table: "accounts",
        columns: &["id", "password_hash", "created_at", "updated_at", "password_changed_at"],
        why: "the account's id and times; the password only as an argon2id hash, which verifies it and \
              cannot be turned back into it",
    },
    NotPersonal {
        table: "account_links",
        columns: &["id", "account_id", "token_hash", "secret", "created_at", "expires_at", "used_at", "purpose"],
        why: "a reset or claim link's hash, purpose and lifetime; its token sealed under the holder's key only \
              until it is mailed",
    },
    NotPersonal {
        table: "account_sessions",
        columns: &["token_hash", "account_id", "created_at", "last_seen_at", "expires_at"],
        why: "a session token's hash and lifetimes",
    },
    NotPersonal {
        table: "privacy_sessions",
        columns: &["token_hash", "created_at", "expires_at"],
        why: "a session token's hash and lifetime",
    },
    NotPersonal {
        table: "audit_log",
        columns: &[
            "id",
            "actor",
            "action",
            "subject_id",
            "created_at",
            "actor_id",
            "outcome",
            "seq",
            "prev_hash",
            "hash",
        ],
        why: "which staff credential read which record (ids), not the data read",
    },
    NotPersonal { table: "counters", columns: &["name", "value"], why: "the order-number counter (SQLite)" },
    NotPersonal {
        table: "audit_head",
        columns: &["id", "seq", "hash"],
        why: "the audit chain's end: a number and a hash",
    },
    NotPersonal {
        table: "partners",
        columns: &["id", "name", "created_at", "carrier_needs_phone", "webhook_url", "webhook_secret", "disabled_at"],
        why: "a fulfillment business, what its carrier needs, its endpoint and the endpoint's signing secret \
              (sealed under the partner's own key)",
    },
    NotPersonal {
        table: "routing_rules",
        columns: &["id", "partner_id", "priority", "shipping_method", "country", "sku_prefix", "created_at"],
        why: "which partner serves which shipping method, country or SKUs",
    },
    NotPersonal {
        table: "fulfillments",
        columns: &[
            "id",
            "order_id",
            "partner_id",
            "reference",
            "status",
            "created_at",
            "updated_at",
            "acknowledged_at",
            "shipped_at",
            "delivered_at",
            "exception",
        ],
        why: "a partner's share of an order and its progress; the recipient is read from the order's sealed \
              fields when a partner reads the record, never copied; an exception is a fixed code",
    },
    NotPersonal {
        table: "fulfillment_lines",
        columns: &[
            "fulfillment_id",
            "order_line_id",
            "sku",
            "title",
            "quantity",
            "weight_grams",
            "unit_value",
            "quantity_shipped",
        ],
        why: "what a fulfillment holds: products, weights, declared values",
    },
    NotPersonal {
        table: "shipments",
        columns: &["id", "fulfillment_id", "carrier", "tracking_number", "created_at"],
        why: "a carrier and its parcel number (the carrier, not this table, links it to an address)",
    },
    NotPersonal {
        table: "shipment_lines",
        columns: &["shipment_id", "order_line_id", "quantity"],
        why: "what a parcel held",
    },
    NotPersonal {
        table: "partner_exports",
        columns: &["id", "partner_id", "key_id", "kind", "fields", "filter", "rows", "created_at", "finished_at"],
        why: "which partner key read which fields of how many records, and when (the access record)",
    },
    NotPersonal {
        table: "partner_export_chunks",
        columns: &["export_id", "seq", "refs"],
        why: "the pseudonymous references a partner read",
    },
    NotPersonal {
        table: "partner_notices",
        columns: &[
            "id",
            "partner_id",
            "event",
            "reference",
            "created_at",
            "attempts",
            "next_attempt_at",
            "lease_token",
            "lease_until",
            "delivered_at",
            "last_error",
        ],
        why: "a notice to a partner's endpoint naming a reference and an event, and its delivery state",
    },
    NotPersonal {
        table: "staff_members",
        columns: &["id", "role", "password_hash", "created_at", "updated_at", "disabled_at"],
        why: "a member of staff's role and times; the password only as an argon2id hash",
    },
    NotPersonal {
        table: "staff_sessions",
        columns: &["token_hash", "staff_id", "verified", "created_at", "last_seen_at", "expires_at"],
        why: "a session token's hash, lifetimes and whether the second factor was shown",
    },
    NotPersonal {
        table: "staff_setup_links",
        columns: &["token_hash", "staff_id", "created_at", "expires_at", "used_at"],
        why: "a setup link's hash and lifetime",
    },
    NotPersonal {
        table: "second_factors",
        columns: &["realm", "holder_id", "secret", "confirmed_at", "last_step", "created_at"],
        why: "an authenticator's shared secret, sealed under its holder's key (shredded with it), and the last \
              time step used",
    },
    NotPersonal {
        table: "recovery_codes",
        columns: &["code_hash", "realm", "holder_id", "used_at"],
        why: "single-use recovery codes, as hashes only",
    },
    NotPersonal {
        table: "partner_keys",
        columns: &["id", "partner_id", "prefix", "token_hash", "scopes", "created_at", "expires_at", "revoked_at"],
        why: "a partner's API key: its hash, the prefix it is listed under, scopes and lifetime",
    },
];

/// How a column is declared, if it is.
#[derive(Debug, Clone, Copy)]
pub enum Declared {
    Personal(&'static Personal),
    InClear(&'static InClear),
    NotPersonal(&'static NotPersonal),
}

/// The declaration of `table.column`, if any.
pub fn declared(table: &str, column: &str) -> Option<Declared> {
    if let Some(p) = PERSONAL.iter().find(|p| p.table == table && p.column == column) {
        return Some(Declared::Personal(p));
    }
    if let Some(c) = IN_CLEAR.iter().find(|c| c.table == table && c.column == column) {
        return Some(Declared::InClear(c));
    }
    NOT_PERSONAL.iter().find(|n| n.table == table && n.columns.contains(&column)).map(Declared::NotPersonal)
}

/// Every declared (table, column).
pub fn all_declared() -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<(&str, &str)> = PERSONAL.iter().map(|p| (p.table, p.column)).collect();
    all.extend(IN_CLEAR.iter().map(|c| (c.table, c.column)));
    for n in NOT_PERSONAL {
        all.extend(n.columns.iter().map(|c| (n.table, *c)));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_column_is_declared_once() {
        let mut all = all_declared();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a column declared twice");
    }
}
