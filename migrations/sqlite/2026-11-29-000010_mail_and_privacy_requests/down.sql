DROP TABLE privacy_sessions;
DROP TABLE privacy_requests;
DROP INDEX outbox_due;
CREATE TABLE outbox_prev (
    id          TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (kind, order_id)
);
INSERT INTO outbox_prev (id, kind, order_id, status, attempts, created_at)
SELECT id, kind, order_id, status, attempts, created_at FROM outbox WHERE order_id IS NOT NULL;
DROP TABLE outbox;
ALTER TABLE outbox_prev RENAME TO outbox;
