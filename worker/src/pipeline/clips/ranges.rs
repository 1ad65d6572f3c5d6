//! A re-render's clips: the ranges a person chose, made into highlights
//! with a title and a hook from their words. Apart from the planning
//! because only the re-render chooses its clips this way; the full run
//! takes the analysis's highlights.

use cutroom_core::{ErrorCode, clips::ClipRange};

use super::plan::word_timeline;
use crate::{
    analysis::builtin::Highlight,
    pipeline::{StageError, transcribe::Transcript},
};

/// The clips a re-render asked for, as highlights in the order asked: each
/// titled as given, or by its first words, and hooked on its first
/// sentence. A person chose them, so they have no score (0) and no reasons.
pub(crate) fn ranges(
    job: &cutroom_entities::job::Model,
    transcript: &Transcript,
) -> Result<Vec<Highlight>, StageError> {
    let ranges: Vec<ClipRange> = job
        .clip_ranges
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| {
            StageError::failed(
                ErrorCode::InternalError,
                "the re-render's ranges could not be read",
            )
            .detail(e)
        })?
        .unwrap_or_default();
    let (spans, texts, _) = word_timeline(transcript);
    Ok(ranges
        .into_iter()
        .map(|r| {
            let words = spans
                .iter()
                .zip(&texts)
                .filter(|(w, _)| w.start >= r.start && w.end <= r.end)
                .map(|(_, t)| t.as_str());
            let hook = first_sentence(words, HOOK_WORDS);
            Highlight {
                start: r.start,
                end: r.end,
                title: r
                    .title
                    .unwrap_or_else(|| first_sentence(hook.split(' '), TITLE_WORDS)),
                hook,
                score: 0,
                reasons: Vec::new(),
            }
        })
        .collect())
}

/// Most words of a chosen range's hook line...
const HOOK_WORDS: usize = 20;

/// ...and of the title made from it.
const TITLE_WORDS: usize = 8;

/// `words` up to the end of the first sentence, at most `most` of them
/// (with an ellipsis when cut short).
fn first_sentence<'w>(words: impl Iterator<Item = &'w str>, most: usize) -> String {
    let mut out = Vec::new();
    for word in words {
        if out.len() == most {
            return format!("{}…", out.join(" "));
        }
        out.push(word);
        if word.ends_with(['.', '!', '?']) {
            break;
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_range_is_titled_and_hooked_on_its_first_sentence() {
        let words = ["Thanks,", "everyone.", "The", "weather"];
        assert_eq!(first_sentence(words.into_iter(), 20), "Thanks, everyone.");
        assert_eq!(first_sentence(words.into_iter(), 1), "Thanks,…");
        assert_eq!(first_sentence(["no", "end"].into_iter(), 2), "no end");
        assert_eq!(first_sentence(std::iter::empty(), 3), "");
    }
}
