-- An order moves from one status to the next: a compare-and-set (no row when the order is no longer
-- in the expected status or, with a payment given, is not paid by that payment). Leaving a status that
-- holds stock clears the reservation's deadline. The store appends the history entry
-- (insert_event.sql) in the same transaction when a row moved.
-- writes: orders
-- binds, in order: to_status, clear_reservation, updated_at, order_id, from_status, payment_id (or
-- null: any), payment_id again
UPDATE orders
SET status = ?,
    reserved_until = CASE WHEN ? THEN NULL ELSE reserved_until END,
    updated_at = ?
WHERE id = ? AND status = ? AND (payment_id = ? OR ? IS NULL)
