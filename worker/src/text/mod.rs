//! Models that read text: sentence embeddings ([`embed`]) for content
//! analysis, and toxicity ([`toxicity`]) for moderation.

#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "the builtin content-analysis provider uses it next"
    )
)]
pub(crate) mod embed;
pub(crate) mod toxicity;

#[cfg(test)]
mod tests;
