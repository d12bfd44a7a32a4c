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
use std::borrow::Cow;
use std::marker::PhantomData;
use std::str::Split;

/// A SQL text with `?` placeholders, and its binds so far. Build with [`cached_sql`] (a fixed text) or
/// [`batch_sql`] (a text made for a batch size).
#[derive(Debug, Clone)]
#[must_use = "a statement runs only when executed"]
pub struct CachedSql<B> {
    sql: Cow<'static, str>,
    binds: B,
}

pub fn cached_sql(sql: &'static str) -> CachedSql<()> {
    CachedSql { sql: Cow::Borrowed(sql), binds: () }
}

/// Most rows in one batch statement: larger batches are split, so that a batch statement has at most
/// this many prepared shapes per connection.
pub const MAX_BATCH: usize = 8;

/// A statement for a batch of `rows` rows (`1..=MAX_BATCH`): `head`, then `rows` copies of `row`
/// separated by `", "`, then `tail`. Bind the rows with [`CachedSql::bind_rows`].
pub fn batch_sql(head: &str, row: &str, rows: usize, tail: &str) -> CachedSql<()> {
    let mut sql = String::with_capacity(head.len() + (row.len() + 2) * rows + tail.len());
    sql.push_str(head);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql.push_str(tail);
    CachedSql { sql: Cow::Owned(sql), binds: () }
}

impl<B> CachedSql<B> {
    /// Bind the next `?`.
    pub fn bind<ST, V>(self, value: V) -> CachedSql<Bind<B, V, ST>> {
        CachedSql { sql: self.sql, binds: Bind { prev: self.binds, value, _sql_type: PhantomData } }
    }

    /// Bind the next placeholders row by row (each row built with [`row`]).
    pub fn bind_rows<R>(self, rows: Vec<Row<R>>) -> CachedSql<Rows<B, R>> {
        CachedSql { sql: self.sql, binds: Rows { prev: self.binds, rows } }
    }
}

/// The binds of one row of a batch: `row().bind::<Text, _>(id).bind::<Integer, _>(n)`.
pub fn row() -> Row<()> {
    Row(())
}

#[derive(Debug, Clone)]
pub struct Row<B>(B);

impl<B> Row<B> {
    pub fn bind<ST, V>(self, value: V) -> Row<Bind<B, V, ST>> {
        Row(Bind { prev: self.0, value, _sql_type: PhantomData })
    }
}

/// One more bind after `prev`.
#[derive(Debug, Clone, Copy)]
pub struct Bind<Prev, V, ST> {
    prev: Prev,
    value: V,
    _sql_type: PhantomData<ST>,
}

/// Rows of binds after `prev`.
#[derive(Debug, Clone)]
pub struct Rows<Prev, R> {
    prev: Prev,
    rows: Vec<Row<R>>,
}

fn placeholders_and_binds_differ() -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError("the statement's placeholders and binds differ in number".into())
}

/// Binds in order, each after the SQL segment before its placeholder.
pub trait Binds<DB: Backend> {
    fn walk<'b>(&'b self, segments: &mut Split<'_, char>, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>;
}

impl<DB: Backend> Binds<DB> for () {
    fn walk<'b>(&'b self, _: &mut Split<'_, char>, _: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        Ok(())
    }
}

impl<DB, Prev, V, ST> Binds<DB> for Bind<Prev, V, ST>
where
    DB: Backend + HasSqlType<ST>,
    Prev: Binds<DB>,
    V: ToSql<ST, DB>,
{
    fn walk<'b>(&'b self, segments: &mut Split<'_, char>, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.prev.walk(segments, out)?;
        out.push_sql(segments.next().ok_or_else(placeholders_and_binds_differ)?);
        out.push_bind_param::<ST, V>(&self.value)
    }
}

impl<DB: Backend, B: Binds<DB>> Binds<DB> for Row<B> {
    fn walk<'b>(&'b self, segments: &mut Split<'_, char>, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk(segments, out)
    }
}

impl<DB: Backend, Prev: Binds<DB>, R> Binds<DB> for Rows<Prev, R>
where
    Row<R>: Binds<DB>,
{
    fn walk<'b>(&'b self, segments: &mut Split<'_, char>, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.prev.walk(segments, out)?;
        for r in &self.rows {
            r.walk(segments, out)?;
        }
        Ok(())
    }
}

impl<DB: Backend, B: Binds<DB>> QueryFragment<DB> for CachedSql<B> {
    // One pass over the text (every execution walks the statement several times — for the cache key,
    // the binds, their types — so the text of a large statement is not scanned twice per walk): a
    // segment per bind, then exactly one left after the last placeholder.
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut segments = self.sql.split('?');
        self.binds.walk(&mut segments, &mut out)?;
        out.push_sql(segments.next().ok_or_else(placeholders_and_binds_differ)?);
        match segments.next() {
            None => Ok(()),
            Some(_) => Err(placeholders_and_binds_differ()),
        }
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
    fn batches_bind_row_by_row() {
        let q = batch_sql("INSERT INTO t (a, b) VALUES ", "(?, ?)", 3, " ON CONFLICT DO NOTHING")
            .bind_rows((1..=3).map(|i| row().bind::<Integer, _>(i).bind::<Text, _>("x")).collect());
        let pg = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
        assert!(pg.starts_with("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6) ON CONFLICT"), "{pg}");
        let mut conn = SqliteConnection::establish(":memory:").expect("in-memory SQLite");
        diesel::sql_query("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)").execute(&mut conn).expect("table");
        assert_eq!(q.execute(&mut conn).ok(), Some(3));
    }

    #[test]
    fn a_wrong_number_of_binds_is_an_error_not_a_wrong_statement() {
        let mut conn = SqliteConnection::establish(":memory:").expect("in-memory SQLite");
        let r = cached_sql("SELECT ? + ?").bind::<Integer, _>(1).execute(&mut conn);
        assert!(r.is_err());
        let r = cached_sql("SELECT ?").bind::<Integer, _>(1).bind::<Integer, _>(2).execute(&mut conn);
        assert!(r.is_err());
        let r = cached_sql("SELECT 1").bind::<Integer, _>(1).execute(&mut conn);
        assert!(r.is_err());
        assert!(cached_sql("SELECT ?").bind::<Integer, _>(1).execute(&mut conn).is_ok());
    }
}
