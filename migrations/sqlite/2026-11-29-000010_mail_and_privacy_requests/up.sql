-- The outbox carries every transactional message: about an order (order_id) or about a privacy
-- request (request_id) - a reference either way, never a copy of personal data. Delivery state: the
-- next attempt's time, the lease a worker holds while sending (so two workers never send one row),
-- when it was sent and the last failure's kind. SQLite cannot relax NOT NULL in place: the table is
-- rebuilt with its rows.
CREATE TABLE outbox_next (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    order_id        TEXT REFERENCES orders (id),
    request_id      TEXT,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until     TIMESTAMP,
    lease_token     TEXT,
    sent_at         TIMESTAMP,
    last_error      TEXT,
    UNIQUE (kind, order_id),
    UNIQUE (kind, request_id),
    CHECK ((order_id IS NULL) <> (request_id IS NULL))
);
INSERT INTO outbox_next (id, kind, order_id, status, attempts, created_at, next_attempt_at)
SELECT id, kind, order_id, status, attempts, created_at, created_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_next RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- Privacy requests: an e-mail proof (a single-use link), an access export, an erasure. Where to
-- write (`contact`) and a proof link's token (`secret`) are sealed under the request's own key in
-- the keyring, destroyed once the message is sent.
CREATE TABLE privacy_requests (
    id          TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('proof', 'access', 'erasure')),
    subject_id  TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'deferred', 'done', 'expired')),
    raised_by   TEXT NOT NULL CHECK (raised_by IN ('subject', 'staff', 'retention')),
    contact     TEXT,
    secret      TEXT,
    token_hash  TEXT UNIQUE,
    hold_reason TEXT,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP,
    used_at     TIMESTAMP,
    done_at     TIMESTAMP
);
CREATE INDEX privacy_requests_subject ON privacy_requests (subject_id, kind, status);
CREATE INDEX privacy_requests_status ON privacy_requests (status, kind);

-- What a used proof link opens: a short session to raise requests with, stored as a hash.
CREATE TABLE privacy_sessions (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    subject_id  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
