//! Webhook endpoints and their outbox. Messages are written by
//! [`enqueue`] beside the job event that causes them; API replicas lease
//! due messages with [`claim_due`], send them and write the outcome with
//! [`record_attempt`].

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use cutroom_entities::{webhook_delivery as delivery, webhook_endpoint as endpoint};
use rand::seq::SliceRandom;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::webhooks::{Payload, PayloadData};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// Attempts kept in a delivery's log; older ones are dropped first.
const LOG_LIMIT: usize = 30;

pub async fn list_endpoints(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<endpoint::Model>, DbErr> {
    endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(tenant_id))
        .order_by_asc(endpoint::Column::Id)
        .all(db)
        .await
}

pub async fn get_endpoint(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<endpoint::Model>, DbErr> {
    endpoint::Entity::find_by_id(id)
        .filter(endpoint::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

pub async fn insert_endpoint(
    db: &impl ConnectionTrait,
    row: endpoint::Model,
) -> Result<endpoint::Model, DbErr> {
    row.into_active_model().insert(db).await
}

/// Writes a changed endpoint back; the caller read it tenant-scoped.
pub async fn update_endpoint(
    db: &impl ConnectionTrait,
    row: endpoint::Model,
) -> Result<endpoint::Model, DbErr> {
    let mut am = row.into_active_model().reset_all();
    am.updated_at = Set(Utc::now());
    am.update(db).await
}

pub async fn delete_endpoint(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    // Its deliveries go with it (foreign key, cascade).
    let res = endpoint::Entity::delete_many()
        .filter(endpoint::Column::Id.eq(id))
        .filter(endpoint::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Writes one message per enabled endpoint of the tenant that subscribed
/// to `event_type`. Returns how many.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
    event_type: &str,
    stage: Option<&str>,
    details: Option<&Value>,
    at: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let endpoints: Vec<endpoint::Model> = list_endpoints(db, tenant_id)
        .await?
        .into_iter()
        .filter(|e| e.enabled && subscribes(e, event_type))
        .collect();
    if endpoints.is_empty() {
        return Ok(0);
    }
    let body = serde_json::to_string(&Payload {
        event_type,
        timestamp: at,
        data: PayloadData {
            job_id,
            stage,
            details,
        },
    })
    .expect("the payload is plain data");
    let rows: Vec<delivery::ActiveModel> = endpoints
        .iter()
        .map(|e| {
            delivery::Model {
                id: Uuid::now_v7(),
                tenant_id,
                endpoint_id: e.id,
                event_type: event_type.to_owned(),
                job_id: Some(job_id),
                payload: body.clone(),
                status: PENDING.into(),
                attempts: 0,
                next_attempt_at: at,
                lease_until: None,
                log: Value::Array(Vec::new()),
                created_at: at,
                delivered_at: None,
            }
            .into_active_model()
        })
        .collect();
    let n = rows.len();
    delivery::Entity::insert_many(rows).exec(db).await?;
    Ok(n)
}

fn subscribes(e: &endpoint::Model, event_type: &str) -> bool {
    e.event_types
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t.as_str() == Some(event_type)))
}

/// How many messages may be in flight at once, across every sender: per
/// tenant and per endpoint, so one tenant's slow receivers hold at most
/// its own share and never another tenant's deliveries.
#[derive(Clone, Copy, Debug)]
pub struct Fairness {
    pub per_tenant: usize,
    pub per_endpoint: usize,
}

/// Leases up to `limit` messages that are due for `lease`, within
/// `fair`'s shares (messages leased by any sender count as in flight).
/// Endpoints take turns in random order, each sending its oldest first.
/// A row leased by another sender is skipped; a lease that ran out (its
/// sender died) is taken over.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
    fair: Fairness,
) -> Result<Vec<(delivery::Model, endpoint::Model)>, DbErr> {
    let claimable = || {
        delivery::Entity::find()
            .filter(delivery::Column::Status.eq(PENDING))
            .filter(delivery::Column::NextAttemptAt.lte(now))
            .filter(
                Condition::any()
                    .add(delivery::Column::LeaseUntil.is_null())
                    .add(delivery::Column::LeaseUntil.lt(now)),
            )
    };
    // What every sender has in flight now.
    let busy: Vec<(Uuid, Uuid)> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::TenantId)
        .column(delivery::Column::EndpointId)
        .filter(delivery::Column::Status.eq(PENDING))
        .filter(delivery::Column::LeaseUntil.gte(now))
        .into_tuple()
        .all(db)
        .await?;
    let mut per_tenant: HashMap<Uuid, usize> = HashMap::new();
    let mut per_endpoint: HashMap<Uuid, usize> = HashMap::new();
    for (tenant, endpoint) in busy {
        *per_tenant.entry(tenant).or_default() += 1;
        *per_endpoint.entry(endpoint).or_default() += 1;
    }
    let mut waiting: Vec<(Uuid, Uuid)> = claimable()
        .select_only()
        .column(delivery::Column::TenantId)
        .column(delivery::Column::EndpointId)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    waiting.shuffle(&mut rand::rng());

    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(1));
    let mut claimed = Vec::new();
    for (tenant, endpoint_id) in waiting {
        let room = fair
            .per_tenant
            .saturating_sub(per_tenant.get(&tenant).copied().unwrap_or(0))
            .min(
                fair.per_endpoint
                    .saturating_sub(per_endpoint.get(&endpoint_id).copied().unwrap_or(0)),
            )
            .min(limit - claimed.len());
        if room == 0 {
            if claimed.len() == limit {
                break;
            }
            continue;
        }
        let due = claimable()
            .filter(delivery::Column::EndpointId.eq(endpoint_id))
            .order_by_asc(delivery::Column::NextAttemptAt)
            .limit(room as u64)
            .all(db)
            .await?;
        let Some(e) = endpoint::Entity::find_by_id(endpoint_id).one(db).await? else {
            continue;
        };
        for d in due {
            // Only one sender's update matches the lease it read.
            let mut q = delivery::Entity::update_many()
                .col_expr(delivery::Column::LeaseUntil, Expr::value(Some(until)))
                .filter(delivery::Column::Id.eq(d.id))
                .filter(delivery::Column::Status.eq(PENDING));
            q = match d.lease_until {
                None => q.filter(delivery::Column::LeaseUntil.is_null()),
                Some(l) => q.filter(delivery::Column::LeaseUntil.eq(l)),
            };
            if q.exec(db).await?.rows_affected != 1 {
                continue;
            }
            *per_tenant.entry(tenant).or_default() += 1;
            *per_endpoint.entry(endpoint_id).or_default() += 1;
            claimed.push((
                delivery::Model {
                    lease_until: Some(until),
                    ..d
                },
                e.clone(),
            ));
        }
    }
    Ok(claimed)
}

/// One attempt, as the delivery log shows it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; `null` when there was no answer.
    pub status_code: Option<u16>,
    /// Why it failed: a non-2xx status, a timeout, a refused address, ...
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// What to do after an attempt.
pub enum Next {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// The schedule is used up.
    GiveUp,
}

/// Writes an attempt's outcome on the message and on its endpoint (the
/// run of failures that disables it). Returns whether the endpoint was
/// disabled by this attempt.
pub async fn record_attempt(
    db: &impl ConnectionTrait,
    d: &delivery::Model,
    attempt: Attempt,
    next: Next,
    disable_after: Duration,
) -> Result<bool, DbErr> {
    let mut log: Vec<Value> = d.log.as_array().cloned().unwrap_or_default();
    log.push(serde_json::to_value(&attempt).expect("plain data"));
    if log.len() > LOG_LIMIT {
        log.drain(..log.len() - LOG_LIMIT);
    }
    let mut am = d.clone().into_active_model();
    am.attempts = Set(d.attempts + 1);
    am.log = Set(Value::Array(log));
    am.lease_until = Set(None);
    let ok = matches!(next, Next::Delivered);
    match next {
        Next::Delivered => {
            am.status = Set(DELIVERED.into());
            am.delivered_at = Set(Some(attempt.at));
        }
        Next::RetryAt(at) => am.next_attempt_at = Set(at),
        Next::GiveUp => am.status = Set(FAILED.into()),
    }
    am.update(db).await?;

    let Some(e) = endpoint::Entity::find_by_id(d.endpoint_id).one(db).await? else {
        return Ok(false);
    };
    if ok {
        if e.failing_since.is_some() {
            endpoint::Entity::update_many()
                .col_expr(
                    endpoint::Column::FailingSince,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(endpoint::Column::Id.eq(e.id))
                .exec(db)
                .await?;
        }
        return Ok(false);
    }
    let since = e.failing_since.unwrap_or(attempt.at);
    let failing_for = (attempt.at - since).to_std().unwrap_or_default();
    if e.enabled && failing_for >= disable_after {
        disable(db, &e, since).await?;
        return Ok(true);
    }
    if e.failing_since.is_none() {
        endpoint::Entity::update_many()
            .col_expr(endpoint::Column::FailingSince, Expr::value(Some(since)))
            .filter(endpoint::Column::Id.eq(e.id))
            .exec(db)
            .await?;
    }
    Ok(false)
}

/// Turns an endpoint off after failing since `since`, and ends its waiting
/// messages as `failed`; they can be redelivered once it works again.
async fn disable(
    db: &impl ConnectionTrait,
    e: &endpoint::Model,
    since: DateTime<Utc>,
) -> Result<(), DbErr> {
    let reason = format!(
        "every attempt since {} failed; fix the receiver, then enable the endpoint and redeliver",
        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    // The messages first: whoever sees the endpoint disabled then finds
    // them ended too (the API's delivery log, a redelivery's check).
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(FAILED))
        .col_expr(
            delivery::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(delivery::Column::EndpointId.eq(e.id))
        .filter(delivery::Column::Status.eq(PENDING))
        .exec(db)
        .await?;
    let mut am = e.clone().into_active_model();
    am.enabled = Set(false);
    am.disabled_reason = Set(Some(reason));
    am.failing_since = Set(Some(since));
    am.updated_at = Set(Utc::now());
    am.update(db).await?;
    Ok(())
}

/// An endpoint's messages, newest first. `before` is the last id of the
/// previous page.
pub async fn list_deliveries(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<delivery::Model>, DbErr> {
    let mut q = delivery::Entity::find()
        .filter(delivery::Column::TenantId.eq(tenant_id))
        .filter(delivery::Column::EndpointId.eq(endpoint_id));
    if let Some(s) = status {
        q = q.filter(delivery::Column::Status.eq(s));
    }
    if let Some(b) = before {
        q = q.filter(delivery::Column::Id.lt(b));
    }
    q.order_by_desc(delivery::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn get_delivery(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    id: Uuid,
) -> Result<Option<delivery::Model>, DbErr> {
    delivery::Entity::find_by_id(id)
        .filter(delivery::Column::TenantId.eq(tenant_id))
        .filter(delivery::Column::EndpointId.eq(endpoint_id))
        .one(db)
        .await
}

/// Sends a message again, with a fresh schedule; its id stays, so the
/// receiver can tell it is the same message.
pub async fn redeliver(
    db: &impl ConnectionTrait,
    d: delivery::Model,
) -> Result<delivery::Model, DbErr> {
    let mut am = d.into_active_model();
    am.status = Set(PENDING.into());
    am.attempts = Set(0);
    am.next_attempt_at = Set(Utc::now());
    am.lease_until = Set(None);
    am.delivered_at = Set(None);
    am.update(db).await
}
