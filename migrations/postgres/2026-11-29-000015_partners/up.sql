-- Fulfillment partners (warehouses, 3PLs, carriers) and their API keys. A key is shown once: only its
-- hash is kept, with a short prefix that names it in lists and logs, its scopes (space-separated), an
-- optional expiry and when it was revoked.
CREATE TABLE partners (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE TABLE partner_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    partner_id  TEXT NOT NULL REFERENCES partners (id),
    prefix      TEXT NOT NULL UNIQUE,
    token_hash  TEXT NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP,
    revoked_at  TIMESTAMP
);
CREATE INDEX partner_keys_partner ON partner_keys (partner_id);
