//! Login throttling: failed logins per e-mail (counted whether or not an account has it, so the
//! throttle tells nothing of who has an account) and per client address. After a few failures each
//! further one doubles the wait before the next attempt is even checked (a 429 with `Retry-After`);
//! a success clears the e-mail's count. Kept per process, like the other per-client limits.

use chrono::{Duration, NaiveDateTime};
use std::collections::HashMap;
use std::sync::Mutex;

/// Failures allowed before the first wait, per e-mail and per client address.
const FREE_PER_EMAIL: u32 = 3;
const FREE_PER_CLIENT: u32 = 10;
/// The longest wait.
const MAX_WAIT: Duration = Duration::minutes(15);
/// Most keys kept; past it the oldest half goes.
const CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    blocked_until: NaiveDateTime,
    last: NaiveDateTime,
}

#[derive(Default)]
pub struct Throttle {
    records: Mutex<HashMap<String, Record>>,
}

fn wait_after(failures: u32, free: u32) -> Duration {
    match failures.checked_sub(free) {
        None => Duration::zero(),
        Some(over) => Duration::seconds(1_i64 << over.min(20)).min(MAX_WAIT),
    }
}

impl Throttle {
    /// Seconds to wait before a login for these keys may be tried, if any.
    pub fn check(&self, email_key: &str, client_key: &str, now: NaiveDateTime) -> Option<u64> {
        let records = self.records.lock().ok()?;
        [email_key, client_key]
            .iter()
            .filter_map(|k| records.get(*k))
            .filter(|r| r.blocked_until > now)
            .map(|r| u64::try_from((r.blocked_until - now).num_seconds().max(1)).unwrap_or(1))
            .max()
    }

    /// A failed login: both counts go up, and the wait after them.
    pub fn failed(&self, email_key: &str, client_key: &str, now: NaiveDateTime) {
        self.count(&[(email_key, FREE_PER_EMAIL), (client_key, FREE_PER_CLIENT)], now);
    }

    /// A wrong current password given to change it (a session in the wrong hands guessing): counted
    /// per account like a failed login per e-mail.
    pub fn failed_reauthentication(&self, account_key: &str, now: NaiveDateTime) {
        self.count(&[(account_key, FREE_PER_EMAIL)], now);
    }

    fn count(&self, keys: &[(&str, u32)], now: NaiveDateTime) {
        let Ok(mut records) = self.records.lock() else { return };
        if records.len() >= CAPACITY {
            let cutoff = now - MAX_WAIT;
            records.retain(|_, r| r.last > cutoff);
        }
        for &(key, free) in keys {
            let r = records.entry(key.to_owned()).or_insert(Record { failures: 0, blocked_until: now, last: now });
            r.failures = r.failures.saturating_add(1);
            r.blocked_until = now + wait_after(r.failures, free);
            r.last = now;
        }
    }

    /// A successful login: the e-mail's count starts over.
    pub fn succeeded(&self, email_key: &str) {
        if let Ok(mut records) = self.records.lock() {
            records.remove(email_key);
        }
    }

    /// Forget records whose wait is long over (the sweep).
    pub fn forget_idle(&self, now: NaiveDateTime) {
        if let Ok(mut records) = self.records.lock() {
            let cutoff = now - MAX_WAIT - MAX_WAIT;
            records.retain(|_, r| r.last > cutoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_after_the_free_failures_up_to_fifteen_minutes() {
        let waits: Vec<i64> = (1..=8).map(|n| wait_after(n, 3).num_seconds()).collect();
        assert_eq!(waits, [0, 0, 1, 2, 4, 8, 16, 32]);
        assert_eq!(wait_after(40, 3), MAX_WAIT);
    }
}
