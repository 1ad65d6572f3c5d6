//! Webhook endpoints, managed by admins, and their delivery log. The
//! signing secret is shown once, at creation.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cutroom_core::{
    queries::webhooks::{self as outbox, Attempt},
    webhooks::{self, EVENT_TYPES},
};
use cutroom_entities::{webhook_delivery as delivery, webhook_endpoint as endpoint};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::ProblemCode;
use crate::{
    app::AppState,
    auth::AuthContext,
    error::ApiError,
    extract::{Json, Path, Query},
    validate,
};

/// Endpoints one tenant may have.
const MAX_ENDPOINTS: usize = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(list_deliveries))
        .routes(routes!(redeliver))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where messages are posted: http or https, at a public address.
    #[schema(example = "https://example.com/hooks/cutroom")]
    pub url: String,
    /// The event types sent to it (at least one): `job.created`,
    /// `job.stage_completed`, `job.succeeded`, `job.failed`,
    /// `job.cancelled`, `moderation.flagged`, `clips.ready`.
    #[schema(example = json!(["job.succeeded", "job.failed"]))]
    pub events: Vec<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// `true` turns a disabled endpoint back on (messages that failed while
    /// it was off can then be redelivered).
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why Cutroom disabled it: every attempt failed for
    /// `CUTROOM_WEBHOOK_DISABLE_AFTER_HOURS`.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; `null` when the last worked.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The signing secret, `whsec_` and base64 (Standard Webhooks). Shown
    /// only now: store it to verify `webhook-signature`.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<Webhook>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    /// The message's `webhook-id`, the same on every attempt.
    pub id: Uuid,
    pub event_type: String,
    pub job_id: Option<Uuid>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// When the next attempt is due, while `pending`.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first (the last 30).
    pub log: Vec<Attempt>,
    /// The body as sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDelivery>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only messages in this state: `pending`, `delivered` or `failed`.
    pub status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

impl From<endpoint::Model> for Webhook {
    fn from(e: endpoint::Model) -> Self {
        Webhook {
            id: e.id,
            url: e.url,
            description: e.description,
            events: serde_json::from_value(e.event_types).unwrap_or_default(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

impl From<delivery::Model> for WebhookDelivery {
    fn from(d: delivery::Model) -> Self {
        WebhookDelivery {
            id: d.id,
            event_type: d.event_type,
            job_id: d.job_id,
            next_attempt_at: (d.status == outbox::PENDING).then_some(d.next_attempt_at),
            status: d.status,
            attempts: d.attempts,
            log: serde_json::from_value(d.log).unwrap_or_default(),
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

fn check_url(state: &AppState, raw: &str) -> Result<String, ApiError> {
    webhooks::check_url(raw, &state.config.webhooks.private_hosts)
        .map(|u| u.to_string())
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProblemCode::InvalidWebhookUrl,
                e.to_string(),
            )
        })
}

fn check_events(events: &[String]) -> Result<serde_json::Value, ApiError> {
    if events.is_empty() {
        return Err(ApiError::validation(
            "events must name at least one event type",
        ));
    }
    let mut chosen: Vec<&str> = Vec::new();
    for e in events {
        let Some(t) = EVENT_TYPES.iter().find(|t| **t == e) else {
            return Err(ApiError::validation(format!(
                "events: {e:?} is not one of {}",
                EVENT_TYPES.join(", ")
            )));
        };
        if !chosen.contains(t) {
            chosen.push(t);
        }
    }
    Ok(serde_json::json!(chosen))
}

/// Add a webhook endpoint.
#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created; the signing secret is in `secret` and is not shown again", body = WebhookCreated),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`too_many_webhooks`: 20 endpoints already", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_webhook_url`, `validation_failed`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn create_endpoint(
    state: AppState,
    ctx: AuthContext,
    Json(req): Json<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    ctx.require_admin()?;
    let url = check_url(&state, &req.url)?;
    let event_types = check_events(&req.events)?;
    let description = validate::text_or_empty("description", &req.description, 200)?;
    let db = &state.db.orm;
    if outbox::list_endpoints(db, ctx.tenant_id).await?.len() >= MAX_ENDPOINTS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::TooManyWebhooks,
            format!("a tenant has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"),
        ));
    }
    let secret = webhooks::new_secret();
    let now = Utc::now();
    let row = outbox::insert_endpoint(
        db,
        endpoint::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            url,
            description,
            event_types,
            secret: state.sealer.seal(ctx.tenant_id, &secret),
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            created_by: ctx.actor_id().to_string(),
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    tracing::info!(webhook.endpoint = %row.id, "webhook endpoint created");
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreated {
            webhook: row.into(),
            secret,
        }),
    ))
}

/// The tenant's webhook endpoints, oldest first.
#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoints, without secrets", body = WebhookList),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_endpoints(state: AppState, ctx: AuthContext) -> Result<Json<WebhookList>, ApiError> {
    ctx.require_admin()?;
    let items = outbox::list_endpoints(&state.db.orm, ctx.tenant_id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(WebhookList { items }))
}

async fn find(state: &AppState, ctx: &AuthContext, id: Uuid) -> Result<endpoint::Model, ApiError> {
    outbox::get_endpoint(&state.db.orm, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// One webhook endpoint.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = Webhook),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_endpoint(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<Webhook>, ApiError> {
    ctx.require_admin()?;
    Ok(Json(find(&state, &ctx, id).await?.into()))
}

/// Change an endpoint: its URL, events, description, or turn it on or off.
#[utoipa::path(
    patch, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook endpoint id")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "Changed", body = Webhook),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_webhook_url`, `validation_failed`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn update_endpoint(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateWebhookRequest>,
) -> Result<Json<Webhook>, ApiError> {
    ctx.require_admin()?;
    let mut row = find(&state, &ctx, id).await?;
    if let Some(url) = &req.url {
        row.url = check_url(&state, url)?;
    }
    if let Some(events) = &req.events {
        row.event_types = check_events(events)?;
    }
    if let Some(d) = &req.description {
        row.description = validate::text_or_empty("description", d, 200)?;
    }
    match req.enabled {
        Some(true) => {
            row.enabled = true;
            row.disabled_reason = None;
            row.failing_since = None;
        }
        Some(false) => {
            row.enabled = false;
            row.disabled_reason = Some(format!("disabled by {}", ctx.actor_id()));
        }
        None => {}
    }
    let row = outbox::update_endpoint(&state.db.orm, row).await?;
    tracing::info!(webhook.endpoint = %row.id, enabled = row.enabled, "webhook endpoint changed");
    Ok(Json(row.into()))
}

/// Delete an endpoint and its delivery log.
#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn delete_endpoint(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    ctx.require_admin()?;
    if !outbox::delete_endpoint(&state.db.orm, ctx.tenant_id, id).await? {
        return Err(ApiError::not_found("webhook"));
    }
    tracing::info!(webhook.endpoint = %id, "webhook endpoint deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's messages and their attempts, newest first.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook endpoint id"), DeliveryQuery),
    responses(
        (status = 200, description = "A page of messages", body = WebhookDeliveryPage),
        (status = 400, description = "`invalid_query`", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_deliveries(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<WebhookDeliveryPage>, ApiError> {
    ctx.require_admin()?;
    find(&state, &ctx, id).await?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit must be between 1 and 100"));
    }
    if let Some(s) = q.status.as_deref()
        && ![outbox::PENDING, outbox::DELIVERED, outbox::FAILED].contains(&s)
    {
        return Err(ApiError::validation(
            "status must be pending, delivered or failed",
        ));
    }
    let mut rows = outbox::list_deliveries(
        &state.db.orm,
        ctx.tenant_id,
        id,
        q.status.as_deref(),
        q.cursor,
        u64::from(limit) + 1,
    )
    .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|d| d.id)
    } else {
        None
    };
    Ok(Json(WebhookDeliveryPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// Send a message again, now, with a fresh schedule of attempts. Its
/// `webhook-id` stays the same.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Webhook endpoint id"),
        ("delivery_id" = Uuid, Path, description = "The message's id (`webhook-id`)"),
    ),
    responses(
        (status = 202, description = "Queued for sending", body = WebhookDelivery),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`webhook_disabled`: enable the endpoint first", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn redeliver(
    state: AppState,
    ctx: AuthContext,
    Path((id, delivery_id)): Path<(Uuid, Uuid)>,
) -> Result<(StatusCode, Json<WebhookDelivery>), ApiError> {
    ctx.require_admin()?;
    let endpoint = find(&state, &ctx, id).await?;
    if !endpoint.enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::WebhookDisabled,
            "the endpoint is disabled; enable it first",
        ));
    }
    let db = &state.db.orm;
    let d = outbox::get_delivery(db, ctx.tenant_id, id, delivery_id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    let d = outbox::redeliver(db, d).await?;
    tracing::info!(webhook.id = %d.id, "webhook redelivery requested");
    Ok((StatusCode::ACCEPTED, Json(d.into())))
}
