//! One notion of "now" for the whole service: UTC, truncated to microseconds so that
//! SQLite (nanoseconds) and PostgreSQL (microseconds) store and return the same value.

use chrono::{NaiveDateTime, Timelike, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The clock the time rules read (reservations, Idempotency-Key lifetimes and staleness, retention
/// sweeps): the system's, shifted by an offset that only tests move ([`Clock::advance`]) — so a test of
/// "after 30 minutes" or "after 14 days" reaches the deadline at once and exactly, instead of sleeping
/// or passing a made-up `now` past the code under test. Records' own timestamps (`created_at`, history
/// entries) keep the system's time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    shift_micros: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> NaiveDateTime {
        now() + chrono::Duration::microseconds(self.shift_micros.load(Ordering::Relaxed))
    }

    /// Move this clock (and every copy of it) forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.shift_micros.fetch_add(by.num_microseconds().unwrap_or(i64::MAX / 2), Ordering::Relaxed);
    }
}

/// Current UTC time as stored in the database.
pub fn now() -> NaiveDateTime {
    truncate(Utc::now().naive_utc())
}

/// Truncate a timestamp to whole microseconds.
pub fn truncate(t: NaiveDateTime) -> NaiveDateTime {
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(micros).unwrap_or(t)
}

/// A moment as the API shows it: RFC 3339 in UTC with its offset, to the microsecond
/// (`2026-11-29T15:10:44.884501Z`). The database keeps UTC without an offset (`NaiveDateTime`, the one
/// timestamp type both backends share); every response carries it through this type, so a client never
/// has to guess the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcTime(pub NaiveDateTime);

impl From<NaiveDateTime> for UtcTime {
    fn from(t: NaiveDateTime) -> Self {
        UtcTime(t)
    }
}

impl std::fmt::Display for UtcTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.and_utc().format("%Y-%m-%dT%H:%M:%S%.6fZ"))
    }
}

impl serde::Serialize for UtcTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_moves_forward_for_all_its_copies() {
        let clock = Clock::default();
        let copy = clock.clone();
        let before = copy.now();
        clock.advance(chrono::Duration::days(14));
        let after = copy.now();
        assert!(after - before >= chrono::Duration::days(14));
        assert!(after - before < chrono::Duration::days(14) + chrono::Duration::seconds(5));
    }

    #[test]
    fn api_times_are_rfc3339_utc() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 29)
            .and_then(|d| d.and_hms_micro_opt(15, 10, 44, 884_501))
            .unwrap_or_default();
        let json = serde_json::to_string(&UtcTime(t)).unwrap_or_default();
        assert_eq!(json, "\"2026-11-29T15:10:44.884501Z\"");
        let back = chrono::DateTime::parse_from_rfc3339(json.trim_matches('"')).map(|d| d.naive_utc());
        assert_eq!(back, Ok(t));
    }
}
