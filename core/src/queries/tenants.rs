//! A tenant's settings. `None` means no such tenant; a tenant that never
//! changed its settings reads as [`TenantSettings::default`].

use cutroom_entities::tenant;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use crate::tenants::TenantSettings;

pub async fn settings(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Option<TenantSettings>, DbErr> {
    load(db, tenant_id, false).await
}

/// The same, with the row locked until the transaction ends (PostgreSQL;
/// SQLite serialises writers anyway), for a read-modify-write that must not
/// lose a concurrent change to another section.
pub async fn settings_for_update(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Option<TenantSettings>, DbErr> {
    load(db, tenant_id, true).await
}

/// Replaces the whole document; the caller has validated it.
pub async fn replace_settings(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    settings: &TenantSettings,
) -> Result<bool, DbErr> {
    let json = serde_json::to_value(settings).map_err(|e| DbErr::Json(e.to_string()))?;
    let res = tenant::Entity::update_many()
        .col_expr(tenant::Column::Settings, Expr::value(Some(json)))
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

async fn load(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    lock: bool,
) -> Result<Option<TenantSettings>, DbErr> {
    let mut q = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Settings)
        .filter(tenant::Column::Id.eq(tenant_id));
    if lock {
        q = q.lock_exclusive();
    }
    let Some(stored) = q.into_tuple::<Option<serde_json::Value>>().one(db).await? else {
        return Ok(None);
    };
    // Only validated documents are written, so one that does not parse was
    // written by a newer version (a section this one does not know) or by hand.
    stored
        .map(serde_json::from_value)
        .transpose()
        .map(|s| Some(s.unwrap_or_default()))
        .map_err(|e| DbErr::Json(format!("settings of tenant {tenant_id}: {e}")))
}
