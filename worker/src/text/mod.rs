//! Models that read text: sentence embeddings ([`embed`]) for content
//! analysis, and for moderation the toxicity classifier ([`toxicity`],
//! words) and the exemplar bank ([`meaning`], sentence embeddings).

pub(crate) mod embed;
pub(crate) mod meaning;
pub(crate) mod toxicity;

#[cfg(test)]
mod moderation_tests;
#[cfg(test)]
mod tests;
