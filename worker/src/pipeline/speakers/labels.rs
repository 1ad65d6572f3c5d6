//! Labelling: the timeline's speakers written onto the transcript's words
//! and segments, a segment split where its words change speaker.

use super::Timeline;
use crate::pipeline::transcribe::{Segment, Transcript};

/// `S1`, `S2`, ...
pub(crate) fn label(speaker: usize) -> String {
    format!("S{}", speaker + 1)
}

/// Labels every word and segment, splitting segments where the speaker
/// changes between two words.
pub(crate) fn label_transcript(transcript: &mut Transcript, timeline: &Timeline) {
    let mut out: Vec<Segment> = Vec::with_capacity(transcript.segments.len());
    for mut segment in std::mem::take(&mut transcript.segments) {
        for w in &mut segment.words {
            w.speaker = timeline.speaker_at(w.start, w.end).map(label);
        }
        let changes = segment
            .words
            .windows(2)
            .any(|p| p[0].speaker != p[1].speaker);
        if !changes {
            segment.speaker = segment
                .words
                .first()
                .and_then(|w| w.speaker.clone())
                .or_else(|| timeline.speaker_at(segment.start, segment.end).map(label));
            out.push(segment);
            continue;
        }
        let mut words = std::mem::take(&mut segment.words).into_iter().peekable();
        while let Some(first) = words.next() {
            let mut part = vec![first];
            while let Some(w) = words.next_if(|w| w.speaker == part[0].speaker) {
                part.push(w);
            }
            let p: Vec<f32> = part.iter().map(|w| w.probability).collect();
            out.push(Segment {
                id: 0,
                start: part[0].start,
                end: part[part.len() - 1].end,
                text: part
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                speaker: part[0].speaker.clone(),
                confidence: (p.iter().sum::<f32>() / p.len() as f32 * 1000.0).round() / 1000.0,
                words: part,
                edited_at: None,
            });
        }
    }
    for (id, s) in out.iter_mut().enumerate() {
        s.id = id;
    }
    transcript.segments = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{speakers::timeline::tests::timeline, transcribe::Word};

    #[test]
    fn a_segment_is_split_where_the_speaker_changes() {
        // S1 for the first second, S2 for the next.
        let t = timeline(&[(Some(0), 100), (Some(1), 100)]);
        let word = |text: &str, start, end| Word {
            start,
            end,
            text: text.into(),
            probability: 0.5,
            speaker: None,
        };
        let mut transcript = Transcript {
            segments: vec![Segment {
                edited_at: None,
                id: 0,
                start: 0.1,
                end: 1.8,
                text: "yes I think so".into(),
                speaker: None,
                confidence: 0.5,
                words: vec![
                    word("yes", 0.1, 0.4),
                    word("I", 1.1, 1.2),
                    word("think", 1.2, 1.5),
                    word("so", 1.5, 1.8),
                ],
            }],
            ..Transcript::default()
        };
        label_transcript(&mut transcript, &t);
        let s = &transcript.segments;
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].id, s[0].text.as_str(), s[0].speaker.as_deref()),
            (0, "yes", Some("S1"))
        );
        assert_eq!(
            (
                s[1].id,
                s[1].text.as_str(),
                s[1].speaker.as_deref(),
                s[1].start
            ),
            (1, "I think so", Some("S2"), 1.1)
        );
        assert!(
            s[1].words
                .iter()
                .all(|w| w.speaker.as_deref() == Some("S2"))
        );
    }
}
