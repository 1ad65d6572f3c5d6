//! Edit decision lists of the whole video, for editors who finish the cut
//! in their own tools: the highlights back to back, and the video with its
//! long silences removed. Written as CMX 3600 EDLs (what every editor
//! imports) and as one OpenTimelineIO JSON file holding both timelines.
//!
//! Written by hand: both formats are small, fixed text and JSON layouts,
//! and there is no maintained Rust crate for either.

use std::fmt::Write as _;

use serde_json::{Value, json};

/// Where the record timeline starts, by convention: one hour.
const RECORD_START: f64 = 3600.0;

/// One event: a range of the source, seconds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Event {
    pub start: f64,
    pub end: f64,
    /// Shown as a comment (EDL) and the clip's name (OTIO).
    pub name: String,
}

/// The source's speech with every silence of at least `min_silence`
/// seconds taken out, `margin` kept on each side of the speech; and the
/// seconds that saves. `silences` are in time order.
pub(crate) fn tightened(
    duration: f64,
    silences: &[(f64, f64)],
    min_silence: f64,
    margin: f64,
) -> (Vec<Event>, f64) {
    let mut events = Vec::new();
    let mut from = 0.0;
    for &(start, end) in silences {
        if end - start < min_silence {
            continue;
        }
        let (cut_from, cut_to) = (
            if start <= 0.0 { 0.0 } else { start + margin },
            if end >= duration {
                duration
            } else {
                end - margin
            },
        );
        if cut_to - cut_from <= 0.0 {
            continue;
        }
        if cut_from > from {
            events.push((from, cut_from));
        }
        from = cut_to;
    }
    if duration > from {
        events.push((from, duration));
    }
    let kept: f64 = events.iter().map(|(a, b)| b - a).sum();
    let events = events
        .into_iter()
        .enumerate()
        .map(|(k, (start, end))| Event {
            start,
            end,
            name: format!("speech {}", k + 1),
        })
        .collect();
    (events, duration - kept)
}

/// Jump cuts inside one clip of `duration` seconds: its `pauses` (quiet
/// stretches, on the clip's clock) of at least `min_silence` are taken
/// out, `margin` kept beside the speech on each side. A pause any of the
/// clip's `words` reaches into is left alone, and pauses at the clip's
/// edges are its pre- and post-roll, also left alone. Each cut starts and
/// ends on a frame of `fps`, inside its pause, so audio and video lose the
/// same time. Returns the stretches kept, in order; empty when nothing is
/// cut.
pub(crate) fn jump_cuts(
    duration: f64,
    pauses: &[(f64, f64)],
    words: &[(f64, f64)],
    (min_silence, margin): (f64, f64),
    fps: f64,
) -> Vec<(f64, f64)> {
    let mut keep = Vec::new();
    let mut from = 0.0;
    for &(start, end) in pauses {
        if end - start < min_silence || start <= 0.0 || end >= duration {
            continue;
        }
        let (cut_from, cut_to) = (start + margin, end - margin);
        if words.iter().any(|&(a, b)| a < cut_to && b > cut_from) {
            continue;
        }
        // Whole frames, inside the pause.
        let (cut_from, cut_to) = (
            (cut_from * fps - 1e-6).ceil() / fps,
            (cut_to * fps + 1e-6).floor() / fps,
        );
        if cut_to - cut_from < 1.0 / fps || cut_from < from {
            continue;
        }
        keep.push((from, cut_from));
        from = cut_to;
    }
    if keep.is_empty() {
        return keep;
    }
    keep.push((from, duration));
    keep
}

/// Where time `t` of the uncut clip lands once only `keep` is left: moved
/// back by what was cut before it; a moment inside a cut lands on the
/// join. `keep` empty leaves it alone.
pub(crate) fn retime(t: f64, keep: &[(f64, f64)]) -> f64 {
    if keep.is_empty() {
        return t;
    }
    let mut offset = 0.0;
    for &(a, b) in keep {
        if t < a {
            return offset;
        }
        if t <= b {
            return offset + t - a;
        }
        offset += b - a;
    }
    offset
}

/// Timecode `HH:MM:SS:FF` at `fps` frames a second (non-drop).
fn timecode(seconds: f64, fps: u32) -> String {
    let frames = (seconds.max(0.0) * f64::from(fps)).round() as u64;
    let fps = u64::from(fps);
    format!(
        "{:02}:{:02}:{:02}:{:02}",
        frames / (fps * 3600),
        frames / (fps * 60) % 60,
        frames / fps % 60,
        frames % fps
    )
}

/// The nominal whole frame rate timecode counts in (29.97 counts as 30,
/// non-drop).
pub(crate) fn timecode_rate(fps: f64) -> u32 {
    (fps.round() as u32).clamp(1, 120)
}

/// A CMX 3600 EDL of `events` cut back to back from the reel `AX`
/// (`source` named in each event's `FROM CLIP NAME`).
pub(crate) fn cmx3600(title: &str, source: &str, fps: u32, events: &[Event]) -> String {
    let mut out = format!("TITLE: {}\nFCM: NON-DROP FRAME\n\n", one_line(title));
    let mut record = RECORD_START;
    for (k, e) in events.iter().enumerate() {
        // Lengths in whole frames, so the record side adds up exactly.
        let length = ((e.end - e.start) * f64::from(fps)).round() / f64::from(fps);
        let _ = write!(
            out,
            "{:03}  AX       AA/V  C        {} {} {} {}\n\
             * FROM CLIP NAME: {}\n* COMMENT: {}\n\n",
            k + 1,
            timecode(e.start, fps),
            timecode(e.start + length, fps),
            timecode(record, fps),
            timecode(record + length, fps),
            one_line(source),
            one_line(&e.name),
        );
        record += length;
    }
    out
}

/// Both edits as an OpenTimelineIO collection of two timelines, each with
/// a video and an audio track cut from `source`.
pub(crate) fn otio(source: &str, fps: f64, duration: f64, edits: &[(&str, &[Event])]) -> Value {
    let rt = |seconds: f64| json!({"OTIO_SCHEMA": "RationalTime.1", "rate": fps, "value": (seconds * fps).round()});
    let range = |start: f64, length: f64| json!({"OTIO_SCHEMA": "TimeRange.1", "start_time": rt(start), "duration": rt(length)});
    let media = json!({
        "OTIO_SCHEMA": "ExternalReference.1",
        "target_url": source,
        "available_range": range(0.0, duration),
        "metadata": {},
        "name": "",
    });
    let track = |kind: &str, events: &[Event]| {
        json!({
            "OTIO_SCHEMA": "Track.1",
            "name": kind,
            "kind": kind,
            "metadata": {},
            "effects": [],
            "markers": [],
            "enabled": true,
            "source_range": null,
            "children": events.iter().map(|e| json!({
                "OTIO_SCHEMA": "Clip.2",
                "name": e.name,
                "source_range": range(e.start, e.end - e.start),
                "media_references": {"DEFAULT_MEDIA": media},
                "active_media_reference_key": "DEFAULT_MEDIA",
                "metadata": {},
                "effects": [],
                "markers": [],
                "enabled": true,
            })).collect::<Vec<_>>(),
        })
    };
    json!({
        "OTIO_SCHEMA": "SerializableCollection.1",
        "name": "Cutroom",
        "metadata": {},
        "children": edits.iter().map(|(name, events)| json!({
            "OTIO_SCHEMA": "Timeline.1",
            "name": name,
            "metadata": {},
            "global_start_time": rt(RECORD_START),
            "tracks": {
                "OTIO_SCHEMA": "Stack.1",
                "name": "tracks",
                "metadata": {},
                "effects": [],
                "markers": [],
                "enabled": true,
                "source_range": null,
                "children": [track("Video", events), track("Audio", events)],
            },
        })).collect::<Vec<_>>(),
    })
}

/// Names and comments are single lines in an EDL.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timecodes_count_whole_frames() {
        assert_eq!(timecode(0.0, 25), "00:00:00:00");
        assert_eq!(timecode(3661.52, 25), "01:01:01:13");
        assert_eq!(timecode_rate(29.97), 30);
        assert_eq!(timecode_rate(23.976), 24);
    }

    #[test]
    fn long_silences_are_cut_with_margins_and_the_saving_counted() {
        let silences = [(0.0, 1.0), (4.0, 4.5), (6.0, 9.0), (11.0, 12.0)];
        let (events, saved) = tightened(12.0, &silences, 0.75, 0.2);
        let spans: Vec<(f64, f64)> = events.iter().map(|e| (e.start, e.end)).collect();
        // Every cut keeps 0.2 s beside the speech; the 0.5 s pause stays.
        let want = [(0.8, 6.2), (8.8, 11.2)];
        assert_eq!(spans.len(), want.len(), "{spans:?}");
        for (got, want) in spans.iter().zip(want) {
            assert!(
                (got.0 - want.0).abs() < 1e-9 && (got.1 - want.1).abs() < 1e-9,
                "{spans:?}"
            );
        }
        assert!((saved - (0.8 + 2.6 + 0.8)).abs() < 1e-9, "{saved}");
    }

    #[test]
    fn jump_cuts_keep_margins_whole_frames_and_words() {
        let words = [(0.3, 1.0), (1.2, 2.0), (4.1, 5.0), (5.3, 6.0), (9.5, 10.0)];
        let pauses = [
            (0.0, 0.25),   // the pre-roll: kept
            (2.05, 4.05),  // cut, 0.2 s kept on each side
            (6.05, 6.5),   // too short
            (7.0, 9.4),    // cut
            (10.05, 10.6), // the post-roll, at the edge
        ];
        let keep = jump_cuts(10.6, &pauses, &words, (0.75, 0.2), 25.0);
        let want = [(0.0, 2.28), (3.84, 7.2), (9.2, 10.6)];
        assert_eq!(keep.len(), want.len(), "{keep:?}");
        for (got, want) in keep.iter().zip(want) {
            assert!(
                (got.0 - want.0).abs() < 1e-9 && (got.1 - want.1).abs() < 1e-9,
                "{keep:?}"
            );
        }
        // Every cut lies inside a pause, with the margin, on whole frames.
        for pair in keep.windows(2) {
            let (from, to) = (pair[0].1, pair[1].0);
            assert!(words.iter().all(|&(a, b)| b <= from || a >= to), "{keep:?}");
            for t in [from, to] {
                assert!(((t * 25.0) - (t * 25.0).round()).abs() < 1e-9, "{t}");
            }
        }
        // Times map onto the tightened clip; a word keeps its length.
        assert!((retime(1.2, &keep) - 1.2).abs() < 1e-9);
        let moved = retime(4.1, &keep);
        assert!((moved - (2.28 + 0.26)).abs() < 1e-9, "{moved}");
        assert!((retime(5.0, &keep) - moved - 0.9).abs() < 1e-9);
        assert!(
            (retime(3.0, &keep) - 2.28).abs() < 1e-9,
            "inside a cut: the join"
        );
        let total: f64 = keep.iter().map(|(a, b)| b - a).sum();
        assert!((retime(10.6, &keep) - total).abs() < 1e-9);

        // A pause a word reaches into stays; with no cut, nothing to keep.
        assert!(jump_cuts(6.0, &[(2.0, 4.0)], &[(1.0, 2.5)], (0.75, 0.2), 25.0).is_empty());
        assert_eq!(retime(3.3, &[]), 3.3);
    }

    #[test]
    fn an_edl_cuts_its_events_back_to_back() {
        let events = [
            Event {
                start: 10.0,
                end: 25.5,
                name: "1. The hook".into(),
            },
            Event {
                start: 60.0,
                end: 90.0,
                name: "2. Second\nline".into(),
            },
        ];
        let edl = cmx3600("talk highlights", "talk.mp4", 25, &events);
        assert_eq!(
            edl,
            "TITLE: talk highlights\nFCM: NON-DROP FRAME\n\n\
             001  AX       AA/V  C        00:00:10:00 00:00:25:13 01:00:00:00 01:00:15:13\n\
             * FROM CLIP NAME: talk.mp4\n* COMMENT: 1. The hook\n\n\
             002  AX       AA/V  C        00:01:00:00 00:01:30:00 01:00:15:13 01:00:45:13\n\
             * FROM CLIP NAME: talk.mp4\n* COMMENT: 2. Second line\n\n"
        );
        let doc = otio("talk.mp4", 25.0, 100.0, &[("Highlights", &events)]);
        let clip = &doc["children"][0]["tracks"]["children"][0]["children"][1];
        assert_eq!(clip["OTIO_SCHEMA"], "Clip.2");
        assert_eq!(clip["source_range"]["start_time"]["value"], 1500.0);
        assert_eq!(clip["source_range"]["duration"]["value"], 750.0);
        assert_eq!(
            clip["media_references"]["DEFAULT_MEDIA"]["target_url"],
            "talk.mp4"
        );
    }
}
