//! Fitting whisper.cpp's word times to the speech: inside the speech
//! intervals, in order, and off the quiet audio around each word.

use super::Segment;
use crate::pipeline::{
    audio::ANALYSIS_RATE,
    silence::{self, Interval},
};

/// Keeps every word inside the speech interval that holds its middle (or
/// the nearest one), in order and without overlaps, then rounds times.
pub(crate) fn fit_words_to_speech(segments: &mut [Segment], speech: &[Interval]) {
    let mut last_end = 0.0f64;
    for segment in segments.iter_mut() {
        for word in &mut segment.words {
            let mid = (word.start + word.end) / 2.0;
            if let Some(iv) = speech
                .iter()
                .min_by(|a, b| distance(a, mid).total_cmp(&distance(b, mid)))
            {
                word.start = word.start.clamp(iv.start, iv.end);
                word.end = word.end.clamp(iv.start, iv.end);
                if word.start < last_end && last_end <= iv.end {
                    word.start = last_end;
                }
                if word.end < word.start {
                    word.end = word.start;
                }
            }
            word.start = round_ms(word.start);
            word.end = round_ms(word.end);
            last_end = word.end;
        }
        if let (Some(first), Some(last)) = (segment.words.first(), segment.words.last()) {
            segment.start = first.start;
            segment.end = last.end;
        }
    }
}

/// Frames (10 ms) of a quiet run that separates two words.
const GAP_FRAMES: usize = 8;
/// A frame this far below the loudest frame of its word is quiet.
const QUIET_BELOW_PEAK_DB: f64 = 30.0;

/// Moves word edges onto the audio. whisper.cpp's token timestamps often
/// chain words (a word starts where the one before it ends), so a word after
/// a pause starts inside the pause, and the end of the word before it is cut
/// short. (Its DTW times are no better here: on espeak-ng words with known
/// edges they fell 0.1-0.5 s after each word's start, often past its end.)
///
/// So: a word that starts where the previous one ends and holds a quiet run
/// of [`GAP_FRAMES`] or more gives the audio before that run to the previous
/// word and starts after it; and no word starts or ends on quiet frames.
/// Words only shrink or hand time to their neighbour, so they stay inside
/// their speech interval and in order.
pub(crate) fn snap_words_to_audio(segments: &mut [Segment], audio: &[f32]) {
    let rate = f64::from(ANALYSIS_RATE);
    let hop = ANALYSIS_RATE as usize / 100;
    let frame_db = |f: usize| {
        let a = (f * hop).min(audio.len());
        silence::level_db(&audio[a..(a + hop).min(audio.len())])
    };
    let frame_at = |t: f64| (t * 100.0).round().max(0.0) as usize;
    // The source's end rounded as `silences.json` rounds it, so a word
    // that ends with the audio ends where the last speech interval does.
    let audio_end = round_ms(audio.len() as f64 / rate);
    let time_of = |f: usize| round_ms(f as f64 / 100.0).min(audio_end);

    let mut prev: Option<(usize, usize)> = None;
    for si in 0..segments.len() {
        for wi in 0..segments[si].words.len() {
            let (start, end) = {
                let w = &segments[si].words[wi];
                (frame_at(w.start), frame_at(w.end))
            };
            if end <= start + 1 {
                prev = Some((si, wi));
                continue;
            }
            let levels: Vec<f64> = (start..end).map(frame_db).collect();
            let peak = levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let quiet = |l: f64| l < peak - QUIET_BELOW_PEAK_DB;
            let mut first = 0;
            // A pause inside a chained word: the audio before it is the
            // previous word's tail.
            let chained = prev.is_some_and(|(ps, pw)| {
                (segments[ps].words[pw].end - segments[si].words[wi].start).abs() < 0.011
            });
            if chained && let Some((ps, pw)) = prev {
                let mut run = 0;
                for (i, &l) in levels.iter().enumerate() {
                    if quiet(l) {
                        run += 1;
                        continue;
                    }
                    if run >= GAP_FRAMES && i > run {
                        segments[ps].words[pw].end = time_of(start + i - run);
                        first = i;
                        break;
                    }
                    run = 0;
                }
            }
            // No edge on quiet frames.
            while first < levels.len() && quiet(levels[first]) {
                first += 1;
            }
            let mut last = levels.len();
            while last > first + 1 && quiet(levels[last - 1]) {
                last -= 1;
            }
            if first < last {
                let w = &mut segments[si].words[wi];
                w.start = time_of(start + first);
                w.end = time_of(start + last).max(w.start);
            }
            prev = Some((si, wi));
        }
    }
    for s in segments.iter_mut() {
        if let (Some(first), Some(last)) = (s.words.first(), s.words.last()) {
            s.start = first.start;
            s.end = last.end;
        }
    }
}

fn distance(iv: &Interval, t: f64) -> f64 {
    if t < iv.start {
        iv.start - t
    } else if t > iv.end {
        t - iv.end
    } else {
        0.0
    }
}

pub(crate) fn round_ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::transcribe::Word;

    fn iv(start: f64, end: f64) -> Interval {
        Interval { start, end }
    }

    #[test]
    fn words_stay_inside_speech_and_in_order() {
        let word = |s: f64, e: f64| Word {
            start: s,
            end: e,
            text: "w".into(),
            probability: 1.0,
            speaker: None,
        };
        let mut segments = vec![Segment {
            edited_at: None,
            id: 0,
            start: 0.0,
            end: 0.0,
            text: String::new(),
            speaker: None,
            confidence: 1.0,
            words: vec![word(0.9, 1.4), word(1.3, 2.2), word(4.8, 5.6)],
        }];
        fit_words_to_speech(&mut segments, &[iv(1.0, 2.0), iv(5.0, 6.0)]);
        let w = &segments[0].words;
        assert_eq!((w[0].start, w[0].end), (1.0, 1.4));
        assert_eq!((w[1].start, w[1].end), (1.4, 2.0));
        assert_eq!((w[2].start, w[2].end), (5.0, 5.6));
        assert_eq!((segments[0].start, segments[0].end), (1.0, 5.6));
    }
}
