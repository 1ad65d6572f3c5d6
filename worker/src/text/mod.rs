//! Models that read text: sentence embeddings ([`embed`]) for content
//! analysis, and toxicity ([`toxicity`]) for moderation.

pub(crate) mod embed;
pub(crate) mod toxicity;

#[cfg(test)]
mod tests;
