//! Naming a tenant's past jobs' speakers again after a change to its
//! library: [`changed`] records the change, the housekeepers' relabel
//! round ([`relabel_round`]) runs [`relabel`] for every tenant whose
//! library moved on.

use chrono::Utc;
use cutroom_entities::{job_speaker, speaker_library};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, ExprTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use super::{BY_ENROLMENT, library, set_identity, voiceprint};
use crate::{
    config::SpeakerModel,
    voiceprints::{Identity, Thresholds},
};

/// Job speakers named again per page of [`relabel`].
const RELABEL_PAGE: u64 = 500;

/// Records a change to `tenant_id`'s library: its past jobs are to be
/// named again, by the next relabel round.
pub async fn changed(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<(), DbErr> {
    let row = speaker_library::ActiveModel {
        tenant_id: Set(tenant_id),
        revision: Set(1),
        labelled: Set(0),
        changed_at: Set(Utc::now()),
    };
    let revision = (speaker_library::Entity, speaker_library::Column::Revision);
    speaker_library::Entity::insert(row)
        .on_conflict(
            OnConflict::column(speaker_library::Column::TenantId)
                .value(
                    speaker_library::Column::Revision,
                    Expr::col(revision).add(1),
                )
                .update_column(speaker_library::Column::ChangedAt)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Whether `tenant_id`'s past jobs are still to be named again after a
/// change to its library.
pub async fn relabelling(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<bool, DbErr> {
    Ok(speaker_library::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .is_some_and(|l| l.labelled < l.revision))
}

/// The relabel round: names again the past jobs of every tenant whose
/// library changed since they were last named, oldest change first.
/// Returns how many job speakers changed name. A change made during the
/// round leaves its tenant for the next one.
pub async fn relabel_round(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let stale = speaker_library::Entity::find()
        .filter(
            Expr::col(speaker_library::Column::Labelled)
                .lt(Expr::col(speaker_library::Column::Revision)),
        )
        .order_by_asc(speaker_library::Column::ChangedAt)
        .all(db)
        .await?;
    let mut changed = 0;
    for lib in stale {
        let started = std::time::Instant::now();
        let n = relabel(db, lib.tenant_id).await?;
        speaker_library::Entity::update_many()
            .col_expr(speaker_library::Column::Labelled, Expr::value(lib.revision))
            .filter(speaker_library::Column::TenantId.eq(lib.tenant_id))
            .filter(speaker_library::Column::Labelled.lt(lib.revision))
            .exec(db)
            .await?;
        tracing::info!(
            tenant.id = %lib.tenant_id,
            revision = lib.revision,
            changed = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "past jobs' speakers named again"
        );
        changed += n;
    }
    Ok(changed)
}

/// Names every speaker of the tenant's jobs again against the library as
/// it is now, from their kept voiceprints; speakers a person enrolled keep
/// their name. Returns how many changed.
pub async fn relabel(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<u64, DbErr> {
    let mut changed = 0;
    for model in [SpeakerModel::CamPlus, SpeakerModel::DVector] {
        let has_any = job_speaker::Entity::find()
            .filter(job_speaker::Column::TenantId.eq(tenant_id))
            .filter(job_speaker::Column::Model.eq(model.as_str()))
            .count(db)
            .await?
            > 0;
        if !has_any {
            continue;
        }
        let library = library(db, tenant_id, model).await?;
        let thresholds = Thresholds::of(model);
        let mut after: Option<Uuid> = None;
        loop {
            let mut find = job_speaker::Entity::find()
                .filter(job_speaker::Column::TenantId.eq(tenant_id))
                .filter(job_speaker::Column::Model.eq(model.as_str()))
                .filter(
                    Condition::any()
                        .add(job_speaker::Column::NamedBy.is_null())
                        .add(job_speaker::Column::NamedBy.ne(BY_ENROLMENT)),
                );
            if let Some(id) = after {
                find = find.filter(job_speaker::Column::Id.gt(id));
            }
            let page = find
                .order_by_asc(job_speaker::Column::Id)
                .limit(RELABEL_PAGE)
                .all(db)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for row in page {
                let identity = voiceprint(&row)
                    .map(|v| library.identify(&v, thresholds))
                    .unwrap_or(Identity::UNKNOWN);
                let mut new = row.clone();
                set_identity(&mut new, identity);
                if new.speaker_id != row.speaker_id || new.similarity != row.similarity {
                    let mut am = row.into_active_model();
                    am.speaker_id = Set(new.speaker_id);
                    am.similarity = Set(new.similarity);
                    am.agreement = Set(new.agreement);
                    am.named_by = Set(new.named_by);
                    am.update(db).await?;
                    changed += 1;
                }
            }
        }
    }
    Ok(changed)
}
