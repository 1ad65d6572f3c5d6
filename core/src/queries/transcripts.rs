//! Transcripts: written by the worker in one transaction, read and searched
//! by the API.

use cutroom_entities::{transcript, transcript_segment};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};
use uuid::Uuid;

/// Stores a job's transcript, replacing any earlier one (a re-run).
pub async fn replace(
    db: &DatabaseConnection,
    meta: transcript::Model,
    segments: Vec<transcript_segment::Model>,
) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    transcript_segment::Entity::delete_many()
        .filter(transcript_segment::Column::TenantId.eq(meta.tenant_id))
        .filter(transcript_segment::Column::JobId.eq(meta.job_id))
        .exec(&txn)
        .await?;
    transcript::Entity::delete_by_id(meta.job_id)
        .filter(transcript::Column::TenantId.eq(meta.tenant_id))
        .exec(&txn)
        .await?;
    transcript::Entity::insert(meta.into_active_model())
        .exec_without_returning(&txn)
        .await?;
    super::insert_batched::<_, transcript_segment::ActiveModel>(&txn, segments, 200).await?;
    txn.commit().await
}

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
) -> Result<Option<(transcript::Model, Vec<transcript_segment::Model>)>, DbErr> {
    let Some(meta) = transcript::Entity::find_by_id(job_id)
        .filter(transcript::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let segments = transcript_segment::Entity::find()
        .filter(transcript_segment::Column::TenantId.eq(tenant_id))
        .filter(transcript_segment::Column::JobId.eq(job_id))
        .order_by_asc(transcript_segment::Column::Idx)
        .all(db)
        .await?;
    Ok(Some((meta, segments)))
}

/// One segment of a job's transcript.
pub async fn segment(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
    idx: i32,
) -> Result<Option<transcript_segment::Model>, DbErr> {
    transcript_segment::Entity::find()
        .filter(transcript_segment::Column::TenantId.eq(tenant_id))
        .filter(transcript_segment::Column::JobId.eq(job_id))
        .filter(transcript_segment::Column::Idx.eq(idx))
        .one(db)
        .await
}

/// Replaces a segment's text and words with a person's correction.
pub async fn correct_segment(
    db: &impl ConnectionTrait,
    row: transcript_segment::Model,
    text: String,
    words: serde_json::Value,
) -> Result<transcript_segment::Model, DbErr> {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let mut active = row.into_active_model();
    active.text = Set(text);
    active.words = Set(words);
    active.edited_at = Set(Some(chrono::Utc::now()));
    active.update(db).await
}

/// Segments of the tenant's transcripts containing every word of `query`
/// (case-insensitive), newest jobs first; only those spoken by one of
/// `voices` (job, label) when given.
pub async fn search(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    query: &str,
    voices: Option<&[(Uuid, String)]>,
    limit: u64,
) -> Result<Vec<transcript_segment::Model>, DbErr> {
    let mut q = transcript_segment::Entity::find()
        .filter(transcript_segment::Column::TenantId.eq(tenant_id));
    for term in query.split_whitespace() {
        let pattern = format!("%{}%", super::escape_like(&term.to_lowercase()));
        q = q.filter(
            Expr::expr(Func::lower(Expr::col(transcript_segment::Column::Text)))
                .like(LikeExpr::new(pattern).escape('\\')),
        );
    }
    if let Some(voices) = voices {
        let mut any = sea_orm::Condition::any();
        for (job, label) in voices {
            any = any.add(
                sea_orm::Condition::all()
                    .add(transcript_segment::Column::JobId.eq(*job))
                    .add(transcript_segment::Column::Speaker.eq(label.as_str())),
            );
        }
        // No voices: nothing matches (an empty `any` would match all).
        if voices.is_empty() {
            return Ok(Vec::new());
        }
        q = q.filter(any);
    }
    q.order_by_desc(transcript_segment::Column::JobId)
        .order_by_asc(transcript_segment::Column::Idx)
        .limit(limit)
        .all(db)
        .await
}
