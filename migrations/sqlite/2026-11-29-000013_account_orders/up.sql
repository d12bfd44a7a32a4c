-- A cart started by a signed-in shopper belongs to their account, and so does the order placed from
-- it: their order history. Guest carts and orders have none.
ALTER TABLE carts ADD COLUMN account_id TEXT;
ALTER TABLE orders ADD COLUMN account_id TEXT;
CREATE INDEX orders_account ON orders (account_id, created_at);
