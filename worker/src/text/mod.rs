//! Models that read text: sentence embeddings ([`embed`]) for content
//! analysis, and for moderation the toxicity classifier ([`toxicity`],
//! words) and the exemplar bank ([`meaning`], sentence embeddings, read by
//! neighbours and by a linear [`probe`]).

/// A text's words, lower case, without the punctuation around them.
pub(crate) fn plain_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
}

pub(crate) mod embed;
pub(crate) mod meaning;
mod probe;
pub(crate) mod toxicity;

#[cfg(test)]
mod moderation_tests;
#[cfg(test)]
mod tests;
