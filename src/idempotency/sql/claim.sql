-- Claim an Idempotency-Key for a request, inside the transaction that creates its resource. No row
-- when the key is already claimed.
-- writes: idempotency_keys
-- binds, in order: key_hash, scope, request_hash, resource_id, sealed_secret, created_at, expires_at
INSERT INTO idempotency_keys (key_hash, scope, request_hash, state, resource_id, sealed_secret,
                              created_at, expires_at)
VALUES (?, ?, ?, 'in_flight', ?, ?, ?, ?)
ON CONFLICT (key_hash) DO NOTHING
