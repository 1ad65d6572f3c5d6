//! The LLM providers (`gemini`, `openai`): the transcript as numbered
//! sentences, split into overlapping chunks, analysed in parallel with a
//! bounded number of requests in flight, each answer validated against the
//! JSON Schema it was asked for (one repair request when it is not), then
//! merged: chapters and highlights de-duplicated across the overlaps, one
//! summary of the chunk summaries.
//!
//! The model points at sentences by number and never writes times, so
//! every chapter and highlight starts and ends on a sentence (and so a
//! word) boundary of the transcript. The transcript is data inside the
//! prompt: nothing the model writes can reach the job's options or its
//! moderation policy, and an answer that does not validate is not used.
//!
//! The parts: [`prompts`] (chunks, prompts and schemas), [`request`] (one
//! validated request and its errors), [`merge`] (the answers made one
//! analysis).

use std::{collections::HashSet, time::Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::{
    builtin::{Analysis, Lengths},
    llm::{LlmClient, Usage},
    sentences::Sentence,
};

mod merge;
mod prompts;
mod request;

use merge::{count_keywords, merge_chapters, merge_highlights};
use prompts::{
    ChunkAnswer, OverallAnswer, SYSTEM, chunk_prompt, chunk_schema, chunks, overall_schema,
};
pub(crate) use request::{ProviderError, add, ask};

/// What the provider did, for `analysis.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct ProviderRun {
    pub chunks: usize,
    pub max_in_flight: usize,
    /// Chunks whose first answer did not validate and were asked again.
    pub repairs: usize,
    pub usage: Usage,
    pub seconds: f64,
}

/// The provider's analysis of `sentences`, or why there is none. `builtin`
/// is the builtin analysis of the same sentences: the merge tops the
/// model's highlights up from it when the model found too few.
pub(crate) async fn analyse(
    client: &LlmClient,
    sentences: &[Sentence],
    lengths: Lengths,
    chunk_seconds: f64,
    max_in_flight: usize,
    builtin: &Analysis,
    on_chunk: impl Fn(usize, usize),
) -> (Result<(Analysis, Vec<String>), ProviderError>, ProviderRun) {
    let started = Instant::now();
    let ranges = chunks(sentences, chunk_seconds);
    let n = ranges.len();
    let mut run = ProviderRun {
        chunks: n,
        max_in_flight: max_in_flight.max(1),
        ..ProviderRun::default()
    };
    let mut answers: Vec<Option<ChunkAnswer>> = (0..n).map(|_| None).collect();
    // Owned prompts, so the request futures borrow nothing but the client
    // (a closure over borrowed ranges makes the job's future lose `Send`).
    let prompts: Vec<(usize, String, Value)> = ranges
        .iter()
        .enumerate()
        .map(|(k, range)| {
            (
                k,
                chunk_prompt(sentences, range, k, n, lengths),
                chunk_schema(range),
            )
        })
        .collect();
    let mut requests =
        futures::stream::iter(prompts.into_iter().map(|(k, user, schema)| async move {
            let mut usage = Usage::default();
            let mut repaired = false;
            let answer: Result<ChunkAnswer, _> =
                ask(client, SYSTEM, &user, &schema, &mut usage, &mut repaired).await;
            (k, answer, usage, repaired)
        }))
        .buffer_unordered(run.max_in_flight);
    let mut done = 0;
    let mut failure = None;
    while let Some((k, answer, usage, repaired)) = requests.next().await {
        add(&mut run.usage, usage);
        run.repairs += usize::from(repaired);
        match answer {
            Ok(a) => answers[k] = Some(a),
            Err(e) => {
                // The rest would be wasted: stop (dropping the stream
                // cancels the requests in flight).
                failure = Some(ProviderError::new(e, k + 1, n));
                break;
            }
        }
        done += 1;
        on_chunk(done, n);
    }
    drop(requests);
    if let Some(f) = failure {
        run.seconds = started.elapsed().as_secs_f64();
        return (Err(f), run);
    }
    let answers: Vec<ChunkAnswer> = answers.into_iter().flatten().collect();
    let mut warnings = Vec::new();
    let (summary, keywords) = if answers.len() == 1 {
        (answers[0].summary.clone(), answers[0].keywords.clone())
    } else {
        overall(client, &answers, &mut run, &mut warnings).await
    };
    let mut analysis = Analysis {
        summary,
        keywords: count_keywords(sentences, keywords),
        chapters: merge_chapters(sentences, &answers),
        highlights: Vec::new(),
    };
    analysis.highlights = merge_highlights(sentences, &answers, lengths, builtin, &mut warnings);
    run.seconds = started.elapsed().as_secs_f64();
    (Ok((analysis, warnings)), run)
}

/// One summary and keyword list from the chunks' own. Falls back to the
/// chunk summaries in order (with a warning) if that request fails.
async fn overall(
    client: &LlmClient,
    answers: &[ChunkAnswer],
    run: &mut ProviderRun,
    warnings: &mut Vec<String>,
) -> (String, Vec<String>) {
    let mut user = String::from(
        "Below are summaries and keywords of consecutive parts of one video. Write one summary \
         of the whole video and its most important keywords.\n<parts>\n",
    );
    for (k, a) in answers.iter().enumerate() {
        user.push_str(&format!(
            "Part {}: {} (keywords: {})\n",
            k + 1,
            a.summary.replace('<', "‹"),
            a.keywords.join(", ").replace('<', "‹")
        ));
    }
    user.push_str("</parts>");
    let mut repaired = false;
    let answer = ask::<OverallAnswer>(
        client,
        SYSTEM,
        &user,
        &overall_schema(),
        &mut run.usage,
        &mut repaired,
    )
    .await;
    run.repairs += usize::from(repaired);
    match answer {
        Ok(a) => (a.summary, a.keywords),
        Err(e) => {
            let why = match e {
                Ok(e) => e.to_string(),
                Err(errors) => errors,
            };
            warnings.push(format!(
                "the overall summary request failed ({why}); the summary joins the parts' summaries"
            ));
            let summary = answers
                .iter()
                .map(|a| a.summary.trim())
                .collect::<Vec<_>>()
                .join(" ");
            let mut seen = HashSet::new();
            let keywords = answers
                .iter()
                .flat_map(|a| a.keywords.iter().cloned())
                .filter(|k| seen.insert(k.to_lowercase()))
                .collect();
            (summary, keywords)
        }
    }
}

#[cfg(test)]
mod tests;
