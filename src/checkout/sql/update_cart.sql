-- What a shopper can change on a cart: its status and checkout details (never the token or currency).
-- writes: carts
-- binds, in order: status, the checkout details email through recipient_consent_at
-- (store::bind_details), updated_at, subject_id, id
UPDATE carts
SET status = ?,
    email = ?, ship_name = ?, ship_line1 = ?, ship_line2 = ?, ship_city = ?, ship_region = ?,
    ship_postal_code = ?, ship_country = ?, ship_phone = ?, shipping_method = ?, is_gift = ?,
    recipient_consent_at = ?,
    updated_at = ?, subject_id = ?
WHERE id = ?
