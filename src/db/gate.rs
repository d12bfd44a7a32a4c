//! The gate in front of the connection pool: a unit of database work waits here, as a suspended task,
//! for one of the pool's connections before it takes a blocking thread (see [`super::Db::run`]).
//!
//! Two lanes. Work that completes an order already in flight — placing it, settling its payment, the
//! processor's webhook — waits in the [`Lane::Priority`] lane and is let through before anything in
//! the [`Lane::Normal`] lane (carts, reads, sweeps). Under load the shopper who pressed "pay" waits the
//! least, reserved stock is held the shortest, and new carts queue instead. Priority work is bounded
//! by the orders in flight, so the normal lane cannot starve. Within a lane: first come, first served.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Which queue a unit of work waits in when every connection is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Work that completes an order in flight.
    Priority,
    /// Everything else.
    Normal,
}

/// A counting semaphore with two queues.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    free: usize,
    priority: VecDeque<oneshot::Sender<()>>,
    normal: VecDeque<oneshot::Sender<()>>,
}

/// The right to use one connection; handed on to the next waiter when dropped.
#[derive(Debug)]
pub struct Permit {
    gate: Arc<Gate>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.release();
    }
}

impl Gate {
    pub fn new(permits: usize) -> Arc<Gate> {
        Arc::new(Gate {
            state: Mutex::new(State { free: permits, priority: VecDeque::new(), normal: VecDeque::new() }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere cannot leave it half-changed.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait for a permit in `lane`. Cancel-safe: a waiter dropped after it was handed a permit passes
    /// the permit on.
    pub async fn acquire(self: &Arc<Self>, lane: Lane) -> Permit {
        let rx = {
            let mut state = self.lock();
            if state.free > 0 {
                state.free -= 1;
                return Permit { gate: self.clone() };
            }
            let (tx, rx) = oneshot::channel();
            match lane {
                Lane::Priority => state.priority.push_back(tx),
                Lane::Normal => state.normal.push_back(tx),
            }
            rx
        };
        let mut waiting = Waiting { rx: Some(rx), gate: self.clone() };
        if let Some(rx) = waiting.rx.as_mut() {
            // The sender lives in the gate's queue until it is used, and the gate outlives this
            // future (`waiting` holds it): an error cannot happen, and would mean "handed over" anyway.
            let _ = rx.await;
        }
        waiting.rx = None;
        Permit { gate: self.clone() }
    }

    /// Permits not in use (for tests and diagnostics).
    pub fn available(&self) -> usize {
        self.lock().free
    }

    fn release(&self) {
        let mut state = self.lock();
        loop {
            let next = match state.priority.pop_front() {
                Some(tx) => Some(tx),
                None => state.normal.pop_front(),
            };
            let Some(tx) = next else {
                state.free += 1;
                return;
            };
            // Handed over (the waiter may still drop it unpolled: `Waiting` passes it on then); if that
            // waiter gave up already, try the next one.
            if tx.send(()).is_ok() {
                return;
            }
        }
    }
}

/// A waiter in a queue; if dropped after it was handed a permit but before it took it, it releases it.
struct Waiting {
    rx: Option<oneshot::Receiver<()>>,
    gate: Arc<Gate>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.gate.release();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::time::Duration;

    #[tokio::test]
    async fn priority_waiters_go_first_then_arrival_order() {
        let gate = Gate::new(1);
        let held = gate.acquire(Lane::Normal).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, lane) in [("n1", Lane::Normal), ("p1", Lane::Priority), ("n2", Lane::Normal), ("p2", Lane::Priority)]
        {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire(lane).await;
                order.lock().unwrap().push(name);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await; // queue them in this order
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["p1", "p2", "n1", "n2"]);
        assert_eq!(gate.available(), 1);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_keep_a_permit() {
        let gate = Gate::new(1);
        let held = gate.acquire(Lane::Normal).await;
        // Gives up while queued.
        let early = tokio::time::timeout(Duration::from_millis(5), gate.acquire(Lane::Priority)).await;
        assert!(early.is_err());
        // Handed the permit, then dropped before it ever polled again.
        let mut late = Box::pin(gate.acquire(Lane::Normal));
        let pending = std::future::poll_fn(|cx| std::task::Poll::Ready(late.as_mut().poll(cx).is_pending())).await;
        assert!(pending);
        drop(held);
        drop(late);
        assert_eq!(gate.available(), 1);
        let _again = tokio::time::timeout(Duration::from_millis(50), gate.acquire(Lane::Normal)).await.unwrap();
    }
}
