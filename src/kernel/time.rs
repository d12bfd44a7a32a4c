//! One notion of "now" for the whole service: UTC, truncated to microseconds so that
//! SQLite (nanoseconds) and PostgreSQL (microseconds) store and return the same value.

use chrono::{NaiveDateTime, Timelike, Utc};

/// Current UTC time as stored in the database.
pub fn now() -> NaiveDateTime {
    truncate(Utc::now().naive_utc())
}

/// Truncate a timestamp to whole microseconds.
pub fn truncate(t: NaiveDateTime) -> NaiveDateTime {
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(micros).unwrap_or(t)
}
