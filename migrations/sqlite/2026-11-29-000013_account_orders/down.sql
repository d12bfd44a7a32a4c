DROP INDEX orders_account;
ALTER TABLE orders DROP COLUMN account_id;
ALTER TABLE carts DROP COLUMN account_id;
