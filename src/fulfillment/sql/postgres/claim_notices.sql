-- Lease due partner notices to one worker: rows no other worker holds (SKIP LOCKED: workers of several
-- processes take different rows, none waits), each counted as an attempt. A worker that dies leaves
-- its lease to expire; another takes the row then.
-- writes: partner_notices
-- binds, in order: lease_until, lease_token, now (due), now (lease expired), limit
UPDATE partner_notices SET lease_until = ?, lease_token = ?, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM partner_notices
    WHERE delivered_at IS NULL AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
    ORDER BY next_attempt_at, id
    LIMIT ?
    FOR UPDATE SKIP LOCKED
)
RETURNING id, partner_id, event, reference, created_at, attempts
