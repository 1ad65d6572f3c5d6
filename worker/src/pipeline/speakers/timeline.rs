//! The speaker timeline: a speaker for every 10 ms frame of speech, from
//! the windows that cover it, smoothed so that short turns join a
//! neighbour.

use super::{FPS, embed::Span};
use crate::pipeline::{silence::Interval, voice::cosine};

/// Speaker per 10 ms frame of the source; `None` outside speech.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    pub frames: Vec<Option<usize>>,
}

impl Timeline {
    /// Speech frames with no speaker yet.
    pub(super) fn new(duration: f64, speech: &[Interval]) -> Self {
        let len = (duration * FPS).ceil() as usize;
        let mut frames = vec![None; len];
        for iv in speech {
            let (a, b) = frame_range(iv.start, iv.end, len);
            for f in &mut frames[a..b] {
                // Placeholder until `assign`; speech frames of a file with
                // no usable window all belong to one speaker.
                *f = Some(0);
            }
        }
        Self { frames }
    }

    /// Gives each speech frame the speaker whose centre the windows
    /// covering it are closest to on the whole; frames no window covers
    /// take the nearest labelled frame's speaker.
    pub(super) fn assign(
        &mut self,
        windows: &[Span],
        embeddings: &[Vec<f32>],
        centres: &[Vec<f32>],
    ) {
        let k = centres.len().max(1);
        let len = self.frames.len();
        let mut scores = vec![0.0f32; len * k];
        let mut covered = vec![false; len];
        for (w, e) in windows.iter().zip(embeddings) {
            let (a, b) = frame_range(w.start, w.end, len);
            let sims: Vec<f32> = centres.iter().map(|c| cosine(e, c)).collect();
            for f in a..b {
                covered[f] = true;
                for (s, sim) in scores[f * k..(f + 1) * k].iter_mut().zip(&sims) {
                    *s += sim;
                }
            }
        }
        for f in 0..len {
            if self.frames[f].is_some() && covered[f] {
                let row = &scores[f * k..(f + 1) * k];
                let best = (0..k)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(0);
                self.frames[f] = Some(best);
            }
        }
        // Uncovered speech (too short to embed) takes the nearest covered
        // frame's speaker: one pass forward, one back, keeping the closer.
        let mut from_left: Vec<Option<(usize, usize)>> = vec![None; len];
        let mut last = None;
        for f in 0..len {
            if covered[f] && self.frames[f].is_some() {
                last = self.frames[f].map(|s| (s, f));
            }
            from_left[f] = last;
        }
        let mut next: Option<(usize, usize)> = None;
        for f in (0..len).rev() {
            if covered[f] && self.frames[f].is_some() {
                next = self.frames[f].map(|s| (s, f));
                continue;
            }
            if self.frames[f].is_none() {
                continue;
            }
            let left = from_left[f].map(|(s, at)| (s, f - at));
            let right = next.map(|(s, at)| (s, at - f));
            self.frames[f] = match (left, right) {
                (Some(l), Some(r)) => Some(if l.1 <= r.1 { l.0 } else { r.0 }),
                (Some(l), None) => Some(l.0),
                (None, Some(r)) => Some(r.0),
                (None, None) => Some(0),
            };
        }
    }

    /// Runs of one speaker over speech frames (silence skipped): (speaker,
    /// first frame, last frame exclusive, speech frames).
    pub(super) fn runs(&self) -> Vec<(usize, usize, usize, usize)> {
        let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new();
        for (f, s) in self.frames.iter().enumerate() {
            let Some(s) = *s else { continue };
            match runs.last_mut() {
                Some(r) if r.0 == s => {
                    r.2 = f + 1;
                    r.3 += 1;
                }
                _ => runs.push((s, f, f + 1, 1)),
            }
        }
        runs
    }

    /// Turns with less than `min_turn` seconds of speech join the
    /// neighbour on the side with more speech, shortest first.
    pub(super) fn smooth(&mut self, min_turn: f64) {
        let min_frames = (min_turn * FPS) as usize;
        loop {
            let runs = self.runs();
            if runs.len() < 2 {
                return;
            }
            let Some((i, run)) = runs
                .iter()
                .enumerate()
                .filter(|(_, r)| r.3 < min_frames)
                .min_by_key(|(_, r)| r.3)
            else {
                return;
            };
            let before = i.checked_sub(1).map(|j| runs[j]);
            let after = runs.get(i + 1).copied();
            let to = match (before, after) {
                (Some(b), Some(a)) => {
                    if b.3 >= a.3 {
                        b.0
                    } else {
                        a.0
                    }
                }
                (Some(b), None) => b.0,
                (None, Some(a)) => a.0,
                (None, None) => return,
            };
            for f in &mut self.frames[run.1..run.2] {
                if f.is_some() {
                    *f = Some(to);
                }
            }
        }
    }

    /// Speaker numbers in order of first appearance, without gaps.
    pub(super) fn renumber(&mut self) {
        let mut map: Vec<Option<usize>> = Vec::new();
        let mut next = 0;
        for f in self.frames.iter_mut().flatten() {
            if *f >= map.len() {
                map.resize(*f + 1, None);
            }
            let n = *map[*f].get_or_insert_with(|| {
                next += 1;
                next - 1
            });
            *f = n;
        }
    }

    /// Most frequent speaker over `[start, end)`, or of the nearest speech
    /// frame when none of it is speech.
    pub fn speaker_at(&self, start: f64, end: f64) -> Option<usize> {
        let (a, b) = frame_range(start, end, self.frames.len());
        let mut counts: Vec<usize> = Vec::new();
        for s in self.frames[a..b.max(a)].iter().flatten() {
            if *s >= counts.len() {
                counts.resize(*s + 1, 0);
            }
            counts[*s] += 1;
        }
        if let Some((s, _)) = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .max_by_key(|(_, c)| **c)
        {
            return Some(s);
        }
        // Nearest speech frame on either side.
        let len = self.frames.len();
        let mid = a.min(len.saturating_sub(1));
        (0..len).find_map(|d| {
            let left = mid.checked_sub(d).and_then(|f| self.frames[f]);
            let right = self.frames.get(mid + d).copied().flatten();
            left.or(right)
        })
    }
}

/// Frames whose centres lie in `[start, end)`.
fn frame_range(start: f64, end: f64, len: usize) -> (usize, usize) {
    let a = ((start * FPS - 0.5).ceil().max(0.0) as usize).min(len);
    let b = ((end * FPS - 0.5).ceil().max(0.0) as usize).min(len);
    (a, b.max(a))
}

#[cfg(test)]
pub(super) mod tests {
    // `timeline` is shared with the labelling tests, which label a
    // transcript from a made-up timeline.
    use super::*;

    pub(crate) fn timeline(runs: &[(Option<usize>, usize)]) -> Timeline {
        let mut frames = Vec::new();
        for &(s, n) in runs {
            frames.extend(std::iter::repeat_n(s, n));
        }
        Timeline { frames }
    }

    #[test]
    fn short_turns_join_a_neighbour_and_silence_stays_silence() {
        // S0 2 s, silence, S1 0.3 s, S0 1.5 s, S1 3 s.
        let mut t = timeline(&[
            (Some(0), 200),
            (None, 50),
            (Some(1), 30),
            (Some(0), 150),
            (Some(1), 300),
        ]);
        t.smooth(1.0);
        let runs: Vec<(usize, usize)> = t.runs().iter().map(|r| (r.0, r.3)).collect();
        assert_eq!(runs, [(0, 380), (1, 300)]);
        assert!(t.frames[200..250].iter().all(Option::is_none));
    }

    #[test]
    fn speakers_are_numbered_by_first_appearance() {
        let mut t = timeline(&[(Some(3), 10), (None, 5), (Some(1), 10), (Some(3), 10)]);
        t.renumber();
        assert_eq!(t.frames[0], Some(0));
        assert_eq!(t.frames[15], Some(1));
        assert_eq!(t.frames[25], Some(0));
        assert_eq!(t.speaker_at(0.05, 0.08), Some(0));
        // In silence: the nearest speech.
        assert_eq!(t.speaker_at(0.11, 0.12), Some(0));
    }
}
