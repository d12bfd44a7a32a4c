//! Backend-specific plumbing: the global lock, write transactions and their SQLite writer queue.
//!
//! The one rule for backend differences: only `db/` and a domain's `store.rs` branch on the backend —
//! a store in the function that runs the statement (its SQL in `sql/postgres/` and `sql/sqlite/`, e.g.
//! the order number and the writable CTEs of `orders::store`); services, units of work, handlers and
//! the assembly never do (`tests/api/layout.rs` checks). `db::direct` runs hot queries on the
//! backend's own connection.

use super::{DbConn, DbError};
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::{Connection, RunQueryDsl};

/// Key of the PostgreSQL advisory lock held while migrating and seeding.
const GLOBAL_LOCK_KEY: i64 = 0x6c65_616e_6361_7274; // "leancart"

/// Run `f` while holding a cluster-wide lock (PostgreSQL session advisory lock, held until the
/// connection closes — the start-up and CLI connections close right after; on SQLite the file lock of
/// the write transactions inside `f` is enough).
pub fn with_global_lock<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, DbError>) -> Result<T, DbError> {
    if let DbConn::Pg(_) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_lock({GLOBAL_LOCK_KEY})")).execute(conn)?;
    }
    f(conn)
}

/// Writer lock for SQLite work outside a [`super::Db`] (start-up, CLI commands).
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A transaction that will write. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write lock up
/// front (a deferred transaction that upgrades later fails with SQLITE_BUSY under concurrency instead of
/// waiting); on PostgreSQL it is an ordinary transaction (row locks and conditional updates do the rest).
///
/// On SQLite, inside [`super::Db::run`], `f` runs on the database's one writing connection (see
/// [`super::SqliteWriter`]), not on `conn`.
pub fn write_transaction<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Pg(_) => conn.transaction(f),
        // SQLite admits one writer at a time. Queue writers of this process on a lock instead of
        // letting them poll the file lock through the busy handler, whose sleeps (up to 100 ms) turn
        // contention into long tail latencies. Other processes still meet the busy timeout.
        DbConn::Sqlite(_) => match super::current_writer() {
            Some(writer) => {
                let mut writer = writer.lock().unwrap_or_else(|p| p.into_inner());
                sqlite_write(&mut writer, f)
            }
            None => {
                let _writer = SQLITE_WRITER.lock().unwrap_or_else(|p| p.into_inner());
                sqlite_write(conn, f)
            }
        },
    }
}

/// [`write_transaction`], run again (up to `attempts` times in all) while the database gives it up for
/// colliding with concurrent transactions ([`ApiError::Contention`]: a deadlock, a serialization
/// failure). Each attempt starts from nothing — the transaction given up kept nothing — so `f` must
/// build everything it writes afresh. The last attempt's contention reaches the caller (503).
pub fn write_transaction_retrying<T>(
    conn: &mut DbConn,
    attempts: u32,
    mut f: impl FnMut(&mut DbConn) -> Result<T, crate::error::ApiError>,
) -> Result<T, crate::error::ApiError> {
    let mut attempt = 1;
    loop {
        match write_transaction(conn, &mut f) {
            Err(crate::error::ApiError::Contention) if attempt < attempts => {
                tracing::info!(attempt, "transaction given up for contention; running it again");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// `BEGIN IMMEDIATE`, `f`, then `COMMIT` (or `ROLLBACK` when `f` or the commit fails).
fn sqlite_write<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let DbConn::Sqlite(c) = conn else {
        return Err(diesel::result::Error::BrokenTransactionManager.into());
    };
    // A unit of work that panicked inside its transaction left it open (the lock was poisoned and
    // taken over above): roll it back before starting a new one.
    if AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth().is_ok_and(|d| d.is_some()) {
        let _ = AnsiTransactionManager::rollback_transaction(c);
    }
    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    let result = f(conn);
    let DbConn::Sqlite(c) = conn else {
        return Err(diesel::result::Error::BrokenTransactionManager.into()); // cannot change inside `f`
    };
    match result {
        Ok(value) => match AnsiTransactionManager::commit_transaction(c) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = AnsiTransactionManager::rollback_transaction(c);
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = AnsiTransactionManager::rollback_transaction(c);
            Err(e)
        }
    }
}

/// A unit of work whose statements are each atomic on their own and need no isolation from each other
/// (e.g. read a cart, then upsert one of its lines). PostgreSQL: plain autocommit statements, saving the
/// BEGIN/COMMIT round trips; SQLite: a write transaction all the same, because there every write must
/// queue on the writer lock anyway.
pub fn write_unit<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Pg(_) => f(conn),
        DbConn::Sqlite(_) => write_transaction(conn, f),
    }
}

/// After rows that held personal data in clear were rewritten sealed: have the database let go of
/// the old versions now rather than eventually. SQLite zeroes freed space as it goes
/// (`secure_delete`); the old pages still in the write-ahead log are checkpointed and the log
/// truncated. PostgreSQL: `VACUUM` the tables, so the dead row versions are reclaimed (their space
/// reused; `VACUUM FULL`, which rewrites the files, is left to the operator). Best effort: a reader
/// holding the log open delays the truncation to a later checkpoint.
pub fn reclaim_rewritten(conn: &mut DbConn, tables: &[&str]) -> Result<(), diesel::result::Error> {
    use diesel::connection::SimpleConnection;
    match conn {
        DbConn::Pg(c) => c.batch_execute(&format!("VACUUM {}", tables.join(", "))),
        DbConn::Sqlite(c) => c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)"),
    }
}
