-- Queue a transactional message, once per (kind, order), due at once.
-- writes: outbox
-- binds, in order: id, kind, order_id, created_at, next_attempt_at (the same time)
INSERT INTO outbox (id, kind, order_id, status, attempts, created_at, next_attempt_at)
VALUES (?, ?, ?, 'pending', 0, ?, ?)
ON CONFLICT (kind, order_id) DO NOTHING
