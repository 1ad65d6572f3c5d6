//! The analysis stage: sentences from the labelled transcript, their
//! embeddings, the builtin analysis ([`crate::analysis::builtin`]), and
//! when the job asks for an LLM provider, its analysis
//! ([`crate::analysis::provider`]), which falls back to the builtin one
//! (recorded in the report) when it cannot be had. Produces `analysis.json`
//! ([`cutroom_core::outputs::analysis`]).

use cutroom_core::{
    ErrorCode,
    analysis::{
        Provider, ResolvedEndpoint,
        route::{self, AnalysisRoute, Ask, CloudLlm},
    },
    outputs::analysis::{AnalysisReport, FILE_NAME, FORMAT_VERSION, Fallback, UsageReport},
    queries::{review, tenants},
    secrets::Sealer,
};
use cutroom_entities::highlight;

use super::{
    JobCtx, Output, Stage, StageError,
    loudness::LoudnessReport,
    silence::{SilenceKind, SilenceReport},
    transcribe::Transcript,
};
use super::{Progress, meter};
use crate::analysis::{
    builtin::{self, Lengths, Signals},
    llm::LlmClient,
    provider::{self, ProviderRun},
    sentences::{self, Sentence},
    wording,
};

/// What the LLM provider was asked and what it cost, for `analysis.json`
/// and `moderation.json`.
pub(crate) fn usage_report(run: &ProviderRun, endpoint: &ResolvedEndpoint) -> UsageReport {
    let u = &run.usage;
    let cost_usd = match (endpoint.input_price, endpoint.output_price) {
        (None, None) => None,
        (input, output) => Some(
            (u.prompt_tokens as f64 * input.unwrap_or(0.0)
                + u.completion_tokens as f64 * output.unwrap_or(0.0))
                / 1e6,
        ),
    };
    UsageReport {
        chunks: run.chunks,
        max_in_flight: run.max_in_flight,
        requests: u.requests,
        retries: u.retries,
        repairs: run.repairs,
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        cost_usd,
        seconds: (run.seconds * 1000.0).round() / 1000.0,
    }
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
    let lengths = Lengths {
        min: f64::from(options.min_seconds),
        max: f64::from(options.max_seconds),
    };
    let builtin = builtin::analyse(
        &sentences,
        &embeddings,
        &Signals {
            loudness: &loudness.momentary.values,
            loudness_interval: loudness.momentary.interval,
            noise: &noise,
        },
        lengths,
    );
    let mut warnings = Vec::new();
    if transcript.language.as_deref().is_some_and(|l| l != "en") {
        warnings.push(
            "the sentence embeddings were trained on English; chapters and highlights of \
             other languages are rougher"
                .to_owned(),
        );
    }
    let requested = ctx.options.analysis.provider.unwrap_or_default();
    let mut report = AnalysisReport {
        version: FORMAT_VERSION,
        provider: Provider::Builtin,
        requested_provider: requested,
        model: None,
        language: transcript.language.clone(),
        sentences: sentences.len(),
        analysis: builtin,
        fallback: None,
        usage: None,
        route: None,
        wording: None,
        warnings,
    };
    let provider = match requested {
        Provider::Auto => {
            let route = route(ctx, &sentences).await?;
            let chosen = route.chosen;
            tracing::debug!(provider = chosen.name(), reason = %route.reason, "analysis routed");
            report.route = Some(route);
            chosen
        }
        named => named,
    };
    if !sentences.is_empty() {
        match provider {
            Provider::Builtin | Provider::Auto => {}
            Provider::Local => word_locally(ctx, &sentences, &mut report).await?,
            cloud => ask_llm(ctx, cloud, &sentences, lengths, &mut report).await?,
        }
    }
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
        .write_output(FILE_NAME, "application/json", bytes)
        .await?
        .made_with([model, tokenizer]);
    Ok((report, output))
}

/// The LLM provider's analysis in place of the builtin one in `report`,
/// or the reason it could not be had in `report.fallback`.
async fn ask_llm(
    ctx: &JobCtx<'_>,
    provider: Provider,
    sentences: &[Sentence],
    lengths: Lengths,
    report: &mut AnalysisReport,
) -> Result<(), StageError> {
    let endpoint = match endpoint(ctx, provider).await? {
        Ok(e) => e,
        Err(why) => {
            tracing::warn!(provider = provider.name(), %why, "LLM provider not usable; builtin analysis");
            report.fallback = Some(Fallback {
                code: "llm_not_configured".to_owned(),
                message: why,
            });
            return Ok(());
        }
    };
    report.model = Some(endpoint.model.clone());
    let said = sentences.last().map_or(0.0, |s| s.end);
    let client = client_for(ctx, &endpoint, said);
    let progress = Progress::default();
    let (result, run) = ctx
        .tracked(
            Stage::Analyze,
            &progress,
            provider::analyse(
                &client,
                sentences,
                lengths,
                f64::from(endpoint.chunk_seconds),
                endpoint.max_in_flight as usize,
                &report.analysis,
                // After the embeddings' share (0-0.9): progress never goes back.
                |done, n| progress.set(0.9 + 0.1 * done as f32 / n as f32),
            ),
        )
        .await?;
    report.usage = Some(usage_report(&run, &endpoint));
    match result {
        Ok((analysis, warnings)) => {
            report.provider = provider;
            report.analysis = analysis;
            report.warnings.extend(warnings);
        }
        Err(e) => {
            tracing::warn!(provider = provider.name(), code = e.code(), error = %e, "LLM analysis failed; builtin analysis");
            report.fallback = Some(Fallback {
                code: e.code().to_owned(),
                message: format!(
                    "the {} provider failed, so this is the builtin analysis: {e}",
                    provider.name()
                ),
            });
        }
    }
    Ok(())
}

/// The tenant's endpoint for `provider` as its settings have it now (a key
/// changed while the job waited is the one that works), key opened; `Err`
/// says why it cannot be used.
pub(crate) async fn endpoint(
    ctx: &JobCtx<'_>,
    provider: Provider,
) -> Result<Result<ResolvedEndpoint, String>, StageError> {
    let local = ctx.engines.local_llm.as_ref();
    match (provider, local) {
        (Provider::Local, Some(llm)) => return Ok(Ok(llm.endpoint(None))),
        (Provider::Local, None) => return Ok(Err(NO_LOCAL_MODEL.to_owned())),
        // A custom policy of an `auto` job: the worker's own model first.
        (Provider::Auto, Some(llm)) => return Ok(Ok(llm.endpoint(None))),
        _ => {}
    }
    let job = ctx.job;
    let settings = tenants::settings(&ctx.db.orm, job.tenant_id)
        .await?
        .unwrap_or_default();
    let resolved = tenant_endpoints(ctx, &settings);
    Ok(match provider {
        Provider::Auto => resolved
            .iter()
            .find_map(|(_, r)| r.as_ref().ok().cloned())
            .ok_or_else(|| {
                "auto found no language model: no local model runs on this worker and the \
                 tenant has no usable endpoint"
                    .to_owned()
            }),
        _ => resolved
            .into_iter()
            .find(|(p, _)| *p == provider)
            .map_or_else(|| Err("builtin has no endpoint".to_owned()), |(_, r)| r),
    })
}

/// What a `local` job without a local model is told.
const NO_LOCAL_MODEL: &str = "no local language model runs on this worker: the operator sets \
    CUTROOM_LLAMA_SERVER and CUTROOM_LOCAL_LLM_MODEL, or CUTROOM_LOCAL_LLM_URL (see the README's \
    \"Local language model\")";

/// The tenant's cloud endpoints as its settings have them now (a key
/// changed while the job waited is the one that works), keys opened, or
/// why each cannot be used.
fn tenant_endpoints(
    ctx: &JobCtx<'_>,
    settings: &cutroom_core::tenants::TenantSettings,
) -> Vec<(Provider, Result<ResolvedEndpoint, String>)> {
    let sealer = Sealer::new(&ctx.config.secret_key);
    // Checked again here: the server's lists may have changed since, and
    // settings saved before the guard existed were never checked.
    let guard = settings
        .analysis
        .check_endpoints(ctx.config.llm_hosts.as_ref(), &ctx.config.llm_private_hosts);
    [Provider::Gemini, Provider::Openai]
        .into_iter()
        .map(|p| {
            let resolved = guard
                .clone()
                .and_then(|()| settings.analysis.resolve(p, &sealer, ctx.job.tenant_id));
            (p, resolved)
        })
        .collect()
}

/// A client for `endpoint` with the job's deadline; the operator's own
/// local model is let through the outbound guard.
pub(crate) fn client_for(ctx: &JobCtx<'_>, endpoint: &ResolvedEndpoint, said: f64) -> LlmClient {
    let mut private = ctx.config.llm_private_hosts.clone();
    if endpoint.provider == Provider::Local
        && let Some(llm) = &ctx.engines.local_llm
    {
        private.insert(llm.host());
    }
    LlmClient::for_endpoint(endpoint, &private, ctx.llm_deadline(said))
}

/// The provider `auto` chooses for this job ([`cutroom_core::analysis::route`]).
async fn route(ctx: &JobCtx<'_>, sentences: &[Sentence]) -> Result<AnalysisRoute, StageError> {
    let settings = tenants::settings(&ctx.db.orm, ctx.job.tenant_id)
        .await?
        .unwrap_or_default();
    let mut cloud = Vec::new();
    let mut unusable = Vec::new();
    for (provider, resolved) in tenant_endpoints(ctx, &settings) {
        match resolved {
            Ok(e) => cloud.push(CloudLlm {
                provider,
                input_price: e.input_price,
                output_price: e.output_price,
            }),
            Err(why) => unusable.push((provider, why)),
        }
    }
    let said = sentences.last().map_or(0.0, |s| s.end);
    let chunk = f64::from(
        settings
            .analysis
            .chunk_seconds
            .unwrap_or(cutroom_core::analysis::DEFAULT_CHUNK_SECONDS),
    );
    let chunks = (said / chunk).ceil().max(1.0) as usize;
    let ask = Ask {
        tier: ctx.options.transcription.tier.unwrap_or_default(),
        words: sentences.iter().map(|s| s.words).sum(),
        requests: if chunks > 1 { chunks + 1 } else { 1 },
        local: ctx.engines.local_llm.is_some(),
        cloud,
        unusable,
        budget_left: meter::budget_left(ctx, &settings).await?,
    };
    Ok(route::choose(&ask))
}

/// The `local` provider: builtin's analysis worded by the worker's own
/// model ([`wording`]); builtin's wording, with the reason, when there is
/// no model or none of its answers could be used.
async fn word_locally(
    ctx: &JobCtx<'_>,
    sentences: &[Sentence],
    report: &mut AnalysisReport,
) -> Result<(), StageError> {
    let Some(llm) = ctx.engines.local_llm.as_ref() else {
        report.fallback = Some(Fallback {
            code: "llm_not_configured".to_owned(),
            message: NO_LOCAL_MODEL.to_owned(),
        });
        return Ok(());
    };
    let endpoint = llm.endpoint(None);
    report.model = Some(endpoint.model.clone());
    let said = sentences.last().map_or(0.0, |s| s.end);
    let client = client_for(ctx, &endpoint, said);
    let progress = Progress::default();
    let mut analysis = report.analysis.clone();
    let worded = ctx
        .tracked(
            Stage::Analyze,
            &progress,
            wording::word(
                &client,
                sentences,
                &mut analysis,
                endpoint.max_in_flight as usize,
                |done, n| progress.set(0.9 + 0.1 * done as f32 / n as f32),
            ),
        )
        .await?;
    report.usage = Some(usage_report(&worded.run, &endpoint));
    if worded.report.written > 0 || worded.report.asked == 0 {
        report.provider = Provider::Local;
        report.analysis = analysis;
    } else {
        let first = worded.report.reasons.first().cloned().unwrap_or_default();
        report.fallback = Some(Fallback {
            code: worded.failure.unwrap_or("llm_invalid_answer").to_owned(),
            message: format!(
                "none of the local model's {} answers could be used, so this is builtin's \
                 wording ({first})",
                worded.report.asked
            ),
        });
    }
    report.wording = Some(worded.report);
    Ok(())
}
