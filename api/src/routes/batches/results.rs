//! A batch's results as one file: a row per recording with its metadata,
//! length, transcript, language, moderation and links, as JSON lines or
//! as parquet (what pandas and DuckDB read directly).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use cutroom_core::{
    batches::ResultRow,
    queries::{self, batches::ResultParts},
};
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
    let mut jsonl = Vec::new();
    let mut parquet = match format {
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
    };
    let mut after = None;
    loop {
        let parts =
            queries::batches::result_parts(&state.db.orm, ctx.tenant_id, id, after, PAGE).await?;
        let Some(last) = parts.last() else { break };
        after = Some(last.job.id);
        let full = parts.len() as u64 == PAGE;
        let mut rows = Vec::with_capacity(parts.len());
        for p in parts {
            rows.push(row(&state, p).await?);
        }
        match &mut parquet {
            Some(w) => w.write(&record_batch(&rows)?).map_err(ApiError::internal)?,
            None => {
                for r in &rows {
                    serde_json::to_writer(&mut jsonl, r).map_err(ApiError::internal)?;
                    jsonl.push(b'\n');
                }
            }
        }
        if !full {
            break;
        }
    }
    let stem = batch
        .name
        .trim_end_matches(".gz")
        .trim_end_matches(".tgz")
        .trim_end_matches(".tar")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>();
    let (body, content_type, ext) = match parquet {
        Some(w) => (
            w.into_inner().map_err(ApiError::internal)?,
            "application/vnd.apache.parquet",
            "parquet",
        ),
        None => (jsonl, "application/x-ndjson", "jsonl"),
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
