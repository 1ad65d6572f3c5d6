//! A batch's results as one file: a row per recording with its metadata,
//! length, transcript, language, moderation and links, as JSON lines or
//! as parquet (what pandas and DuckDB read directly). Streamed a page of
//! children at a time (a parquet row group each), so a batch of any size
//! is never held whole in memory.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use cutroom_core::{
    batches::ResultRow,
    queries::{self, batches::ResultParts},
};
use futures::StreamExt;
use parquet::{arrow::ArrowWriter, basic::Compression, file::properties::WriterProperties};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    app::{App, AppState},
    auth::AuthContext,
    error::ApiError,
    extract::{Path, Query},
};

/// Children read a page at a time (each page one parquet row group).
const PAGE: u64 = 500;

#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResultsFormat {
    /// One JSON object a line (`application/x-ndjson`).
    #[default]
    Jsonl,
    /// Apache Parquet, snappy-compressed, `metadata` and `categories` as
    /// JSON text.
    Parquet,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// `jsonl` (the default) or `parquet`.
    #[param(inline)]
    pub format: Option<ResultsFormat>,
}

/// The batch's results: one row per recording (see `ResultRow`), in
/// archive order, as JSON lines or parquet. Read with pandas
/// (`pd.read_parquet(url)`) or DuckDB (`SELECT * FROM 'results.parquet'`).
/// Links to the Opus copies are valid for `CUTROOM_DOWNLOAD_URL_TTL_SECS`.
#[utoipa::path(
    get, path = "/v1/batches/{id}/results", tag = "batches", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Batch id"), ResultsQuery),
    responses(
        (status = 200, description = "One row per recording", content(
            (ResultRow = "application/x-ndjson"),
            (Vec<u8> = "application/vnd.apache.parquet"),
        )),
        (status = 400, description = "`invalid_query`: an unknown format", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
    )
)]
pub(super) async fn batch_results(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    Query(q): Query<ResultsQuery>,
) -> Result<Response, ApiError> {
    let batch = super::find(&state, &ctx, id).await?;
    let format = q.format.unwrap_or_default();
    let mut export = Export {
        app: state.clone(),
        tenant_id: ctx.tenant_id,
        batch_id: id,
        after: None,
        done: false,
        parquet: match format {
            ResultsFormat::Parquet => Some(
                ArrowWriter::try_new(
                    Vec::new(),
                    schema(),
                    Some(
                        WriterProperties::builder()
                            .set_compression(Compression::SNAPPY)
                            .build(),
                    ),
                )
                .map_err(ApiError::internal)?,
            ),
            ResultsFormat::Jsonl => None,
        },
    };
    // The first page before the answer: a failure there is still a
    // problem answer; after it, a failure ends the body early.
    let first = export.next().await?;
    let rest = futures::stream::try_unfold(export, |mut e| async move {
        if e.done {
            return Ok(None);
        }
        let chunk = e.next().await.map_err(|err| {
            tracing::warn!(error = %err, "a batch's results export stopped");
            std::io::Error::other(err.to_string())
        })?;
        Ok(Some((chunk, e)))
    });
    let body = Body::from_stream(
        futures::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(rest),
    );
    let stem = batch
        .name
        .trim_end_matches(".gz")
        .trim_end_matches(".tgz")
        .trim_end_matches(".tar")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>();
    let (content_type, ext) = match format {
        ResultsFormat::Parquet => ("application/vnd.apache.parquet", "parquet"),
        ResultsFormat::Jsonl => ("application/x-ndjson", "jsonl"),
    };
    let disposition = format!("attachment; filename=\"{stem}-results.{ext}\"");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).map_err(ApiError::internal)?,
            ),
        ],
        body,
    )
        .into_response())
}

/// An export in progress: a page of children at a time, each sent as it
/// is made, so a batch of any size is never held whole in memory.
struct Export {
    app: AppState,
    tenant_id: Uuid,
    batch_id: Uuid,
    /// The last child sent.
    after: Option<Uuid>,
    done: bool,
    /// Writes a row group a page; its bytes are taken out after each.
    parquet: Option<ArrowWriter<Vec<u8>>>,
}

impl Export {
    /// The bytes of the next page (and, after the last, the end of the
    /// file).
    async fn next(&mut self) -> Result<Bytes, ApiError> {
        let parts = queries::batches::result_parts(
            &self.app.db.orm,
            self.tenant_id,
            self.batch_id,
            self.after,
            PAGE,
        )
        .await?;
        self.after = parts.last().map(|p| p.job.id).or(self.after);
        self.done = (parts.len() as u64) < PAGE;
        let mut rows = Vec::with_capacity(parts.len());
        for p in parts {
            rows.push(row(&self.app, p).await?);
        }
        let Some(w) = &mut self.parquet else {
            let mut out = Vec::new();
            for r in &rows {
                serde_json::to_writer(&mut out, r).map_err(ApiError::internal)?;
                out.push(b'\n');
            }
            return Ok(out.into());
        };
        if !rows.is_empty() {
            w.write(&record_batch(&rows)?).map_err(ApiError::internal)?;
            w.flush().map_err(ApiError::internal)?;
        }
        if self.done {
            let w = self.parquet.take().expect("checked above");
            return Ok(w.into_inner().map_err(ApiError::internal)?.into());
        }
        take_written(w).map_err(ApiError::internal)
    }
}

/// The bytes the writer has written so far, taken out of its buffer:
/// the writer's own count of them (the footer's offsets) stays as it is.
fn take_written(w: &mut ArrowWriter<Vec<u8>>) -> std::io::Result<Bytes> {
    w.sync()?;
    Ok(std::mem::take(w.inner_mut()).into())
}

async fn row(app: &App, p: ResultParts) -> Result<ResultRow, ApiError> {
    let job = p.job;
    let opus_url = match &p.opus_key {
        Some(key) => Some(
            app.store
                .presign_get(key, app.config.download_url_ttl)
                .await?
                .url,
        ),
        None => None,
    };
    let mut categories: Vec<String> = p
        .flags
        .iter()
        .flat_map(|f| f.categories.split(',').filter(|c| !c.is_empty()))
        .map(str::to_owned)
        .collect();
    categories.sort();
    categories.dedup();
    let action = if p.flags.iter().any(|f| f.action == "block") {
        Some("block".to_owned())
    } else {
        p.flags.first().map(|_| "flag".to_owned())
    };
    let duration = p.duration.or_else(|| {
        job.media
            .as_ref()
            .and_then(|m| m.get("duration"))
            .and_then(serde_json::Value::as_f64)
    });
    Ok(ResultRow {
        job_id: job.id,
        entry_path: job.entry_path.unwrap_or_default(),
        status: job.status.as_str().to_owned(),
        error_code: job.error_code,
        metadata: job.metadata,
        duration_seconds: duration,
        language: p.language,
        transcript: p.text,
        flags: u32::try_from(p.flags.len()).unwrap_or(u32::MAX),
        max_score: p
            .flags
            .iter()
            .map(|f| f.max_score)
            .fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s)))),
        categories,
        action,
        job_url: format!("/v1/jobs/{}", job.id),
        opus_url,
    })
}

fn schema() -> Arc<Schema> {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("job_id", false),
        text("entry_path", false),
        text("status", false),
        text("error_code", true),
        text("metadata", true),
        Field::new("duration_seconds", DataType::Float64, true),
        text("language", true),
        text("transcript", true),
        Field::new("flags", DataType::UInt32, false),
        Field::new("max_score", DataType::Float32, true),
        text("categories", false),
        text("action", true),
        text("job_url", false),
        text("opus_url", true),
    ]))
}

fn record_batch(rows: &[ResultRow]) -> Result<RecordBatch, ApiError> {
    let text = |f: &dyn Fn(&ResultRow) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|r| Some(r.job_id.to_string())),
        text(&|r| Some(r.entry_path.clone())),
        text(&|r| Some(r.status.clone())),
        text(&|r| r.error_code.clone()),
        text(&|r| r.metadata.as_ref().map(ToString::to_string)),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.duration_seconds).collect::<Vec<_>>(),
        )),
        text(&|r| r.language.clone()),
        text(&|r| r.transcript.clone()),
        Arc::new(UInt32Array::from(
            rows.iter().map(|r| r.flags).collect::<Vec<_>>(),
        )),
        Arc::new(Float32Array::from(
            rows.iter().map(|r| r.max_score).collect::<Vec<_>>(),
        )),
        text(&|r| Some(serde_json::to_string(&r.categories).expect("plain data"))),
        text(&|r| r.action.clone()),
        text(&|r| Some(r.job_url.clone())),
        text(&|r| r.opus_url.clone()),
    ];
    RecordBatch::try_new(schema(), columns).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn result(n: usize) -> ResultRow {
        ResultRow {
            job_id: Uuid::now_v7(),
            entry_path: format!("r/{n}.mp3"),
            status: "succeeded".into(),
            error_code: None,
            metadata: Some(serde_json::json!({"n": n})),
            duration_seconds: Some(n as f64),
            language: Some("en".into()),
            transcript: Some(format!("words of recording {n}")),
            flags: 0,
            max_score: None,
            categories: Vec::new(),
            action: None,
            job_url: "/v1/jobs/x".into(),
            opus_url: None,
        }
    }

    /// Row groups sent as they are written read back as one file.
    #[test]
    fn a_file_sent_a_row_group_at_a_time_reads_whole() {
        let mut w = ArrowWriter::try_new(Vec::new(), schema(), None).unwrap();
        let mut sent = Vec::new();
        for page in 0..3 {
            let rows: Vec<_> = (0..4).map(|i| result(page * 4 + i)).collect();
            w.write(&record_batch(&rows).unwrap()).unwrap();
            w.flush().unwrap();
            let chunk = take_written(&mut w).unwrap();
            assert!(!chunk.is_empty(), "page {page} sent nothing");
            sent.extend_from_slice(&chunk);
        }
        sent.extend_from_slice(&w.into_inner().unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(sent)).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3);
        let paths: Vec<String> = reader
            .build()
            .unwrap()
            .flat_map(|b| {
                let b = b.unwrap();
                let col = b
                    .column(1)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap()
                    .clone();
                (0..col.len()).map(move |i| col.value(i).to_owned())
            })
            .collect();
        let want: Vec<String> = (0..12).map(|n| format!("r/{n}.mp3")).collect();
        assert_eq!(paths, want);
    }
}
