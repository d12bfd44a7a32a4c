//! How many unpaid orders one client holds at once. An unpaid order holds stock; without a bound one
//! script could place order after order with a card it never authenticates and empty the shop.
//!
//! A client is its address (see `http::client`). What is counted lives in this process's memory only —
//! never in the database, never in a log — and goes away with the order's hold: a placement in flight,
//! and each order that came out unpaid (waiting for 3-D Secure, or for the processor's answer) until it
//! is paid, fails or its hold runs out. The database is asked only when a client is at its limit (its
//! orders may have been paid meanwhile, through a webhook). With several processes the bound holds per
//! process, like the rate limits.

use crate::db::Db;
use crate::error::ApiError;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
struct Hold {
    ticket: u64,
    /// `None` while the placement is in flight.
    order_id: Option<String>,
    until: Instant,
}

/// The unpaid orders of every client, in this process.
pub struct Holds {
    max: usize,
    in_flight_for: Duration,
    by_client: Mutex<HashMap<IpAddr, Vec<Hold>>>,
    next: AtomicU64,
}

/// A client's admission to place one order; settle it with the outcome. Dropped unsettled (the
/// placement failed), it lets its place go.
pub struct Ticket {
    holds: Arc<Holds>,
    client: IpAddr,
    id: u64,
    settled: bool,
}

impl Holds {
    pub fn new(max: u32, placement_timeout: Duration) -> Arc<Holds> {
        Arc::new(Holds {
            max: max as usize,
            in_flight_for: placement_timeout,
            by_client: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Vec<Hold>>> {
        self.by_client.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admit one more placement by `client`, or refuse it with 429 `too_many_unpaid_orders` and
    /// `Retry-After` (when its earliest hold ends).
    pub async fn admit(self: &Arc<Self>, client: IpAddr, db: &Db) -> Result<Ticket, ApiError> {
        let now = Instant::now();
        let recorded: Vec<String> = {
            let mut map = self.lock();
            let holds = map.entry(client).or_default();
            holds.retain(|h| h.until > now);
            if holds.len() < self.max {
                return Ok(self.push(holds, client, now));
            }
            holds.iter().filter_map(|h| h.order_id.clone()).collect()
        };
        // At the limit: forget the orders that were settled meanwhile (paid, failed, cancelled).
        let settled = match recorded.is_empty() {
            true => Vec::new(),
            false => db.run(move |conn| Ok(super::store::settled_among(conn, &recorded)?)).await?,
        };
        let mut map = self.lock();
        let holds = map.entry(client).or_default();
        holds.retain(|h| h.until > now && h.order_id.as_ref().is_none_or(|id| !settled.contains(id)));
        if holds.len() >= self.max {
            let wait = holds.iter().map(|h| h.until.saturating_duration_since(now)).min().unwrap_or_default();
            return Err(ApiError::TooManyUnpaidOrders { retry_after_secs: wait.as_secs().max(1) });
        }
        Ok(self.push(holds, client, now))
    }

    /// Take a place for a placement in flight.
    fn push(self: &Arc<Self>, holds: &mut Vec<Hold>, client: IpAddr, now: Instant) -> Ticket {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        holds.push(Hold { ticket: id, order_id: None, until: now + self.in_flight_for });
        Ticket { holds: self.clone(), client, id, settled: false }
    }

    /// Drop the holds that have run out, and the clients left with none (the background sweep: a
    /// client who never comes back would otherwise keep its entry for the life of the process).
    pub fn forget_expired(&self) {
        let now = Instant::now();
        self.lock().retain(|_, holds| {
            holds.retain(|h| h.until > now);
            !holds.is_empty()
        });
    }

    fn release(&self, client: IpAddr, ticket: u64) {
        let mut map = self.lock();
        if let Some(holds) = map.get_mut(&client) {
            holds.retain(|h| h.ticket != ticket);
            if holds.is_empty() {
                map.remove(&client);
            }
        }
    }
}

impl Ticket {
    /// The placement ended: an order that is still unpaid (`hold` is how long it keeps its stock) keeps
    /// its place that long; any other lets it go.
    pub fn settle(mut self, order_id: &str, hold: Option<Duration>) {
        self.settled = true;
        let Some(hold) = hold else {
            self.holds.release(self.client, self.id);
            return;
        };
        let mut map = self.holds.lock();
        if let Some(h) = map.get_mut(&self.client).and_then(|hs| hs.iter_mut().find(|h| h.ticket == self.id)) {
            h.order_id = Some(order_id.to_owned());
            h.until = Instant::now() + hold;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.settled {
            self.holds.release(self.client, self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_holds_and_clients_are_forgotten() {
        let holds = Holds::new(3, Duration::from_millis(1));
        let client: IpAddr = [10, 0, 0, 1].into();
        {
            let mut map = holds.lock();
            let h = map.entry(client).or_default();
            let ticket = holds.push(h, client, Instant::now());
            std::mem::forget(ticket); // as if its placement were still running
        }
        std::thread::sleep(Duration::from_millis(5));
        holds.forget_expired();
        assert!(holds.lock().is_empty());
    }
}
