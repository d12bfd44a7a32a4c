-- Lease due partner notices to one worker, each counted as an attempt (SQLite: one writer at a time,
-- so two workers never lease one row). A worker that dies leaves its lease to expire.
-- writes: partner_notices
-- binds, in order: lease_until, lease_token, now (due), now (lease expired), limit
UPDATE partner_notices SET lease_until = ?, lease_token = ?, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM partner_notices
    WHERE delivered_at IS NULL AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
    ORDER BY next_attempt_at, id
    LIMIT ?
)
RETURNING id, partner_id, event, reference, created_at, attempts
