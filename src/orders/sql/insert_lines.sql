-- An order's lines, a batch of rows: {lines} stands for one (…) group of ten placeholders per line.
-- writes: order_lines
-- binds, in order, per line: store::line_row (id, order_id, variant_id, sku, title, unit_price,
-- quantity, quantity_refunded, line_total, requires_shipping)
INSERT INTO order_lines (id, order_id, variant_id, sku, title, unit_price, quantity, quantity_refunded,
                         line_total, requires_shipping)
VALUES {lines}
