-- An order, numbered from a sequence inside the INSERT (no hot row shared by concurrent checkouts).
-- writes: orders
-- binds, in order: store::bind_order (id through account_id, as the column list); returns number
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
