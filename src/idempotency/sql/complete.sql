-- Complete a key's record with the answer a retry replays.
-- writes: idempotency_keys
-- binds, in order: response_status, response_body, key_hash
UPDATE idempotency_keys
SET state = 'completed', response_status = ?, response_body = ?
WHERE key_hash = ?
