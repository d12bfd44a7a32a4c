//! Retention schedules: each kind of record is kept as long as its purpose needs, then deleted by the
//! background sweep (every process runs it; on PostgreSQL each batch skips rows another process holds)
//! or by `leancart retention run [--dry-run]`.
//!
//! | category | kept | configured by |
//! |---|---|---|
//! | abandoned carts (with their details) | untouched for 14 days | `LEANCART_CART_RETENTION_SECS` |
//! | Idempotency-Key records | their lifetime, ≥ 24 h | `LEANCART_IDEMPOTENCY_TTL_SECS` |
//! | webhook records | 90 days | `LEANCART_WEBHOOK_RETENTION_SECS` |
//! | audit entries | 2 years | `LEANCART_AUDIT_RETENTION_SECS` |
//! | guest personal data | 2 years after their last order closed, nothing open | `LEANCART_GUEST_DATA_RETENTION_SECS` |
//!
//! Guest personal data is erased like an erasure request (its key destroyed, `privacy::requests`),
//! which needs the keyring: [`run`] counts it out and `privacy::requests::erase_due` does it (the
//! sweep, and `leancart retention run`).

use crate::config::Config;
use crate::db::{DbConn, dialect};
use crate::error::ApiError;
use chrono::{Duration, NaiveDateTime};

/// A kind of record with a retention schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    AbandonedCarts,
    IdempotencyKeys,
    WebhookEvents,
    AuditEntries,
    GuestData,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::AbandonedCarts,
        Category::IdempotencyKeys,
        Category::WebhookEvents,
        Category::AuditEntries,
        Category::GuestData,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::AbandonedCarts => "abandoned carts",
            Category::IdempotencyKeys => "idempotency keys",
            Category::WebhookEvents => "webhook records",
            Category::AuditEntries => "audit entries",
            Category::GuestData => "guest personal data (people)",
        }
    }
}

/// How long each category is kept (Idempotency-Key records carry their own expiry).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub carts: Duration,
    pub webhooks: Duration,
    pub audit: Duration,
    pub guest_data: Duration,
}

impl Schedule {
    pub fn from_config(config: &Config) -> Schedule {
        let days = |d: std::time::Duration, default: i64| Duration::from_std(d).unwrap_or(Duration::days(default));
        Schedule {
            carts: days(config.cart_retention, 14),
            webhooks: days(config.webhook_retention, 90),
            audit: days(config.audit_retention, 730),
            guest_data: days(config.guest_data_retention, 730),
        }
    }
}

/// Records deleted per statement.
pub const BATCH: i64 = 500;

/// How many records of each category are due at `now` (a dry run: nothing is deleted).
pub fn due(conn: &mut DbConn, schedule: &Schedule, now: NaiveDateTime) -> Result<Vec<(Category, i64)>, ApiError> {
    Ok(vec![
        (Category::AbandonedCarts, crate::checkout::store::count_abandoned(conn, now - schedule.carts)?),
        (Category::IdempotencyKeys, crate::idempotency::store::count_expired(conn, now)?),
        (Category::WebhookEvents, super::store::count_webhook_events(conn, now - schedule.webhooks)?),
        (Category::AuditEntries, super::store::count_audit_entries(conn, now - schedule.audit)?),
        (Category::GuestData, count(super::store::subjects_due(conn, now - schedule.guest_data, i64::MAX)?.len())),
    ])
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Delete what is due at `now`: up to `batches` batches per category, each in its own write
/// transaction. Returns how many records of each category went.
pub fn run(
    conn: &mut DbConn,
    schedule: &Schedule,
    now: NaiveDateTime,
    batches: usize,
) -> Result<Vec<(Category, usize)>, ApiError> {
    let mut removed = Vec::new();
    // Guest personal data is erased by destroying keys: `privacy::requests::erase_due`.
    for category in Category::ALL.into_iter().filter(|c| *c != Category::GuestData) {
        let mut total = 0;
        for _ in 0..batches {
            let n = dialect::write_transaction(conn, |conn| -> Result<usize, ApiError> {
                Ok(match category {
                    Category::AbandonedCarts => crate::checkout::store::purge_abandoned(conn, now - schedule.carts)?,
                    Category::IdempotencyKeys => crate::idempotency::store::purge_expired(conn, now, BATCH)?,
                    Category::WebhookEvents => {
                        super::store::purge_webhook_events(conn, now - schedule.webhooks, BATCH)?
                    }
                    Category::AuditEntries => super::store::purge_audit_entries(conn, now - schedule.audit, BATCH)?,
                    Category::GuestData => 0,
                })
            })?;
            total += n;
            if n == 0 {
                break;
            }
        }
        removed.push((category, total));
    }
    Ok(removed)
}
