//! Where a clip is cut: on the highlight's first and last words, with a
//! little room before and after that lands in the quietest part of the
//! pause around them, never inside a word.

use super::captions::ClipWord;
use crate::pipeline::{audio::ANALYSIS_RATE, transcribe::Transcript};

/// Room before the first word that a cut aims for, and the most it takes.
const PRE_ROLL: f64 = 0.25;
const MAX_PRE_ROLL: f64 = 0.6;
/// Room after the last word: a little more, so the end does not feel cut
/// off mid-breath.
const POST_ROLL: f64 = 0.4;
const MAX_POST_ROLL: f64 = 0.8;
/// The window whose loudness is compared when looking for the quiet point.
const WINDOW: f64 = 0.02;
/// Windows within this many dB of the quietest count as equally quiet;
/// among them, the one nearest the aimed-for room wins.
const QUIET_WITHIN_DB: f64 = 6.0;
/// Highlight bounds are the transcript's own word times; this absorbs
/// their rounding.
const SLACK: f64 = 0.05;

/// A word's span on the transcript's timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Span {
    pub start: f64,
    pub end: f64,
}

/// Where one clip starts and ends, seconds on the transcript's timeline,
/// and which words (indexes into the timeline) it holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cut {
    pub start: f64,
    pub end: f64,
    pub first_word: usize,
    pub last_word: usize,
}

impl Cut {
    pub fn duration(&self) -> f64 {
        self.end - self.start
    }
}

/// The cut for the highlight `start..end` over `words` (in time order),
/// `audio` being the 16 kHz mono decode and `duration` the source's
/// length. `None` when no word lies inside the range.
pub(crate) fn cut(
    words: &[Span],
    audio: &[f32],
    duration: f64,
    start: f64,
    end: f64,
) -> Option<Cut> {
    let first = words.iter().position(|w| w.start >= start - SLACK)?;
    let last = words.iter().rposition(|w| w.end <= end + SLACK)?;
    if first > last {
        return None;
    }
    // Before the first word: between the previous word's end (or the
    // file's start) and the first word's start.
    let before_lo = if first > 0 { words[first - 1].end } else { 0.0 };
    let first_start = words[first].start;
    let cut_start = quiet_point(
        audio,
        before_lo.max(first_start - MAX_PRE_ROLL).max(0.0),
        first_start,
        first_start - PRE_ROLL,
    );
    let last_end = words[last].end;
    let after_hi = words.get(last + 1).map_or(duration, |w| w.start);
    let cut_end = quiet_point(
        audio,
        last_end,
        after_hi
            .min(last_end + MAX_POST_ROLL)
            .min(duration.max(last_end)),
        last_end + POST_ROLL,
    );
    Some(Cut {
        start: cut_start,
        end: cut_end,
        first_word: first,
        last_word: last,
    })
}

/// The quietest point of `lo..hi`, preferring `aim` among equally quiet
/// ones. With no room (`hi <= lo`: the words touch) it is the boundary.
fn quiet_point(audio: &[f32], lo: f64, hi: f64, aim: f64) -> f64 {
    if hi - lo < WINDOW {
        return ((lo + hi) / 2.0).max(0.0);
    }
    let rate = f64::from(ANALYSIS_RATE);
    let len = (WINDOW * rate) as usize;
    let mut windows = Vec::new();
    let mut t = lo;
    while t + WINDOW <= hi + 1e-9 {
        let from = ((t * rate) as usize).min(audio.len());
        let to = (from + len).min(audio.len());
        let energy = if to > from {
            audio[from..to]
                .iter()
                .map(|s| f64::from(*s).powi(2))
                .sum::<f64>()
                / (to - from) as f64
        } else {
            0.0
        };
        windows.push((t + WINDOW / 2.0, 10.0 * (energy + 1e-12).log10()));
        t += WINDOW / 2.0;
    }
    let quietest = windows
        .iter()
        .map(|(_, db)| *db)
        .fold(f64::INFINITY, f64::min);
    windows
        .into_iter()
        .filter(|(_, db)| *db <= quietest + QUIET_WITHIN_DB)
        .min_by(|a, b| (a.0 - aim).abs().total_cmp(&(b.0 - aim).abs()))
        .map_or(lo, |(at, _)| at)
}

/// Every word of the transcript, in time order: when, what, and who said
/// it (once the speakers stage has labelled it).
pub(crate) fn word_timeline(t: &Transcript) -> (Vec<Span>, Vec<String>, Vec<Option<String>>) {
    let mut words: Vec<(Span, String, Option<String>)> = t
        .segments
        .iter()
        .flat_map(|s| s.words.iter().map(move |w| (s, w)))
        .map(|(s, w)| {
            (
                Span {
                    start: w.start,
                    end: w.end.max(w.start),
                },
                w.text.trim().to_owned(),
                w.speaker.clone().or_else(|| s.speaker.clone()),
            )
        })
        .filter(|(_, text, _)| !text.is_empty())
        .collect();
    words.sort_by(|a, b| a.0.start.total_cmp(&b.0.start));
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for (span, text, speaker) in words {
        out.0.push(span);
        out.1.push(text);
        out.2.push(speaker);
    }
    out
}

/// The cut's words, on the clip's own clock.
pub(crate) fn clip_words(spans: &[Span], texts: &[String], cut: &Cut) -> Vec<ClipWord> {
    (cut.first_word..=cut.last_word)
        .map(|k| ClipWord {
            start: (spans[k].start - cut.start).max(0.0),
            end: (spans[k].end - cut.start).min(cut.duration()),
            text: texts[k].clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words as bursts of noise at -12 dBFS, silence between, plus a quiet
    /// breath (-50 dBFS) in one pause.
    fn timeline() -> (Vec<Span>, Vec<f32>) {
        let words = vec![
            Span {
                start: 0.10,
                end: 0.50,
            },
            Span {
                start: 0.62,
                end: 1.00,
            },
            // A long pause with a breath at 1.6-1.7.
            Span {
                start: 2.00,
                end: 2.40,
            },
            Span {
                start: 2.45,
                end: 2.90,
            },
            // Touching words: no pause at all.
            Span {
                start: 2.90,
                end: 3.30,
            },
            Span {
                start: 4.50,
                end: 5.00,
            },
        ];
        let rate = f64::from(ANALYSIS_RATE);
        let mut audio = vec![0.0f32; (5.5 * rate) as usize];
        let mut seed = 7u32;
        let mut noise = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        };
        for (k, s) in audio.iter_mut().enumerate() {
            let t = k as f64 / rate;
            if words.iter().any(|w| (w.start..w.end).contains(&t)) {
                *s = 0.25 * noise();
            } else if (1.6..1.7).contains(&t) {
                *s = 0.003 * noise();
            }
        }
        (words, audio)
    }

    fn level_at(audio: &[f32], t: f64) -> f64 {
        let rate = f64::from(ANALYSIS_RATE);
        let k = (t * rate) as usize;
        let window = &audio[k.saturating_sub(80)..(k + 80).min(audio.len())];
        10.0 * (window.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / window.len() as f64
            + 1e-12)
            .log10()
    }

    #[test]
    fn cuts_land_in_the_pause_around_the_words_never_inside_one() {
        let (words, audio) = timeline();
        // The highlight is words 2-3 (2.00-2.90).
        let c = cut(&words, &audio, 5.5, 2.0, 2.9).unwrap();
        assert_eq!((c.first_word, c.last_word), (2, 3));
        assert!(
            c.start >= words[1].end && c.start <= words[2].start,
            "{c:?}"
        );
        // Room before: near the aim, in silence (not the breath).
        assert!((c.start - 1.75).abs() < 0.03, "{c:?}");
        assert!(level_at(&audio, c.start) < -60.0);
        // Word 4 touches word 3: the end is exactly the boundary.
        assert!((c.end - 2.9).abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn room_is_bounded_by_the_neighbours_and_the_file() {
        let (words, audio) = timeline();
        // Words 0-1: the file's start is 0.1 s before the first word.
        let c = cut(&words, &audio, 5.5, 0.1, 1.0).unwrap();
        assert!(c.start >= 0.0 && c.start <= 0.1, "{c:?}");
        // After word 1 the pause runs to 2.0: the post-roll aims 0.4 s on.
        assert!((c.end - 1.4).abs() < 0.03, "{c:?}");
        assert!(level_at(&audio, c.end) < -60.0);
        // The last word: the file ends 0.5 s after it.
        let c = cut(&words, &audio, 5.5, 4.5, 5.0).unwrap();
        assert!(c.end > 5.0 && c.end <= 5.5, "{c:?}");
        assert!(c.start >= 3.9 && c.start < 4.5, "{c:?}");
        // The gap before word 1 is 0.12 s: the cut stays inside it.
        let c = cut(&words, &audio, 5.5, 0.62, 1.0).unwrap();
        assert!(c.start > 0.5 && c.start < 0.62, "{c:?}");
    }

    #[test]
    fn a_range_without_words_has_no_cut() {
        let (words, audio) = timeline();
        assert_eq!(cut(&words, &audio, 5.5, 3.5, 4.2), None);
        assert_eq!(cut(&[], &audio, 5.5, 0.0, 5.0), None);
    }
}
