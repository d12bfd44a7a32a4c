DROP INDEX orders_reserved_until;
DROP INDEX orders_created;
CREATE INDEX orders_status_created ON orders (status, created_at);
