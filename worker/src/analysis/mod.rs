//! Content analysis: what a job's talk is about, where its chapters are,
//! and its best moments. The `builtin` provider ([`builtin`]) needs no
//! network; the LLM providers ([`provider`], over the wire client in
//! [`llm`]) ask Gemini or an OpenAI-compatible endpoint. Both cut only on
//! the [`sentences`] of the transcript. The `local` provider words
//! builtin's analysis with the operator's own small model ([`local`],
//! [`wording`]).

pub(crate) mod builtin;
pub(crate) mod llm;
pub(crate) mod local;
pub(crate) mod policies;
pub(crate) mod provider;
pub(crate) mod sentences;
pub(crate) mod wording;

#[cfg(test)]
mod tests;
