//! Raw SQL that stays prepared.
//!
//! diesel keeps a statement prepared (per connection) only when its SQL can never vary for its Rust
//! type, so every `INSERT` with optional columns, every `UPDATE`, every upsert and every `sql_query`
//! is parsed and planned again on each execution — on PostgreSQL that was more than half of the
//! statements of a checkout. The hot writes are written with [`cached_sql`] instead: one fixed SQL text
//! whose `?` placeholders are filled, in order, by typed binds. diesel renders the placeholders for the
//! backend (`$1, $2 …` on PostgreSQL, `?` on SQLite) and keeps the statement prepared, keyed by its
//! text and bind types, for the connection's life.
//!
//! ```text
//! cached_sql("UPDATE carts SET updated_at = ? WHERE id = ?")
//!     .bind::<Timestamp, _>(now)
//!     .bind::<Text, _>(id)
//!     .execute(conn)?;
//! ```

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use std::marker::PhantomData;

/// A fixed SQL text with `?` placeholders, and its binds so far. Build with [`cached_sql`].
#[derive(Debug, Clone, Copy)]
#[must_use = "a statement runs only when executed"]
pub struct CachedSql<B> {
    sql: &'static str,
    binds: B,
}

/// One more bind after `prev`.
#[derive(Debug, Clone, Copy)]
pub struct Bind<Prev, V, ST> {
    prev: Prev,
    value: V,
    _sql_type: PhantomData<ST>,
}

pub fn cached_sql(sql: &'static str) -> CachedSql<()> {
    CachedSql { sql, binds: () }
}

impl<B> CachedSql<B> {
    /// Bind the next `?`.
    pub fn bind<ST, V>(self, value: V) -> CachedSql<Bind<B, V, ST>> {
        CachedSql { sql: self.sql, binds: Bind { prev: self.binds, value, _sql_type: PhantomData } }
    }
}

/// Binds in order, each after the SQL segment before its placeholder.
pub trait Binds<DB: Backend> {
    const COUNT: usize;
    fn walk<'b>(
        &'b self,
        segments: &mut std::str::Split<'static, char>,
        out: &mut AstPass<'_, 'b, DB>,
    ) -> QueryResult<()>;
}

impl<DB: Backend> Binds<DB> for () {
    const COUNT: usize = 0;
    fn walk<'b>(&'b self, _: &mut std::str::Split<'static, char>, _: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        Ok(())
    }
}

impl<DB, Prev, V, ST> Binds<DB> for Bind<Prev, V, ST>
where
    DB: Backend + HasSqlType<ST>,
    Prev: Binds<DB>,
    V: ToSql<ST, DB>,
{
    const COUNT: usize = Prev::COUNT + 1;
    fn walk<'b>(
        &'b self,
        segments: &mut std::str::Split<'static, char>,
        out: &mut AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        self.prev.walk(segments, out)?;
        out.push_sql(segments.next().unwrap_or_default());
        out.push_bind_param::<ST, V>(&self.value)
    }
}

impl<DB: Backend, B: Binds<DB>> QueryFragment<DB> for CachedSql<B> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let placeholders = self.sql.matches('?').count();
        if placeholders != B::COUNT {
            return Err(diesel::result::Error::QueryBuilderError(
                format!("statement has {placeholders} placeholders but {} binds", B::COUNT).into(),
            ));
        }
        let mut segments = self.sql.split('?');
        self.binds.walk(&mut segments, &mut out)?;
        for rest in segments {
            out.push_sql(rest);
        }
        Ok(())
    }
}

// Not a static id: the statement cache keys it by its SQL text and bind types.
impl<B> QueryId for CachedSql<B> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<B> Query for CachedSql<B> {
    type SqlType = Untyped;
}

impl<B, Conn> diesel::RunQueryDsl<Conn> for CachedSql<B> {}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::prelude::*;
    use diesel::sql_types::{Integer, Nullable, Text};
    use diesel::sqlite::{Sqlite, SqliteConnection};

    #[test]
    fn placeholders_are_rendered_for_the_backend_and_the_statement_is_cacheable() {
        let q = cached_sql("UPDATE t SET a = ?, b = ? WHERE id = ?")
            .bind::<Integer, _>(1)
            .bind::<Nullable<Text>, _>(None::<String>)
            .bind::<Text, _>("x");
        let sql = diesel::debug_query::<Sqlite, _>(&q).to_string();
        assert!(sql.starts_with("UPDATE t SET a = ?, b = ? WHERE id = ?"), "{sql}");
        let pg = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
        assert!(pg.starts_with("UPDATE t SET a = $1, b = $2 WHERE id = $3"), "{pg}");
        // Connections check through a reference (`&T` walks the AST; no method override counts).
        assert!(QueryFragment::<Sqlite>::is_safe_to_cache_prepared(&&q, &Sqlite).unwrap_or(false));
    }

    #[test]
    fn a_wrong_number_of_binds_is_an_error_not_a_wrong_statement() {
        let mut conn = SqliteConnection::establish(":memory:").expect("in-memory SQLite");
        let r = cached_sql("SELECT ? + ?").bind::<Integer, _>(1).execute(&mut conn);
        assert!(r.is_err());
    }
}
