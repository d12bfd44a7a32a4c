ALTER TABLE outbox ALTER COLUMN status TYPE text,
    ADD CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'sent', 'failed'));
ALTER TABLE idempotency_keys ALTER COLUMN state TYPE text,
    ADD CONSTRAINT idempotency_keys_state_check CHECK (state IN ('in_flight', 'completed'));
ALTER TABLE order_events ALTER COLUMN actor TYPE text,
    ADD CONSTRAINT order_events_actor_check CHECK (actor IN ('shopper', 'staff', 'processor', 'system'));
ALTER TABLE order_lines ALTER COLUMN quantity TYPE integer,
    ALTER COLUMN quantity_refunded TYPE integer,
    ALTER COLUMN unit_price TYPE bigint,
    ADD CONSTRAINT order_lines_quantity_check CHECK (quantity > 0),
    ADD CONSTRAINT order_lines_quantity_refunded_check CHECK (quantity_refunded >= 0),
    ADD CONSTRAINT order_lines_unit_price_check CHECK (unit_price >= 0);
ALTER TABLE orders ALTER COLUMN currency TYPE text,
    ALTER COLUMN status TYPE text,
    ALTER COLUMN total TYPE bigint,
    ADD CONSTRAINT orders_currency_check CHECK (char_length(currency) = 3),
    ADD CONSTRAINT orders_status_check CHECK (status IN ('pending_payment', 'awaiting_payment_action', 'paid',
        'payment_failed', 'cancelled', 'partially_fulfilled', 'fulfilled', 'partially_refunded', 'refunded')),
    ADD CONSTRAINT orders_total_check CHECK (total >= 0);
ALTER TABLE cart_lines ALTER COLUMN quantity TYPE integer,
    ADD CONSTRAINT cart_lines_quantity_check CHECK (quantity > 0);
ALTER TABLE carts ALTER COLUMN currency TYPE text,
    ALTER COLUMN status TYPE text,
    ADD CONSTRAINT carts_currency_check CHECK (char_length(currency) = 3),
    ADD CONSTRAINT carts_status_check CHECK (status IN ('open', 'checked_out'));
ALTER TABLE webhook_events ALTER COLUMN outcome TYPE text,
    ADD CONSTRAINT webhook_events_outcome_check CHECK (outcome IN ('applied', 'ignored'));
ALTER TABLE refunds ALTER COLUMN amount TYPE bigint,
    ALTER COLUMN currency TYPE text,
    ALTER COLUMN status TYPE text,
    ADD CONSTRAINT refunds_amount_check CHECK (amount > 0),
    ADD CONSTRAINT refunds_currency_check CHECK (char_length(currency) = 3),
    ADD CONSTRAINT refunds_status_check CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled'));
ALTER TABLE payments ALTER COLUMN amount TYPE bigint,
    ALTER COLUMN amount_captured TYPE bigint,
    ALTER COLUMN amount_refunded TYPE bigint,
    ALTER COLUMN capture_method TYPE text,
    ALTER COLUMN card_exp_month TYPE integer,
    ALTER COLUMN card_last4 TYPE text,
    ALTER COLUMN currency TYPE text,
    ALTER COLUMN status TYPE text,
    ADD CONSTRAINT payments_amount_check CHECK (amount > 0),
    ADD CONSTRAINT payments_amount_captured_check CHECK (amount_captured >= 0),
    ADD CONSTRAINT payments_amount_refunded_check CHECK (amount_refunded >= 0),
    ADD CONSTRAINT payments_capture_method_check CHECK (capture_method IN ('automatic', 'manual')),
    ADD CONSTRAINT payments_card_exp_month_check
        CHECK (card_exp_month IS NULL OR (card_exp_month BETWEEN 1 AND 12)),
    ADD CONSTRAINT payments_card_last4_check CHECK (card_last4 IS NULL OR char_length(card_last4) = 4),
    ADD CONSTRAINT payments_currency_check CHECK (char_length(currency) = 3),
    ADD CONSTRAINT payments_status_check CHECK (status IN ('pending', 'requires_action', 'requires_capture',
        'succeeded', 'failed', 'canceled'));
ALTER TABLE product_variants ALTER COLUMN currency TYPE text,
    ALTER COLUMN price_amount TYPE bigint,
    ALTER COLUMN stock_on_hand TYPE integer,
    ALTER COLUMN weight_grams TYPE integer,
    ADD CONSTRAINT product_variants_currency_check CHECK (char_length(currency) = 3),
    ADD CONSTRAINT product_variants_price_amount_check CHECK (price_amount >= 0),
    ADD CONSTRAINT product_variants_stock_on_hand_check CHECK (stock_on_hand >= 0),
    ADD CONSTRAINT product_variants_weight_grams_check CHECK (weight_grams >= 0);
ALTER TABLE products ALTER COLUMN status TYPE text,
    ADD CONSTRAINT products_status_check CHECK (status IN ('active', 'draft', 'archived'));
DROP DOMAIN outbox_status, idempotency_state, order_actor, order_status, cart_status, webhook_outcome,
    refund_status, capture_method, payment_status, product_status, card_month, card_last4, positive_int,
    non_negative_int, positive_minor_units, minor_units, currency_code;
