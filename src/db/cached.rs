//! Raw SQL that stays prepared.
//!
//! diesel keeps a statement prepared (per connection) only when its SQL can never vary for its Rust
//! type, so every `INSERT` with optional columns, every `UPDATE`, every upsert and every `sql_query`
//! is parsed and planned again on each execution — on PostgreSQL that was more than half of the
//! statements of a checkout. The hot writes are written with [`cached_sql!`](crate::cached_sql)
//! instead: one fixed SQL text whose `?` placeholders are filled, in order, by typed binds. diesel
//! renders the placeholders for the backend (`$1, $2 …` on PostgreSQL, `?` on SQLite) and keeps the
//! statement prepared for the connection's life, found again by the statement's own type (each
//! `cached_sql!` is one) and its binds' SQL types — not by rendering, hashing and comparing its text on
//! every execution, which was ≈ 10 % of the server's instructions per checkout. Batches
//! ([`batch_sql`]), whose text depends on their size, are keyed by their text.
//!
//! ```text
//! cached_sql!("UPDATE carts SET updated_at = ? WHERE id = ?")
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

/// A SQL text with `?` placeholders, and its binds so far. Build with [`cached_sql!`](crate::cached_sql)
/// (a fixed text, its own statement type) or [`batch_sql`] (a text made for a batch size).
#[derive(Debug, Clone)]
#[must_use = "a statement runs only when executed"]
pub struct CachedSql<B, S = Dynamic> {
    sql: Cow<'static, str>,
    binds: B,
    _statement: PhantomData<S>,
}

/// The statement of a [`CachedSql`] whose text is known only when it runs: the statement cache keys it
/// by the text diesel renders for it on every execution.
#[derive(Debug, Clone, Copy)]
pub struct Dynamic;

/// A fixed statement text, with a type of its own (made by [`cached_sql!`](crate::cached_sql)). The
/// statement cache finds it by that type — without rendering, hashing and comparing its text on every
/// execution — and its text is cut at the placeholders once per process.
pub trait StaticSql: 'static {
    const SQL: &'static str;
    /// `SQL` cut at its `?` placeholders.
    fn segments() -> &'static [&'static str];
}

/// `SQL` cut at its `?` placeholders (for [`StaticSql::segments`]).
pub fn segments_of(sql: &'static str) -> Vec<&'static str> {
    sql.split('?').collect()
}

/// A fixed statement text with `?` placeholders, as a statement type of its own:
/// `cached_sql!("UPDATE carts SET updated_at = ? WHERE id = ?").bind::<Timestamp, _>(now)…`.
#[macro_export]
macro_rules! cached_sql {
    ($sql:expr $(,)?) => {{
        struct Statement;
        impl $crate::db::cached::StaticSql for Statement {
            const SQL: &'static str = $sql;
            fn segments() -> &'static [&'static str] {
                static SEGMENTS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
                SEGMENTS
                    .get_or_init(|| $crate::db::cached::segments_of(<Statement as $crate::db::cached::StaticSql>::SQL))
            }
        }
        $crate::db::cached::CachedSql::<(), Statement>::fixed()
    }};
}

impl<S: StaticSql> CachedSql<(), S> {
    /// The statement of `S`, no binds yet (use [`cached_sql!`](crate::cached_sql)).
    pub fn fixed() -> Self {
        CachedSql { sql: Cow::Borrowed(S::SQL), binds: (), _statement: PhantomData }
    }
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
    CachedSql { sql: Cow::Owned(sql), binds: (), _statement: PhantomData }
}

/// A statement from a `.sql` file whose batches are marked (`{lines}`): each marker becomes `rows`
/// copies of its `row`, separated by `", "`. Bind the rows with [`CachedSql::bind_rows`], in the order
/// the markers appear. Whole-line `--` comments are left out (the text is hashed on every execution to
/// find its prepared statement).
pub fn batch_template(template: &str, batches: &[(&str, &str, usize)]) -> CachedSql<()> {
    let mut sql = String::with_capacity(template.len() + 256);
    for line in template.lines().filter(|l| !l.trim_start().starts_with("--")) {
        let mut line = line.to_owned();
        for (marker, row, rows) in batches {
            if line.contains(marker) {
                line = line.replace(marker, &vec![*row; *rows].join(", "));
            }
        }
        sql.push_str(&line);
        sql.push('\n');
    }
    CachedSql { sql: Cow::Owned(sql), binds: (), _statement: PhantomData }
}

impl<B, S> CachedSql<B, S> {
    /// Bind the next `?`.
    pub fn bind<ST, V>(self, value: V) -> CachedSql<Bind<B, V, ST>, S> {
        CachedSql {
            sql: self.sql,
            binds: Bind { prev: self.binds, value, _sql_type: PhantomData },
            _statement: PhantomData,
        }
    }
}

impl<B> CachedSql<B> {
    /// Bind the next placeholders row by row (each row built with [`row`]).
    pub fn bind_rows<R>(self, rows: Vec<Row<R>>) -> CachedSql<Rows<B, R>> {
        CachedSql { sql: self.sql, binds: Rows { prev: self.binds, rows }, _statement: PhantomData }
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
    fn walk<'b, 's>(
        &'b self,
        segments: &mut impl Iterator<Item = &'s str>,
        out: &mut AstPass<'_, 'b, DB>,
    ) -> QueryResult<()>;
}

impl<DB: Backend> Binds<DB> for () {
    fn walk<'b, 's>(&'b self, _: &mut impl Iterator<Item = &'s str>, _: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        Ok(())
    }
}

impl<DB, Prev, V, ST> Binds<DB> for Bind<Prev, V, ST>
where
    DB: Backend + HasSqlType<ST>,
    Prev: Binds<DB>,
    V: ToSql<ST, DB>,
{
    fn walk<'b, 's>(
        &'b self,
        segments: &mut impl Iterator<Item = &'s str>,
        out: &mut AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        self.prev.walk(segments, out)?;
        out.push_sql(segments.next().ok_or_else(placeholders_and_binds_differ)?);
        out.push_bind_param::<ST, V>(&self.value)
    }
}

impl<DB: Backend, B: Binds<DB>> Binds<DB> for Row<B> {
    fn walk<'b, 's>(
        &'b self,
        segments: &mut impl Iterator<Item = &'s str>,
        out: &mut AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        self.0.walk(segments, out)
    }
}

impl<DB: Backend, Prev: Binds<DB>, R> Binds<DB> for Rows<Prev, R>
where
    Row<R>: Binds<DB>,
{
    fn walk<'b, 's>(
        &'b self,
        segments: &mut impl Iterator<Item = &'s str>,
        out: &mut AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        self.prev.walk(segments, out)?;
        for r in &self.rows {
            r.walk(segments, out)?;
        }
        Ok(())
    }
}

/// Walk `segments` and the binds: a segment per bind, then exactly one left after the last placeholder.
fn walk_segments<'b, 's, DB: Backend, B: Binds<DB>>(
    binds: &'b B,
    mut segments: impl Iterator<Item = &'s str>,
    mut out: AstPass<'_, 'b, DB>,
) -> QueryResult<()> {
    binds.walk(&mut segments, &mut out)?;
    out.push_sql(segments.next().ok_or_else(placeholders_and_binds_differ)?);
    match segments.next() {
        None => Ok(()),
        Some(_) => Err(placeholders_and_binds_differ()),
    }
}

// Every execution walks the statement several times (binds, their types, and for a dynamic statement
// the cache key): one pass over the text per walk, none for a fixed statement (cut once per process).
impl<DB: Backend, B: Binds<DB>> QueryFragment<DB> for CachedSql<B, Dynamic> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        walk_segments(&self.binds, self.sql.split('?'), out)
    }
}

impl<DB: Backend, B: Binds<DB>, S: StaticSql> QueryFragment<DB> for CachedSql<B, S> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        walk_segments(&self.binds, S::segments().iter().copied(), out)
    }
}

// A dynamic statement has no static id: the statement cache keys it by its SQL text and bind types.
impl<B> QueryId for CachedSql<B, Dynamic> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// The SQL types of a chain of binds, as a `'static` type (for a fixed statement's query id).
pub trait BindTypes {
    type Types: 'static;
}

impl BindTypes for () {
    type Types = ();
}

impl<Prev: BindTypes, V, ST: 'static> BindTypes for Bind<Prev, V, ST> {
    type Types = (Prev::Types, ST);
}

// A fixed statement is its type and its binds' SQL types: the statement cache finds it without its text.
impl<B: BindTypes, S: StaticSql> QueryId for CachedSql<B, S> {
    type QueryId = (S, B::Types);
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<B, S> Query for CachedSql<B, S> {
    type SqlType = Untyped;
}

impl<B, S, Conn> diesel::RunQueryDsl<Conn> for CachedSql<B, S> {}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::prelude::*;
    use diesel::sql_types::{Integer, Nullable, Text};
    use diesel::sqlite::{Sqlite, SqliteConnection};

    fn id_of<T: QueryId>(_: &T) -> Option<std::any::TypeId> {
        T::query_id()
    }

    #[test]
    fn placeholders_are_rendered_for_the_backend_and_the_statement_is_cacheable() {
        let q = crate::cached_sql!("UPDATE t SET a = ?, b = ? WHERE id = ?")
            .bind::<Integer, _>(1)
            .bind::<Nullable<Text>, _>(None::<String>)
            .bind::<Text, _>("x");
        let sql = diesel::debug_query::<Sqlite, _>(&q).to_string();
        assert!(sql.starts_with("UPDATE t SET a = ?, b = ? WHERE id = ?"), "{sql}");
        let pg = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
        assert!(pg.starts_with("UPDATE t SET a = $1, b = $2 WHERE id = $3"), "{pg}");
        // Connections check through a reference (`&T` walks the AST; no method override counts).
        assert!(QueryFragment::<Sqlite>::is_safe_to_cache_prepared(&&q, &Sqlite).unwrap_or(false));
        // A fixed statement is found in the cache by its type (and its binds' SQL types), not its text.
        assert!(id_of(&q).is_some());
        let other = crate::cached_sql!("UPDATE t SET a = ?, b = ? WHERE id = ?")
            .bind::<Integer, _>(1)
            .bind::<Nullable<Text>, _>(None::<String>)
            .bind::<Text, _>("x");
        assert_ne!(id_of(&q), id_of(&other), "two statements, two ids");
        let batch = batch_sql("INSERT INTO t (a) VALUES ", "(?)", 1, "").bind_rows(vec![row().bind::<Integer, _>(1)]);
        assert!(id_of(&batch).is_none(), "a batch's text varies: keyed by its text");
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
        let r = crate::cached_sql!("SELECT ? + ?").bind::<Integer, _>(1).execute(&mut conn);
        assert!(r.is_err());
        let r = crate::cached_sql!("SELECT ?").bind::<Integer, _>(1).bind::<Integer, _>(2).execute(&mut conn);
        assert!(r.is_err());
        let r = crate::cached_sql!("SELECT 1").bind::<Integer, _>(1).execute(&mut conn);
        assert!(r.is_err());
        assert!(crate::cached_sql!("SELECT ?").bind::<Integer, _>(1).execute(&mut conn).is_ok());
    }
}
