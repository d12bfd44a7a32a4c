DROP TABLE webhook_events;
DROP TABLE refunds;
DROP TABLE payments;
