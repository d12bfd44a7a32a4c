-- The hot path finds an order by its id ("this order, if it is still pending"). An index led by the
-- status let the planner take it for that and walk every pending order — a backlog of them (a
-- processor outage) would have slowed every payment — and every status change rewrote it.
-- Staff lists go newest first (a status filter applies along the way); the reservation sweep reads
-- only orders that still hold stock (reserved_until is cleared when an order stops holding it).
DROP INDEX orders_status_created;
CREATE INDEX orders_created ON orders (created_at, id);
CREATE INDEX orders_reserved_until ON orders (reserved_until) WHERE reserved_until IS NOT NULL;
