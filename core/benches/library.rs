//! How long naming one job speaker takes against a speaker library of
//! 1,000, 10,000 and 100,000 samples (`cutroom_core::voiceprints`): the
//! exact scan the worker and the API run. Embeddings are random unit
//! vectors of CAM++'s 192 values (the scan's cost does not depend on what
//! they hold); ten samples a speaker. A known voice is one speaker's sample
//! with noise, heard in 16 segments (a few minutes of speech): it takes the
//! whole path, centroids then every segment's nearest sample. An unknown
//! voice (a random one) stops after the centroids.
//!
//! `cargo bench -p cutroom-core --bench library`

#![allow(clippy::print_stdout)]

use std::time::Instant;

use cutroom_core::{
    config::SpeakerModel,
    voiceprints::{Library, Segment, Thresholds, Voiceprint, unit},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use uuid::Uuid;

const DIM: usize = 192;
const SEGMENTS: usize = 16;
const ROUNDS: usize = 200;

fn random(rng: &mut StdRng) -> Vec<f32> {
    unit(
        &(0..DIM)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect::<Vec<_>>(),
    )
}

fn main() {
    let mut rng = StdRng::seed_from_u64(23);
    let thresholds = Thresholds::of(SpeakerModel::CamPlus);
    println!(
        "| samples | speakers | library build | known voice p50 | known voice p99 | unknown voice p50 | matrix |"
    );
    println!("|---|---|---|---|---|---|---|");
    for samples in [1_000usize, 10_000, 100_000] {
        let speakers: Vec<Uuid> = (0..samples / 10).map(|_| Uuid::new_v4()).collect();
        let rows: Vec<(Uuid, Vec<f32>)> = (0..samples)
            .map(|i| (speakers[i % speakers.len()], random(&mut rng)))
            .collect();
        let t = Instant::now();
        let library = Library::new(rows.clone());
        let build = t.elapsed();
        let mut known = Vec::with_capacity(ROUNDS);
        let mut unknown = Vec::with_capacity(ROUNDS);
        let mut named_right = 0;
        let mut named_unknown = 0;
        for round in 0..ROUNDS {
            // Speaker `who`'s voice: their samples' mean, each segment one
            // of their samples, all with noise.
            let (who, _) = rows[round % rows.len()];
            let theirs: Vec<&Vec<f32>> = rows
                .iter()
                .filter(|(o, _)| *o == who)
                .map(|(_, e)| e)
                .collect();
            let noisy = |v: &[f32], rng: &mut StdRng| {
                unit(
                    &v.iter()
                        .map(|x| x + rng.random_range(-0.02f32..0.02))
                        .collect::<Vec<_>>(),
                )
            };
            let mean = unit(
                &(0..DIM)
                    .map(|d| theirs.iter().map(|e| e[d]).sum::<f32>())
                    .collect::<Vec<f32>>(),
            );
            let voice = Voiceprint {
                label: "S1".into(),
                model: SpeakerModel::CamPlus,
                seconds: 128.0,
                centroid: noisy(&mean, &mut rng),
                segments: (0..SEGMENTS)
                    .map(|i| Segment {
                        start: i as f64 * 8.0,
                        end: i as f64 * 8.0 + 8.0,
                        speech: 8.0,
                        embedding: noisy(theirs[i % theirs.len()], &mut rng),
                    })
                    .collect(),
            };
            let t = Instant::now();
            let id = library.identify(&voice, thresholds);
            known.push(t.elapsed());
            named_right += usize::from(id.speaker_id == Some(who));
            let stranger = Voiceprint {
                centroid: random(&mut rng),
                segments: voice
                    .segments
                    .iter()
                    .map(|s| Segment {
                        embedding: random(&mut rng),
                        ..s.clone()
                    })
                    .collect(),
                ..voice
            };
            let t = Instant::now();
            let id = library.identify(&stranger, thresholds);
            unknown.push(t.elapsed());
            named_unknown += usize::from(id.speaker_id.is_some());
        }
        known.sort();
        unknown.sort();
        let at = |times: &[std::time::Duration], q: f64| {
            times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
        };
        println!(
            "| {samples} | {} | {:.1} ms | {:.2} ms | {:.2} ms | {:.3} ms | {:.1} MB |",
            library.speakers(),
            build.as_secs_f64() * 1e3,
            at(&known, 0.5),
            at(&known, 0.99),
            at(&unknown, 0.5),
            (samples * DIM * 4) as f64 / 1e6,
        );
        // The library must find the known voices and no random one; a
        // library that did not would be timing the wrong thing.
        assert_eq!(named_right, ROUNDS, "known voices not named");
        assert_eq!(named_unknown, 0, "random voices were named");
    }
}
