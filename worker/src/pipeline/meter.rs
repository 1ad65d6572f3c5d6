//! Usage metering from inside the pipeline (see `cutroom_core::usage`):
//! what each stage processed, recorded once per job, and the quota.
//!
//! A header can lie about the length (one declared 2 s in front of
//! 211 s of audio), so the quota counts the audio as decoded: the declared
//! length only refuses early, at probe, a source that cannot fit; the
//! decode then stops at what is left of the quota ([`Allowance`]); and the
//! decoded length is what the tenant is charged.

use cutroom_core::{
    ErrorCode,
    queries::{tenants, usage},
    speech::AtBudget,
    usage::{Month, QUOTA_STAGE, exceeded_message, fits, minutes},
};

use super::{JobCtx, Stage, StageError};

/// What is left of a tenant's monthly quota for one job's audio, read
/// when the source is probed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Allowance {
    quota_minutes: i64,
    used_seconds: f64,
}

impl Allowance {
    #[cfg(test)]
    pub fn new(quota_minutes: i64, used_seconds: f64) -> Self {
        Self {
            quota_minutes,
            used_seconds,
        }
    }

    /// Seconds of media the job may still decode.
    pub fn seconds(&self) -> f64 {
        (self.quota_minutes as f64 * 60.0 - self.used_seconds).max(0.0)
    }

    /// The failure of a decode that passed [`Allowance::seconds`] at
    /// `decoded` seconds.
    pub fn exceeded(&self, decoded: f64) -> StageError {
        StageError::failed(
            ErrorCode::QuotaExceeded,
            format!(
                "the source's audio runs past {:.2} media minutes; {}",
                minutes(decoded),
                exceeded_message(self.quota_minutes, self.used_seconds, None)
            ),
        )
    }
}

/// Fails the job with `quota_exceeded` when the source's declared length
/// (`seconds`, when known) does not fit in what is left of its tenant's
/// monthly quota, and otherwise returns what is left, for the decode to
/// stop at. `None`: no quota, or the job was counted by an earlier attempt
/// (it is not checked or counted again).
pub(crate) async fn allowance(
    ctx: &JobCtx<'_>,
    seconds: Option<f64>,
) -> Result<Option<Allowance>, StageError> {
    let job = ctx.job;
    let db = &ctx.db.orm;
    if usage::charged(db, job.id).await? {
        return Ok(None);
    }
    let Some(quota) = usage::quota(db, job.tenant_id, ctx.config.monthly_media_minutes).await?
    else {
        return Ok(None);
    };
    let used = usage::quota_seconds(db, job.tenant_id, Month::current()).await?;
    if let Some(seconds) = seconds.filter(|s| !fits(quota, used, *s)) {
        return Err(StageError::failed(
            ErrorCode::QuotaExceeded,
            exceeded_message(quota, used, Some(seconds)),
        ));
    }
    Ok(Some(Allowance {
        quota_minutes: quota,
        used_seconds: used,
    }))
}

/// Counts the job's decoded audio (`seconds`) towards its tenant's
/// monthly quota, or fails the job with `quota_exceeded` when other jobs
/// used what was left while this one decoded. A job counted by an earlier
/// attempt is not checked or counted again.
pub(crate) async fn charge(ctx: &JobCtx<'_>, seconds: f64) -> Result<(), StageError> {
    let job = ctx.job;
    let db = &ctx.db.orm;
    if usage::charged(db, job.id).await? {
        return Ok(());
    }
    // Jobs decoded at the same moment may together pass the quota by up
    // to their own lengths; a lock per tenant would serialise every decode
    // for a limit that is about money, not safety.
    if let Some(quota) = usage::quota(db, job.tenant_id, ctx.config.monthly_media_minutes).await? {
        let used = usage::quota_seconds(db, job.tenant_id, Month::current()).await?;
        if !fits(quota, used, seconds) {
            return Err(StageError::failed(
                ErrorCode::QuotaExceeded,
                exceeded_message(quota, used, Some(seconds)),
            ));
        }
    }
    let metered = usage::Metered {
        stage: QUOTA_STAGE,
        media_seconds: seconds,
        cost_usd: Some(local_cost(ctx, Stage::Probe)),
        ..usage::Metered::default()
    };
    usage::record(db, job.tenant_id, job.id, metered).await?;
    Ok(())
}

/// What `stage` cost in this run: its time at the worker's price
/// (`CUTROOM_WORKER_COST_PER_HOUR`).
fn local_cost(ctx: &JobCtx<'_>, stage: Stage) -> f64 {
    let seconds = ctx
        .elapsed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&stage)
        .copied()
        .unwrap_or_default();
    seconds * ctx.config.router.cost_per_hour(ctx.engines.threads) / 3600.0
}

/// A job of a tenant whose budget is used up and whose settings say to
/// wait (`budget.at_limit: wait`) goes back in line at once, before its
/// source is fetched; the transcription router stops one whose tenant ran
/// out meanwhile.
pub(crate) async fn wait_for_budget(ctx: &JobCtx<'_>) -> Result<(), StageError> {
    let settings = tenants::settings(&ctx.db.orm, ctx.job.tenant_id)
        .await?
        .unwrap_or_default();
    if settings.budget.at_limit != AtBudget::Wait {
        return Ok(());
    }
    if !budget_left(ctx, &settings)
        .await?
        .is_some_and(|left| left <= 0.0)
    {
        return Ok(());
    }
    Err(StageError::WaitForBudget {
        until: budget_wait_until(ctx),
        reason: format!(
            "the tenant's monthly budget of ${:.2} is spent and its settings say jobs then wait \
             (budget.at_limit: wait)",
            settings.budget.monthly_usd.unwrap_or_default()
        ),
    })
}

/// When a job waiting for its tenant's budget looks again: after
/// `CUTROOM_BUDGET_RECHECK_SECS`, or when the month turns if sooner.
pub(crate) fn budget_wait_until(ctx: &JobCtx<'_>) -> chrono::DateTime<chrono::Utc> {
    let recheck = chrono::Duration::from_std(ctx.config.router.budget_recheck)
        .unwrap_or(chrono::Duration::hours(1));
    (chrono::Utc::now() + recheck).min(Month::current().end())
}

/// What is left of the tenant's monthly budget now; `None` without one.
pub(crate) async fn budget_left(
    ctx: &JobCtx<'_>,
    settings: &cutroom_core::tenants::TenantSettings,
) -> Result<Option<f64>, StageError> {
    Ok(match settings.budget.monthly_usd {
        Some(_) => {
            let spent = usage::spent(&ctx.db.orm, ctx.job.tenant_id, Month::current()).await?;
            cutroom_core::speech::budget_left(&settings.budget, spent)
        }
        None => None,
    })
}

/// Records that `stage` processed `seconds` of media with `model`, at the
/// cost of its time on this worker.
pub(crate) async fn record(
    ctx: &JobCtx<'_>,
    stage: Stage,
    model: Option<&str>,
    seconds: f64,
) -> Result<(), StageError> {
    record_priced(ctx, stage, model, seconds, 0.0).await
}

/// As [`record`], with `extra_usd` on top of the worker's time (an LLM's
/// tokens at the tenant's prices).
pub(crate) async fn record_priced(
    ctx: &JobCtx<'_>,
    stage: Stage,
    model: Option<&str>,
    seconds: f64,
    extra_usd: f64,
) -> Result<(), StageError> {
    let job = ctx.job;
    let metered = usage::Metered {
        stage: stage.name(),
        model,
        media_seconds: seconds,
        cost_usd: Some(local_cost(ctx, stage) + extra_usd),
        detail: None,
    };
    usage::record(&ctx.db.orm, job.tenant_id, job.id, metered).await?;
    Ok(())
}

/// Records the transcription: the engine that made it, what every attempt
/// cost together, and the router's report.
pub(crate) async fn routed(
    ctx: &JobCtx<'_>,
    routed: &super::transcribe::Routed,
    seconds: f64,
) -> Result<(), StageError> {
    let job = ctx.job;
    let metered = usage::Metered {
        stage: Stage::Transcribe.name(),
        model: Some(&routed.meter_model),
        media_seconds: seconds,
        cost_usd: Some(routed.report.actual_cost_usd),
        detail: Some(serde_json::to_value(&routed.report).expect("plain data")),
    };
    usage::record(&ctx.db.orm, job.tenant_id, job.id, metered).await?;
    Ok(())
}
