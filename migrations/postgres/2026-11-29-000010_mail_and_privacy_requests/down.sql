DROP TABLE privacy_sessions;
DROP TABLE privacy_requests;
DROP INDEX outbox_due;
DELETE FROM outbox WHERE order_id IS NULL;
ALTER TABLE outbox DROP CONSTRAINT outbox_one_reference,
    DROP CONSTRAINT outbox_kind_request_id_key,
    DROP COLUMN last_error,
    DROP COLUMN sent_at,
    DROP COLUMN lease_token,
    DROP COLUMN lease_until,
    DROP COLUMN next_attempt_at,
    DROP COLUMN request_id,
    ALTER COLUMN order_id SET NOT NULL;
