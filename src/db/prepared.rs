//! Prepared-statement caching for writes.
//!
//! diesel caches the prepared statement of a query only when its SQL can never vary for one Rust type,
//! so every `UPDATE`, every `INSERT` with an optional column, every upsert and every `sql_query` is
//! parsed and planned again on each execution — on PostgreSQL that was half of the statements of a
//! checkout and most of PostgreSQL's CPU. [`Prepared`] caches such a statement keyed by its **SQL text
//! and bind types** (never by Rust type), which is exactly the identity of a prepared statement, so two
//! shapes of one changeset simply become two cache entries.
//!
//! Use it only on statements with a bounded number of shapes (a fixed column list, optional columns, a
//! batch of at most a few dozen rows): each distinct SQL text stays prepared for the connection's life.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// A statement run as a cached prepared statement. Build it with [`PreparedExt::prepared`].
#[derive(Debug, Clone, Copy)]
pub struct Prepared<Q>(Q);

impl<Q, DB> QueryFragment<DB> for Prepared<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    // The cache key is the SQL text plus the bind types (`HAS_STATIC_QUERY_ID` is false below), so
    // every shape the inner statement can take gets its own entry.
    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> diesel::RunQueryDsl<Conn> for Prepared<Q> {}

/// `.prepared()` on any statement.
pub trait PreparedExt: Sized {
    fn prepared(self) -> Prepared<Self> {
        Prepared(self)
    }
}

impl<Q> PreparedExt for Q {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema::carts;
    use diesel::prelude::*;
    use diesel::sqlite::Sqlite;

    #[test]
    fn updates_become_cacheable_and_keep_their_sql() {
        let plain = diesel::update(carts::table.find("c")).set(carts::status.eq("open"));
        let backend = Sqlite;
        assert!(!QueryFragment::<Sqlite>::is_safe_to_cache_prepared(&plain, &backend).unwrap_or(true));
        let sql = diesel::debug_query::<Sqlite, _>(&plain).to_string();
        let wrapped = plain.prepared();
        assert!(QueryFragment::<Sqlite>::is_safe_to_cache_prepared(&wrapped, &backend).unwrap_or(false));
        assert_eq!(diesel::debug_query::<Sqlite, _>(&wrapped).to_string(), sql);
        const { assert!(!<Prepared<()> as QueryId>::HAS_STATIC_QUERY_ID, "keyed by SQL text, never by type") };
    }
}
