//! Content analysis: what a job's talk is about, where its chapters are,
//! and its best moments. The `builtin` provider ([`builtin`]) needs no
//! network; the LLM providers (Gemini, OpenAI-compatible) are to come and
//! will share [`sentences`] as the boundaries they may cut on.

pub(crate) mod builtin;
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "the gemini and openai providers are built on it next"
    )
)]
pub(crate) mod llm;
pub(crate) mod sentences;

#[cfg(test)]
mod tests;
