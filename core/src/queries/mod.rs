//! Tenant-scoped queries. Every function takes the tenant id as an
//! argument and filters on it, so no query path can forget it; a row of
//! another tenant reads exactly like a row that does not exist. (The
//! worker registry, `workers`, is the fleet's own and has no tenant.)

pub mod artifacts;
pub mod batches;
pub mod clips;
pub mod events;
pub mod fleet;
pub mod idempotency;
pub mod jobs;
pub mod review;
pub mod speakers;
pub mod tenants;
pub mod transcripts;
pub mod uploads;
pub mod usage;
pub mod webhooks;
pub mod workers;

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel};

/// Inserts `rows` a batch at a time, so no statement goes past SQLite's
/// limit on bound parameters however many rows a job writes.
pub(crate) async fn insert_batched<M, A>(
    db: &impl ConnectionTrait,
    rows: Vec<M>,
    per_batch: usize,
) -> Result<(), DbErr>
where
    M: IntoActiveModel<A> + Clone,
    A: ActiveModelTrait + Send,
{
    for batch in rows.chunks(per_batch) {
        <A::Entity as EntityTrait>::insert_many(
            batch
                .iter()
                .cloned()
                .map(IntoActiveModel::into_active_model),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// `%`, `_` and the escape character itself match literally.
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
