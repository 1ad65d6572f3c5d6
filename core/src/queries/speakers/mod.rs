//! The speaker library and the voiceprints jobs keep
//! ([`crate::voiceprints`]). Every change to the library ends with
//! [`changed`], which bumps the library's revision; the housekeepers'
//! relabel round then runs [`relabel`] ([`relabel_round`]), which names
//! the tenant's past jobs' speakers again from their kept voiceprints.

use std::collections::HashMap;

use chrono::Utc;
use cutroom_entities::{job_speaker, speaker, speaker_sample};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, Func, LikeExpr},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod relabel;

pub use relabel::{changed, relabel, relabel_round, relabelling};

use crate::{
    config::SpeakerModel,
    voiceprints::{self, Identity, Library, Segment, Voiceprint},
};

/// `named_by` of a job speaker the library matched by voice.
pub const BY_VOICE: &str = "voice";
/// `named_by` of a job speaker a person enrolled: it stays theirs.
pub const BY_ENROLMENT: &str = "enrolment";
/// `source` of a sample taken from a job's diarized speaker.
pub const FROM_JOB_SPEAKER: &str = "job_speaker";
/// `source` of a sample taken from time ranges of a job.
pub const FROM_JOB_RANGES: &str = "job_ranges";
/// `source` of a sample uploaded as a file; its `job_id` is the job that
/// enrolled it.
pub const FROM_UPLOAD: &str = "upload";

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<speaker::Model>, DbErr> {
    speaker::Entity::find_by_id(id)
        .filter(speaker::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// The tenant's speakers by name, those whose name contains `q`
/// (case-insensitive) when given.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    q: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<Vec<speaker::Model>, DbErr> {
    let mut find = speaker::Entity::find().filter(speaker::Column::TenantId.eq(tenant_id));
    if let Some(q) = q {
        let pattern = format!("%{}%", super::escape_like(&q.to_lowercase()));
        find = find.filter(
            Expr::expr(Func::lower(Expr::col(speaker::Column::Name)))
                .like(LikeExpr::new(pattern).escape('\\')),
        );
    }
    find.order_by_asc(speaker::Column::Name)
        .order_by_asc(speaker::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await
}

pub async fn by_external_id(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    external_id: &str,
) -> Result<Option<speaker::Model>, DbErr> {
    speaker::Entity::find()
        .filter(speaker::Column::TenantId.eq(tenant_id))
        .filter(speaker::Column::ExternalId.eq(external_id))
        .one(db)
        .await
}

pub async fn insert(
    db: &impl ConnectionTrait,
    row: speaker::Model,
) -> Result<speaker::Model, DbErr> {
    row.into_active_model().insert(db).await
}

/// Writes a changed speaker back; the caller read it tenant-scoped.
pub async fn update(
    db: &impl ConnectionTrait,
    row: speaker::Model,
) -> Result<speaker::Model, DbErr> {
    let mut am = row.into_active_model().reset_all();
    am.updated_at = Set(Utc::now());
    am.update(db).await
}

/// Deletes a speaker and their samples; the jobs they were named in
/// become unknown (then [`relabel`] may name them as someone else).
pub async fn delete(db: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<bool, DbErr> {
    forget_names(db, tenant_id, id).await?;
    let res = speaker::Entity::delete_many()
        .filter(speaker::Column::Id.eq(id))
        .filter(speaker::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Job speakers named `id` become unknown.
async fn forget_names(db: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<(), DbErr> {
    job_speaker::Entity::update_many()
        .col_expr(
            job_speaker::Column::SpeakerId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(
            job_speaker::Column::NamedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            job_speaker::Column::Similarity,
            Expr::value(Option::<f32>::None),
        )
        .col_expr(
            job_speaker::Column::Agreement,
            Expr::value(Option::<f32>::None),
        )
        .filter(job_speaker::Column::TenantId.eq(tenant_id))
        .filter(job_speaker::Column::SpeakerId.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves `from`'s samples and jobs to `into` and deletes `from`. Both were
/// read tenant-scoped by the caller, in the same transaction.
pub async fn merge(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    into: Uuid,
    from: Uuid,
) -> Result<(), DbErr> {
    speaker_sample::Entity::update_many()
        .col_expr(speaker_sample::Column::SpeakerId, Expr::value(into))
        .filter(speaker_sample::Column::TenantId.eq(tenant_id))
        .filter(speaker_sample::Column::SpeakerId.eq(from))
        .exec(db)
        .await?;
    job_speaker::Entity::update_many()
        .col_expr(job_speaker::Column::SpeakerId, Expr::value(into))
        .filter(job_speaker::Column::TenantId.eq(tenant_id))
        .filter(job_speaker::Column::SpeakerId.eq(from))
        .exec(db)
        .await?;
    speaker::Entity::delete_many()
        .filter(speaker::Column::Id.eq(from))
        .filter(speaker::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    speaker::Entity::update_many()
        .col_expr(speaker::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(speaker::Column::Id.eq(into))
        .filter(speaker::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// How many samples and jobs each of `ids` has.
pub async fn counts(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, (u64, u64)>, DbErr> {
    let mut out: HashMap<Uuid, (u64, u64)> = ids.iter().map(|id| (*id, (0, 0))).collect();
    if ids.is_empty() {
        return Ok(out);
    }
    let samples: Vec<(Uuid, i64)> = speaker_sample::Entity::find()
        .select_only()
        .column(speaker_sample::Column::SpeakerId)
        .column_as(speaker_sample::Column::Id.count(), "n")
        .filter(speaker_sample::Column::TenantId.eq(tenant_id))
        .filter(speaker_sample::Column::SpeakerId.is_in(ids.iter().copied()))
        .group_by(speaker_sample::Column::SpeakerId)
        .into_tuple()
        .all(db)
        .await?;
    for (id, n) in samples {
        out.entry(id).or_default().0 = n as u64;
    }
    let jobs: Vec<(Option<Uuid>, i64)> = job_speaker::Entity::find()
        .select_only()
        .column(job_speaker::Column::SpeakerId)
        .column_as(Expr::col(job_speaker::Column::JobId).count_distinct(), "n")
        .filter(job_speaker::Column::TenantId.eq(tenant_id))
        .filter(job_speaker::Column::SpeakerId.is_in(ids.iter().copied()))
        .group_by(job_speaker::Column::SpeakerId)
        .into_tuple()
        .all(db)
        .await?;
    for (id, n) in jobs {
        if let Some(id) = id {
            out.entry(id).or_default().1 = n as u64;
        }
    }
    Ok(out)
}

pub async fn samples(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    speaker_id: Uuid,
) -> Result<Vec<speaker_sample::Model>, DbErr> {
    speaker_sample::Entity::find()
        .filter(speaker_sample::Column::TenantId.eq(tenant_id))
        .filter(speaker_sample::Column::SpeakerId.eq(speaker_id))
        .order_by_asc(speaker_sample::Column::CreatedAt)
        .order_by_asc(speaker_sample::Column::Id)
        .all(db)
        .await
}

pub async fn insert_sample(
    db: &impl ConnectionTrait,
    row: speaker_sample::Model,
) -> Result<speaker_sample::Model, DbErr> {
    row.into_active_model().insert(db).await
}

pub async fn delete_sample(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    speaker_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let res = speaker_sample::Entity::delete_many()
        .filter(speaker_sample::Column::Id.eq(id))
        .filter(speaker_sample::Column::SpeakerId.eq(speaker_id))
        .filter(speaker_sample::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// How many samples were taken from `job_id`.
pub async fn samples_from_job(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
) -> Result<u64, DbErr> {
    speaker_sample::Entity::find()
        .filter(speaker_sample::Column::TenantId.eq(tenant_id))
        .filter(speaker_sample::Column::JobId.eq(job_id))
        .count(db)
        .await
}

/// The tenant's samples of `model` as one library.
pub async fn library(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    model: SpeakerModel,
) -> Result<Library, DbErr> {
    let rows: Vec<(Uuid, Vec<u8>)> = speaker_sample::Entity::find()
        .select_only()
        .column(speaker_sample::Column::SpeakerId)
        .column(speaker_sample::Column::Embedding)
        .filter(speaker_sample::Column::TenantId.eq(tenant_id))
        .filter(speaker_sample::Column::Model.eq(model.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(Library::new(rows.into_iter().filter_map(
        |(owner, bytes)| voiceprints::from_bytes(&bytes).map(|e| (owner, e)),
    )))
}

/// One segment as `job_speakers.segments` keeps it (its embedding is in
/// `segment_embeddings`).
#[derive(Debug, Serialize, Deserialize)]
struct KeptSegment {
    start: f64,
    end: f64,
    speech: f64,
}

/// The row for a job's speaker and who they were found to be.
pub fn job_speaker_row(
    tenant_id: Uuid,
    job_id: Uuid,
    voice: &Voiceprint,
    identity: Identity,
) -> job_speaker::Model {
    let segments: Vec<KeptSegment> = voice
        .segments
        .iter()
        .map(|s| KeptSegment {
            start: s.start,
            end: s.end,
            speech: s.speech,
        })
        .collect();
    let embeddings: Vec<Vec<f32>> = voice.segments.iter().map(|s| s.embedding.clone()).collect();
    let mut row = job_speaker::Model {
        id: Uuid::now_v7(),
        tenant_id,
        job_id,
        label: voice.label.clone(),
        model: voice.model.as_str().to_owned(),
        seconds: voice.seconds,
        centroid: voiceprints::to_bytes(&voice.centroid),
        segments: serde_json::to_value(segments).expect("segments are plain data"),
        segment_embeddings: voiceprints::many_to_bytes(&embeddings),
        speaker_id: None,
        similarity: None,
        agreement: None,
        named_by: None,
        created_at: Utc::now(),
    };
    set_identity(&mut row, identity);
    row
}

fn set_identity(row: &mut job_speaker::Model, id: Identity) {
    row.speaker_id = id.speaker_id;
    row.similarity = id.speaker_id.map(|_| id.similarity);
    row.agreement = id.speaker_id.map(|_| id.agreement);
    row.named_by = id.speaker_id.map(|_| BY_VOICE.to_owned());
}

/// The voiceprint a job speaker row keeps; `None` when the row cannot be
/// read back (another model's length, a damaged blob).
pub fn voiceprint(row: &job_speaker::Model) -> Option<Voiceprint> {
    let model: SpeakerModel = row.model.parse().ok()?;
    let centroid = voiceprints::from_bytes(&row.centroid)?;
    let kept: Vec<KeptSegment> = serde_json::from_value(row.segments.clone()).ok()?;
    let embeddings = if kept.is_empty() {
        Vec::new()
    } else {
        voiceprints::many_from_bytes(&row.segment_embeddings, centroid.len())?
    };
    if embeddings.len() != kept.len() {
        return None;
    }
    Some(Voiceprint {
        label: row.label.clone(),
        model,
        seconds: row.seconds,
        centroid,
        segments: kept
            .into_iter()
            .zip(embeddings)
            .map(|(k, embedding)| Segment {
                start: k.start,
                end: k.end,
                speech: k.speech,
                embedding,
            })
            .collect(),
    })
}

/// Replaces a job's voiceprints (a job run again finds its speakers anew).
pub async fn replace_job_speakers(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
    rows: Vec<job_speaker::Model>,
) -> Result<(), DbErr> {
    job_speaker::Entity::delete_many()
        .filter(job_speaker::Column::TenantId.eq(tenant_id))
        .filter(job_speaker::Column::JobId.eq(job_id))
        .exec(db)
        .await?;
    // Blobs are large: a few rows a statement.
    super::insert_batched(db, rows, 8).await
}

/// A job's speakers, `S1` first.
pub async fn job_speakers(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
) -> Result<Vec<job_speaker::Model>, DbErr> {
    let mut rows = job_speaker::Entity::find()
        .filter(job_speaker::Column::TenantId.eq(tenant_id))
        .filter(job_speaker::Column::JobId.eq(job_id))
        .all(db)
        .await?;
    rows.sort_by_key(|r| (r.label.len(), r.label.clone()));
    Ok(rows)
}

/// Marks a job's speaker as enrolled as `speaker_id` by a person.
/// Records what a job enrolling an uploaded recording found: its
/// voiceprints, `voices[main]` named `speaker_id` by enrolment, and the
/// sample, and the library's change. One transaction, which replaces what
/// an earlier attempt of the same job wrote. `None` when the speaker is gone (deleted meanwhile).
#[allow(clippy::too_many_arguments)]
pub async fn enrol_recording(
    db: &sea_orm::DatabaseConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    speaker_id: Uuid,
    voices: &[Voiceprint],
    main: usize,
    sample: &voiceprints::SampleVoice,
) -> Result<Option<speaker_sample::Model>, DbErr> {
    let tx = crate::db::begin_write(db).await?;
    if get(&tx, tenant_id, speaker_id).await?.is_none() {
        return Ok(None);
    }
    speaker_sample::Entity::delete_many()
        .filter(speaker_sample::Column::TenantId.eq(tenant_id))
        .filter(speaker_sample::Column::JobId.eq(job_id))
        .exec(&tx)
        .await?;
    let rows: Vec<job_speaker::Model> = voices
        .iter()
        .map(|v| job_speaker_row(tenant_id, job_id, v, Identity::UNKNOWN))
        .collect();
    let named = rows[main].clone();
    replace_job_speakers(&tx, tenant_id, job_id, rows).await?;
    assign(&tx, named, speaker_id).await?;
    let row = insert_sample(
        &tx,
        speaker_sample::Model {
            id: Uuid::now_v7(),
            tenant_id,
            speaker_id,
            model: voices[main].model.as_str().to_owned(),
            seconds: sample.seconds,
            embedding: voiceprints::to_bytes(&sample.embedding),
            source: FROM_UPLOAD.to_owned(),
            job_id: Some(job_id),
            label: Some(voices[main].label.clone()),
            ranges: None,
            created_at: Utc::now(),
        },
    )
    .await?;
    changed(&tx, tenant_id).await?;
    tx.commit().await?;
    Ok(Some(row))
}

pub async fn assign(
    db: &impl ConnectionTrait,
    row: job_speaker::Model,
    speaker_id: Uuid,
) -> Result<(), DbErr> {
    let mut am = row.into_active_model();
    am.speaker_id = Set(Some(speaker_id));
    am.named_by = Set(Some(BY_ENROLMENT.to_owned()));
    am.similarity = Set(None);
    am.agreement = Set(None);
    am.update(db).await?;
    Ok(())
}

/// Who each label of a job is: `label -> (speaker id, name)`, for the
/// labels the library named.
pub async fn names(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_ids: &[Uuid],
) -> Result<HashMap<(Uuid, String), (Uuid, String)>, DbErr> {
    if job_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, String, Uuid, String)> = job_speaker::Entity::find()
        .select_only()
        .column(job_speaker::Column::JobId)
        .column(job_speaker::Column::Label)
        .column(job_speaker::Column::SpeakerId)
        .column_as(Expr::col((speaker::Entity, speaker::Column::Name)), "name")
        .join(
            sea_orm::JoinType::InnerJoin,
            job_speaker::Entity::belongs_to(speaker::Entity)
                .from(job_speaker::Column::SpeakerId)
                .to(speaker::Column::Id)
                .into(),
        )
        .filter(job_speaker::Column::TenantId.eq(tenant_id))
        .filter(speaker::Column::TenantId.eq(tenant_id))
        .filter(job_speaker::Column::JobId.is_in(job_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(job, label, id, name)| ((job, label), (id, name)))
        .collect())
}

/// The jobs (and their labels) where `speaker_id` was named.
pub async fn appearances(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    speaker_id: Uuid,
) -> Result<Vec<(Uuid, String)>, DbErr> {
    job_speaker::Entity::find()
        .select_only()
        .column(job_speaker::Column::JobId)
        .column(job_speaker::Column::Label)
        .filter(job_speaker::Column::TenantId.eq(tenant_id))
        .filter(job_speaker::Column::SpeakerId.eq(speaker_id))
        .order_by_desc(job_speaker::Column::CreatedAt)
        .into_tuple()
        .all(db)
        .await
}
