CREATE TABLE products (
    id          TEXT PRIMARY KEY NOT NULL,
    handle      TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'draft', 'archived')),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE product_variants (
    id                TEXT PRIMARY KEY NOT NULL,
    product_id        TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku               TEXT NOT NULL UNIQUE,
    title             TEXT NOT NULL,
    price_amount      BIGINT NOT NULL CHECK (price_amount >= 0),
    currency          TEXT NOT NULL CHECK (char_length(currency) = 3),
    stock_on_hand     INTEGER NOT NULL CHECK (stock_on_hand >= 0),
    weight_grams      INTEGER NOT NULL CHECK (weight_grams >= 0),
    requires_shipping BOOLEAN NOT NULL DEFAULT TRUE,
    position          INTEGER NOT NULL DEFAULT 0,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);

CREATE INDEX product_variants_product_id ON product_variants (product_id, position);
