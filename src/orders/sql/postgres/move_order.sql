-- An order moves from one status to the next, with its history entry, in one statement: a
-- compare-and-set (no row, nothing written, when the order is no longer in the expected status or,
-- with a payment given, is not paid by that payment). Leaving a status that holds stock clears the
-- reservation's deadline.
-- writes: orders, order_events
-- binds, in order: to_status, clear_reservation, updated_at, order_id, from_status, payment_id (or
-- null: any), payment_id again; then the history entry: id, from_status, to_status, actor, reason,
-- created_at
WITH o AS (
    UPDATE orders
    SET status = ?,
        reserved_until = CASE WHEN ? THEN NULL ELSE reserved_until END,
        updated_at = ?
    WHERE id = ? AND status = ? AND (payment_id = ? OR ? IS NULL)
    RETURNING id
)
INSERT INTO order_events (id, order_id, from_status, to_status, actor, reason, created_at)
SELECT ?, o.id, ?, ?, ?, ?, ? FROM o
