//! Stored `Idempotency-Key` requests. The unique index on (tenant, key)
//! decides which of two concurrent first requests runs; the other sees it
//! in progress.
//!
//! Keys belong to the credential that sent them: the stored key is the
//! client's key behind its owner (`user:<id>` or `api_key:<id>`, see
//! [`stored_key`]), so one credential never gets another's answer.

use chrono::{DateTime, Duration, Utc};
use cutroom_entities::idempotency_key as idem;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, SqlErr, sea_query::Expr,
};
use uuid::Uuid;

/// How long a key's response is kept.
pub const TTL: Duration = Duration::hours(24);
/// A first request that has not been answered after this long died with
/// its process; its key may be used again.
const ABANDONED_AFTER: Duration = Duration::minutes(10);

/// What to do with a request that carries a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// The first request with this key: run it, then [`complete`] `id`.
    Fresh(Uuid),
    /// Answered before: send this again.
    Replay {
        status: u16,
        body: String,
        content_type: Option<String>,
    },
    /// The first request with this key is still running.
    InProgress,
    /// The key was used with another request.
    Mismatch,
}

/// The key as stored: `owner` (who sent it) and the client's own key.
fn stored_key(owner: &str, key: &str) -> String {
    format!("{owner} {key}")
}

/// Claims `key` of `owner` for a request, or says what became of the
/// request that claimed it first.
pub async fn begin(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    owner: &str,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<Begin, DbErr> {
    let key = &stored_key(owner, key);
    // Twice at most: a stale row found on the first try is removed.
    for _ in 0..2 {
        let row = idem::Model {
            id: Uuid::now_v7(),
            tenant_id,
            key: key.to_owned(),
            request_hash: request_hash.to_owned(),
            status_code: None,
            response_body: None,
            content_type: None,
            created_at: now,
            expires_at: now + TTL,
        };
        let id = row.id;
        match row.into_active_model().insert(db).await {
            Ok(_) => return Ok(Begin::Fresh(id)),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
            Err(e) => return Err(e),
        }
        let Some(found) = idem::Entity::find()
            .filter(idem::Column::TenantId.eq(tenant_id))
            .filter(idem::Column::Key.eq(key))
            .one(db)
            .await?
        else {
            continue; // removed meanwhile
        };
        let stale = found.expires_at <= now
            || (found.status_code.is_none() && now - found.created_at > ABANDONED_AFTER);
        if stale {
            idem::Entity::delete_by_id(found.id).exec(db).await?;
            continue;
        }
        if found.request_hash != request_hash {
            return Ok(Begin::Mismatch);
        }
        return Ok(match (found.status_code, found.response_body) {
            (Some(status), Some(body)) => Begin::Replay {
                status: u16::try_from(status).unwrap_or(500),
                body,
                content_type: found.content_type,
            },
            _ => Begin::InProgress,
        });
    }
    Ok(Begin::InProgress)
}

/// Stores the response of the first request.
pub async fn complete(
    db: &impl ConnectionTrait,
    id: Uuid,
    status: u16,
    body: &str,
    content_type: Option<&str>,
) -> Result<(), DbErr> {
    idem::Entity::update_many()
        .col_expr(
            idem::Column::StatusCode,
            Expr::value(Some(i32::from(status))),
        )
        .col_expr(idem::Column::ResponseBody, Expr::value(Some(body)))
        .col_expr(idem::Column::ContentType, Expr::value(content_type))
        .filter(idem::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets a key whose request failed in a way a retry may fix (5xx).
pub async fn abandon(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    idem::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Removes expired keys; returns how many.
pub async fn sweep(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(idem::Entity::delete_many()
        .filter(idem::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected)
}
