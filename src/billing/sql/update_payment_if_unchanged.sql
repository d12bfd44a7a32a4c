-- update_payment.sql, only if the row still has the status and updated_at the caller last saw (a
-- compare-and-set: no row when a webhook changed it meanwhile).
-- writes: payments
-- binds, in order: store::bind_payment_changes (payment_intent_id through updated_at, then id), then
-- the status and updated_at it must still have
UPDATE payments
SET payment_intent_id = ?, charge_id = ?, status = ?, amount_captured = ?, amount_refunded = ?,
    card_brand = ?, card_last4 = ?, card_exp_month = ?, card_exp_year = ?, failure_code = ?,
    disputed = ?, updated_at = ?
WHERE id = ? AND status = ? AND updated_at = ?
