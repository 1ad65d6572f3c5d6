//! Usage records and quotas (see [`crate::usage`]).

use chrono::Utc;
use cutroom_entities::{tenant, usage_record};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr, sea_query::OnConflict,
};
use uuid::Uuid;

use crate::usage::{Month, QUOTA_STAGE};

/// What one stage of one job processed and cost.
#[derive(Clone, Debug, Default)]
pub struct Metered<'a> {
    pub stage: &'a str,
    /// The model it ran (`whisper:base`, `deepgram:nova-3`).
    pub model: Option<&'a str>,
    pub media_seconds: f64,
    /// US dollars; `None` when the stage has no price.
    pub cost_usd: Option<f64>,
    /// How it chose what it ran (the router's report).
    pub detail: Option<serde_json::Value>,
}

/// Records what a stage of a job processed. A stage that already has its
/// record (an earlier attempt got this far) keeps it: a tenant is not
/// charged twice for a job that a crash made run again.
pub async fn record(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
    m: Metered<'_>,
) -> Result<(), DbErr> {
    let row = usage_record::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        job_id: Set(job_id),
        stage: Set(m.stage.to_owned()),
        model: Set(m.model.map(str::to_owned)),
        media_seconds: Set(m.media_seconds),
        recorded_at: Set(Utc::now()),
        cost_usd: Set(m.cost_usd),
        detail: Set(m.detail),
    };
    usage_record::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([usage_record::Column::JobId, usage_record::Column::Stage])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// One job's usage records, in the order they were recorded.
pub async fn of_job(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
) -> Result<Vec<usage_record::Model>, DbErr> {
    usage_record::Entity::find()
        .filter(usage_record::Column::TenantId.eq(tenant_id))
        .filter(usage_record::Column::JobId.eq(job_id))
        .order_by_asc(usage_record::Column::RecordedAt)
        .order_by_asc(usage_record::Column::Id)
        .all(db)
        .await
}

/// What a tenant's jobs cost in `month`, US dollars.
pub async fn spent(db: &impl ConnectionTrait, tenant_id: Uuid, month: Month) -> Result<f64, DbErr> {
    let records = in_month(month).filter(usage_record::Column::TenantId.eq(tenant_id));
    sum_of(db, records, usage_record::Column::CostUsd).await
}

/// Every tenant's cost in `month`, for the operator; tenants with none
/// are left out.
pub async fn spent_by_tenant(
    db: &impl ConnectionTrait,
    month: Month,
) -> Result<Vec<(Uuid, f64)>, DbErr> {
    let rows = sum_by_tenant(db, in_month(month), usage_record::Column::CostUsd).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(t, c)| Some((t, c?)))
        .collect())
}

/// One line of a month's usage.
#[derive(Clone, Debug, PartialEq)]
pub struct StageUsage {
    pub stage: String,
    pub model: Option<String>,
    pub seconds: f64,
    pub jobs: i64,
    /// US dollars; 0 when no record of the line has a cost.
    pub cost_usd: f64,
}

/// A tenant's usage in `month` by stage and model, in stage then model order.
pub async fn by_stage(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    month: Month,
) -> Result<Vec<StageUsage>, DbErr> {
    type Row = (String, Option<String>, Option<f64>, i64, Option<f64>);
    let rows: Vec<Row> = in_month(month)
        .filter(usage_record::Column::TenantId.eq(tenant_id))
        .select_only()
        .column(usage_record::Column::Stage)
        .column(usage_record::Column::Model)
        .column_as(usage_record::Column::MediaSeconds.sum(), "seconds")
        .column_as(usage_record::Column::Id.count(), "jobs")
        .column_as(usage_record::Column::CostUsd.sum(), "cost")
        .group_by(usage_record::Column::Stage)
        .group_by(usage_record::Column::Model)
        .order_by_asc(usage_record::Column::Stage)
        .order_by_asc(usage_record::Column::Model)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(stage, model, seconds, jobs, cost)| StageUsage {
            stage,
            model,
            seconds: seconds.unwrap_or_default(),
            jobs,
            cost_usd: cost.unwrap_or_default(),
        })
        .collect())
}

/// The seconds of media that count towards a tenant's quota in `month`.
pub async fn quota_seconds(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    month: Month,
) -> Result<f64, DbErr> {
    let records = in_month(month)
        .filter(usage_record::Column::TenantId.eq(tenant_id))
        .filter(usage_record::Column::Stage.eq(QUOTA_STAGE));
    sum_of(db, records, usage_record::Column::MediaSeconds).await
}

/// Every tenant's media seconds in `month`, for the operator; tenants with
/// none are left out.
pub async fn quota_seconds_by_tenant(
    db: &impl ConnectionTrait,
    month: Month,
) -> Result<Vec<(Uuid, f64)>, DbErr> {
    let records = in_month(month).filter(usage_record::Column::Stage.eq(QUOTA_STAGE));
    let rows = sum_by_tenant(db, records, usage_record::Column::MediaSeconds).await?;
    Ok(rows
        .into_iter()
        .map(|(t, s)| (t, s.unwrap_or_default()))
        .collect())
}

/// The sum of `column` over `records` (0 when there are none).
async fn sum_of(
    db: &impl ConnectionTrait,
    records: sea_orm::Select<usage_record::Entity>,
    column: usage_record::Column,
) -> Result<f64, DbErr> {
    let sum: Option<Option<f64>> = records
        .select_only()
        .column_as(column.sum(), "total")
        .into_tuple()
        .one(db)
        .await?;
    Ok(sum.flatten().unwrap_or_default())
}

/// The sum of `column` over `records`, per tenant that has any.
async fn sum_by_tenant(
    db: &impl ConnectionTrait,
    records: sea_orm::Select<usage_record::Entity>,
    column: usage_record::Column,
) -> Result<Vec<(Uuid, Option<f64>)>, DbErr> {
    records
        .select_only()
        .column(usage_record::Column::TenantId)
        .column_as(column.sum(), "total")
        .group_by(usage_record::Column::TenantId)
        .into_tuple()
        .all(db)
        .await
}

fn in_month(month: Month) -> sea_orm::Select<usage_record::Entity> {
    usage_record::Entity::find()
        .filter(usage_record::Column::RecordedAt.gte(month.start()))
        .filter(usage_record::Column::RecordedAt.lt(month.end()))
}

/// The tenant's own quota in minutes (`Some(None)`: none of its own, the
/// server's default applies); `None`: no such tenant.
pub async fn tenant_quota(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Option<Option<i64>>, DbErr> {
    tenant::Entity::find_by_id(tenant_id)
        .select_only()
        .column(tenant::Column::QuotaMediaMinutes)
        .into_tuple()
        .one(db)
        .await
}

/// The quota that applies to a tenant now: its own, else `default` (the
/// server's). A tenant that no longer exists has the default.
pub async fn quota(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    default: Option<i64>,
) -> Result<Option<i64>, DbErr> {
    let own = tenant_quota(db, tenant_id).await?.flatten();
    Ok(crate::usage::effective_quota(own, default))
}

/// Whether a job's source has been counted towards its tenant's quota (by
/// an earlier attempt, or an earlier run before an admin retry).
pub async fn charged(db: &impl ConnectionTrait, job_id: Uuid) -> Result<bool, DbErr> {
    Ok(usage_record::Entity::find()
        .filter(usage_record::Column::JobId.eq(job_id))
        .filter(usage_record::Column::Stage.eq(QUOTA_STAGE))
        .one(db)
        .await?
        .is_some())
}

/// Sets (or with `None` clears) a tenant's own quota; false when there is
/// no such tenant.
pub async fn set_tenant_quota(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    minutes: Option<i64>,
) -> Result<bool, DbErr> {
    let res = tenant::Entity::update_many()
        .col_expr(tenant::Column::QuotaMediaMinutes, Expr::value(minutes))
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Every tenant with its name and own quota, oldest first, for the
/// operator's usage list.
pub async fn tenants(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<(Uuid, String, Option<i64>)>, DbErr> {
    tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .column(tenant::Column::Name)
        .column(tenant::Column::QuotaMediaMinutes)
        .order_by_asc(tenant::Column::CreatedAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}
