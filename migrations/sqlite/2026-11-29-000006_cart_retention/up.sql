-- Abandoned carts are purged by age (LEANCART_CART_RETENTION_SECS): the sweep finds open carts by
-- their last change without reading the others.
CREATE INDEX carts_open_updated_at ON carts (updated_at) WHERE status = 'open';
