DROP INDEX payments_unsettled;
CREATE INDEX payments_status_created ON payments (status, created_at);
DROP INDEX orders_reserved_until;
DROP INDEX orders_created;
CREATE INDEX orders_status_created ON orders (status, created_at);
