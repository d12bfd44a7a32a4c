-- A payment's changeable columns, written back whole (computed under the row's lock or the write
-- transaction).
-- writes: payments
-- binds, in order: store::bind_payment_changes (payment_intent_id through updated_at, then id)
UPDATE payments
SET payment_intent_id = ?, charge_id = ?, status = ?, amount_captured = ?, amount_refunded = ?,
    card_brand = ?, card_last4 = ?, card_exp_month = ?, card_exp_year = ?, failure_code = ?,
    disputed = ?, updated_at = ?
WHERE id = ?
