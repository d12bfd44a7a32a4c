-- Payments through the processor. Only processor ids, amounts, status and the card's brand, last 4 and
-- expiry are kept: never the number, CVC or a full expiry string.
CREATE TABLE payments (
    id                TEXT PRIMARY KEY NOT NULL,
    order_id          TEXT,
    processor         TEXT NOT NULL DEFAULT 'stripe',
    payment_intent_id TEXT UNIQUE,
    payment_method_id TEXT NOT NULL,
    charge_id         TEXT,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'requires_action', 'requires_capture', 'succeeded', 'failed', 'canceled')),
    capture_method    TEXT NOT NULL CHECK (capture_method IN ('automatic', 'manual')),
    amount            BIGINT NOT NULL CHECK (amount > 0),
    amount_captured   BIGINT NOT NULL DEFAULT 0 CHECK (amount_captured >= 0),
    amount_refunded   BIGINT NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),
    currency          TEXT NOT NULL CHECK (char_length(currency) = 3),
    card_brand        TEXT,
    card_last4        TEXT CHECK (card_last4 IS NULL OR char_length(card_last4) = 4),
    card_exp_month    INTEGER CHECK (card_exp_month IS NULL OR (card_exp_month BETWEEN 1 AND 12)),
    card_exp_year     INTEGER,
    failure_code      TEXT,
    disputed          BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX payments_order_id ON payments (order_id);
CREATE INDEX payments_status_created ON payments (status, created_at);

CREATE TABLE refunds (
    id                  TEXT PRIMARY KEY NOT NULL,
    payment_id          TEXT NOT NULL REFERENCES payments (id),
    processor_refund_id TEXT UNIQUE,
    amount              BIGINT NOT NULL CHECK (amount > 0),
    currency            TEXT NOT NULL CHECK (char_length(currency) = 3),
    status              TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    reason              TEXT,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);
CREATE INDEX refunds_payment_id ON refunds (payment_id);

-- Processor webhook events, recorded by event id so that each is applied exactly once. The payload is
-- not kept.
CREATE TABLE webhook_events (
    event_id    TEXT PRIMARY KEY NOT NULL,
    event_type  TEXT NOT NULL,
    object_id   TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('applied', 'ignored')),
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_events_object ON webhook_events (object_id);
