//! `GET /v1/admin/fleet`: everything the operator's fleet page shows in
//! one answer: the workers, the queue's depth and age, each tenant's load,
//! what ended in the last hour, failures by code, and running batches with
//! their rate and ETA.

use chrono::{DateTime, Utc};
use cutroom_core::queries::fleet;
use cutroom_entities::JobStatus;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Operator, WorkerList, worker_list};
use crate::{app::AppState, error::ApiError, extract::Json};

/// Running batches listed at most.
const MAX_BATCHES: u64 = 50;

/// The queue: jobs waiting, by where they wait, and how long the oldest a
/// worker could take has waited (the autoscaling signal).
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    /// Handed to the workers' queue, not yet taken.
    pub dispatched: u64,
    /// Waiting for one of their tenant's slots (`CUTROOM_TENANT_MAX_RUNNING`).
    pub waiting_for_slot: u64,
    /// Waiting for their retry time.
    pub retry_scheduled: u64,
    /// Seconds since the oldest dispatched job was handed over; `null`
    /// when none waits.
    pub oldest_dispatched_age_seconds: Option<f64>,
}

/// One tenant's jobs in the queue and running.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantLoadView {
    pub tenant_id: Uuid,
    pub name: String,
    pub queued: i64,
    pub running: i64,
    /// Seconds its oldest queued job has waited.
    pub oldest_queued_age_seconds: Option<f64>,
}

/// Jobs that ended in a period, by how.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Ended {
    pub succeeded: i64,
    pub failed: i64,
    pub cancelled: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FailureCount {
    /// The jobs' error code (`source_unavailable`, `worker_lost`, …).
    pub code: String,
    pub count: i64,
}

/// A batch whose recordings are running.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchRate {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub total: i64,
    /// Recordings that ended, failed ones included.
    pub ended: i64,
    pub failed: i64,
    /// Recordings ended per hour since it was unpacked.
    pub per_hour: Option<f64>,
    /// Seconds until the rest end at that rate; `null` until one ended.
    pub eta_seconds: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Fleet {
    pub generated_at: DateTime<Utc>,
    pub workers: WorkerList,
    pub queue: QueueView,
    /// Tenants with jobs queued or running, most queued first.
    pub tenants: Vec<TenantLoadView>,
    /// Jobs that ended in the last hour: the fleet's jobs per hour.
    pub last_hour: Ended,
    /// Failed jobs of the last 24 hours by error code, most first.
    pub failures_last_day: Vec<FailureCount>,
    pub batches: Vec<BatchRate>,
}

/// The fleet at a glance: workers, queue depth and age, load by tenant,
/// jobs per hour, failures by code, and running batches with rate and ETA.
#[utoipa::path(
    get, path = "/v1/admin/fleet", tag = "admin", security(("operator" = [])),
    responses(
        (status = 200, body = Fleet),
        (status = 401, description = "`unauthorized`: not the operator token", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no operator token is configured", body = ApiError, content_type = "application/problem+json"),
    )
)]
pub(super) async fn show_fleet(_: Operator, state: AppState) -> Result<Json<Fleet>, ApiError> {
    let db = &state.db.orm;
    let now = Utc::now();
    let age = |t: Option<DateTime<Utc>>| t.map(|t| fleet::age_seconds(t, now));
    let workers = worker_list(&state, now).await?;
    let depth = fleet::queue_depth(db).await?;
    let queue = QueueView {
        dispatched: depth.dispatched,
        waiting_for_slot: depth.waiting_for_slot,
        retry_scheduled: depth.retry_scheduled,
        oldest_dispatched_age_seconds: age(fleet::oldest_dispatched_at(db).await?),
    };
    let tenants = fleet::load_by_tenant(db)
        .await?
        .into_iter()
        .map(|t| TenantLoadView {
            tenant_id: t.tenant_id,
            name: t.name,
            queued: t.queued,
            running: t.running,
            oldest_queued_age_seconds: age(t.oldest_queued_at),
        })
        .collect();
    let mut last_hour = Ended::default();
    for (status, n) in fleet::ended_since(db, now - chrono::Duration::hours(1)).await? {
        match status {
            JobStatus::Succeeded => last_hour.succeeded = n,
            JobStatus::Failed => last_hour.failed = n,
            JobStatus::Cancelled => last_hour.cancelled = n,
            JobStatus::Queued | JobStatus::Running => {}
        }
    }
    let failures_last_day = fleet::failures_since(db, now - chrono::Duration::hours(24))
        .await?
        .into_iter()
        .map(|(code, count)| FailureCount { code, count })
        .collect();
    let batches = fleet::running_batches(db, MAX_BATCHES)
        .await?
        .into_iter()
        .map(|b| rate(b, now))
        .collect();
    Ok(Json(Fleet {
        generated_at: now,
        workers,
        queue,
        tenants,
        last_hour,
        failures_last_day,
        batches,
    }))
}

/// A batch's rate since it was unpacked, and when the rest will be done
/// at that rate.
fn rate(b: fleet::BatchProgress, now: DateTime<Utc>) -> BatchRate {
    let hours = b.unpacked_at.map(|t| fleet::age_seconds(t, now) / 3600.0);
    let per_hour = hours.filter(|h| *h > 0.0).map(|h| b.ended as f64 / h);
    let eta_seconds = per_hour
        .filter(|r| *r > 0.0)
        .map(|r| (b.total - b.ended).max(0) as f64 / r * 3600.0);
    BatchRate {
        id: b.id,
        tenant_id: b.tenant_id,
        name: b.name,
        total: b.total,
        ended: b.ended,
        failed: b.failed,
        per_hour,
        eta_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_eta_follows_its_rate_so_far() {
        let now = Utc::now();
        let b = fleet::BatchProgress {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            name: "archive".into(),
            unpacked_at: Some(now - chrono::Duration::hours(2)),
            total: 100,
            ended: 40,
            failed: 2,
        };
        let r = rate(b, now);
        assert!((r.per_hour.unwrap() - 20.0).abs() < 0.01, "{r:?}");
        assert!((r.eta_seconds.unwrap() - 3.0 * 3600.0).abs() < 1.0, "{r:?}");
        let none_yet = rate(
            fleet::BatchProgress {
                ended: 0,
                unpacked_at: Some(now - chrono::Duration::minutes(5)),
                ..fleet::BatchProgress {
                    id: Uuid::nil(),
                    tenant_id: Uuid::nil(),
                    name: String::new(),
                    unpacked_at: None,
                    total: 10,
                    ended: 0,
                    failed: 0,
                }
            },
            now,
        );
        assert_eq!(none_yet.eta_seconds, None, "no rate, no ETA");
    }
}
