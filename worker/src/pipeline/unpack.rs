//! A batch's unpack job (`job.unpacks_batch_id`): fetch the archive, unpack
//! it as a stream with every entry checked ([`crate::archive`]), read its
//! metadata files and match the rows to the recordings: by path for a
//! manifest's rows ([`crate::manifest`]), by stem for the others
//! ([`crate::metadata`]); then store each recording and create its child
//! job with its metadata row, and a child for each link a manifest names.
//! A batch that is a manifest alone is read as one, with no archive.
//!
//! Children are made idempotently: one per (batch, archive path), unique in
//! the database, and an entry that already has its child is skipped (its
//! file is not stored again). A worker killed half-way leaves a job that
//! runs again and finishes the rest; nothing is created twice. The archive
//! is removed from the scratch folder once unpacked, and each recording
//! once stored, so the folder never holds much more than the archive.

use std::collections::HashMap;

use cutroom_core::{
    ErrorCode,
    batches::{BatchOptions, Reason, Refused, RowAt, Unmatched},
    events::JobEvent,
    jobs::{JobOptions, new_row},
    queries::{batches, events},
    queue,
    storage::batch_entry_key,
};
use cutroom_entities::{BatchStatus, SourceType, batch};
use serde_json::json;
use uuid::Uuid;

use super::{JobCtx, Pipeline, Stage, StageError, fetch};
use crate::{
    archive::{self, Entry, Kind, Limits},
    manifest,
    metadata::{self, Table},
};

/// Most rows one metadata file or manifest of a batch may hold.
const MAX_METADATA_ROWS: usize = 1_000_000;

impl Pipeline<'_> {
    pub(super) async fn unpack_stages(
        &self,
        ctx: &JobCtx<'_>,
        batch_id: Uuid,
    ) -> Result<(), StageError> {
        let batch = batches::get(&ctx.db.orm, ctx.job.tenant_id, batch_id)
            .await?
            .ok_or_else(|| {
                StageError::failed(ErrorCode::InternalError, "the job's batch was deleted")
            })?;
        let options: BatchOptions = serde_json::from_value(batch.options.clone()).map_err(|e| {
            StageError::failed(
                ErrorCode::InternalError,
                "the batch's options could not be read",
            )
            .detail(e)
        })?;
        let source = self.stage(ctx, Stage::Fetch, fetch::run(ctx)).await?;
        self.stage(ctx, Stage::Unpack, run(ctx, &batch, &options, source))
            .await
    }
}

async fn run(
    ctx: &JobCtx<'_>,
    batch: &batch::Model,
    options: &BatchOptions,
    source: fetch::Source,
) -> Result<(), StageError> {
    let mut refused = Vec::new();
    let (media, tables) = match metadata::Format::of_name(&batch.name) {
        // A manifest alone: its rows name links.
        Some(format) => (
            Vec::new(),
            vec![read_manifest(batch, format, &source).await?],
        ),
        None => {
            let unpacked = unpack(ctx, &source).await?;
            refused = unpacked.refused;
            read_metadata(unpacked.entries, &mut refused).await
        }
    };
    // Tables with the source column are manifests; the rest are matched
    // to the files their manifests did not name, by stem.
    let (manifests, keyed): (Vec<_>, Vec<_>) = tables
        .into_iter()
        .partition(|(_, t)| t.columns.contains(&options.source_column));
    let paths = media.iter().map(|e| e.path.as_str()).collect();
    let sourced = manifest::split(
        &manifests,
        &options.source_column,
        &paths,
        &ctx.config.extra_source_hosts,
    );
    let by_stem: Vec<&Entry> = media
        .iter()
        .filter(|e| !sourced.by_path.contains_key(&e.path))
        .collect();
    let stems: Vec<&str> = by_stem.iter().map(|e| e.stem.as_str()).collect();
    let matching = metadata::match_rows(&stems, &keyed, &options.key_column);
    let unmatched = unmatched(&by_stem, &matching, &sourced);
    refused.extend(sourced.refused);
    let mut by_path = sourced.by_path;
    let mut rows = matching.rows;
    let links = sourced.links;
    let total = media.len() + links.len();
    // Read once: an earlier run of this job made these already.
    let made = batches::entry_paths(&ctx.db.orm, batch.tenant_id, batch.id).await?;
    let mut created = 0;
    for i in 0..total {
        if i % 16 == 0 {
            still_wanted(ctx, batch).await?;
            let at = 20 + i32::try_from(i * 80 / total.max(1)).unwrap_or(80);
            ctx.progress(Stage::Unpack, at).await?;
        }
        let made_now = match media.get(i) {
            Some(entry) => {
                // Rows are moved out: a stem shared by two files (`a.mp3`,
                // `a.wav`) gives its row to the first.
                let row = by_path
                    .remove(&entry.path)
                    .or_else(|| rows.remove(&entry.stem))
                    .map(serde_json::Value::Object);
                let made_now = !made.contains(&entry.path)
                    && file_child(ctx, batch, &options.job, i, entry, row).await?;
                let _ = tokio::fs::remove_file(&entry.file).await;
                made_now
            }
            None => {
                let link = &links[i - media.len()];
                let path = format!("{}#{}", link.at.file, link.at.row);
                !made.contains(&path) && link_child(ctx, batch, &options.job, path, link).await?
            }
        };
        created += usize::from(made_now);
    }
    let entries = media.len() + manifests.len() + keyed.len();
    let db = &ctx.db.orm;
    if batches::unpacked(db, batch.tenant_id, batch.id, entries, &refused, &unmatched).await? {
        events::record(
            db,
            batch.tenant_id,
            ctx.job.id,
            JobEvent::BatchUnpacked,
            Some(json!({
                "batch_id": batch.id,
                "recordings": media.len(),
                "links": links.len(),
                "created": created,
                "metadata_files": manifests.len() + keyed.len(),
                "refused": refused.len(),
                "files_without_rows": unmatched.files_without_rows.len(),
                "rows_without_files": unmatched.rows_without_files.len(),
            })),
        )
        .await?;
    } else {
        let now = batches::get(db, batch.tenant_id, batch.id).await?;
        // An earlier run of this job recorded it; anything else is a cancel.
        if now.is_none_or(|b| b.status != BatchStatus::Running) {
            return Err(StageError::Stopped(super::StopReason::Cancelled));
        }
    }
    tracing::info!(
        recordings = media.len(),
        links = links.len(),
        created,
        refused = refused.len(),
        "batch unpacked"
    );
    // A batch of no recordings (or whose children all ended already, on a
    // second run) is complete now.
    batches::complete(&ctx.db.orm, batch.tenant_id, batch.id).await?;
    Ok(())
}

/// A batch cancelled meanwhile gets no more children.
async fn still_wanted(ctx: &JobCtx<'_>, batch: &batch::Model) -> Result<(), StageError> {
    let now = batches::get(&ctx.db.orm, batch.tenant_id, batch.id).await?;
    // (`running`: an earlier run of this job got to the end.)
    if now.is_none_or(|b| !matches!(b.status, BatchStatus::Unpacking | BatchStatus::Running)) {
        return Err(StageError::Stopped(super::StopReason::Cancelled));
    }
    Ok(())
}

/// Unpacks the fetched archive into the scratch folder, every entry
/// checked; the archive is removed once read.
async fn unpack(ctx: &JobCtx<'_>, source: &fetch::Source) -> Result<archive::Unpacked, StageError> {
    let dir = ctx.scratch.join("entries");
    let unpacked = {
        let archive = source.path.clone();
        let stop = ctx.stop.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                std::fs::create_dir_all(&dir).map_err(archive::Error::Write)?;
                archive::unpack(&archive, &dir, Limits::default(), &stop)
            })
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    };
    // The archive's bytes are all in the entries now.
    let _ = tokio::fs::remove_file(&source.path).await;
    let unpacked = match unpacked {
        Ok(u) => u,
        Err(archive::Error::Stopped) => return Err(StageError::Stopped(ctx.stop_reason())),
        Err(archive::Error::Write(e)) => {
            return Err(StageError::failed(
                ErrorCode::InternalError,
                "the worker could not write the unpacked files; try again later",
            )
            .detail(e));
        }
        Err(e) => {
            return Err(StageError::failed(
                ErrorCode::ArchiveUnusable,
                format!("the archive cannot be used: {e}"),
            ));
        }
    };
    tracing::info!(
        entries = unpacked.entries.len(),
        refused = unpacked.refused.len(),
        read = unpacked.read,
        inflated = unpacked.inflated,
        "archive unpacked"
    );
    Ok(unpacked)
}

/// Reads a batch that is a manifest alone; one that cannot be read fails
/// the batch (`archive_unusable`).
async fn read_manifest(
    batch: &batch::Model,
    format: metadata::Format,
    source: &fetch::Source,
) -> Result<(String, Table), StageError> {
    let path = source.path.clone();
    let read =
        tokio::task::spawn_blocking(move || metadata::read(&path, format, MAX_METADATA_ROWS))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let _ = tokio::fs::remove_file(&source.path).await;
    match read {
        Ok(table) => Ok((batch.name.clone(), table)),
        Err(e) => Err(StageError::failed(
            ErrorCode::ArchiveUnusable,
            format!("the manifest cannot be read: {e}"),
        )),
    }
}

/// Splits the entries into recordings and metadata tables, reading the
/// tables; one that cannot be read is refused (`bad_metadata`).
async fn read_metadata(
    entries: Vec<Entry>,
    refused: &mut Vec<Refused>,
) -> (Vec<Entry>, Vec<(String, Table)>) {
    let (media, files): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| e.kind == Kind::Media);
    let mut tables = Vec::new();
    for entry in files {
        let file = entry.file.clone();
        let format = match entry.kind {
            Kind::Jsonl => metadata::Format::Jsonl,
            Kind::Csv => metadata::Format::Csv,
            _ => metadata::Format::Parquet,
        };
        let read =
            tokio::task::spawn_blocking(move || metadata::read(&file, format, MAX_METADATA_ROWS))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let _ = tokio::fs::remove_file(&entry.file).await;
        match read {
            Ok(table) => tables.push((entry.path, table)),
            Err(e) => refused.push(Refused {
                path: entry.path,
                reason: Reason::BadMetadata,
                detail: e.to_string(),
            }),
        }
    }
    (media, tables)
}

/// What the matching left over, with archive paths for files, and what
/// the manifests' rows did not find.
fn unmatched(media: &[&Entry], m: &metadata::Matching, sourced: &manifest::Sourced) -> Unmatched {
    let mut paths: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in media {
        paths.entry(e.stem.as_str()).or_default().push(&e.path);
    }
    let at = |r: &metadata::RowAt, key: Option<&String>| RowAt {
        file: r.file.clone(),
        row: r.row,
        key: key.cloned(),
    };
    Unmatched {
        files_without_rows: m
            .files_without_rows
            .iter()
            .flat_map(|stem| paths.get(stem.as_str()).into_iter().flatten())
            .map(|p| (*p).to_owned())
            .collect(),
        rows_without_files: (m.rows_without_files.iter())
            .chain(&sourced.rows_without_files)
            .map(|(r, k)| at(r, Some(k)))
            .collect(),
        rows_without_key: (m.rows_without_key.iter())
            .chain(&sourced.rows_without_source)
            .map(|r| at(r, None))
            .collect(),
        duplicate_keys: (m.duplicate_keys.iter())
            .chain(&sourced.duplicates)
            .map(|(r, k)| at(r, Some(k)))
            .collect(),
    }
}

/// Stores the recording and creates its child job. `true` when this call
/// created it (`false`: another run of this job raced it there).
async fn file_child(
    ctx: &JobCtx<'_>,
    batch: &batch::Model,
    options: &JobOptions,
    index: usize,
    entry: &Entry,
    metadata: Option<serde_json::Value>,
) -> Result<bool, StageError> {
    let ext = entry
        .file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("bin");
    let key = batch_entry_key(batch.tenant_id, batch.id, index, ext);
    // The S3 client retries with backoff itself (timeouts, 5xx, throttling).
    ctx.store
        .put_file(&key, &entry.file, "application/octet-stream")
        .await
        .map_err(|e| {
            StageError::failed(
                ErrorCode::StorageError,
                "a recording could not be stored; try again later",
            )
            .detail(e)
        })?;
    let mut job = new_row(
        batch.tenant_id,
        batch.created_by.clone(),
        SourceType::Upload,
        options,
    );
    job.source_key = Some(key);
    job.title = Some(
        entry
            .path
            .rsplit('/')
            .next()
            .unwrap_or(&entry.path)
            .to_owned(),
    );
    job.metadata = metadata;
    create_child(ctx, batch, job, entry.path.clone()).await
}

/// Creates the child that fetches a manifest row's link; its entry path
/// is `<manifest>#<row>`.
async fn link_child(
    ctx: &JobCtx<'_>,
    batch: &batch::Model,
    options: &JobOptions,
    path: String,
    link: &manifest::Link,
) -> Result<bool, StageError> {
    let mut job = new_row(
        batch.tenant_id,
        batch.created_by.clone(),
        SourceType::Youtube,
        options,
    );
    job.source_url = Some(link.url.clone());
    job.metadata = Some(serde_json::Value::Object(link.row.clone()));
    create_child(ctx, batch, job, path).await
}

async fn create_child(
    ctx: &JobCtx<'_>,
    batch: &batch::Model,
    mut job: cutroom_entities::job::Model,
    entry_path: String,
) -> Result<bool, StageError> {
    job.batch_id = Some(batch.id);
    job.entry_path = Some(entry_path.clone());
    match queue::create_job(ctx.db, job, None, ctx.config.tenant_max_running).await {
        Ok(_) => Ok(true),
        // Another run of this job created it between our check and now
        // (the unique index said so): it is there, which is all we want.
        Err(_)
            if batches::child(&ctx.db.orm, batch.tenant_id, batch.id, &entry_path)
                .await?
                .is_some() =>
        {
            Ok(false)
        }
        Err(e) => Err(StageError::failed(
            ErrorCode::DatabaseUnavailable,
            "a child job could not be created; try again later",
        )
        .detail(e)),
    }
}
