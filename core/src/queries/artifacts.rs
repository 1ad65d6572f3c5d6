//! A job's outputs as recorded after upload.

use cutroom_entities::artifact;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    sea_query::OnConflict,
};
use uuid::Uuid;

/// Records an output; a re-run of the same job replaces the row of the same name.
pub async fn upsert(db: &impl ConnectionTrait, a: artifact::Model) -> Result<(), DbErr> {
    artifact::Entity::insert(a.into_active_model())
        .on_conflict(
            OnConflict::columns([artifact::Column::JobId, artifact::Column::Name])
                .update_columns([
                    artifact::Column::ObjectKey,
                    artifact::Column::ContentType,
                    artifact::Column::SizeBytes,
                    artifact::Column::Sha256,
                    artifact::Column::Models,
                    artifact::Column::CreatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
) -> Result<Vec<artifact::Model>, DbErr> {
    artifact::Entity::find()
        .filter(artifact::Column::TenantId.eq(tenant_id))
        .filter(artifact::Column::JobId.eq(job_id))
        .order_by_asc(artifact::Column::Name)
        .all(db)
        .await
}
