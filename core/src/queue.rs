//! Creating a job: the row, the upload it consumes and the queue entry are
//! written in one transaction, so there is never a job without work or work
//! without a job.

use apalis::prelude::TaskBuilder;
use cutroom_entities::{UploadStatus, job, upload};
use sea_orm::{
    ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryTrait, sea_query::Expr,
};
use sea_query_sqlx::SqlxValues;
use uuid::Uuid;

use crate::{
    db::{Database, Pool},
    jobs::{PIPELINE_QUEUE, PipelineTask},
    queries::events,
};

/// How many times the queue hands the same task out when a worker dies or
/// errors at the infrastructure level (pipeline failures end the job instead).
pub const MAX_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// The upload was completed (or expired) by someone else meanwhile.
    #[error("the upload is no longer pending")]
    UploadNotPending,
    #[error("enqueueing the pipeline task: {0}")]
    Queue(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// SQL built by sea-query from entity definitions, with bound values only:
/// nothing user-controlled is spliced into the text.
fn statement(db: &Database, q: &impl QueryTrait) -> (String, SqlxValues) {
    let st = q.build(db.backend());
    (
        st.sql,
        SqlxValues(st.values.unwrap_or(sea_orm::sea_query::Values(Vec::new()))),
    )
}

/// Inserts `job`, marks `upload_id` completed (when the job consumes an
/// upload) and enqueues its pipeline task, all or nothing.
pub async fn create_job(
    db: &Database,
    job: job::Model,
    upload_id: Option<Uuid>,
) -> Result<job::Model, EnqueueError> {
    let insert = job::Entity::insert(job.clone().into_active_model());
    let (insert_sql, insert_values) = statement(db, &insert);
    let consume = upload_id.map(|id| {
        let q = upload::Entity::update_many()
            .col_expr(upload::Column::Status, Expr::value(UploadStatus::Completed))
            .col_expr(upload::Column::JobId, Expr::value(Some(job.id)))
            .filter(upload::Column::Id.eq(id))
            .filter(upload::Column::TenantId.eq(job.tenant_id))
            .filter(upload::Column::Status.eq(UploadStatus::Pending));
        statement(db, &q)
    });
    let payload = serde_json::to_vec(&PipelineTask {
        tenant_id: job.tenant_id,
        job_id: job.id,
    })
    .expect("the payload is plain data");
    let task = TaskBuilder::new(payload).max_attempts(MAX_ATTEMPTS).build();

    match &db.pool {
        Pool::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            if let Some((sql, values)) = consume
                && sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    != 1
            {
                return Err(EnqueueError::UploadNotPending);
            }
            sqlx::query_with(sqlx::AssertSqlSafe(insert_sql), insert_values)
                .execute(&mut *tx)
                .await?;
            apalis_postgres::queries::push_tasks(&mut *tx, PIPELINE_QUEUE, vec![task])
                .await
                .map_err(|e| EnqueueError::Queue(e.to_string()))?;
            tx.commit().await?;
        }
        Pool::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            if let Some((sql, values)) = consume
                && sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    != 1
            {
                return Err(EnqueueError::UploadNotPending);
            }
            sqlx::query_with(sqlx::AssertSqlSafe(insert_sql), insert_values)
                .execute(&mut *tx)
                .await?;
            apalis_sqlite::queries::push_tasks(&mut *tx, PIPELINE_QUEUE, &[task])
                .await
                .map_err(|e| EnqueueError::Queue(e.to_string()))?;
            tx.commit().await?;
        }
    }
    // After the commit: the job is queued whether or not this is written,
    // and failing the request now would make the client submit it twice.
    if let Err(e) = events::record(
        &db.orm,
        job.tenant_id,
        job.id,
        "status",
        None,
        Some("queued".into()),
        None,
    )
    .await
    {
        tracing::warn!(job.id = %job.id, error = %e, "could not record the job's queued event");
    }
    Ok(job)
}
