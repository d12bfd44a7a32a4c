-- Record a payment_intent.succeeded event that has nothing left to do: the payment has already
-- succeeded with that charge and at least that amount captured (the API answer got there first). No
-- row when the payment is not there yet or the event was recorded before.
-- writes: webhook_events
-- binds, in order: event_id, object_id (the intent), received_at, payment_id, object_id again,
-- charge_id, amount_received
INSERT INTO webhook_events (event_id, event_type, object_id, outcome, received_at)
SELECT ?, 'payment_intent.succeeded', ?, 'applied', ?
WHERE EXISTS (SELECT 1 FROM payments
              WHERE id = ? AND payment_intent_id = ? AND status = 'succeeded' AND charge_id = ?
                AND amount_captured >= ?)
ON CONFLICT (event_id) DO NOTHING
