-- Append to an order's history.
-- writes: order_events
-- binds, in order: store::bind_event (id, order_id, from_status, to_status, actor, reason, created_at)
INSERT INTO order_events (id, order_id, from_status, to_status, actor, reason, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
