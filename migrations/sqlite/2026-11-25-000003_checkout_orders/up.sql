-- Carts: reachable only with their token (only its SHA-256 is stored). Checkout details are the
-- minimum each purpose needs: a contact e-mail for the receipt; a shipping address and method only for
-- shippable goods; a phone only when the chosen carrier needs it.
CREATE TABLE carts (
    id                    TEXT PRIMARY KEY NOT NULL,
    token_hash            TEXT NOT NULL UNIQUE,
    status                TEXT NOT NULL CHECK (status IN ('open', 'checked_out')),
    currency              TEXT NOT NULL CHECK (length(currency) = 3),
    email                 TEXT,
    ship_name             TEXT,
    ship_line1            TEXT,
    ship_line2            TEXT,
    ship_city             TEXT,
    ship_region           TEXT,
    ship_postal_code      TEXT,
    ship_country          TEXT,
    ship_phone            TEXT,
    shipping_method       TEXT,
    is_gift               BOOLEAN NOT NULL DEFAULT 0,
    recipient_consent_at  TIMESTAMP,
    created_at            TIMESTAMP NOT NULL,
    updated_at            TIMESTAMP NOT NULL
);

CREATE TABLE cart_lines (
    cart_id     TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    variant_id  TEXT NOT NULL REFERENCES product_variants (id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (cart_id, variant_id)
);

-- Orders: an unguessable id, a human-friendly number, an access token (hash only). Shipping data is
-- stored for this order only (a gift recipient is never a customer record).
CREATE TABLE orders (
    id                    TEXT PRIMARY KEY NOT NULL,
    number                TEXT NOT NULL UNIQUE,
    access_token_hash     TEXT NOT NULL UNIQUE,
    cart_id               TEXT NOT NULL REFERENCES carts (id),
    status                TEXT NOT NULL CHECK (status IN ('pending_payment', 'awaiting_payment_action', 'paid', 'payment_failed', 'cancelled', 'partially_fulfilled', 'fulfilled', 'partially_refunded', 'refunded')),
    currency              TEXT NOT NULL CHECK (length(currency) = 3),
    subtotal              BIGINT NOT NULL,
    shipping_total        BIGINT NOT NULL,
    tax_total             BIGINT NOT NULL,
    discount_total        BIGINT NOT NULL,
    total                 BIGINT NOT NULL CHECK (total >= 0),
    prices_include_tax    BOOLEAN NOT NULL,
    email                 TEXT NOT NULL,
    ship_name             TEXT,
    ship_line1            TEXT,
    ship_line2            TEXT,
    ship_city             TEXT,
    ship_region           TEXT,
    ship_postal_code      TEXT,
    ship_country          TEXT,
    ship_phone            TEXT,
    shipping_method       TEXT,
    is_gift               BOOLEAN NOT NULL DEFAULT 0,
    recipient_consent_at  TIMESTAMP,
    payment_id            TEXT,
    reserved_until        TIMESTAMP,
    stock_released        BOOLEAN NOT NULL DEFAULT 0,
    created_at            TIMESTAMP NOT NULL,
    updated_at            TIMESTAMP NOT NULL
);
CREATE INDEX orders_status_created ON orders (status, created_at);
CREATE INDEX orders_cart_id ON orders (cart_id);

CREATE TABLE order_lines (
    id                 TEXT PRIMARY KEY NOT NULL,
    order_id           TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    variant_id         TEXT NOT NULL REFERENCES product_variants (id),
    sku                TEXT NOT NULL,
    title              TEXT NOT NULL,
    unit_price         BIGINT NOT NULL CHECK (unit_price >= 0),
    quantity           INTEGER NOT NULL CHECK (quantity > 0),
    quantity_refunded  INTEGER NOT NULL DEFAULT 0 CHECK (quantity_refunded >= 0),
    line_total         BIGINT NOT NULL,
    requires_shipping  BOOLEAN NOT NULL
);
CREATE INDEX order_lines_order_id ON order_lines (order_id);

-- Every status change of an order: when, who (actor type), why.
CREATE TABLE order_events (
    id          TEXT PRIMARY KEY NOT NULL,
    order_id    TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL CHECK (actor IN ('shopper', 'staff', 'processor', 'system')),
    reason      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX order_events_order_id ON order_events (order_id, created_at);

-- Order numbers (LC-100001, …). PostgreSQL uses a sequence; SQLite this counter row.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('order_number', 100000);

-- Idempotency-Key records (IETF draft semantics). The key itself is not stored, only its hash; the
-- order access token needed to replay a response is sealed with the key, so the table alone cannot
-- reveal it. Rows expire after LEANCART_IDEMPOTENCY_TTL_SECS.
CREATE TABLE idempotency_keys (
    key_hash        TEXT PRIMARY KEY NOT NULL,
    scope           TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
    response_status INTEGER,
    response_body   TEXT,
    resource_id     TEXT,
    sealed_secret   TEXT,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);

-- Transactional mail waiting to be sent: a reference to the order, never a copy of personal data.
CREATE TABLE outbox (
    id          TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (kind, order_id)
);

-- Staff reads of personal data.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject_id  TEXT,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject_id, created_at);
