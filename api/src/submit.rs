//! Turning a source into a queued job. `POST /v1/jobs` and
//! `POST /v1/uploads/{id}/complete` both end here, so an upload is checked
//! the same way whichever door it comes through.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use cutroom_core::{
    clips::{ClipOptions, ClipRange, MAX_KEEP_SOURCE_HOURS, validate_ranges},
    jobs::JobOptions,
    queries, queue,
    speech::{AtBudget, Budget, Engine, EngineChoice},
    storage::UploadedPart,
    usage,
};
use cutroom_entities::{JobStatus, SourceType, UploadStatus, job, upload};
use uuid::Uuid;

use crate::ProblemCode;
use crate::{app::App, auth::AuthContext, error::ApiError, source_url};

/// A job for a URL that passed the SSRF guard.
pub async fn from_url(
    app: &App,
    ctx: &AuthContext,
    url: &str,
    options: JobOptions,
    keep_source_hours: u32,
) -> Result<job::Model, ApiError> {
    let options = resolve_options(app, ctx, options, keep_source_hours).await?;
    let url = source_url::validate(url, &app.config.extra_source_hosts).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::InvalidSourceUrl,
            e.to_string(),
        )
    })?;
    let mut job = new_job(ctx, SourceType::Youtube, Some(url), None, None, &options);
    job.keep_source_hours = keep_source_hours as i32;
    queue::create_job(&app.db, job, None, app.config.tenant_max_running)
        .await
        .map_err(ApiError::internal)
}

/// A job for an upload whose bytes are in storage with the declared size.
pub async fn from_upload(
    app: &App,
    ctx: &AuthContext,
    upload_id: Uuid,
    options: JobOptions,
    keep_source_hours: u32,
    parts: &[UploadedPart],
) -> Result<job::Model, ApiError> {
    let options = resolve_options(app, ctx, options, keep_source_hours).await?;
    upload_job(app, ctx, upload_id, options, parts, |job| {
        job.keep_source_hours = keep_source_hours as i32;
    })
    .await
}

/// A job that enrols an uploaded voice sample into `speaker_id`'s samples:
/// the worker finds its speech, refuses it as the library refuses any
/// sample (too short, too noisy, several voices), and adds it.
pub async fn enrolment(
    app: &App,
    ctx: &AuthContext,
    upload_id: Uuid,
    speaker_id: Uuid,
) -> Result<job::Model, ApiError> {
    let options = resolve_options(app, ctx, JobOptions::default(), 0).await?;
    upload_job(app, ctx, upload_id, options, &[], |job| {
        job.enrols_speaker_id = Some(speaker_id);
    })
    .await
}

/// The job that unpacks a batch's uploaded archive: its id is the one
/// the batch already names (`batches::start` wrote it), and it carries
/// the batch's job options (each child gets them).
pub async fn batch_unpack(
    app: &App,
    ctx: &AuthContext,
    batch: &cutroom_entities::batch::Model,
    job_id: Uuid,
    options: JobOptions,
    parts: &[UploadedPart],
) -> Result<job::Model, ApiError> {
    let batch_id = batch.id;
    let name = batch.name.clone();
    upload_job(app, ctx, batch.upload_id, options, parts, move |job| {
        job.id = job_id;
        job.unpacks_batch_id = Some(batch_id);
        job.title = Some(name);
    })
    .await
}

/// Checks a batch's job options as a job's are and writes the tenant's
/// defaults into them, so every child runs what was checked.
pub async fn batch_options(
    app: &App,
    ctx: &AuthContext,
    options: JobOptions,
) -> Result<JobOptions, ApiError> {
    resolve_options(app, ctx, options, 0).await
}

/// The job for a pending upload whose bytes are all in storage (sent in
/// `parts`, they are put together first), `shape`d by its caller.
async fn upload_job(
    app: &App,
    ctx: &AuthContext,
    upload_id: Uuid,
    options: JobOptions,
    parts: &[UploadedPart],
    shape: impl FnOnce(&mut job::Model),
) -> Result<job::Model, ApiError> {
    let db = &app.db.orm;
    let upload = queries::uploads::get(db, ctx.tenant_id, upload_id)
        .await?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    let grace = Duration::from_std(app.config.upload_grace).unwrap_or(Duration::MAX);
    check_pending(&upload, Utc::now(), grace)?;
    let declared = u64::try_from(upload.size_bytes).unwrap_or_default();
    // The object could change under the job, or land after it ended.
    if let Some(local) = &app.local_store
        && local.is_writing(&upload.object_key)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::UploadInProgress,
            "the file is still being uploaded; complete the upload once its PUT has ended",
        ));
    }
    crate::upload_target::assemble(app, &upload, parts).await?;
    match app.store.head(&upload.object_key).await? {
        None => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ProblemCode::UploadMissing,
                "nothing has been uploaded to the presigned URL; PUT the file first",
            ));
        }
        Some(meta) if meta.size != declared => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProblemCode::UploadSizeMismatch,
                format!(
                    "the uploaded object has {} bytes but {declared} were declared",
                    meta.size
                ),
            ));
        }
        Some(_) => {}
    }
    let mut job = new_job(
        ctx,
        SourceType::Upload,
        None,
        Some(upload.id),
        Some(upload.object_key.clone()),
        &options,
    );
    job.title = Some(upload.filename.clone());
    shape(&mut job);
    match queue::create_job(&app.db, job, Some(upload.id), app.config.tenant_max_running).await {
        Ok(job) => Ok(job),
        Err(queue::EnqueueError::UploadNotPending) => {
            // Completed or swept by someone else between our checks and the write.
            let now = queries::uploads::get(db, ctx.tenant_id, upload_id)
                .await?
                .ok_or_else(|| ApiError::not_found("upload"))?;
            Err(check_pending(&now, Utc::now(), grace)
                .err()
                .unwrap_or_else(|| ApiError::conflict("the upload changed meanwhile")))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Checks a job's options against the defaults that apply to its tenant,
/// then writes the tenant's defaults into them: the worker reads the job's
/// options first, and runs what was checked even if the tenant's settings
/// change while the job waits.
async fn resolve_options(
    app: &App,
    ctx: &AuthContext,
    mut options: JobOptions,
    keep_source_hours: u32,
) -> Result<JobOptions, ApiError> {
    if keep_source_hours > MAX_KEEP_SOURCE_HOURS {
        return Err(ApiError::validation(format!(
            "keep_source_hours must be between 0 and {MAX_KEEP_SOURCE_HOURS}"
        )));
    }
    check_quota(app, ctx.tenant_id).await?;
    let settings = queries::tenants::settings(&app.db.orm, ctx.tenant_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the tenant no longer exists"))?;
    options
        .validate(settings.default_model(&app.config.whisper_model))
        .map_err(ApiError::validation)?;
    if let Some(provider) = options.analysis.provider
        && let Some(why) = settings.analysis.unusable(provider)
    {
        return Err(ApiError::validation(format!(
            "options.analysis.provider cannot be {}: {why}",
            provider.name()
        )));
    }
    if let Some(engine) = options.transcription.engine.and_then(EngineChoice::engine)
        && engine != Engine::Local
        && !settings.transcription.cloud.configured().contains(&engine)
    {
        return Err(ApiError::validation(format!(
            "options.transcription.engine cannot be {name}: an admin sets \
             transcription.cloud.{name}.api_key with PATCH /v1/tenant/settings",
            name = engine.name()
        )));
    }
    check_budget(app, ctx.tenant_id, &settings.budget).await?;
    settings.fill_in(&mut options);
    Ok(options)
}

/// Refuses new work once the tenant's monthly budget is spent, when its
/// settings say jobs then fail (`budget.at_limit: fail`); with `cheapest`
/// jobs go on with the cheapest engine.
async fn check_budget(app: &App, tenant_id: Uuid, budget: &Budget) -> Result<(), ApiError> {
    let (Some(limit), AtBudget::Fail) = (budget.monthly_usd, budget.at_limit) else {
        return Ok(());
    };
    let month = usage::Month::current();
    let spent = queries::usage::spent(&app.db.orm, tenant_id, month).await?;
    if spent < limit {
        return Ok(());
    }
    let reset_in = (month.end() - Utc::now()).num_seconds();
    Err(ApiError::budget_exceeded(
        format!(
            "this tenant's monthly budget of ${limit:.2} is spent (${spent:.4} this month) and \
             its settings say jobs then stop (budget.at_limit: fail); it resets on {}",
            month.end().format("%Y-%m-%d")
        ),
        u64::try_from(reset_in).unwrap_or(1),
    ))
}

/// Refuses new work while the tenant's monthly media minutes are used up.
/// A job that starts with minutes left but whose source does not fit in
/// them fails when it is probed or decoded (`quota_exceeded`), before
/// anything costly.
pub async fn check_quota(app: &App, tenant_id: Uuid) -> Result<(), ApiError> {
    let db = &app.db.orm;
    let Some(quota) =
        queries::usage::quota(db, tenant_id, app.config.monthly_media_minutes).await?
    else {
        return Ok(());
    };
    let month = usage::Month::current();
    let used = queries::usage::quota_seconds(db, tenant_id, month).await?;
    if used < quota as f64 * 60.0 {
        return Ok(());
    }
    let reset_in = (month.end() - Utc::now()).num_seconds();
    Err(ApiError::quota_exceeded(
        usage::exceeded_message(quota, used, None),
        u64::try_from(reset_in).unwrap_or(1),
    ))
}

/// Only a pending upload whose URL has not long expired can become a job.
/// An upload can still be completed `grace` after its URL expired: a `PUT`
/// that started just before the deadline may finish after it.
fn check_pending(u: &upload::Model, now: DateTime<Utc>, grace: Duration) -> Result<(), ApiError> {
    match u.status {
        UploadStatus::Completed => Err(ApiError::conflict(match u.job_id {
            Some(job) => format!("the upload was already completed by job {job}"),
            None => "the upload was already completed".to_owned(),
        })),
        UploadStatus::Expired => Err(expired()),
        UploadStatus::Pending if u.expires_at + grace < now => Err(expired()),
        UploadStatus::Pending => Ok(()),
    }
}

fn expired() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        ProblemCode::UploadExpired,
        "the upload expired before it was completed; start a new one",
    )
}

fn new_job(
    ctx: &AuthContext,
    source_type: SourceType,
    source_url: Option<String>,
    upload_id: Option<Uuid>,
    source_key: Option<String>,
    options: &JobOptions,
) -> job::Model {
    let mut job = cutroom_core::jobs::new_row(ctx.tenant_id, ctx.actor(), source_type, options);
    job.source_url = source_url;
    job.upload_id = upload_id;
    job.source_key = source_key;
    job
}

/// A re-render of `parent`'s clips from its kept source: the `ranges`, in
/// the parent's clip options with `clips` (a JSON merge patch, RFC 7396)
/// applied over them.
pub async fn rerender(
    app: &App,
    ctx: &AuthContext,
    parent: &job::Model,
    ranges: Vec<ClipRange>,
    clips: &serde_json::Value,
) -> Result<job::Model, ApiError> {
    check_kept(parent, Utc::now())?;
    check_quota(app, ctx.tenant_id).await?;
    let duration = parent
        .media
        .as_ref()
        .and_then(|m| m.get("duration"))
        .and_then(serde_json::Value::as_f64);
    validate_ranges(&ranges, duration).map_err(ApiError::validation)?;
    let mut options: JobOptions = serde_json::from_value(parent.options.clone())
        .map_err(|e| ApiError::internal(format!("the job's options could not be read: {e}")))?;
    options.clips = clip_options(&options.clips, clips, ranges.len())?;
    let mut job = new_job(
        ctx,
        parent.source_type,
        parent.source_url.clone(),
        None,
        None,
        &options,
    );
    job.parent_id = Some(parent.id);
    job.title = parent.title.clone();
    job.clip_ranges = Some(serde_json::to_value(&ranges).expect("ranges are plain data"));
    queue::create_job(&app.db, job, None, app.config.tenant_max_running)
        .await
        .map_err(ApiError::internal)
}

/// Only a job that succeeded and still has its source kept can be
/// re-rendered.
/// Whether a failed or cancelled job still has a source to run on: a URL
/// can be fetched again, an upload only while its original is stored (it
/// is deleted when the job ends, or a day later when the job failed for a
/// reason that may pass), a re-render only while its parent's source is
/// kept.
pub async fn check_retry_source(app: &App, job: &job::Model) -> Result<(), ApiError> {
    if let Some(parent) = job.parent_id {
        let parent = queries::jobs::get(&app.db.orm, job.tenant_id, parent)
            .await?
            .ok_or_else(|| expired_source("the job this re-render came from was deleted"))?;
        let kept = parent.kept_source_key.is_some()
            && parent.kept_source_until.is_some_and(|u| u > Utc::now());
        if !kept {
            return Err(expired_source(
                "the source this re-render needs is no longer kept",
            ));
        }
        return Ok(());
    }
    if job.source_type == SourceType::Upload {
        let stored = match &job.source_key {
            Some(key) => app.store.head(key).await?.is_some(),
            None => false,
        };
        if !stored {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ProblemCode::SourceGone,
                "the uploaded original was deleted when the job ended; upload it again",
            ));
        }
    }
    Ok(())
}

fn expired_source(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::GONE, ProblemCode::SourceExpired, message)
}

fn check_kept(parent: &job::Model, now: DateTime<Utc>) -> Result<(), ApiError> {
    let not_kept =
        |message: String| ApiError::new(StatusCode::CONFLICT, ProblemCode::SourceNotKept, message);
    if let Some(p) = parent.parent_id {
        return Err(not_kept(format!(
            "this job is a re-render; re-render the job it came from ({p})"
        )));
    }
    match parent.status {
        JobStatus::Queued | JobStatus::Running => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ProblemCode::JobNotFinished,
                "the job has not finished; clips can be re-rendered once it has succeeded",
            ));
        }
        JobStatus::Failed | JobStatus::Cancelled => {
            return Err(not_kept(
                "the job did not succeed, so its source was not kept".into(),
            ));
        }
        JobStatus::Succeeded => {}
    }
    if parent.keep_source_hours == 0 {
        return Err(not_kept(
            "the job was submitted without keep_source_hours, so its source was deleted once \
             processed; submit it again with keep_source_hours to re-render its clips"
                .into(),
        ));
    }
    match (&parent.kept_source_key, parent.kept_source_until) {
        (Some(_), Some(until)) if until > now => Ok(()),
        (_, until) => Err(ApiError::new(
            StatusCode::GONE,
            ProblemCode::SourceExpired,
            match until {
                Some(until) => format!(
                    "the job's source was kept until {} and has been deleted",
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                None => "the job's source could not be kept".to_owned(),
            },
        )),
    }
}

/// `base` with the request's `patch` merged over it; `count` follows the
/// ranges.
fn clip_options(
    base: &ClipOptions,
    patch: &serde_json::Value,
    count: usize,
) -> Result<ClipOptions, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::validation("clips must be an object"));
    }
    if patch.get("count").is_some() {
        return Err(ApiError::validation(
            "clips.count does not apply to a re-render: the ranges say which clips to make",
        ));
    }
    let mut merged = serde_json::to_value(base).expect("options are plain data");
    json_patch::merge(&mut merged, patch);
    let mut options: ClipOptions =
        serde_json::from_value(merged).map_err(|e| ApiError::validation(format!("clips: {e}")))?;
    options.count = u32::try_from(count).unwrap_or(u32::MAX);
    options.validate("clips").map_err(ApiError::validation)?;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use cutroom_core::clips::{ClipFormat, ClipOptions, Reframe};
    use serde_json::json;

    use super::clip_options;

    #[test]
    fn a_rerender_changes_only_the_clip_options_it_names() {
        let mut base = ClipOptions {
            reframe: Reframe::Crop,
            loudness_target: -16.0,
            ..ClipOptions::default()
        };
        base.tighten.enabled = true;
        base.captions.words_per_caption = 5;

        let o = clip_options(
            &base,
            &json!({"formats": ["square"], "captions": {"burn": false}}),
            2,
        )
        .unwrap();
        assert_eq!(o.formats, [ClipFormat::Square]);
        assert!(!o.captions.burn);
        // Left out: as the job had them; nested objects merge too.
        assert_eq!(o.captions.words_per_caption, 5);
        assert_eq!((o.reframe, o.loudness_target), (Reframe::Crop, -16.0));
        assert!(o.tighten.enabled);
        assert_eq!(o.count, 2, "one clip per range");

        // `null` goes back to Cutroom's default.
        let o = clip_options(&base, &json!({"reframe": null}), 1).unwrap();
        assert_eq!(o.reframe, Reframe::Blur);

        for (patch, expect) in [
            (json!({"count": 4}), "clips.count"),
            (json!({"formats": []}), "clips.formats"),
            (json!({"loudness_target": 3}), "clips.loudness_target"),
            (json!({"formats": ["round"]}), "clips: unknown variant"),
            (json!([1]), "clips must be an object"),
        ] {
            let err = format!("{:?}", clip_options(&base, &patch, 1).unwrap_err());
            assert!(err.contains(expect), "{patch}: {err}");
        }
    }
}
