//! The one SubRip and WebVTT writer: a job's `transcript.srt`/`.vtt` and
//! each clip's captions are written here.
//!
//! The two formats are a few lines each; a crate would add more than it
//! saves.

use std::fmt::Write;

/// One caption: shown from `start` to `end` (seconds), one or more lines.
#[derive(Clone, Debug, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// SubRip: numbered cues, `HH:MM:SS,mmm`.
pub fn srt(cues: &[Cue]) -> String {
    let mut out = String::new();
    for (k, c) in cues.iter().enumerate() {
        let _ = write!(
            out,
            "{}\n{} --> {}\n{}\n\n",
            k + 1,
            stamp(c.start, ','),
            stamp(c.end, ','),
            safe(&c.text)
        );
    }
    out
}

/// WebVTT: a header, then cues with `HH:MM:SS.mmm`.
pub fn vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for c in cues {
        let _ = write!(
            out,
            "{} --> {}\n{}\n\n",
            stamp(c.start, '.'),
            stamp(c.end, '.'),
            safe(&c.text)
        );
    }
    out
}

/// A cue's text as both formats need it: `-->` would end the timing line
/// early in a reader that looks for it, and an empty line would end the
/// cue.
fn safe(text: &str) -> String {
    let text = text.replace("-->", "->");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.join("\n")
}

/// `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (VTT); negative times are 0.
fn stamp(seconds: f64, sep: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start: f64, end: f64, text: &str) -> Cue {
        Cue {
            start,
            end,
            text: text.into(),
        }
    }

    #[test]
    fn both_formats_number_time_and_keep_cues_whole() {
        let cues = [
            cue(3661.5, 3662.25, "[S1] Hello there."),
            cue(-0.2, 1.0, "a --> b\n\nsecond line"),
        ];
        assert_eq!(
            srt(&cues),
            "1\n01:01:01,500 --> 01:01:02,250\n[S1] Hello there.\n\n\
             2\n00:00:00,000 --> 00:00:01,000\na -> b\nsecond line\n\n"
        );
        assert_eq!(
            vtt(&cues),
            "WEBVTT\n\n01:01:01.500 --> 01:01:02.250\n[S1] Hello there.\n\n\
             00:00:00.000 --> 00:00:01.000\na -> b\nsecond line\n\n"
        );
        assert_eq!(srt(&[]), "");
        assert_eq!(vtt(&[]), "WEBVTT\n\n");
    }
}
