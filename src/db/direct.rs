//! Statements run on the backend's own connection.
//!
//! `DbConn` (diesel's `MultiConnection`) renders the full SQL text of a statement on every execution,
//! in every pass over it (collecting binds included), even when the prepared statement is cached —
//! about a tenth of the server's instructions in the checkout benchmark (callgrind). The hot queries
//! run through [`Direct`] instead: the same query, executed on the `PgConnection` or
//! `SqliteConnection` inside, where a cached statement is found by its type without rendering SQL.

use super::DbConn;
use diesel::QueryResult;
use diesel::pg::PgConnection;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::sqlite::SqliteConnection;

/// `.execute_direct(conn)` for statements whose type does not depend on the backend (e.g.
/// [`crate::cached_sql!`]).
pub trait Direct: Sized {
    fn execute_direct(self, conn: &mut DbConn) -> QueryResult<usize>
    where
        Self: ExecuteDsl<PgConnection> + ExecuteDsl<SqliteConnection>,
    {
        match conn {
            DbConn::Pg(c) => ExecuteDsl::execute(self, c),
            DbConn::Sqlite(c) => ExecuteDsl::execute(self, c),
        }
    }
}

impl<Q> Direct for Q {}

/// Evaluate `$body` with `$c` bound to the backend's own connection (the body is compiled once per
/// backend, so `as_select()` and friends pick the right one).
#[macro_export]
macro_rules! direct {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}
