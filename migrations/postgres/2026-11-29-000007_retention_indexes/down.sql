DROP INDEX audit_log_created;
DROP INDEX webhook_events_received;
