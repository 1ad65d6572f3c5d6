//! Usage metering from inside the pipeline (see `cutroom_core::usage`):
//! what each stage processed, recorded once per job, and the quota check
//! made when the source's duration is first known.

use cutroom_core::{
    ErrorCode,
    queries::usage,
    usage::{Month, QUOTA_STAGE, exceeded_message, fits},
};

use super::{JobCtx, Stage, StageError};

/// Counts the job's source (`seconds`, when known) towards its tenant's
/// monthly quota, or fails the job with `quota_exceeded` when it does not
/// fit. A job counted by an earlier attempt is not checked or counted again.
pub(crate) async fn charge(ctx: &JobCtx<'_>, seconds: Option<f64>) -> Result<(), StageError> {
    let Some(seconds) = seconds else {
        return Ok(());
    };
    let job = ctx.job;
    let db = &ctx.db.orm;
    if usage::charged(db, job.id).await? {
        return Ok(());
    }
    // Jobs probed at the same moment may together pass the quota by up to
    // their own lengths; a lock per tenant would serialise every probe for
    // a limit that is about money, not safety.
    if let Some(quota) = usage::quota(db, job.tenant_id, ctx.config.monthly_media_minutes).await? {
        let used = usage::quota_seconds(db, job.tenant_id, Month::current()).await?;
        if !fits(quota, used, seconds) {
            return Err(StageError::failed(
                ErrorCode::QuotaExceeded,
                exceeded_message(quota, used, Some(seconds)),
            ));
        }
    }
    usage::record(db, job.tenant_id, job.id, QUOTA_STAGE, None, seconds).await?;
    Ok(())
}

/// Records that `stage` processed `seconds` of media with `model`.
pub(crate) async fn record(
    ctx: &JobCtx<'_>,
    stage: Stage,
    model: Option<&str>,
    seconds: f64,
) -> Result<(), StageError> {
    let job = ctx.job;
    usage::record(
        &ctx.db.orm,
        job.tenant_id,
        job.id,
        stage.name(),
        model,
        seconds,
    )
    .await?;
    Ok(())
}
