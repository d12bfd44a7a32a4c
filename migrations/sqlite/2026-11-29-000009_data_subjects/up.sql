-- Personal fields are sealed under their person's data key (in the keyring); a cart or an order
-- names whose key by the subject's pseudonymous id. Rows written before hold their fields in clear
-- until the start-up backfill seals them (the id is NULL until then).
ALTER TABLE carts ADD COLUMN subject_id TEXT;
ALTER TABLE orders ADD COLUMN subject_id TEXT;
CREATE INDEX carts_subject ON carts (subject_id);
CREATE INDEX orders_subject ON orders (subject_id);
-- Staff find a shopper's orders by e-mail through the keyring (the e-mail's blind index names the
-- subject, the subject its orders): the shop's own copy of the index entry goes.
DROP INDEX orders_email_index;
ALTER TABLE orders DROP COLUMN email_index;
