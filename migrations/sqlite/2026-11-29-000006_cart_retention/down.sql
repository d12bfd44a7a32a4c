DROP INDEX carts_open_updated_at;
