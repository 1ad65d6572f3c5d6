//! Tenants, users and memberships.

use cutroom_entities::{Role, membership, tenant, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, sea_query::Expr,
};
use uuid::Uuid;

/// Emails are stored lower-cased; callers normalise before looking up.
pub async fn user_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await
}

pub async fn user_by_id(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

pub async fn tenant(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find_by_id(id).one(db).await
}

pub async fn insert_tenant(
    db: &impl ConnectionTrait,
    t: tenant::Model,
) -> Result<tenant::Model, DbErr> {
    t.into_active_model().insert(db).await
}

pub async fn insert_user(db: &impl ConnectionTrait, u: user::Model) -> Result<user::Model, DbErr> {
    u.into_active_model().insert(db).await
}

pub async fn insert_membership(
    db: &impl ConnectionTrait,
    m: membership::Model,
) -> Result<membership::Model, DbErr> {
    m.into_active_model().insert(db).await
}

pub async fn membership(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Option<membership::Model>, DbErr> {
    membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// The membership of whoever has `email`, in one query whether or not the
/// address has an account, so that asking tells nothing by its timing.
pub async fn member_by_email(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    email: &str,
) -> Result<Option<membership::Model>, DbErr> {
    let user_ids = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Email.eq(email))
        .into_query();
    membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant_id))
        .filter(membership::Column::UserId.in_subquery(user_ids))
        .one(db)
        .await
}

/// A user's tenants, oldest membership first (the first is the login default).
pub async fn memberships_of_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<(membership::Model, tenant::Model)>, DbErr> {
    let ms = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .order_by_asc(membership::Column::CreatedAt)
        .order_by_asc(membership::Column::Id)
        .all(db)
        .await?;
    let tenants = tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(ms.iter().map(|m| m.tenant_id)))
        .all(db)
        .await?;
    Ok(ms
        .into_iter()
        .filter_map(|m| {
            tenants
                .iter()
                .find(|t| t.id == m.tenant_id)
                .cloned()
                .map(|t| (m, t))
        })
        .collect())
}

/// A tenant's members with their users, oldest first.
pub async fn members(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<(membership::Model, user::Model)>, DbErr> {
    let ms = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant_id))
        .order_by_asc(membership::Column::CreatedAt)
        .order_by_asc(membership::Column::Id)
        .all(db)
        .await?;
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(ms.iter().map(|m| m.user_id)))
        .all(db)
        .await?;
    Ok(ms
        .into_iter()
        .filter_map(|m| {
            users
                .iter()
                .find(|u| u.id == m.user_id)
                .cloned()
                .map(|u| (m, u))
        })
        .collect())
}

pub async fn count_owners(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<u64, DbErr> {
    membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant_id))
        .filter(membership::Column::Role.eq(Role::Owner))
        .count(db)
        .await
}

pub async fn set_role(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<bool, DbErr> {
    let res = membership::Entity::update_many()
        .col_expr(membership::Column::Role, Expr::value(role))
        .filter(membership::Column::TenantId.eq(tenant_id))
        .filter(membership::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn remove_member(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<bool, DbErr> {
    let res = membership::Entity::delete_many()
        .filter(membership::Column::TenantId.eq(tenant_id))
        .filter(membership::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
