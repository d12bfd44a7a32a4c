//! Streamed exports of a partner's records (CSV or NDJSON): read a chunk at a time by id, opened with the
//! chunk's keys fetched at once, written into a bounded channel the response body drains — memory stays
//! the same whatever the count. Every export is an audit entry naming its `partner_exports` row, which
//! keeps the key, the fields, the filter and, a chunk at a time, the references it carried.

use super::record::{self, Grant, Record};
use super::store::{self, Filter};
use crate::db::dialect::write_transaction;
use crate::error::ApiError;
use crate::state::AppState;
use bytes::Bytes;

/// Records per chunk (one page query, one lines query, one keyring query).
const CHUNK: i64 = 1_000;

/// An export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

/// Who reads: a partner's key (or an operator at the CLI, `key_id` "operator"), with its grant.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub partner_id: String,
    pub key_id: String,
    pub grant: Grant,
}

impl Viewer {
    fn actor(&self) -> &'static str {
        if self.key_id == "operator" { "operator" } else { "partner" }
    }
}

/// Record a read (before any record leaves): its `partner_exports` row and the audit entry naming it.
pub async fn begin(state: &AppState, viewer: &Viewer, kind: &str, filter: &str) -> Result<String, ApiError> {
    use crate::db::schema::partner_exports as e;
    use diesel::prelude::*;
    let id = format!("pex_{}", crate::kernel::ids::random_base62());
    let (v, kind, filter, now, rid) =
        (viewer.clone(), kind.to_owned(), filter.to_owned(), state.clock.now(), id.clone());
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                diesel::insert_into(e::table)
                    .values((
                        e::id.eq(&rid),
                        e::partner_id.eq(&v.partner_id),
                        e::key_id.eq(&v.key_id),
                        e::kind.eq(&kind),
                        e::fields.eq(v.grant.fields().join(",")),
                        e::filter.eq(&filter),
                        e::created_at.eq(now),
                    ))
                    .execute(conn)?;
                let action = format!("fulfillments.{kind}");
                let entry = crate::audit::Entry {
                    actor: v.actor(),
                    actor_id: Some(&v.key_id),
                    action: &action,
                    subject_id: Some(&rid),
                    outcome: "ok",
                    network: None,
                };
                crate::audit::write(conn, &entry)?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(id)
}

/// Add the references of what was just read to the read's record.
pub async fn carried(
    state: &AppState,
    export_id: &str,
    seq: i32,
    records: &[Record],
    finished: bool,
) -> Result<(), ApiError> {
    let refs: Vec<String> = records.iter().map(|r| r.reference.clone()).collect();
    carried_refs(state, export_id, seq, refs, finished).await
}

/// As [`carried`], with the references.
pub async fn carried_refs(
    state: &AppState,
    export_id: &str,
    seq: i32,
    refs: Vec<String>,
    finished: bool,
) -> Result<(), ApiError> {
    use crate::db::schema::{partner_export_chunks as c, partner_exports as e};
    use diesel::prelude::*;
    let (id, n, now) = (export_id.to_owned(), refs.len() as i64, state.clock.now());
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !refs.is_empty() {
                    diesel::insert_into(c::table)
                        .values((c::export_id.eq(&id), c::seq.eq(seq), c::refs.eq(refs.join("\n"))))
                        .execute(conn)?;
                }
                let target = e::table.find(&id);
                if finished {
                    diesel::update(target).set((e::rows.eq(e::rows + n), e::finished_at.eq(now))).execute(conn)?;
                } else {
                    diesel::update(target).set(e::rows.eq(e::rows + n)).execute(conn)?;
                }
                Ok::<_, ApiError>(())
            })
        })
        .await
}

/// The references an export carried, in order (for tests and investigations).
pub async fn references_of(state: &AppState, export_id: &str) -> Result<Vec<String>, ApiError> {
    use crate::db::schema::partner_export_chunks as c;
    use diesel::prelude::*;
    let id = export_id.to_owned();
    let chunks: Vec<String> = state
        .db
        .run(move |conn| Ok(c::table.filter(c::export_id.eq(&id)).order(c::seq.asc()).select(c::refs).load(conn)?))
        .await?;
    Ok(chunks.iter().flat_map(|c| c.split('\n')).filter(|r| !r.is_empty()).map(str::to_owned).collect())
}

/// Produce an export into `tx`, a chunk at a time, until done or the receiver is gone. Returns rows.
pub async fn produce(
    state: AppState,
    viewer: Viewer,
    format: Format,
    filter: Filter,
    export_id: String,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) -> Result<u64, ApiError> {
    let reading = super::service::reading_with(&state, viewer.grant);
    if format == Format::Csv && tx.send(Bytes::from(record::csv_header(viewer.grant))).await.is_err() {
        return Ok(0);
    }
    // The next chunk is read while this one is opened and written: the database's work and the
    // server's overlap (measured: the two took turns before, each about half of the time).
    let fetch = |after: Option<String>| {
        let (state, partner, filter) = (state.clone(), viewer.partner_id.clone(), filter.clone());
        tokio::spawn(async move {
            state
                .db
                .run(move |conn| {
                    let sources = store::page(conn, &partner, &filter, after.as_deref(), CHUNK)?;
                    let ids: Vec<&str> = sources.iter().map(|s| s.id.as_str()).collect();
                    let lines = store::lines_of(conn, &ids)?;
                    Ok((sources, lines))
                })
                .await
        })
    };
    let (mut next, mut seq, mut rows, mut records_kept) = (Some(fetch(None)), 0i32, 0u64, Vec::new());
    while let Some(reading_chunk) = next.take() {
        let (sources, lines) = reading_chunk.await.map_err(|_| ApiError::internal("export chunk task"))??;
        let last_chunk = (sources.len() as i64) < CHUNK;
        if !last_chunk {
            next = Some(fetch(sources.last().map(|s| s.id.clone())));
        }
        let records = super::service::records_with(&state, &sources, lines, &reading).await?;
        let mut out = String::with_capacity(records.len() * 256);
        for r in &records {
            match format {
                Format::Csv => record::csv_rows(&mut out, r, viewer.grant),
                Format::Ndjson => {
                    out.push_str(&serde_json::to_string(r).map_err(ApiError::internal)?);
                    out.push('\n');
                }
            }
        }
        seq += 1;
        rows += records.len() as u64;
        let gone = !out.is_empty() && tx.send(Bytes::from(out)).await.is_err();
        // The chunk's references join the read's record without holding up the next chunk.
        let (st, id, finished) = (state.clone(), export_id.clone(), last_chunk || gone);
        let refs: Vec<String> = records.into_iter().map(|r| r.reference).collect();
        records_kept.push(tokio::spawn(async move { carried_refs(&st, &id, seq, refs, finished).await }));
        if last_chunk || gone {
            break;
        }
    }
    for task in records_kept {
        task.await.map_err(|_| ApiError::internal("export record task"))??;
    }
    Ok(rows)
}

/// A streamed response body of an export (its producer runs as a task of its own).
pub fn body(state: AppState, viewer: Viewer, format: Format, filter: Filter, export_id: String) -> axum::body::Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
    tokio::spawn(async move {
        if let Err(e) = produce(state, viewer, format, filter, export_id, tx).await {
            tracing::warn!(code = e.code(), "an export stopped early");
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    axum::body::Body::from_stream(stream)
}
