DROP INDEX orders_email_index;
ALTER TABLE orders DROP COLUMN email_index;
