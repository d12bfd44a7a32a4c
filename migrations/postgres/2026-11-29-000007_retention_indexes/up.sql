-- Retention schedules delete the oldest records first, a batch at a time: webhook records and audit
-- entries are found by age through these indexes (privacy::retention).
CREATE INDEX webhook_events_received ON webhook_events (received_at);
CREATE INDEX audit_log_created ON audit_log (created_at);
