-- Retention: delete a batch of expired Idempotency-Key records, oldest first, skipping rows another
-- process is deleting (several processes may run the schedule at once).
-- writes: idempotency_keys
-- binds, in order: now, batch size
DELETE FROM idempotency_keys
WHERE key_hash IN (SELECT key_hash FROM idempotency_keys
                   WHERE expires_at < ?
                   ORDER BY expires_at
                   LIMIT ?
                   FOR UPDATE SKIP LOCKED)
