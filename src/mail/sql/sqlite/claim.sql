-- Lease due messages to one worker, each counted as an attempt (SQLite: one writer at a time, so two
-- workers never lease one row). A worker that dies leaves its lease to expire; another takes the row
-- then.
-- writes: outbox
-- binds, in order: lease_until, lease_token, now (due), now (lease expired), limit
UPDATE outbox SET lease_until = ?, lease_token = ?, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM outbox
    WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
    ORDER BY next_attempt_at, id
    LIMIT ?
)
RETURNING id, kind, order_id, request_id, attempts
