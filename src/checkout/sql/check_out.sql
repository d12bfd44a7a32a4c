-- Check a cart out and, in the same statement, forget its copy of the shopper's details (the order
-- keeps what it needs). No row when the cart was not open (a concurrent checkout).
-- writes: carts
-- binds, in order: updated_at, id
UPDATE carts
SET status = 'checked_out',
    email = NULL, ship_name = NULL, ship_line1 = NULL, ship_line2 = NULL, ship_city = NULL,
    ship_region = NULL, ship_postal_code = NULL, ship_country = NULL, ship_phone = NULL,
    recipient_consent_at = NULL, subject_id = NULL,
    updated_at = ?
WHERE id = ? AND status = 'open'
