-- A payment, recorded (pending) before the processor is called.
-- writes: payments
-- binds, in order: the changeable columns as store::bind_payment_changes binds them (payment_intent_id
-- through updated_at, then id), then order_id, processor, payment_method_id, capture_method, amount,
-- currency, created_at
INSERT INTO payments (payment_intent_id, charge_id, status, amount_captured, amount_refunded,
                      card_brand, card_last4, card_exp_month, card_exp_year, failure_code, disputed,
                      updated_at, id,
                      order_id, processor, payment_method_id, capture_method, amount, currency, created_at)
VALUES (?, ?, ?, ?, ?,
        ?, ?, ?, ?, ?, ?,
        ?, ?,
        ?, ?, ?, ?, ?, ?, ?)
