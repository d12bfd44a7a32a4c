//! The database layer: one connection type for SQLite and PostgreSQL, a pool, embedded migrations for
//! both backends, and `Db::run`, which moves blocking diesel work onto tokio's blocking pool.
//!
//! The rule for backend differences: services never branch on the backend; a store may, inside the
//! function that runs the statement, or this module does (transactions, SQLite's writer queue, locks).

pub mod cached;
pub mod dialect;
pub mod direct;
pub mod gate;
pub mod schema;

use crate::config::DatabaseUrl;
use crate::error::ApiError;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::time::Duration;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Planner costs every PostgreSQL session of leancart runs with (see [`Manager::connect`]).
pub const PG_SESSION_COSTS: &str = "SET random_page_cost = 1.1";

/// A connection to either backend. Queries are written once against this type; the few statements
/// that differ between backends live in [`dialect`].
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Why the database could not be reached or prepared. Messages carry the real cause but never the
/// password of the URL.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Connect(String),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
}

/// Establishes connections by URL scheme (never by trial and error, which hides the real cause) and
/// prepares each SQLite connection (WAL, foreign keys, busy timeout).
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
    /// PostgreSQL: connections for drafts (see [`Db::run_draft`]) commit asynchronously.
    drafts: bool,
    /// PostgreSQL: the schema the session works in (the keyring's), instead of the default.
    schema: Option<&'static str>,
}

impl Manager {
    pub fn new(url: DatabaseUrl) -> Self {
        Manager { url, drafts: false, schema: None }
    }

    /// Connections whose PostgreSQL sessions work in `schema` (SQLite: unchanged).
    pub fn in_schema(url: DatabaseUrl, schema: &'static str) -> Self {
        Manager { url, drafts: false, schema: Some(schema) }
    }

    /// Connections whose commits do not wait for the write-ahead log to reach the disk (PostgreSQL's
    /// `synchronous_commit = off` for the session); SQLite connections are unchanged.
    fn for_drafts(url: DatabaseUrl) -> Self {
        Manager { url, drafts: true, schema: None }
    }

    pub fn connect(&self) -> Result<DbConn, DbError> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        DbError::Connect(format!("cannot create the directory {}: {e}", parent.display()))
                    })?;
                }
                let path_str = path.to_string_lossy();
                let mut conn = SqliteConnection::establish(&path_str)
                    .map_err(|e| DbError::Connect(format!("cannot open SQLite database {}: {e}", path.display())))?;
                // The busy timeout first: switching a new file to WAL takes a lock, and a second process
                // opening the file at that moment must wait for it rather than fail.
                conn.batch_execute("PRAGMA busy_timeout = 10000")
                    .map_err(|e| DbError::Connect(format!("cannot configure SQLite: {e}")))?;
                // Switching a new file to WAL takes a lock that SQLite does not wait for with the busy
                // timeout: a second process opening the file at that moment retries for a while.
                let mut attempt = 0;
                while let Err(e) = conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -8000; PRAGMA wal_autocheckpoint = 50000; PRAGMA temp_store = MEMORY; \
                     PRAGMA secure_delete = ON;",
                ) {
                    attempt += 1;
                    if attempt >= 200 || !e.to_string().contains("locked") {
                        return Err(DbError::Connect(format!("cannot configure SQLite: {e}")));
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                Ok(DbConn::Sqlite(conn))
            }
            DatabaseUrl::Postgres(secret) => {
                let mut conn = PgConnection::establish(secret.expose())
                    .map_err(|e| DbError::Connect(explain_pg_error(&self.url, &e.to_string())))?;
                // The planner's default cost of a random page read (4, a spinning disk's) makes it hash a
                // whole small table (the catalog's variants, say) rather than look a few rows up by key,
                // on the hot path. What a checkout touches is in memory; on an engine without this
                // setting (some PostgreSQL-compatible ones) the session keeps its default.
                if let Err(e) = conn.batch_execute(PG_SESSION_COSTS) {
                    tracing::debug!(error = %e, "random_page_cost not set");
                }
                if self.drafts {
                    conn.batch_execute("SET synchronous_commit = off")
                        .map_err(|e| DbError::Connect(format!("cannot configure a PostgreSQL connection: {e}")))?;
                }
                if let Some(schema) = self.schema {
                    conn.batch_execute(&format!("SET search_path TO {schema}"))
                        .map_err(|e| DbError::Connect(format!("cannot open schema {schema}: {e}")))?;
                }
                Ok(DbConn::Pg(conn))
            }
        }
    }
}

/// Turn libpq's message into something an operator can act on, without the password.
fn explain_pg_error(url: &DatabaseUrl, raw: &str) -> String {
    let missing = raw
        .find("database \"")
        .map(|i| &raw[i + "database \"".len()..])
        .and_then(|rest| rest.split_once('"'))
        .filter(|(_, after)| after.trim_start().starts_with("does not exist"))
        .map(|(db, _)| db);
    if let Some(db) = missing {
        return format!(
            "PostgreSQL database \"{db}\" does not exist at {url}. Create it first, e.g. \
             `createdb -h HOST -U USER {db}` or `psql -h HOST -U USER -c 'CREATE DATABASE \"{db}\"'`"
        );
    }
    format!("cannot connect to PostgreSQL at {url}: {}", raw.trim().replace('\n', " "))
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        Manager::connect(self)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::sql_query("SELECT 1").execute(conn).map(|_| ()).map_err(DbError::Query)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// Which backend a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The shared handle: a connection pool plus the blocking hop.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    /// PostgreSQL: connections for drafts, which commit asynchronously (see [`Db::run_draft`]).
    drafts: Option<Pool<Manager>>,
    /// One permit per pooled connection: work waits for a connection here, as a suspended task,
    /// before it takes a blocking thread (see [`Db::run`]).
    gate: std::sync::Arc<gate::Gate>,
    backend: Backend,
    /// SQLite: the connection that writes, behind the lock this process's writers queue on.
    writer: Option<SqliteWriter>,
    /// SQLite: the background checkpointer, stopped when the last handle is dropped.
    _checkpointer: Option<std::sync::Arc<Checkpointer>>,
}

/// Copies SQLite's write-ahead log back into the database file from a thread of its own, so that no
/// writer pays for it. With SQLite's automatic checkpoints the writer whose commit crossed the
/// threshold did it inside its commit — copying thousands of pages and syncing the file while every other
/// writer queued for the write lock: the long tail of order placement. A `PASSIVE` checkpoint blocks
/// neither writers nor readers; once it has caught up, the next writer starts the log from its beginning
/// again, so the log stays small. The automatic checkpoint remains as a safety net at a larger size.
struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// How often the checkpointer copies the log back.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

impl Checkpointer {
    fn start(path: &std::path::Path) -> Option<Checkpointer> {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let path = path.to_string_lossy().into_owned();
        let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
            let Ok(mut conn) = SqliteConnection::establish(&path) else {
                tracing::warn!("the SQLite checkpointer cannot open the database; automatic checkpoints only");
                return;
            };
            let _ = conn.batch_execute("PRAGMA busy_timeout = 1000;");
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                    tracing::warn!(error = %e, "SQLite checkpoint failed");
                }
            }
        });
        spawned.ok().map(|_| Checkpointer { stop })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// SQLite's one writing connection, behind the lock that queues this process's writers.
///
/// Every write transaction of a [`Db`] on SQLite runs on this connection, whichever pooled connection
/// its unit of work holds. SQLite admits one writer at a time anyway, and a connection keeps its page
/// cache only while no *other* connection writes: in WAL mode a read transaction that finds the log
/// changed by someone else drops the whole cache. With writes spread over the pool every transaction
/// started cold (its pages read back through the kernel, the cache's memory freed and allocated again);
/// the one writer starts warm, because the last change is always its own.
pub(crate) type SqliteWriter = std::sync::Arc<std::sync::Mutex<DbConn>>;

thread_local! {
    /// The SQLite writer of the database whose work runs on this blocking thread (see [`Db::run`]).
    static WRITER: std::cell::RefCell<Option<SqliteWriter>> = const { std::cell::RefCell::new(None) };
}

/// The SQLite writer for work on the current thread: the running [`Db`]'s, or `None` outside it
/// (start-up, CLI commands: they write on their own connection).
pub(crate) fn current_writer() -> Option<SqliteWriter> {
    WRITER.with(|w| w.borrow().clone())
}

#[derive(Debug)]
struct QuietErrors;
impl r2d2::HandleError<DbError> for QuietErrors {
    fn handle_error(&self, error: DbError) {
        tracing::warn!(%error, "database connection error");
    }
}

impl Db {
    /// Open a pool; fails with the real cause when the first connection cannot be made.
    pub fn connect(url: &DatabaseUrl, size: u32, timeout: Duration) -> Result<Db, DbError> {
        Db::connect_with(Manager::new(url.clone()), url, size, timeout)
    }

    /// A pool on the keyring: its own database, or on PostgreSQL its own schema (no draft connections).
    pub fn connect_keyring(url: &DatabaseUrl, size: u32, timeout: Duration) -> Result<Db, DbError> {
        let mut db = Db::connect_with(Manager::in_schema(url.clone(), "keyring"), url, size, timeout)?;
        db.drafts = None;
        Ok(db)
    }

    fn connect_with(manager: Manager, url: &DatabaseUrl, size: u32, timeout: Duration) -> Result<Db, DbError> {
        // Establish one connection eagerly so that a wrong URL reports its real cause; on SQLite it
        // becomes the writer.
        let first = manager.connect()?;
        let build = |manager: Manager| {
            Pool::builder()
                .max_size(size)
                .min_idle(Some(0))
                .connection_timeout(timeout)
                .test_on_check_out(false)
                .error_handler(Box::new(QuietErrors))
                .build_unchecked(manager)
        };
        let drafts = matches!(url, DatabaseUrl::Postgres(_)).then(|| build(Manager::for_drafts(url.clone())));
        let pool = build(manager);
        let (backend, writer, checkpointer) = match url {
            DatabaseUrl::Sqlite(path) => (
                Backend::Sqlite,
                Some(std::sync::Arc::new(std::sync::Mutex::new(first))),
                Checkpointer::start(path).map(std::sync::Arc::new),
            ),
            DatabaseUrl::Postgres(_) => (Backend::Postgres, None, None),
        };
        let gate = gate::Gate::new(size as usize);
        Ok(Db { pool, drafts, gate, backend, writer, _checkpointer: checkpointer })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Check out a connection on the current (blocking) thread.
    pub fn get(&self) -> Result<PooledConnection<Manager>, ApiError> {
        Self::get_from(&self.pool)
    }

    fn get_from(pool: &Pool<Manager>) -> Result<PooledConnection<Manager>, ApiError> {
        pool.get().map_err(|_| ApiError::Unavailable("the database is not reachable right now".into()))
    }

    /// Run blocking diesel work on tokio's blocking pool, never on an async worker thread.
    ///
    /// The work first waits for one of the pool's permits as a suspended task (see [`gate`]) and only
    /// then takes a blocking thread, which finds a connection free. Without the gate every request in
    /// flight held a blocking thread parked on the pool's condition variable (32 in flight, 8
    /// connections: 24 sleeping threads, each release a futex wake-up and a context switch, threads
    /// created and retired as the load moved).
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_in(gate::Lane::Normal, false, f).await
    }

    /// [`Db::run`] for writes to a *draft* — a cart: its lines and checkout details, which the shopper
    /// is still editing and nothing else depends on until an order is placed from it. On PostgreSQL
    /// they run on connections that commit asynchronously (`synchronous_commit = off`): the commit is
    /// visible at once but does not wait for the write-ahead log to reach the disk. A crash of the
    /// database server can lose the last fraction of a second of cart edits (up to three
    /// `wal_writer_delay`s, 600 ms by default) and nothing more: the log is written in order, so the
    /// durable commit of an order also makes every earlier cart edit durable — no acknowledged order,
    /// payment or record depends on a lost edit. Everything else (orders, payments, refunds, keys,
    /// audit records) commits durably. SQLite: the same as [`Db::run`].
    pub async fn run_draft<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_in(gate::Lane::Normal, true, f).await
    }

    /// [`Db::run`] for work that completes an order already in flight (placing it, settling its
    /// payment): when every connection is busy it goes before work in the normal lane.
    pub async fn run_priority<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_in(gate::Lane::Priority, false, f).await
    }

    async fn run_in<T, F>(&self, lane: gate::Lane, draft: bool, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.gate.acquire(lane).await;
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            // Both pools hold up to `size` connections; the gate lets at most `size` units of work
            // run in all, so a free connection is always found.
            let pool = match (&db.drafts, draft) {
                (Some(drafts), true) => drafts,
                _ => &db.pool,
            };
            let mut conn = Self::get_from(pool)?;
            WRITER.with(|w| w.borrow_mut().clone_from(&db.writer));
            let result = f(&mut conn);
            WRITER.with(|w| *w.borrow_mut() = None);
            drop(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
    }
}

/// Apply all pending migrations of the connection's backend. On PostgreSQL a session advisory lock
/// serialises concurrent starters (several `serve` processes sharing one database). On SQLite two
/// processes may both find a migration pending and race to apply it: the one that loses (its
/// migration's transaction rolled back) finds nothing left pending, which is all it needs.
pub fn run_migrations(conn: &mut DbConn) -> Result<usize, DbError> {
    dialect::with_global_lock(conn, |conn| {
        let applied = match conn {
            DbConn::Sqlite(c) => migrate_sqlite(c, || SQLITE_MIGRATIONS),
            DbConn::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
        };
        applied.map_err(|e| DbError::Migration(e.to_string()))
    })
}

/// Apply `migrations()` (the embedded set) to a SQLite file that another process may be migrating at the same moment: a
/// starter that loses the race (its migration's transaction rolled back: the table is already there)
/// waits for the winner and tries again, until nothing is pending. Returns how many it applied.
pub fn migrate_sqlite(
    conn: &mut SqliteConnection,
    migrations: fn() -> EmbeddedMigrations,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let mut attempt = 0;
    loop {
        match conn.run_pending_migrations(migrations()) {
            Ok(applied) => return Ok(applied.len()),
            Err(e) => {
                if conn.pending_migrations(migrations()).is_ok_and(|left| left.is_empty()) {
                    return Ok(0);
                }
                attempt += 1;
                if attempt >= 100 {
                    return Err(e);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Number of migrations not yet applied (used by `check-config` and `/readyz`).
pub fn pending_migrations(conn: &mut DbConn) -> Result<usize, DbError> {
    let pending = match conn {
        DbConn::Sqlite(c) => c.pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConn::Pg(c) => c.pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
    };
    pending.map_err(|e| DbError::Migration(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_waits_for_a_connection_before_it_takes_a_thread() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DatabaseUrl::Sqlite(dir.path().join("shop.db")), 2, Duration::from_secs(5)).unwrap();
        let running = std::sync::Arc::new(AtomicUsize::new(0));
        let most = std::sync::Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (db, running, most) = (db.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    db.run(move |_conn| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        // Never more blocking threads at work than connections (how many overlap depends on the
        // scheduler), and every unit of work ran.
        assert!((1..=2).contains(&most.load(Ordering::SeqCst)), "{most:?} at once");
        assert_eq!(db.gate.available(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_writes_run_on_the_one_writer_connection() {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DatabaseUrl::Sqlite(dir.path().join("shop.db")), 4, Duration::from_secs(5)).unwrap();
        // A TEMP table lives on one connection only: 12 concurrent write transactions that each add a
        // row to it see each other's rows only if they all ran on the same connection.
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.run(|conn| {
                        dialect::write_transaction(conn, |conn| {
                            conn.batch_execute(
                                "CREATE TEMP TABLE IF NOT EXISTS seen (x INTEGER); INSERT INTO seen VALUES (1);",
                            )
                            .map_err(ApiError::from)
                        })
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        // The table is the writer's: read it in a write transaction.
        let seen = || {
            db.run(|conn| {
                dialect::write_transaction(conn, |conn| {
                    diesel::sql_query("SELECT COUNT(*) AS n FROM seen")
                        .get_result::<Count>(conn)
                        .map(|c| c.n)
                        .map_err(ApiError::from)
                })
            })
        };
        assert_eq!(seen().await.unwrap(), 12);

        // A unit of work that panics inside its transaction leaves nothing behind: the next one starts
        // a fresh transaction on the same connection, and the panicked one's row is gone.
        let panicked = db
            .run(|conn| {
                dialect::write_transaction(conn, |conn| -> Result<(), ApiError> {
                    conn.batch_execute("INSERT INTO seen VALUES (2)")?;
                    panic!("a bug in a unit of work");
                })
            })
            .await;
        assert!(panicked.is_err());
        assert_eq!(seen().await.unwrap(), 12);
    }

    /// The backend under test: PostgreSQL when `LEANCART_TEST_DB=postgres` (its server's `postgres`
    /// database, nothing is written), else a temporary SQLite file.
    fn test_db(dir: &tempfile::TempDir) -> Db {
        let url = match std::env::var("LEANCART_TEST_DB").as_deref() {
            Ok("postgres") => {
                let base = std::env::var("LEANCART_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
                DatabaseUrl::parse(&format!("{}/postgres", base.trim_end_matches('/'))).unwrap()
            }
            _ => DatabaseUrl::Sqlite(dir.path().join("shop.db")),
        };
        Db::connect(&url, 2, Duration::from_secs(5)).unwrap()
    }

    /// A unit of work reading a session setting: `Some(value)` on PostgreSQL, `None` on SQLite.
    fn pg_setting(name: &'static str) -> impl Fn(&mut DbConn) -> Result<Option<String>, ApiError> + Copy {
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        move |conn: &mut DbConn| match conn {
            DbConn::Pg(_) => diesel::sql_query("SELECT current_setting($1) AS value")
                .bind::<diesel::sql_types::Text, _>(name)
                .get_result::<Setting>(conn)
                .map(|s| Some(s.value))
                .map_err(ApiError::from),
            DbConn::Sqlite(_) => Ok(None),
        }
    }

    #[tokio::test]
    async fn only_drafts_commit_asynchronously() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_db(&dir);
        let show = pg_setting("synchronous_commit");
        let (normal, priority, draft) = (db.run(show).await, db.run_priority(show).await, db.run_draft(show).await);
        match db.backend() {
            Backend::Postgres => {
                assert_eq!(normal.unwrap().as_deref(), Some("on"));
                assert_eq!(priority.unwrap().as_deref(), Some("on"));
                assert_eq!(draft.unwrap().as_deref(), Some("off"));
                // Durable work after a draft on the same gate still commits durably.
                assert_eq!(db.run(show).await.unwrap().as_deref(), Some("on"));
            }
            Backend::Sqlite => assert!(normal.is_ok() && priority.is_ok() && draft.is_ok()),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_given_up_for_a_deadlock_runs_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_db(&dir);
        if db.backend() != Backend::Postgres {
            return; // SQLite runs one write transaction at a time: no deadlock to recover from.
        }
        let table = format!("lc_deadlock_{}", std::process::id());
        let create = format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO {table} VALUES (1, 0), (2, 0);"
        );
        db.run(move |conn| conn.batch_execute(&create).map_err(ApiError::from)).await.unwrap();
        // Each transaction updates one row, waits until the other has too, then updates the other's
        // row: PostgreSQL gives one of them up (deadlock), which runs again once the other committed.
        let both_hold_one = std::sync::Arc::new(std::sync::Barrier::new(2));
        let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = [(1, 2), (2, 1)]
            .into_iter()
            .map(|(first, second)| {
                let (db, table, barrier, attempts) =
                    (db.clone(), table.clone(), both_hold_one.clone(), attempts.clone());
                tokio::spawn(async move {
                    db.run(move |conn| {
                        let mut tries = 0;
                        dialect::write_transaction_retrying(conn, 3, |conn| {
                            tries += 1;
                            attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            conn.batch_execute(&format!("UPDATE {table} SET n = n + 1 WHERE id = {first}"))?;
                            if tries == 1 {
                                barrier.wait();
                            }
                            conn.batch_execute(&format!("UPDATE {table} SET n = n + 1 WHERE id = {second}"))?;
                            Ok(())
                        })
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().expect("both transactions carried out in the end");
        }
        // At least one ran again. On a loaded machine the one given up can run again before the other
        // has woken to take the row the first gave up, take it itself and deadlock a second time (then a
        // third attempt carries it out): more attempts are legitimate, what must hold is that both
        // transactions were carried out exactly once (the sum below).
        let n = attempts.load(std::sync::atomic::Ordering::SeqCst);
        assert!((3..=6).contains(&n), "one of the two ran again ({n} attempts)");
        #[derive(diesel::QueryableByName)]
        struct Total {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let (sum, drop) = (format!("SELECT SUM(n)::BIGINT AS n FROM {table}"), format!("DROP TABLE {table}"));
        let total = db
            .run(move |conn| {
                let t = diesel::sql_query(&sum).get_result::<Total>(conn)?;
                conn.batch_execute(&drop)?;
                Ok::<_, ApiError>(t.n)
            })
            .await
            .unwrap();
        assert_eq!(total, 4, "every update of both transactions, once");
    }

    #[tokio::test]
    async fn postgres_sessions_plan_for_a_cached_working_set() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_db(&dir);
        let show = pg_setting("random_page_cost");
        let lanes =
            [db.run(show).await.unwrap(), db.run_priority(show).await.unwrap(), db.run_draft(show).await.unwrap()];
        for cost in lanes {
            match db.backend() {
                Backend::Postgres => assert_eq!(cost.as_deref(), Some("1.1"), "{PG_SESSION_COSTS}"),
                Backend::Sqlite => assert_eq!(cost, None),
            }
        }
    }

    #[test]
    fn sqlites_log_is_copied_back_in_the_background() {
        // No writer checkpoints here (the automatic checkpoint is far away): the log stays small only
        // because the background checkpointer catches up and writers start the log over. (Without it:
        // 8 MB, checked.)
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.db");
        let db = Db::connect(&DatabaseUrl::Sqlite(path.clone()), 2, Duration::from_secs(5)).unwrap();
        let mut conn = db.get().unwrap();
        conn.batch_execute("CREATE TABLE t (x INTEGER NOT NULL)").unwrap();
        let wal = dir.path().join("shop.db-wal");
        let mut largest = 0;
        for round in 0..8 {
            for i in 0..250 {
                conn.batch_execute(&format!("INSERT INTO t (x) VALUES ({})", round * 1000 + i)).unwrap();
            }
            largest = largest.max(std::fs::metadata(&wal).unwrap().len());
            std::thread::sleep(CHECKPOINT_EVERY * 2);
        }
        // 2 000 commits of at least one 4 KiB page each: ~8 MiB of log without the checkpointer.
        assert!(largest < 3 * 1024 * 1024, "the log grew to {largest} bytes");
        drop(conn);
        drop(db);
    }
}
