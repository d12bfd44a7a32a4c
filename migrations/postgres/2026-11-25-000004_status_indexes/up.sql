-- Orders and payments are found by their id (or the processor's) on the hot path: "this order, if it
-- is still pending", "this payment, if unchanged", "a payment with this intent that succeeded". Indexes
-- led by the status let the planner take them for those lookups and walk every row in that status —
-- every succeeded payment, every pending order — so each checkout got slower as the shop grew.
-- Now no index starts with a status:
-- staff lists go newest first (a status filter applies along the way);
DROP INDEX orders_status_created;
CREATE INDEX orders_created ON orders (created_at, id);
-- the reservation sweep reads only orders that still hold stock (reserved_until is cleared when an order
-- stops holding it);
CREATE INDEX orders_reserved_until ON orders (reserved_until) WHERE reserved_until IS NOT NULL;
-- the reconciliation sweep reads only payments still waiting for their outcome.
DROP INDEX payments_status_created;
CREATE INDEX payments_unsettled ON payments (created_at) WHERE status IN ('pending', 'requires_action');
