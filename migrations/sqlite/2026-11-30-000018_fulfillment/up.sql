-- Fulfillment partners: what they serve (routing rules), whose carrier needs the recipient's phone,
-- and an optional HTTPS endpoint told when work is ready (its signing secret sealed under the
-- partner's own key in the keyring).
ALTER TABLE partners ADD COLUMN carrier_needs_phone BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE partners ADD COLUMN webhook_url TEXT;
ALTER TABLE partners ADD COLUMN webhook_secret TEXT;
ALTER TABLE partners ADD COLUMN disabled_at TIMESTAMP;

-- Which partner gets an order line: the lowest `priority` whose every given condition matches (shipping
-- method, destination country, SKU prefix); a condition left NULL matches anything.
CREATE TABLE routing_rules (
    id              TEXT PRIMARY KEY NOT NULL,
    partner_id      TEXT NOT NULL REFERENCES partners (id),
    priority        INTEGER NOT NULL,
    shipping_method TEXT,
    country         TEXT,
    sku_prefix      TEXT,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX routing_rules_priority ON routing_rules (priority, id);

-- One partner's share of an order: its lines, a pseudonymous reference (random, per fulfillment: not
-- the order's id or number), and its progress. Personal fields are not copied: a partner's record is
-- opened from the order's sealed fields when read, so erasure and the expiry window apply at once.
CREATE TABLE fulfillments (
    id           TEXT PRIMARY KEY NOT NULL,
    order_id     TEXT NOT NULL REFERENCES orders (id),
    partner_id   TEXT REFERENCES partners (id),
    reference    TEXT NOT NULL UNIQUE,
    status       TEXT NOT NULL CHECK (status IN ('unassigned', 'ready', 'acknowledged', 'partially_shipped', 'shipped', 'delivered', 'exception', 'cancelled')),
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    acknowledged_at TIMESTAMP,
    shipped_at   TIMESTAMP,
    delivered_at TIMESTAMP,
    exception    TEXT
);
CREATE INDEX fulfillments_partner ON fulfillments (partner_id, status, id);
CREATE INDEX fulfillments_partner_created ON fulfillments (partner_id, created_at, id);
CREATE INDEX fulfillments_order ON fulfillments (order_id);

CREATE TABLE fulfillment_lines (
    fulfillment_id TEXT NOT NULL REFERENCES fulfillments (id),
    order_line_id  TEXT NOT NULL REFERENCES order_lines (id),
    sku            TEXT NOT NULL,
    title          TEXT NOT NULL,
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    weight_grams   INTEGER NOT NULL,
    unit_value     BIGINT NOT NULL,
    quantity_shipped INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (fulfillment_id, order_line_id)
);

-- Paid orders not routed yet (the router's queue; claimed by setting routed_at in its transaction).
ALTER TABLE orders ADD COLUMN routed_at TIMESTAMP;
CREATE INDEX orders_unrouted ON orders (created_at) WHERE routed_at IS NULL AND status = 'paid';

-- A partner's shipments: one per tracking number and fulfillment (a repeat is the same shipment).
CREATE TABLE shipments (
    id              TEXT PRIMARY KEY NOT NULL,
    fulfillment_id  TEXT NOT NULL REFERENCES fulfillments (id),
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    UNIQUE (fulfillment_id, tracking_number)
);
CREATE TABLE shipment_lines (
    shipment_id   TEXT NOT NULL REFERENCES shipments (id),
    order_line_id TEXT NOT NULL,
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (shipment_id, order_line_id)
);

-- Every partner read of fulfillment records (a page, a record, a streamed export): which key, which
-- fields, how many; the references it carried, a chunk at a time. The audit log's entry names it.
CREATE TABLE partner_exports (
    id          TEXT PRIMARY KEY NOT NULL,
    partner_id  TEXT NOT NULL REFERENCES partners (id),
    key_id      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    fields      TEXT NOT NULL,
    filter      TEXT NOT NULL,
    rows        BIGINT NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX partner_exports_partner ON partner_exports (partner_id, created_at);
CREATE TABLE partner_export_chunks (
    export_id  TEXT NOT NULL REFERENCES partner_exports (id),
    seq        INTEGER NOT NULL,
    refs       TEXT NOT NULL,
    PRIMARY KEY (export_id, seq)
);

-- Outbound notices to partners' endpoints (signed; retried with back-off; leased like the mail outbox).
CREATE TABLE partner_notices (
    id              TEXT PRIMARY KEY NOT NULL,
    partner_id      TEXT NOT NULL REFERENCES partners (id),
    event           TEXT NOT NULL,
    reference       TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_token     TEXT,
    lease_until     TIMESTAMP,
    delivered_at    TIMESTAMP,
    last_error      TEXT
);
CREATE INDEX partner_notices_due ON partner_notices (next_attempt_at) WHERE delivered_at IS NULL;
