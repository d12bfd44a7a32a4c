-- Retention: delete a batch of audit entries written before the cut-off, oldest first.
-- writes: audit_log
-- binds, in order: cut-off, batch size
DELETE FROM audit_log
WHERE id IN (SELECT id FROM audit_log
             WHERE created_at < ?
             ORDER BY created_at
             LIMIT ?)
