//! The review queue: moderation flags written by the worker, listed and
//! decided by the tenant's reviewers, every decision kept.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
pub use cutroom_entities::{FlagKind, FlagStatus};
use cutroom_entities::{highlight, moderation_flag, review_decision};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

mod edits;
pub use edits::{CheckedEdit, store_edit_flags};

/// Stores a job's flags, replacing any earlier ones (a re-run of the job).
pub async fn replace_for_job(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    flags: Vec<moderation_flag::Model>,
) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    moderation_flag::Entity::delete_many()
        .filter(moderation_flag::Column::TenantId.eq(tenant_id))
        .filter(moderation_flag::Column::JobId.eq(job_id))
        .exec(&txn)
        .await?;
    super::insert_batched::<_, moderation_flag::ActiveModel>(&txn, flags, 100).await?;
    txn.commit().await
}

/// Stores a job's highlight candidates, replacing any earlier ones.
pub async fn replace_highlights(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    rows: Vec<highlight::Model>,
) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    highlight::Entity::delete_many()
        .filter(highlight::Column::TenantId.eq(tenant_id))
        .filter(highlight::Column::JobId.eq(job_id))
        .exec(&txn)
        .await?;
    super::insert_batched::<_, highlight::ActiveModel>(&txn, rows, 100).await?;
    txn.commit().await
}

/// A job's highlights, best first, each with the flags that hold it back:
/// flags on speech it overlaps, or on its own title or hook, that no
/// reviewer has approved (open or rejected, whether `flag` or `block`).
pub async fn highlights_with_holds(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
) -> Result<Vec<(highlight::Model, Vec<moderation_flag::Model>)>, DbErr> {
    let highlights = highlight::Entity::find()
        .filter(highlight::Column::TenantId.eq(tenant_id))
        .filter(highlight::Column::JobId.eq(job_id))
        .order_by_asc(highlight::Column::Rank)
        .all(db)
        .await?;
    let flags = moderation_flag::Entity::find()
        .filter(moderation_flag::Column::TenantId.eq(tenant_id))
        .filter(moderation_flag::Column::JobId.eq(job_id))
        .filter(moderation_flag::Column::Status.ne(FlagStatus::Approved))
        .order_by_asc(moderation_flag::Column::Start)
        .all(db)
        .await?;
    Ok(highlights
        .into_iter()
        .map(|h| {
            let holding = flags
                .iter()
                .filter(|f| super::clips::holds(f, h.start, h.end, Some(h.rank), &[]))
                .cloned()
                .collect();
            (h, holding)
        })
        .collect())
}

/// Which flags [`list`] returns.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `None` for all.
    pub status: Option<FlagStatus>,
    /// A category name that must have fired.
    pub category: Option<String>,
    /// `flag` or `block`: the strongest action that fired.
    pub action: Option<String>,
    pub job_id: Option<Uuid>,
    /// Only flags on this batch's children.
    pub batch_id: Option<Uuid>,
    /// Only flags on jobs whose metadata row has each `(field, value)`
    /// (as `GET /v1/jobs` filters them).
    pub metadata: Vec<(String, String)>,
    /// Flags after this one in the listing order (the previous page's
    /// last), for paging.
    pub after: Option<Uuid>,
}

/// The tenant's flags, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    filter: &Filter,
    limit: u64,
) -> Result<Vec<moderation_flag::Model>, DbErr> {
    use moderation_flag::Column as C;
    let mut q = moderation_flag::Entity::find().filter(C::TenantId.eq(tenant_id));
    if let Some(status) = filter.status {
        q = q.filter(C::Status.eq(status));
    }
    if let Some(category) = &filter.category {
        // Category names are [a-z_]; the API checks them, so no escaping.
        q = q.filter(C::Categories.like(format!("%,{category},%")));
    }
    if let Some(action) = &filter.action {
        q = q.filter(C::Action.eq(action.as_str()));
    }
    if let Some(job_id) = filter.job_id {
        q = q.filter(C::JobId.eq(job_id));
    }
    if filter.batch_id.is_some() || !filter.metadata.is_empty() {
        use sea_orm::{QuerySelect, QueryTrait};
        let mut jobs = cutroom_entities::job::Entity::find()
            .select_only()
            .column(cutroom_entities::job::Column::Id)
            .filter(cutroom_entities::job::Column::TenantId.eq(tenant_id));
        if let Some(b) = filter.batch_id {
            jobs = jobs.filter(cutroom_entities::job::Column::BatchId.eq(b));
        }
        let backend = db.get_database_backend();
        for (field, value) in &filter.metadata {
            jobs = jobs.filter(super::jobs::metadata_equals(backend, field, value));
        }
        q = q.filter(C::JobId.in_subquery(jobs.into_query()));
    }
    if let Some(id) = filter.after {
        q = q.filter(C::Id.lt(id));
    }
    // Ids are UUIDv7: by id is by creation, and a total order for paging.
    q.order_by_desc(C::Id).limit(limit).all(db).await
}

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<moderation_flag::Model>, DbErr> {
    moderation_flag::Entity::find_by_id(id)
        .filter(moderation_flag::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Who decided.
#[derive(Clone, Copy, Debug)]
pub enum Reviewer {
    User(Uuid),
    ApiKey(Uuid),
}

/// Records `decision` (`approve` or `reject`) on a flag and moves the flag
/// to `approved` or `rejected`, in one transaction. `None` when the tenant
/// has no such flag.
pub async fn decide(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    flag_id: Uuid,
    decision: &str,
    reviewer: Reviewer,
    note: Option<String>,
) -> Result<Option<(moderation_flag::Model, review_decision::Model)>, DbErr> {
    let status = match decision {
        "approve" => FlagStatus::Approved,
        "reject" => FlagStatus::Rejected,
        other => return Err(DbErr::Custom(format!("unknown decision {other}"))),
    };
    let txn = crate::db::begin_write(db).await?;
    let Some(flag) = get(&txn, tenant_id, flag_id).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let (user, key) = match reviewer {
        Reviewer::User(id) => (Some(id), None),
        Reviewer::ApiKey(id) => (None, Some(id)),
    };
    let record = review_decision::Model {
        id: Uuid::now_v7(),
        tenant_id,
        flag_id,
        job_id: flag.job_id,
        decision: decision.to_owned(),
        reviewer_user_id: user,
        reviewer_api_key_id: key,
        note,
        created_at: now,
    };
    review_decision::Entity::insert(record.clone().into_active_model())
        .exec_without_returning(&txn)
        .await?;
    let mut active = flag.into_active_model();
    active.status = Set(status);
    active.decided_at = Set(Some(now));
    let flag = active.update(&txn).await?;
    txn.commit().await?;
    Ok(Some((flag, record)))
}

/// A flag's decisions, oldest first.
pub async fn decisions(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    flag_id: Uuid,
) -> Result<Vec<review_decision::Model>, DbErr> {
    review_decision::Entity::find()
        .filter(review_decision::Column::TenantId.eq(tenant_id))
        .filter(review_decision::Column::FlagId.eq(flag_id))
        .order_by_asc(review_decision::Column::CreatedAt)
        .order_by_asc(review_decision::Column::Id)
        .all(db)
        .await
}

/// One UTC day of a tenant's moderation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DayStats {
    /// `YYYY-MM-DD`, UTC.
    #[schema(value_type = String, example = "2026-11-23")]
    pub date: NaiveDate,
    /// Flags raised that day, and the seconds of speech they cover.
    pub flags: u64,
    pub flagged_seconds: f64,
    /// Of those, how many were `block`.
    pub blocks: u64,
    /// Flags raised that day per category that fired.
    pub by_category: BTreeMap<String, u64>,
    /// Decisions made that day.
    pub approved: u64,
    pub rejected: u64,
    /// Flags raised that day still waiting for a decision.
    pub still_open: u64,
}

/// Per-day statistics from `since` (inclusive) on, oldest day first; days
/// with nothing are left out.
pub async fn daily_stats(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<DayStats>, DbErr> {
    let flags = moderation_flag::Entity::find()
        .filter(moderation_flag::Column::TenantId.eq(tenant_id))
        .filter(moderation_flag::Column::CreatedAt.gte(since))
        .all(db)
        .await?;
    let decisions = review_decision::Entity::find()
        .filter(review_decision::Column::TenantId.eq(tenant_id))
        .filter(review_decision::Column::CreatedAt.gte(since))
        .all(db)
        .await?;
    let mut days: BTreeMap<NaiveDate, DayStats> = BTreeMap::new();
    fn day(days: &mut BTreeMap<NaiveDate, DayStats>, date: NaiveDate) -> &mut DayStats {
        days.entry(date).or_insert_with(|| DayStats {
            date,
            ..DayStats::default()
        })
    }
    for f in &flags {
        let d = day(&mut days, f.created_at.date_naive());
        d.flags += 1;
        d.flagged_seconds += f.end - f.start;
        d.blocks += u64::from(f.action == "block");
        d.still_open += u64::from(f.status == FlagStatus::Open);
        for c in f.categories.split(',').filter(|c| !c.is_empty()) {
            *d.by_category.entry(c.to_owned()).or_default() += 1;
        }
    }
    for r in &decisions {
        let d = day(&mut days, r.created_at.date_naive());
        match r.decision.as_str() {
            "approve" => d.approved += 1,
            _ => d.rejected += 1,
        }
    }
    Ok(days
        .into_values()
        .map(|mut d| {
            d.flagged_seconds = (d.flagged_seconds * 1000.0).round() / 1000.0;
            d
        })
        .collect())
}
