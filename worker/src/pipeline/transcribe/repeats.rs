//! The second gate against invented words (the first is the voice
//! detector: only what it heard as speech is transcribed). A model that
//! loses its place in noise or music repeats itself: the same line again
//! ("Thank you." three times over), or one or two words over and over
//! ("you you you you"), each time less sure. Such a segment is dropped
//! when its confidence is low; the same words said with confidence stay
//! (people do repeat themselves: "No. No. No!").
//!
//! Applied to every engine's transcript, before the words are fitted to
//! the speech.

use super::Segment;

/// Mean word probability under which a repeat is taken for invented: a
/// conservative line, so only what the model itself was unsure of goes.
const LOW: f32 = 0.5;
/// Kept segments a repeated line is compared with.
const LOOKBACK: usize = 2;
/// Words a segment must hold to be judged a stutter of one or two words.
const STUTTER_WORDS: usize = 4;

fn words(text: &str) -> Vec<String> {
    crate::text::plain_words(text).collect()
}

/// Why `segment` is taken for invented after `kept`, if it is.
fn invented(segment: &Segment, kept: &[Vec<String>]) -> Option<&'static str> {
    if segment.confidence >= LOW {
        return None;
    }
    let own = words(&segment.text);
    if own.is_empty() {
        return None;
    }
    if kept.iter().rev().take(LOOKBACK).any(|k| *k == own) {
        return Some("repeats a line just before it");
    }
    let mut distinct: Vec<&String> = own.iter().collect();
    distinct.sort();
    distinct.dedup();
    if own.len() >= STUTTER_WORDS && distinct.len() <= 2 {
        return Some("one or two words over and over");
    }
    None
}

/// Drops low-confidence repeats from `segments`; returns how many.
pub(crate) fn drop_repeats(segments: &mut Vec<Segment>) -> usize {
    let mut kept_words: Vec<Vec<String>> = Vec::new();
    let before = segments.len();
    segments.retain(|s| match invented(s, &kept_words) {
        Some(why) => {
            tracing::debug!(text = %s.text, confidence = s.confidence, why, "segment dropped as invented");
            false
        }
        None => {
            kept_words.push(words(&s.text));
            true
        }
    });
    before - segments.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(text: &str, confidence: f32) -> Segment {
        Segment {
            id: 0,
            start: 0.0,
            end: 1.0,
            text: text.into(),
            speaker: None,
            confidence,
            words: Vec::new(),
            edited_at: None,
        }
    }

    fn texts(s: &[Segment]) -> Vec<&str> {
        s.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn unsure_repeats_go_and_sure_ones_stay() {
        let mut s = vec![
            segment("Thank you.", 0.9),
            segment("Thank you.", 0.31),
            segment("thank you", 0.22),
            segment("you you you you you", 0.18),
            segment("The rover woke up.", 0.41),
            segment("No. No. No. No!", 0.93),
            segment("The rover woke up.", 0.88),
        ];
        assert_eq!(drop_repeats(&mut s), 3);
        assert_eq!(
            texts(&s),
            [
                "Thank you.",
                // Unsure, but said once: kept.
                "The rover woke up.",
                "No. No. No. No!",
                // Sure: a speaker may say it again.
                "The rover woke up.",
            ]
        );
    }

    #[test]
    fn a_line_said_again_much_later_is_not_a_loop() {
        let mut s = vec![
            segment("Back to the question.", 0.45),
            segment("Interest rates rose.", 0.9),
            segment("Inflation stayed high.", 0.9),
            segment("Back to the question.", 0.45),
        ];
        assert_eq!(drop_repeats(&mut s), 0);
    }
}
