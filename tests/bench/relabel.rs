//! How long the relabel round takes to name a tenant's past jobs again
//! after a change to its speaker library, on PostgreSQL and SQLite: the
//! work the housekeepers do in the background so that no request waits
//! for it (`cutroom_core::queries::speakers::relabel_round`).
//!
//! A tenant with a library of 1,000 or 10,000 samples (ten a speaker) and
//! 1,000 or 10,000 past job speakers, each with 16 kept segments (a few
//! minutes of speech). Half the job speakers are a library speaker's voice
//! with noise, half strangers. Embeddings are random unit vectors of
//! CAM++'s 192 values, as in `cargo bench -p cutroom-core --bench
//! library`. Every job speaker starts unknown, so the round names the half
//! that is known.
//!
//! `cargo bench -p cutroom-tests --bench relabel` (needs what
//! `bash .ci/setup --test` installs). Prints a Markdown table.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use chrono::Utc;
use cutroom_core::{
    config::SpeakerModel,
    queries::speakers as library,
    voiceprints::{self, Identity, Segment, Voiceprint, unit},
};
use cutroom_entities::{JobStatus, SourceType, job, job_speaker, speaker, speaker_sample};
use cutroom_tests::{Db, TestApp, email};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};
use uuid::Uuid;

const DIM: usize = 192;
const SEGMENTS: usize = 16;
/// Job speakers a job: jobs are made in proportion.
const PER_JOB: usize = 2;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| database | samples | job speakers | round | job speakers/s | named | set-up (not timed) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for db in [Db::Postgres, Db::Sqlite] {
        for (samples, voices) in [(1_000, 1_000), (1_000, 10_000), (10_000, 10_000)] {
            rt.block_on(run(db, samples, voices));
        }
    }
}

fn random(rng: &mut StdRng) -> Vec<f32> {
    unit(
        &(0..DIM)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect::<Vec<_>>(),
    )
}

fn noisy(v: &[f32], rng: &mut StdRng) -> Vec<f32> {
    unit(
        &v.iter()
            .map(|x| x + rng.random_range(-0.02f32..0.02))
            .collect::<Vec<_>>(),
    )
}

async fn run(db: Db, samples: usize, voices: usize) {
    let mut rng = StdRng::seed_from_u64(25);
    let app = TestApp::builder(db).without_worker().start().await;
    let s = app.signup(&email("relabel"), "Relabel").await;
    let tenant: Uuid = s.tenant_id.parse().unwrap();
    let orm = &app.app.db.orm;
    let setup = Instant::now();

    let now = Utc::now();
    let people: Vec<Uuid> = (0..samples / 10).map(|_| Uuid::now_v7()).collect();
    for (i, id) in people.iter().enumerate() {
        speaker::Model {
            id: *id,
            tenant_id: tenant,
            name: format!("Speaker {i}"),
            external_id: None,
            metadata: serde_json::json!({}),
            consent: true,
            created_at: now,
            updated_at: now,
        }
        .into_active_model()
        .insert(orm)
        .await
        .unwrap();
    }
    let mut theirs: Vec<Vec<Vec<f32>>> = vec![Vec::new(); people.len()];
    let rows: Vec<speaker_sample::ActiveModel> = (0..samples)
        .map(|i| {
            let who = i % people.len();
            let e = random(&mut rng);
            theirs[who].push(e.clone());
            speaker_sample::Model {
                id: Uuid::now_v7(),
                tenant_id: tenant,
                speaker_id: people[who],
                model: SpeakerModel::CamPlus.as_str().into(),
                seconds: 30.0,
                embedding: voiceprints::to_bytes(&e),
                source: library::FROM_UPLOAD.into(),
                job_id: None,
                label: None,
                ranges: None,
                created_at: now,
            }
            .into_active_model()
        })
        .collect();
    for chunk in rows.chunks(200) {
        speaker_sample::Entity::insert_many(chunk.to_vec())
            .exec(orm)
            .await
            .unwrap();
    }

    let mut jobs = Vec::with_capacity(voices / PER_JOB);
    let mut prints = Vec::with_capacity(voices);
    for j in 0..voices / PER_JOB {
        let job_id = Uuid::now_v7();
        jobs.push(job_row(tenant, job_id).into_active_model());
        for k in 0..PER_JOB {
            let n = j * PER_JOB + k;
            let mut voice = if n.is_multiple_of(2) {
                let who = &theirs[n / 2 % people.len()];
                let centre = unit(
                    &(0..DIM)
                        .map(|d| who.iter().map(|e| e[d]).sum::<f32>())
                        .collect::<Vec<_>>(),
                );
                voice(
                    noisy(&centre, &mut rng),
                    |i, rng| noisy(&who[i % who.len()], rng),
                    &mut rng,
                )
            } else {
                voice(random(&mut rng), |_, rng| random(rng), &mut rng)
            };
            voice.label = format!("S{}", k + 1);
            prints.push(
                library::job_speaker_row(tenant, job_id, &voice, Identity::UNKNOWN)
                    .into_active_model(),
            );
        }
    }
    for chunk in jobs.chunks(200) {
        job::Entity::insert_many(chunk.to_vec())
            .exec(orm)
            .await
            .unwrap();
    }
    // Voiceprints are large: a few rows a statement, as the worker writes them.
    for chunk in prints.chunks(8) {
        job_speaker::Entity::insert_many(chunk.to_vec())
            .exec(orm)
            .await
            .unwrap();
    }
    let setup = setup.elapsed();

    // This bench runs the round itself: the app's housekeeper must not
    // run it beside, so the bench holds the round's lease.
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while !cutroom_core::housekeeping::lease::take(
        orm,
        "relabel",
        "relabel-bench",
        Utc::now(),
        std::time::Duration::from_secs(3600),
    )
    .await
    .unwrap()
    {
        assert!(Instant::now() < deadline, "the relabel lease stayed taken");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    library::changed(orm, tenant).await.unwrap();
    let t = Instant::now();
    let named = library::relabel_round(orm).await.unwrap();
    let round = t.elapsed();
    assert!(!library::relabelling(orm, tenant).await.unwrap());
    println!(
        "| {db:?} | {samples} | {voices} | {:.1} s | {:.0} | {named} | {:.0} s |",
        round.as_secs_f64(),
        voices as f64 / round.as_secs_f64(),
        setup.as_secs_f64()
    );
}

fn voice(
    centroid: Vec<f32>,
    mut segment: impl FnMut(usize, &mut StdRng) -> Vec<f32>,
    rng: &mut StdRng,
) -> Voiceprint {
    Voiceprint {
        label: "S1".into(),
        model: SpeakerModel::CamPlus,
        seconds: 128.0,
        centroid,
        segments: (0..SEGMENTS)
            .map(|i| Segment {
                start: i as f64 * 8.0,
                end: i as f64 * 8.0 + 8.0,
                speech: 8.0,
                embedding: segment(i, rng),
            })
            .collect(),
    }
}

/// A finished job of `tenant`'s, as a row: the voiceprints hang off it.
fn job_row(tenant: Uuid, id: Uuid) -> job::Model {
    let now = Utc::now();
    job::Model {
        id,
        tenant_id: tenant,
        source_type: SourceType::Upload,
        source_url: None,
        upload_id: None,
        title: Some("talk.wav".into()),
        source_key: None,
        options: serde_json::json!({}),
        status: JobStatus::Succeeded,
        stage: None,
        progress: 100,
        error_code: None,
        error_message: None,
        cancel_requested: false,
        media: None,
        created_by: "bench".into(),
        created_at: now,
        updated_at: now,
        started_at: Some(now),
        finished_at: Some(now),
        parent_id: None,
        keep_source_hours: 0,
        kept_source_key: None,
        kept_source_until: None,
        clip_ranges: None,
        dispatched_at: None,
        attempts: 1,
        retry_at: None,
        enrols_speaker_id: None,
        unpacks_batch_id: None,
        batch_id: None,
        entry_path: None,
        metadata: None,
    }
}
