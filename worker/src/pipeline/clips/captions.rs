//! A clip's captions from the word timeline, re-timed to the clip: cues
//! for the SRT and WebVTT files (written by [`cutroom_core::subtitles`]),
//! and an ASS script for burning them in a few words at a time with the
//! word being said highlighted (rendered by libass through ffmpeg's `ass`
//! filter).
//!
//! Written by hand: no crate does the grouping and re-timing, which is the
//! actual work.

use std::fmt::Write as _;

pub(crate) use cutroom_core::subtitles::{Cue, srt, vtt};

/// A word of the clip, seconds from the clip's start.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClipWord {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// Longest line of a file caption, in characters (the usual subtitle rule).
const MAX_CHARS: usize = 42;
/// Longest a file caption stays up.
const MAX_CUE_SECONDS: f64 = 6.0;
/// A pause this long starts a new caption.
const PAUSE: f64 = 0.6;
/// How long a caption may stay after its last word when nothing follows.
const HOLD: f64 = 0.5;

fn ends_sentence(word: &str) -> bool {
    word.ends_with(['.', '!', '?'])
}

/// Groups of consecutive words: a new group at a pause, after a sentence's
/// end, or when the group is full (`fits` says whether one more word fits).
fn group(words: &[ClipWord], fits: impl Fn(&[ClipWord], &ClipWord) -> bool) -> Vec<&[ClipWord]> {
    let mut groups = Vec::new();
    let mut from = 0;
    for k in 1..=words.len() {
        let split = k == words.len() || {
            let prev = &words[k - 1];
            let next = &words[k];
            next.start - prev.end >= PAUSE
                || ends_sentence(&prev.text)
                || !fits(&words[from..k], next)
        };
        if split && k > from {
            groups.push(&words[from..k]);
            from = k;
        }
    }
    groups
}

/// Cues for the SRT and VTT files: lines of up to [`MAX_CHARS`] and
/// [`MAX_CUE_SECONDS`], within `0..duration`, in order, not overlapping.
pub(crate) fn cues(words: &[ClipWord], duration: f64) -> Vec<Cue> {
    let groups = group(words, |so_far, next| {
        let chars: usize = so_far.iter().map(|w| w.text.chars().count() + 1).sum();
        chars + next.text.chars().count() <= MAX_CHARS
            && next.end - so_far[0].start <= MAX_CUE_SECONDS
    });
    timed(&groups, duration)
        .into_iter()
        .map(|(start, end, g)| Cue {
            start,
            end,
            text: g
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect()
}

/// Each group's show time: from its first word to its last word's end plus
/// [`HOLD`], cut at the next group's start and at `duration`; groups that
/// would show for no time are left out.
fn timed<'w>(groups: &[&'w [ClipWord]], duration: f64) -> Vec<(f64, f64, &'w [ClipWord])> {
    let mut out = Vec::new();
    for (k, g) in groups.iter().enumerate() {
        let start = g[0].start.max(0.0);
        let next = groups.get(k + 1).map_or(duration, |n| n[0].start);
        let end = (g[g.len() - 1].end + HOLD).min(next).min(duration);
        if end - start >= 0.05 {
            out.push((start, end, *g));
        }
    }
    out
}

/// How burned captions look on a `width` x `height` picture.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BurnStyle<'t> {
    pub width: u32,
    pub height: u32,
    pub words_per_caption: usize,
    /// A line of text at the top for the whole clip (an audiogram's job
    /// title), wrapped by libass.
    pub title: Option<Title<'t>>,
}

/// A title across the top of the picture, `margin_h` in from each side
/// and `margin_v` down.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Title<'t> {
    pub text: &'t str,
    pub font_size: u32,
    pub margin_h: u32,
    pub margin_v: u32,
}

/// An ASS script showing `words` a few at a time, the word being said in
/// yellow, the others white, bold with a dark outline, low in the picture
/// (higher on a tall one, above where the apps put their buttons).
pub(crate) fn ass(words: &[ClipWord], duration: f64, style: BurnStyle<'_>) -> String {
    let (w, h) = (style.width, style.height);
    let font_size = (f64::from(w.min(h)) * 0.075).round().max(10.0);
    let margin_v = if h > w {
        (f64::from(h) * 0.2).round()
    } else {
        (f64::from(h) * 0.08).round()
    };
    let outline = (font_size / 12.0).round().max(1.0);
    let mut out = format!(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {w}\nPlayResY: {h}\nWrapStyle: 0\n\
         ScaledBorderAndShadow: yes\n\n[V4+ Styles]\n\
         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, \
         BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, \
         BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
         Style: Caption,DejaVu Sans,{font_size},&H00FFFFFF,&H00FFFFFF,&H00000000,&H80000000,\
         -1,0,0,0,100,100,0,0,1,{outline},0,2,{margin},{margin},{margin_v},1\n{title_style}\n\
         [Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n",
        margin = (f64::from(w) * 0.06).round(),
        title_style = style.title.map_or_else(String::new, |t| format!(
            "Style: Title,DejaVu Sans,{},&H00FFFFFF,&H00FFFFFF,&H00000000,&H80000000,\
             -1,0,0,0,100,100,0,0,1,{},0,8,{h},{h},{},1\n",
            t.font_size,
            (f64::from(t.font_size) / 16.0).round().max(1.0),
            t.margin_v,
            h = t.margin_h,
        )),
    );
    if let Some(t) = style.title {
        // The whole clip; libass wraps it (WrapStyle 0) between the margins.
        let text: String = ass_text(t.text)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            out,
            "Dialogue: 1,{},{},Title,,0,0,0,,{text}",
            ass_stamp(0.0),
            ass_stamp(duration)
        );
    }
    let per = style.words_per_caption.max(1);
    let groups = group(words, |so_far, _| so_far.len() < per);
    for (start, end, g) in timed(&groups, duration) {
        // One event per word being said, the group's other words around it.
        for (k, word) in g.iter().enumerate() {
            let from = if k == 0 { start } else { word.start.max(start) };
            let to = g.get(k + 1).map_or(end, |n| n.start.min(end));
            if to - from < 0.01 {
                continue;
            }
            let text = g
                .iter()
                .enumerate()
                .map(|(j, x)| {
                    let t = ass_text(&x.text);
                    if j == k {
                        format!("{{\\c&H00FFFF&}}{t}{{\\c&HFFFFFF&}}")
                    } else {
                        t
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                out,
                "Dialogue: 0,{},{},Caption,,0,0,0,,{text}",
                ass_stamp(from),
                ass_stamp(to)
            );
        }
    }
    out
}

/// Braces start override tags and a backslash escapes: neither may come
/// from the transcript.
fn ass_text(text: &str) -> String {
    text.replace('\\', "/").replace('{', "(").replace('}', ")")
}

/// `H:MM:SS.cc`, centiseconds.
fn ass_stamp(seconds: f64) -> String {
    let cs = (seconds.max(0.0) * 100.0).round() as u64;
    format!(
        "{}:{:02}:{:02}.{:02}",
        cs / 360_000,
        cs / 6000 % 60,
        cs / 100 % 60,
        cs % 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[(f64, f64, &str)]) -> Vec<ClipWord> {
        list.iter()
            .map(|(s, e, t)| ClipWord {
                start: *s,
                end: *e,
                text: (*t).to_owned(),
            })
            .collect()
    }

    #[test]
    fn file_captions_break_at_sentences_and_pauses_and_stay_in_the_clip() {
        let w = words(&[
            (0.2, 0.5, "Hello"),
            (0.5, 0.9, "there."),
            (1.0, 1.3, "This"),
            (1.3, 1.5, "is"),
            (1.5, 1.9, "Cutroom"),
            (3.0, 3.4, "after"),
            (3.4, 3.9, "pause"),
        ]);
        let cues = cues(&w, 4.0);
        let texts: Vec<&str> = cues.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["Hello there.", "This is Cutroom", "after pause"]);
        for pair in cues.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{cues:?}");
        }
        // Held 0.5 s, but not past the next cue or the clip's end.
        assert_eq!((cues[0].start, cues[0].end), (0.2, 1.0));
        assert_eq!(cues[1].end, 1.9 + HOLD);
        assert_eq!(cues[2].end, 4.0);
        assert_eq!(
            srt(&cues[..1]),
            "1\n00:00:00,200 --> 00:00:01,000\nHello there.\n\n"
        );
        assert!(vtt(&cues).starts_with("WEBVTT\n\n00:00:00.200 --> 00:00:01.000\nHello there.\n"));
    }

    #[test]
    fn long_runs_are_split_by_length() {
        let w: Vec<ClipWord> = (0..30)
            .map(|k| ClipWord {
                start: f64::from(k) * 0.3,
                end: f64::from(k) * 0.3 + 0.28,
                text: "word".into(),
            })
            .collect();
        let cues = cues(&w, 10.0);
        assert!(cues.len() > 1);
        for c in &cues {
            assert!(c.text.chars().count() <= MAX_CHARS, "{c:?}");
            assert!(c.end - c.start <= MAX_CUE_SECONDS + HOLD, "{c:?}");
        }
        let n: usize = cues.iter().map(|c| c.text.split(' ').count()).sum();
        assert_eq!(n, 30, "every word once");
    }

    #[test]
    fn burned_captions_highlight_each_word_in_turn() {
        let w = words(&[
            (0.0, 0.4, "one"),
            (0.4, 0.8, "{two}"),
            (0.8, 1.2, "three"),
            (1.2, 1.6, "four"),
        ]);
        let script = ass(
            &w,
            2.0,
            BurnStyle {
                width: 1080,
                height: 1920,
                words_per_caption: 3,
                title: None,
            },
        );
        assert!(script.contains("PlayResX: 1080\nPlayResY: 1920"));
        let events: Vec<&str> = script
            .lines()
            .filter(|l| l.starts_with("Dialogue:"))
            .collect();
        assert_eq!(events.len(), 4, "{script}");
        assert_eq!(
            events[1],
            "Dialogue: 0,0:00:00.40,0:00:00.80,Caption,,0,0,0,,one {\\c&H00FFFF&}(two){\\c&HFFFFFF&} three"
        );
        // The second group holds its last word to the clip's end.
        assert!(events[3].starts_with("Dialogue: 0,0:00:01.20,0:00:02.00,Caption"));
        assert!(events[3].ends_with("{\\c&H00FFFF&}four{\\c&HFFFFFF&}"));
    }

    #[test]
    fn a_title_is_a_style_and_an_event_of_its_own_with_its_text_defused() {
        let title = Title {
            text: "Ep. {4}\\N: the\nend",
            font_size: 59,
            margin_h: 237,
            margin_v: 43,
        };
        let script = ass(
            &[],
            12.5,
            BurnStyle {
                width: 1080,
                height: 1080,
                words_per_caption: 3,
                title: Some(title),
            },
        );
        assert!(
            script.contains("\nStyle: Title,DejaVu Sans,59,")
                && script.contains(",0,8,237,237,43,1\n"),
            "{script}"
        );
        let events: Vec<&str> = script
            .lines()
            .filter(|l| l.starts_with("Dialogue:"))
            .collect();
        // No override tag, no line break from the user's text: one event,
        // the whole clip long.
        assert_eq!(
            events,
            ["Dialogue: 1,0:00:00.00,0:00:12.50,Title,,0,0,0,,Ep. (4)/N: the end"]
        );
    }
}
