-- Measured shortcut (PostgreSQL; docs/performance.md, 2026-11-29): the common end of a placement,
-- its payment succeeding at once, in one statement instead of a transaction of seven round trips.
-- It writes exactly what the general path writes, and nothing when anything moved meanwhile (then the
-- general path runs): billing's update_payment_if_unchanged.sql, orders' move_order.sql (to paid)
-- and enqueue_outbox.sql (the confirmation), idempotency's complete.sql (201). The round-trip and
-- checkout tests assert the same rows on both backends (SQLite always takes the general path).
-- writes: payments, orders, order_events, outbox, idempotency_keys
-- binds, in order: order_id, payment_id; the payment's changeable columns (payment_intent_id through
-- updated_at, then id) and the status and updated_at it must still have; the order's updated_at; the
-- history entry's id, reason and created_at; the outbox row's id, created_at and next_attempt_at (the
-- same time); the key's hash
WITH k AS (
    SELECT id FROM orders
    WHERE id = ? AND payment_id = ? AND status = 'pending_payment'
    FOR NO KEY UPDATE
), p AS (
    UPDATE payments
    SET payment_intent_id = ?, charge_id = ?, status = ?, amount_captured = ?, amount_refunded = ?,
        card_brand = ?, card_last4 = ?, card_exp_month = ?, card_exp_year = ?, failure_code = ?,
        disputed = ?, updated_at = ?
    WHERE id = ? AND status = ? AND updated_at = ? AND EXISTS (SELECT 1 FROM k)
    RETURNING id
), o AS (
    UPDATE orders
    SET status = 'paid', reserved_until = NULL, updated_at = ?
    WHERE id IN (SELECT id FROM k) AND EXISTS (SELECT 1 FROM p)
    RETURNING *
), e AS (
    INSERT INTO order_events (id, order_id, from_status, to_status, actor, reason, created_at)
    SELECT ?, o.id, 'pending_payment', 'paid', 'processor', ?, ? FROM o
), m AS (
    INSERT INTO outbox (id, kind, order_id, status, attempts, created_at, next_attempt_at)
    SELECT ?, 'order_confirmation', o.id, 'pending', 0, ?, ? FROM o
    ON CONFLICT (kind, order_id) DO NOTHING
), i AS (
    UPDATE idempotency_keys
    SET state = 'completed', response_status = 201, response_body = NULL
    WHERE key_hash = ? AND EXISTS (SELECT 1 FROM o)
)
SELECT o.* FROM o
