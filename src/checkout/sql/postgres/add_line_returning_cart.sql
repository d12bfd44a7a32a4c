-- add_line.sql and the cart read back with its lines, in one statement (one round trip instead of
-- two). The read cannot see the upsert's own row (one snapshot for the whole statement), so it takes
-- that line from the upsert's RETURNING and every other line from the table. No rows when a check
-- failed (nothing written). The upsert is add_line.sql's, word for word (a unit test compares them).
-- writes: cart_lines
-- binds, in order: add_line.sql's eight, then cart_id, variant_id, cart_id
WITH up AS (
    INSERT INTO cart_lines (cart_id, variant_id, quantity, created_at)
    SELECT c.id, v.id, ?, ?
    FROM carts c
    JOIN product_variants v ON v.id = ? AND v.currency = c.currency
    WHERE c.id = ? AND c.token_hash = ? AND c.status = 'open' AND v.stock_on_hand >= ?
      -- the product by key in a scalar subquery: a join let PostgreSQL hash every product of a small catalog
      AND (SELECT p.status FROM products p WHERE p.id = v.product_id) = 'active'
      AND (EXISTS (SELECT 1 FROM cart_lines l WHERE l.cart_id = c.id AND l.variant_id = v.id)
           OR (SELECT COUNT(*) FROM cart_lines l WHERE l.cart_id = c.id) < ?)
    ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = cart_lines.quantity + excluded.quantity
    WHERE cart_lines.quantity + excluded.quantity <= ?
      AND cart_lines.quantity + excluded.quantity <=
          (SELECT stock_on_hand FROM product_variants WHERE id = excluded.variant_id)
    RETURNING variant_id, quantity, created_at
)
SELECT c.id, c.token_hash, c.status, c.currency, c.email, c.ship_name, c.ship_line1, c.ship_line2,
       c.ship_city, c.ship_region, c.ship_postal_code, c.ship_country, c.ship_phone, c.shipping_method,
       c.is_gift, c.recipient_consent_at, c.created_at, c.updated_at, c.subject_id, c.account_id,
       l.quantity AS l_quantity,
       v.id AS v_id, v.product_id AS v_product_id, v.sku AS v_sku, v.title AS v_title,
       v.price_amount AS v_price_amount, v.currency AS v_currency, v.stock_on_hand AS v_stock_on_hand,
       v.weight_grams AS v_weight_grams, v.requires_shipping AS v_requires_shipping,
       v.position AS v_position, v.created_at AS v_created_at, v.updated_at AS v_updated_at,
       p.title AS p_title
FROM carts c
JOIN (SELECT variant_id, quantity, created_at FROM cart_lines WHERE cart_id = ? AND variant_id <> ?
      UNION ALL
      SELECT variant_id, quantity, created_at FROM up) l ON true
JOIN product_variants v ON v.id = l.variant_id
JOIN products p ON p.id = v.product_id
WHERE c.id = ? AND EXISTS (SELECT 1 FROM up)
ORDER BY l.created_at, l.variant_id
