ALTER TABLE orders ADD COLUMN email_index TEXT;
CREATE INDEX orders_email_index ON orders (email_index);
DROP INDEX orders_subject;
DROP INDEX carts_subject;
ALTER TABLE orders DROP COLUMN subject_id;
ALTER TABLE carts DROP COLUMN subject_id;
