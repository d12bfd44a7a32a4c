-- A new cart.
-- writes: carts
-- binds, in order: id, token_hash, status, currency, then the checkout details email through
-- recipient_consent_at (store::bind_details), created_at, updated_at, subject_id, account_id
INSERT INTO carts (id, token_hash, status, currency,
                   email, ship_name, ship_line1, ship_line2, ship_city, ship_region, ship_postal_code,
                   ship_country, ship_phone, shipping_method, is_gift, recipient_consent_at,
                   created_at, updated_at, subject_id, account_id)
VALUES (?, ?, ?, ?,
        ?, ?, ?, ?, ?, ?, ?,
        ?, ?, ?, ?, ?,
        ?, ?, ?, ?)
