//! The analysis stage: sentences from the labelled transcript, their
//! embeddings, then the builtin analysis ([`crate::analysis::builtin`]).
//! Produces `analysis.json`.

use cutroom_core::{ErrorCode, queries::review};
use cutroom_entities::highlight;
use serde::Serialize;

use super::{
    JobCtx, Output, Stage, StageError,
    loudness::LoudnessReport,
    silence::{SilenceKind, SilenceReport},
    transcribe::Transcript,
};
use crate::analysis::{
    builtin::{self, Analysis, Lengths, Signals},
    sentences,
};

const FORMAT_VERSION: u32 = 1;

/// The contents of `analysis.json`.
#[derive(Debug, Serialize)]
pub(crate) struct AnalysisReport {
    pub version: u32,
    /// Which provider wrote it: `builtin`.
    pub provider: &'static str,
    pub language: Option<String>,
    /// Sentences the transcript was read as.
    pub sentences: usize,
    #[serde(flatten)]
    pub analysis: Analysis,
    /// Anything the reader should know (e.g. a language the embeddings
    /// were not trained on).
    pub warnings: Vec<String>,
}

pub(crate) async fn run(
    ctx: &JobCtx<'_>,
    transcript: &Transcript,
    loudness: &LoudnessReport,
    speech: &SilenceReport,
) -> Result<(AnalysisReport, Output), StageError> {
    let sentences = sentences::split(transcript);
    let texts: Vec<String> = sentences.iter().map(|s| s.text.clone()).collect();
    let engines = std::sync::Arc::clone(ctx.engines);
    let embeddings = ctx
        .blocking(Stage::Analyze, move |progress| {
            if texts.is_empty() {
                return anyhow::Ok(Vec::new());
            }
            let mut embedder = engines.sentence_embedder()?;
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let mut out = Vec::with_capacity(texts.len());
            for chunk in texts.chunks(64) {
                out.extend(embedder.embed(chunk)?);
                progress.set(out.len() as f32 / texts.len() as f32 * 0.9);
            }
            Ok(out)
        })
        .await?
        .map_err(|e| {
            StageError::failed(
                ErrorCode::InternalError,
                "the analysis could not embed the transcript; try again later",
            )
            .detail(format!("{e:#}"))
        })?;
    let noise: Vec<(f64, f64)> = speech
        .silences
        .iter()
        .filter(|s| s.kind == SilenceKind::Noise)
        .map(|s| (s.start, s.end))
        .collect();
    let options = &ctx.options.analysis.highlights;
    let analysis = builtin::analyse(
        &sentences,
        &embeddings,
        &Signals {
            loudness: &loudness.momentary.values,
            loudness_interval: loudness.momentary.interval,
            noise: &noise,
        },
        Lengths {
            min: f64::from(options.min_seconds),
            max: f64::from(options.max_seconds),
        },
    );
    let mut warnings = Vec::new();
    if transcript.language.as_deref().is_some_and(|l| l != "en") {
        warnings.push(
            "the sentence embeddings were trained on English; chapters and highlights of \
             other languages are rougher"
                .to_owned(),
        );
    }
    let report = AnalysisReport {
        version: FORMAT_VERSION,
        provider: "builtin",
        language: transcript.language.clone(),
        sentences: sentences.len(),
        analysis,
        warnings,
    };
    // The highlights, for the API to list with their moderation state.
    let job = ctx.job;
    let now = chrono::Utc::now();
    let rows = report
        .analysis
        .highlights
        .iter()
        .enumerate()
        .map(|(k, h)| highlight::Model {
            id: uuid::Uuid::now_v7(),
            tenant_id: job.tenant_id,
            job_id: job.id,
            rank: i32::try_from(k + 1).unwrap_or(i32::MAX),
            start: h.start,
            end: h.end,
            title: h.title.clone(),
            hook: h.hook.clone(),
            score: i32::try_from(h.score).unwrap_or(100),
            reasons: serde_json::to_value(&h.reasons).expect("reasons serialise"),
            created_at: now,
        })
        .collect();
    review::replace_highlights(&ctx.db.orm, job.tenant_id, job.id, rows).await?;
    let bytes = serde_json::to_vec_pretty(&report).expect("the report serialises");
    let (model, tokenizer) = ctx.engines.set.sentence_embedder();
    let output = ctx
        .write_output("analysis.json", "application/json", bytes)
        .await?
        .made_with([model, tokenizer]);
    Ok((report, output))
}
