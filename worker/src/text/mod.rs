//! Models that read text: sentence embeddings ([`embed`]) for content
//! analysis, and for moderation the toxicity classifier ([`toxicity`],
//! words) and the exemplar bank ([`meaning`], sentence embeddings, read by
//! neighbours and by a linear [`probe`]).

pub(crate) mod embed;
pub(crate) mod meaning;
mod probe;
pub(crate) mod toxicity;

#[cfg(test)]
mod moderation_tests;
#[cfg(test)]
mod tests;
