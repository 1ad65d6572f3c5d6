//! Sentences from the transcript's words: the unit that chapters, the
//! summary and highlight candidates are made of, so every boundary they
//! have is a word boundary.

use crate::pipeline::transcribe::Transcript;

/// A pause this long between words ends a sentence even without
/// punctuation (Whisper leaves some sentences unpunctuated).
const PAUSE: f64 = 1.5;
/// A run of words longer than this is cut at its longest pause.
const MAX_SENTENCE: f64 = 30.0;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sentence {
    /// Start of the first word and end of the last, seconds.
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub words: usize,
    /// The speaker of most of its words.
    pub speaker: Option<String>,
}

impl Sentence {
    pub fn duration(&self) -> f64 {
        self.end - self.start
    }

    pub fn is_question(&self) -> bool {
        self.text.trim_end().ends_with('?')
    }
}

struct Word<'a> {
    start: f64,
    end: f64,
    text: &'a str,
    speaker: Option<&'a str>,
}

/// The transcript's words grouped into sentences: a word ending in `.`,
/// `?` or `!` (not an abbreviation's single letter), a pause of
/// [`PAUSE`], or a change of speaker ends one.
pub(crate) fn split(transcript: &Transcript) -> Vec<Sentence> {
    let words: Vec<Word<'_>> = transcript
        .segments
        .iter()
        .flat_map(|s| {
            s.words.iter().map(move |w| Word {
                start: w.start,
                end: w.end,
                text: w.text.trim(),
                speaker: w.speaker.as_deref().or(s.speaker.as_deref()),
            })
        })
        .filter(|w| !w.text.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut first = 0;
    for i in 0..words.len() {
        let last = i + 1 == words.len();
        let ends = last
            || ends_sentence(words[i].text)
            || words[i + 1].start - words[i].end >= PAUSE
            || words[i + 1].speaker != words[i].speaker;
        if ends {
            push_sentences(&words[first..=i], &mut out);
            first = i + 1;
        }
    }
    out
}

fn ends_sentence(word: &str) -> bool {
    let trimmed = word.trim_end_matches(['"', '\'', ')', '”', '’']);
    let Some(last) = trimmed.chars().last() else {
        return false;
    };
    if !matches!(last, '.' | '?' | '!') {
        return false;
    }
    // "U.S." or "Mr." inside a sentence: one letter, or a known title.
    let stem = trimmed.trim_end_matches(['.', '?', '!']);
    let abbreviation = stem.chars().count() == 1
        || matches!(
            stem.to_lowercase().as_str(),
            "mr" | "mrs" | "ms" | "dr" | "st" | "vs" | "etc" | "e.g" | "i.e"
        );
    last != '.' || !abbreviation
}

/// Pushes `words` as one sentence, or several when longer than
/// [`MAX_SENTENCE`] (cut at the longest pause, recursively).
fn push_sentences(words: &[Word<'_>], out: &mut Vec<Sentence>) {
    let Some((first, last)) = words.first().zip(words.last()) else {
        return;
    };
    if last.end - first.start > MAX_SENTENCE && words.len() > 1 {
        let cut = (1..words.len())
            .max_by(|&a, &b| {
                let ga = words[a].start - words[a - 1].end;
                let gb = words[b].start - words[b - 1].end;
                ga.total_cmp(&gb)
            })
            .unwrap_or(words.len() / 2);
        push_sentences(&words[..cut], out);
        push_sentences(&words[cut..], out);
        return;
    }
    let mut text = String::new();
    for w in words {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(w.text);
    }
    let mut counts: Vec<(Option<&str>, usize)> = Vec::new();
    for w in words {
        match counts.iter_mut().find(|(s, _)| *s == w.speaker) {
            Some((_, n)) => *n += 1,
            None => counts.push((w.speaker, 1)),
        }
    }
    let speaker = counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .and_then(|(s, _)| s.map(str::to_owned));
    out.push(Sentence {
        start: first.start,
        end: last.end,
        text,
        words: words.len(),
        speaker,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::transcribe::{Segment, Word as TWord};

    fn transcript(words: &[(f64, f64, &str, &str)]) -> Transcript {
        Transcript {
            version: 1,
            model: "tiny.en".into(),
            language: Some("en".into()),
            language_probability: None,
            duration: 100.0,
            segments: vec![Segment {
                edited_at: None,
                id: 0,
                start: words[0].0,
                end: words.last().unwrap().1,
                text: String::new(),
                speaker: Some("S1".into()),
                confidence: 0.9,
                words: words
                    .iter()
                    .map(|&(start, end, text, speaker)| TWord {
                        start,
                        end,
                        text: format!(" {text}"),
                        probability: 0.9,
                        speaker: Some(speaker.into()),
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn punctuation_pauses_and_speakers_end_sentences() {
        let t = transcript(&[
            (0.0, 0.3, "Hello", "S1"),
            (0.3, 0.6, "Mr.", "S1"),
            (0.6, 0.9, "Smith.", "S1"),
            (1.0, 1.2, "How", "S1"),
            (1.2, 1.4, "are", "S1"),
            (1.4, 1.6, "you?", "S1"),
            (1.8, 2.0, "Fine", "S2"),
            (2.0, 2.2, "thanks", "S2"),
            (4.0, 4.3, "Anyway", "S2"),
        ]);
        let s = split(&t);
        let texts: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            ["Hello Mr. Smith.", "How are you?", "Fine thanks", "Anyway"]
        );
        assert!(s[1].is_question());
        assert_eq!((s[1].start, s[1].end), (1.0, 1.6));
        assert_eq!(s[2].speaker.as_deref(), Some("S2"));
        assert_eq!(s[0].words, 3);
    }

    #[test]
    fn run_on_speech_is_cut_at_its_longest_pause() {
        let mut words = Vec::new();
        for k in 0..80 {
            let start = k as f64 * 0.5 + if k >= 50 { 0.8 } else { 0.0 };
            words.push((start, start + 0.4, "word", "S1"));
        }
        let s = split(&transcript(&words));
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].words, 50);
        assert!(s.iter().all(|s| s.duration() <= MAX_SENTENCE));
    }
}
