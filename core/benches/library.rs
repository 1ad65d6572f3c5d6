//! How long naming one job speaker takes against a speaker library of
//! 1,000, 10,000 and 100,000 samples (`cutroom_core::voiceprints`): the
//! exact scan the worker and the API run. Embeddings are random unit
//! vectors of CAM++'s 192 values (the scan's cost does not depend on what
//! they hold); ten samples a speaker; the job speaker has 16 segments, a
//! few minutes of speech.
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
    println!("| samples | speakers | library build | identify p50 | identify p99 | matrix |");
    println!("|---|---|---|---|---|---|");
    for samples in [1_000usize, 10_000, 100_000] {
        let speakers: Vec<Uuid> = (0..samples / 10).map(|_| Uuid::new_v4()).collect();
        let rows: Vec<(Uuid, Vec<f32>)> = (0..samples)
            .map(|i| (speakers[i % speakers.len()], random(&mut rng)))
            .collect();
        let t = Instant::now();
        let library = Library::new(rows);
        let build = t.elapsed();
        let mut times = Vec::with_capacity(ROUNDS);
        let mut named = 0;
        for _ in 0..ROUNDS {
            let segments: Vec<Segment> = (0..SEGMENTS)
                .map(|i| Segment {
                    start: i as f64 * 8.0,
                    end: i as f64 * 8.0 + 8.0,
                    speech: 8.0,
                    embedding: random(&mut rng),
                })
                .collect();
            let voice = Voiceprint {
                label: "S1".into(),
                model: SpeakerModel::CamPlus,
                seconds: 128.0,
                centroid: random(&mut rng),
                segments,
            };
            let t = Instant::now();
            let id = library.identify(&voice, thresholds);
            times.push(t.elapsed());
            named += usize::from(id.speaker_id.is_some());
        }
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!(
            "| {samples} | {} | {:.1} ms | {:.2} ms | {:.2} ms | {:.1} MB |",
            library.speakers(),
            build.as_secs_f64() * 1e3,
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            (samples * DIM * 4) as f64 / 1e6,
        );
        // Random voices are nobody: a library that named them would be
        // broken.
        assert_eq!(named, 0, "random voices were named");
    }
}
