//! The voiceprints a job keeps of its speakers
//! (`cutroom_core::voiceprints`): per speaker, the mean of their windows'
//! embeddings and up to [`MAX_SEGMENTS`] segments, each the mean of a run
//! of their consecutive windows. The library names speakers from these,
//! now and whenever it changes, without the audio.

use cutroom_core::{
    config::SpeakerModel,
    voiceprints::{MAX_SEGMENTS, Segment, Voiceprint, centre},
};

use super::{FPS, embed::Span, label, timeline::Timeline};

/// A segment closes once it spans this many seconds.
const SEGMENT: f64 = 8.0;

/// One voiceprint per speaker of `timeline`, `S1` first, from the windows
/// and embeddings the timeline was made from.
pub(super) fn voiceprints(
    timeline: &Timeline,
    windows: &[Span],
    embeddings: &[Vec<f32>],
    model: SpeakerModel,
) -> Vec<Voiceprint> {
    let count = timeline.frames.iter().flatten().max().map_or(0, |m| m + 1);
    let mut speech = vec![0usize; count];
    for s in timeline.frames.iter().flatten() {
        speech[*s] += 1;
    }
    // Each window's speaker, by the frames it covers.
    let owners: Vec<Option<usize>> = windows
        .iter()
        .map(|w| timeline.speaker_at(w.start, w.end))
        .collect();
    (0..count)
        .filter_map(|s| {
            let mine: Vec<(&Span, &[f32])> = windows
                .iter()
                .zip(embeddings)
                .zip(&owners)
                .filter(|(_, o)| **o == Some(s))
                .map(|((w, e), _)| (w, e.as_slice()))
                .collect();
            let centroid = centre(mine.iter().map(|(w, e)| (*e, w.end - w.start)))?;
            Some(Voiceprint {
                label: label(s),
                model,
                seconds: speech[s] as f64 / FPS,
                centroid,
                segments: bounded(segments(&mine)),
            })
        })
        .collect()
}

/// Runs of windows (in time order, all of one speaker) cut every
/// [`SEGMENT`] seconds and wherever another speaker's window came between
/// (a gap in the run longer than a window).
fn segments(windows: &[(&Span, &[f32])]) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut run: Vec<(&Span, &[f32])> = Vec::new();
    // Speech up to here is counted already: windows overlap, and a segment
    // cut inside a run shares its first window's start with the last.
    let mut counted = f64::MIN;
    let mut close = |run: &mut Vec<(&Span, &[f32])>, out: &mut Vec<Segment>| {
        if let Some(embedding) = centre(run.iter().map(|(w, e)| (*e, w.end - w.start))) {
            let end = run.iter().map(|(w, _)| w.end).fold(f64::MIN, f64::max);
            out.push(Segment {
                start: run[0].0.start,
                end,
                speech: union(run.iter().map(|(w, _)| **w), counted),
                embedding,
            });
            counted = counted.max(end);
        }
        run.clear();
    };
    for &(w, e) in windows {
        if let Some(&(first, _)) = run.first() {
            let last_end = run.iter().map(|(w, _)| w.end).fold(f64::MIN, f64::max);
            if w.end - first.start > SEGMENT || w.start > last_end + 0.01 {
                close(&mut run, &mut out);
            }
        }
        run.push((w, e));
    }
    close(&mut run, &mut out);
    out
}

/// Seconds after `from` covered by overlapping spans in time order.
fn union(spans: impl Iterator<Item = Span>, from: f64) -> f64 {
    let mut total = 0.0;
    let mut reach = from;
    for s in spans {
        let from = s.start.max(reach);
        if s.end > from {
            total += s.end - from;
        }
        reach = reach.max(s.end);
    }
    total
}

/// At most [`MAX_SEGMENTS`]: neighbours are merged, the pair with least
/// speech first.
fn bounded(mut segments: Vec<Segment>) -> Vec<Segment> {
    while segments.len() > MAX_SEGMENTS {
        let i = (0..segments.len() - 1)
            .min_by(|&a, &b| {
                let sa = segments[a].speech + segments[a + 1].speech;
                let sb = segments[b].speech + segments[b + 1].speech;
                sa.total_cmp(&sb)
            })
            .expect("more than one segment");
        let b = segments.remove(i + 1);
        let a = &mut segments[i];
        a.embedding = centre([
            (a.embedding.as_slice(), a.speech),
            (b.embedding.as_slice(), b.speech),
        ])
        .expect("two embeddings");
        a.end = a.end.max(b.end);
        a.speech += b.speech;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::speakers::timeline::tests::timeline;

    fn span(start: f64) -> Span {
        Span {
            start,
            end: start + 1.5,
        }
    }

    #[test]
    fn each_speaker_gets_a_centroid_and_segments_of_their_own_windows() {
        // S1 speaks 0-10 s, S2 10-20 s, S1 again 20-30 s (frames of 10 ms).
        let t = timeline(&[(Some(0), 1000), (Some(1), 1000), (Some(0), 1000)]);
        let windows: Vec<Span> = (0..39).map(|i| span(i as f64 * 0.75)).collect();
        let embeddings: Vec<Vec<f32>> = windows
            .iter()
            .map(|w| {
                let s = t.speaker_at(w.start, w.end).unwrap();
                if s == 0 {
                    vec![1.0, 0.0]
                } else {
                    vec![0.0, 1.0]
                }
            })
            .collect();
        let prints = voiceprints(&t, &windows, &embeddings, SpeakerModel::CamPlus);
        assert_eq!(prints.len(), 2);
        let (s1, s2) = (&prints[0], &prints[1]);
        assert_eq!((s1.label.as_str(), s2.label.as_str()), ("S1", "S2"));
        assert_eq!((s1.seconds, s2.seconds), (20.0, 10.0));
        assert!((s1.centroid[0] - 1.0).abs() < 1e-6 && s2.centroid[1] > 0.999);
        // S1's two turns are separate segments, each at most 8 s long.
        assert!(
            s1.segments
                .iter()
                .all(|g| g.end - g.start <= SEGMENT + 1e-9)
        );
        assert!(s1.segments.iter().any(|g| g.start >= 20.0));
        assert!(s1.segments.iter().all(|g| g.end <= 10.5 || g.start >= 19.5));
        // Its windows cover 0-10.5 s and 19.5-30 s, each second once.
        let covered: f64 = s1.segments.iter().map(|g| g.speech).sum();
        assert!((covered - 21.0).abs() < 1e-9, "{covered}");
    }

    #[test]
    fn long_speakers_keep_a_bounded_number_of_segments() {
        let many: Vec<Segment> = (0..200)
            .map(|i| Segment {
                start: i as f64 * 8.0,
                end: i as f64 * 8.0 + 8.0,
                speech: 8.0,
                embedding: vec![1.0, 0.0],
            })
            .collect();
        let kept = bounded(many);
        assert_eq!(kept.len(), MAX_SEGMENTS);
        let speech: f64 = kept.iter().map(|s| s.speech).sum();
        assert_eq!(speech, 1600.0);
        assert!(kept.windows(2).all(|p| p[0].end <= p[1].start));
    }
}
