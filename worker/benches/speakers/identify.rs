//! Identification: council members enrolled from one meeting and named in
//! their others, first as whole clips against a mean of clips, then through
//! the speaker library's own rule.

use std::time::Instant;

use cutroom_worker::bench::{Models, SpeakerModel};

use crate::{MODELS, THREADS, cosine, data::Clip, is_tune, unit};

/// Council members only (they have several meetings): each enrolled from
/// the meeting with most of their clips (the mean of those clips), then
/// each clip of another meeting named by the nearest enrolled speaker when
/// the cosine reaches the threshold, else unknown. Within each half, every
/// member is left out of the library once, so that their clips test the
/// unknown answer. The threshold is the lowest that keeps false accepts at
/// or under 2 % on the tune half.
pub(crate) fn identification(clips: &[Clip], enrolled: &[(SpeakerModel, Vec<Vec<f32>>)]) {
    println!(
        "| model | threshold (tune) | tune: right / false accepts | held-out: right / false accepts | held-out trials (known / unknown) |"
    );
    println!("|---|---|---|---|---|");
    for (model, embeddings) in enrolled {
        let council: Vec<usize> = (0..clips.len())
            .filter(|&i| !clips[i].speaker.starts_with("spk"))
            .collect();
        let trials = |tune: bool| -> Vec<(f32, bool, bool)> {
            // (best score, best is right, trial of a known speaker)
            let members: Vec<&String> = {
                let mut m: Vec<&String> = council
                    .iter()
                    .map(|&i| &clips[i].speaker)
                    .filter(|s| is_tune(s) == tune)
                    .collect();
                m.sort();
                m.dedup();
                m
            };
            let mut out = Vec::new();
            for left_out in &members {
                let mut library: Vec<(&String, String, Vec<f32>)> = Vec::new();
                for m in &members {
                    if m == left_out {
                        continue;
                    }
                    let home = home_meeting(clips, &council, m);
                    let mut sum = vec![0.0f32; embeddings[0].len()];
                    for &i in council
                        .iter()
                        .filter(|&&i| &clips[i].speaker == *m && &clips[i].session == home)
                    {
                        for (s, x) in sum.iter_mut().zip(&embeddings[i]) {
                            *s += x;
                        }
                    }
                    library.push((m, home.clone(), unit(&sum)));
                }
                for &i in &council {
                    let c = &clips[i];
                    if is_tune(&c.speaker) != tune {
                        continue;
                    }
                    let known = &c.speaker != *left_out;
                    // Known speakers are tested away from their enrolment meeting.
                    if known
                        && library
                            .iter()
                            .any(|(m, home, _)| **m == c.speaker && *home == c.session)
                    {
                        continue;
                    }
                    let (best, score) = library
                        .iter()
                        .map(|(m, _, e)| (*m, cosine(e, &embeddings[i])))
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .expect("a library");
                    out.push((score, *best == c.speaker, known));
                }
            }
            out
        };
        let tune = trials(true);
        let held = trials(false);
        let outcome = |t: &[(f32, bool, bool)], threshold: f32| -> (f64, f64, usize, usize) {
            let known: Vec<_> = t.iter().filter(|x| x.2).collect();
            let unknown: Vec<_> = t.iter().filter(|x| !x.2).collect();
            let right = known.iter().filter(|x| x.0 >= threshold && x.1).count();
            let false_accepts = unknown.iter().filter(|x| x.0 >= threshold).count()
                + known.iter().filter(|x| x.0 >= threshold && !x.1).count();
            (
                right as f64 / known.len().max(1) as f64,
                false_accepts as f64 / t.len().max(1) as f64,
                known.len(),
                unknown.len(),
            )
        };
        let mut candidates: Vec<f32> = tune.iter().map(|x| x.0).collect();
        candidates.sort_by(f32::total_cmp);
        let threshold = candidates
            .iter()
            .copied()
            .find(|&t| outcome(&tune, t).1 <= 0.02)
            .unwrap_or(1.0);
        let (tr, tf, _, _) = outcome(&tune, threshold);
        let (hr, hf, hk, hu) = outcome(&held, threshold);
        println!(
            "| {} | {threshold:.3} | {:.1} % / {:.1} % | {:.1} % / {:.1} % | {hk} / {hu} |",
            model.as_str(),
            tr * 100.0,
            tf * 100.0,
            hr * 100.0,
            hf * 100.0
        );
    }
}

/// The meeting with most of `member`'s clips among `council`: where they
/// are enrolled in the identification trials.
fn home_meeting<'a>(clips: &'a [Clip], council: &[usize], member: &str) -> &'a String {
    let mine: Vec<usize> = council
        .iter()
        .copied()
        .filter(|&i| clips[i].speaker == member)
        .collect();
    let mut sessions: Vec<&String> = mine.iter().map(|&i| &clips[i].session).collect();
    sessions.sort();
    sessions.dedup();
    sessions
        .into_iter()
        .max_by_key(|s| mine.iter().filter(|&&i| &clips[i].session == *s).count())
        .expect("a member has clips")
}

/// The identification trials of [`identification`] through the speaker
/// library itself: every home-meeting clip of a member is one sample (the
/// centroid a job would keep), each clip of another meeting is a job
/// speaker's voiceprint made as the speakers stage makes it, and
/// `Library::identify` decides with the thresholds the product ships
/// (`Thresholds::of`), not ones chosen here.
pub(crate) fn library_rule(models: &Models, clips: &[Clip]) {
    use cutroom_core::voiceprints::{Library, Thresholds};
    println!(
        "| model | thresholds (centroid, vote) | tune: right / false accepts | held-out: right / false accepts | held-out trials (known / unknown) | name ms per trial |"
    );
    println!("|---|---|---|---|---|---|");
    let council: Vec<usize> = (0..clips.len())
        .filter(|&i| !clips[i].speaker.starts_with("spk"))
        .collect();
    for model in MODELS {
        let mut voices = models.voices(THREADS, model).expect("speaker model");
        let samples: Vec<Vec<f32>> = council
            .iter()
            .map(|&i| voices.embed(&clips[i].samples).expect("embedding"))
            .collect();
        let prints: Vec<_> = council
            .iter()
            .map(|&i| voices.voiceprint(&clips[i].samples).expect("voiceprint"))
            .collect();
        let t = Thresholds::of(model);
        let mut naming = std::time::Duration::ZERO;
        let mut named_trials = 0usize;
        let mut trials = |tune: bool| -> (f64, f64, usize, usize) {
            let mut members: Vec<&String> = council
                .iter()
                .map(|&i| &clips[i].speaker)
                .filter(|s| is_tune(s) == tune)
                .collect();
            members.sort();
            members.dedup();
            let ids: Vec<uuid::Uuid> = members.iter().map(|_| uuid::Uuid::new_v4()).collect();
            let (mut right, mut false_accepts, mut known_n, mut unknown_n) = (0, 0, 0, 0);
            for left_out in &members {
                // Each member's home meeting: the one with most of their clips.
                let mut home: Vec<(&String, &String)> = Vec::new();
                for m in &members {
                    home.push((*m, home_meeting(clips, &council, m)));
                }
                let library = Library::new(council.iter().enumerate().filter_map(|(k, &i)| {
                    let c = &clips[i];
                    let m = members.iter().position(|m| **m == c.speaker)?;
                    (members[m] != *left_out && home[m].1 == &c.session)
                        .then(|| (ids[m], samples[k].clone()))
                }));
                for (k, &i) in council.iter().enumerate() {
                    let c = &clips[i];
                    if is_tune(&c.speaker) != tune {
                        continue;
                    }
                    let m = members
                        .iter()
                        .position(|m| **m == c.speaker)
                        .expect("a member");
                    let known = members[m] != *left_out;
                    if known && home[m].1 == &c.session {
                        continue;
                    }
                    let Some(print) = &prints[k] else { continue };
                    let started = Instant::now();
                    let id = library.identify(print, t);
                    naming += started.elapsed();
                    named_trials += 1;
                    if known {
                        known_n += 1;
                    } else {
                        unknown_n += 1;
                    }
                    match id.speaker_id {
                        Some(s) if known && s == ids[m] => right += 1,
                        Some(_) => false_accepts += 1,
                        None => {}
                    }
                }
            }
            (
                f64::from(right) / known_n.max(1) as f64,
                f64::from(false_accepts) / (known_n + unknown_n).max(1) as f64,
                known_n,
                unknown_n,
            )
        };
        let (tr, tf, _, _) = trials(true);
        let (hr, hf, hk, hu) = trials(false);
        println!(
            "| {} | {:.2}, {:.2} | {:.1} % / {:.1} % | {:.1} % / {:.1} % | {hk} / {hu} | {:.3} |",
            model.as_str(),
            t.centroid,
            t.vote,
            tr * 100.0,
            tf * 100.0,
            hr * 100.0,
            hf * 100.0,
            naming.as_secs_f64() * 1000.0 / named_trials.max(1) as f64
        );
    }
}
