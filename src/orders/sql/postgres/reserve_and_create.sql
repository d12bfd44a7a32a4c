-- Placement's reserve-and-create, one statement for an order of up to MAX_BATCH lines: take every
-- line's units if (and only if) they are on hand, check the cart out (forgetting its copy of the
-- shopper's details), create the order (numbered from the sequence), its lines, its first history
-- entry and its pending payment. Writable CTEs run in a fixed order - order, cart, stock, then the
-- rest - so concurrent placements of one cart queue on the cart and the later one finds it checked
-- out. The variants are locked in id order first (k): the update visits rows in whatever order its
-- scan finds them, and two placements sharing variants must never lock them in opposite orders.
-- The caller rolls back unless checked_out = 1 and taken holds every variant.
-- {ids} stands for one placeholder per line, {stock} for one (variant_id, quantity) pair per line,
-- {lines} for one group of ten per line (as insert_lines.sql).
-- writes: product_variants, carts, orders, order_lines, order_events, payments
-- binds, in order: the variant ids; the (variant_id, quantity) pairs; the cart's updated_at and id;
-- store::bind_order; the lines (store::line_row); store::bind_event; store::bind_payment
WITH k AS (
    SELECT id FROM product_variants WHERE id IN ({ids}) ORDER BY id FOR NO KEY UPDATE
), s AS (
    UPDATE product_variants SET stock_on_hand = stock_on_hand - t.column2
    FROM (VALUES {stock}) AS t
    WHERE product_variants.id = t.column1 AND product_variants.stock_on_hand >= t.column2
      AND product_variants.id IN (SELECT id FROM k)
    RETURNING product_variants.id
), c AS (
    UPDATE carts
    SET status = 'checked_out',
        email = NULL, ship_name = NULL, ship_line1 = NULL, ship_line2 = NULL, ship_city = NULL,
        ship_region = NULL, ship_postal_code = NULL, ship_country = NULL, ship_phone = NULL,
        recipient_consent_at = NULL, subject_id = NULL,
        updated_at = ?
    WHERE id = ? AND status = 'open'
    RETURNING id
), o AS (
    INSERT INTO orders (id, access_token_hash, cart_id, status, currency,
                        subtotal, shipping_total, tax_total, discount_total, total, prices_include_tax,
                        email, ship_name, ship_line1, ship_line2, ship_city, ship_region, ship_postal_code,
                        ship_country, ship_phone, shipping_method, is_gift, recipient_consent_at,
                        payment_id, reserved_until, stock_released, created_at, updated_at,
                        subject_id, account_id, number)
    VALUES (?, ?, ?, ?, ?,
            ?, ?, ?, ?, ?, ?,
            ?, ?, ?, ?, ?, ?, ?,
            ?, ?, ?, ?, ?,
            ?, ?, ?, ?, ?,
            ?, ?, 'LC-' || nextval('order_number_seq'))
    RETURNING number
), l AS (
    INSERT INTO order_lines (id, order_id, variant_id, sku, title, unit_price, quantity, quantity_refunded,
                             line_total, requires_shipping)
    VALUES {lines}
), e AS (
    INSERT INTO order_events (id, order_id, from_status, to_status, actor, reason, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
), p AS (
    INSERT INTO payments (payment_intent_id, charge_id, status, amount_captured, amount_refunded,
                          card_brand, card_last4, card_exp_month, card_exp_year, failure_code, disputed,
                          updated_at, id,
                          order_id, processor, payment_method_id, capture_method, amount, currency, created_at)
    VALUES (?, ?, ?, ?, ?,
            ?, ?, ?, ?, ?, ?,
            ?, ?,
            ?, ?, ?, ?, ?, ?, ?)
)
SELECT o.number,
       (SELECT count(*) FROM c) AS checked_out,
       (SELECT array_agg(id) FROM s) AS taken
FROM o
