-- Queue a transactional message, once per (kind, order).
-- writes: outbox
-- binds, in order: id, kind, order_id, created_at
INSERT INTO outbox (id, kind, order_id, status, attempts, created_at)
VALUES (?, ?, ?, 'pending', 0, ?)
ON CONFLICT (kind, order_id) DO NOTHING
