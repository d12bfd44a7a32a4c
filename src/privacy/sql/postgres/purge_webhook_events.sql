-- Retention: delete a batch of webhook records received before the cut-off, oldest first, skipping
-- rows another process is deleting.
-- writes: webhook_events
-- binds, in order: cut-off, batch size
DELETE FROM webhook_events
WHERE event_id IN (SELECT event_id FROM webhook_events
                   WHERE received_at < ?
                   ORDER BY received_at
                   LIMIT ?
                   FOR UPDATE SKIP LOCKED)
