-- Add units of a variant to an open cart, only if every check passes in the database itself: the
-- cart's token hash, the cart open, the product active, the variant in the cart's currency, the merged
-- quantity within the line limit and the stock, a new line within the cart's line limit. No row
-- written when any check fails.
-- writes: cart_lines
-- binds, in order: quantity, created_at, variant_id, cart_id, token_hash, quantity, max_lines,
-- max_line_quantity
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
