//! Transcription with whisper.cpp (whisper-rs), producing
//! `transcript.json`, `.srt`, `.vtt` and `.txt`.
//!
//! Only speech is transcribed: the speech intervals from
//! [`super::silence`] are packed into windows of up to
//! [`windows::WINDOW_SECONDS`] (with a short pause between pieces, so the
//! model hears them as separate phrases), long silences cost nothing, and
//! every time whisper.cpp reports is mapped back onto the source's timeline.
//!
//! Word timing comes from whisper.cpp's token timestamps (its DTW
//! alignment measured worse, see [`crate::engines`]). A word is then kept
//! inside the speech interval that holds it, so a cut made at a silence
//! boundary never falls inside a word, and its edges are moved off quiet
//! audio onto the word itself ([`words::snap_words_to_audio`]).
//!
//! [`windows`] cuts the audio, [`decode`] runs whisper.cpp, [`words`] fits
//! the words to the speech, and [`outputs`] writes, stores and loads the
//! result.

pub(crate) mod cloud;
mod decode;
mod outputs;
mod repeats;
pub mod route;
mod windows;
mod words;

use std::sync::Arc;

use cloud::{
    CloudClient, CloudError,
    track::{self, Track},
};

/// Chunks of one long recording a cloud engine is sent at once.
const CHUNKS_IN_FLIGHT: usize = 4;
use cutroom_core::{
    ErrorCode,
    events::JobEvent,
    queries::{events, tenants},
    secrets::Sealer,
    speech::{Engine, EngineAttempt, ResolvedSpeech, RouteReport, SpeechEndpoints},
};

use super::{JobCtx, Stage, StageError, audio::ANALYSIS_RATE, meter, silence::Interval};
use crate::models::WhisperModel;

pub(crate) use cutroom_core::transcript::{FORMAT_VERSION, Segment, Transcript, Word};
pub(crate) use decode::transcribe_with_progress;
pub(crate) use outputs::{load, save};

/// A transcript and how it was had.
pub(crate) struct Routed {
    pub transcript: Transcript,
    pub report: RouteReport,
    /// The usage line's model: `whisper:tiny.en`, `deepgram:nova-3`.
    pub meter_model: String,
}

/// The stage: the router weighs the engines ([`route::plan`]) and they
/// run in its order until one gives a transcript. The transcript is saved
/// by [`save`] once the speakers stage has labelled it.
pub(crate) async fn run(
    ctx: &JobCtx<'_>,
    audio: Arc<Vec<f32>>,
    speech: &[Interval],
) -> Result<Routed, StageError> {
    let Weighed {
        options,
        model,
        cloud,
        track,
        ask,
        plan,
    } = weigh(ctx, &audio, speech).await?;
    let (speech_seconds, budget_left) = (ask.speech_seconds, ask.budget_left);
    let cost_per_hour = ask.cost_per_hour;
    tracing::info!(
        engine = plan.order[0].engine.name(),
        reason = %plan.reason,
        speech_seconds,
        "transcription routed"
    );
    let mut report = RouteReport {
        requested: ask.choice,
        tier: ask.tier,
        speech_seconds: words::round_ms(speech_seconds),
        budget_left_usd: budget_left,
        considered: plan.considered.clone(),
        chosen: plan.order[0].engine,
        model: plan.order[0].model.clone(),
        reason: plan.reason.clone(),
        estimated_cost_usd: plan.order[0].estimate,
        actual_cost_usd: 0.0,
        attempts: Vec::new(),
    };
    // The speech in chunks as Ogg Opus, encoded once for every cloud engine.
    let mut chunks: Option<Vec<(Track, Vec<u8>)>> = None;
    let mut last_error = None;
    for pick in &plan.order {
        let started = std::time::Instant::now();
        let result = if pick.engine == Engine::Local {
            local(ctx, model, &options, &audio, speech).await
        } else {
            let endpoint = cloud
                .iter()
                .find(|c| c.engine == pick.engine)
                .expect("the plan picks usable engines");
            if track.is_empty() {
                // Nothing was heard as speech: nothing to send or pay for.
                let transcript = cloud_transcript(pick, cloud::Heard::default(), &audio, speech);
                report.chosen = pick.engine;
                report.model = pick.model.clone();
                return Ok(Routed {
                    transcript,
                    report,
                    meter_model: format!("{}:{}", pick.engine.name(), pick.model),
                });
            }
            if chunks.is_none() {
                chunks = Some(encode(ctx, &audio, speech).await?);
            }
            let parts = chunks.as_deref().expect("just encoded");
            let outcome = cloud_attempt(ctx, endpoint, parts, &options).await;
            if ctx.stop.is_cancelled() {
                return Err(StageError::Stopped(ctx.stop_reason()));
            }
            match outcome.result {
                Ok(heard) => Ok((
                    cloud_transcript(pick, heard, &audio, speech),
                    outcome.requests,
                )),
                Err(error) => {
                    let seconds = started.elapsed().as_secs_f64();
                    report.attempts.push(EngineAttempt {
                        engine: pick.engine,
                        model: pick.model.clone(),
                        outcome: error.class().to_owned(),
                        error: Some(error.to_string()),
                        requests: outcome.requests,
                        seconds: words::round_ms(seconds),
                        cost_usd: 0.0,
                    });
                    tracing::warn!(engine = pick.engine.name(), error = %error, "speech engine failed");
                    if let CloudError::KeyRefused(status) = error {
                        key_refused(ctx, pick.engine, status).await?;
                    }
                    last_error = Some(StageError::failed(
                        error.code(),
                        format!("{}: {error}", pick.engine.name()),
                    ));
                    continue;
                }
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok((transcript, requests)) => {
                let cost = if pick.engine == Engine::Local {
                    seconds * cost_per_hour / 3600.0
                } else {
                    let sent: f64 = chunks.iter().flatten().map(|(t, _)| t.seconds()).sum();
                    sent / 60.0 * cloud_price(&cloud, pick.engine)
                };
                report.attempts.push(EngineAttempt {
                    engine: pick.engine,
                    model: pick.model.clone(),
                    outcome: "ok".into(),
                    error: None,
                    requests,
                    seconds: words::round_ms(seconds),
                    cost_usd: cost,
                });
                report.chosen = pick.engine;
                report.model = pick.model.clone();
                report.actual_cost_usd = report.attempts.iter().map(|a| a.cost_usd).sum();
                tracing::info!(
                    engine = pick.engine.name(),
                    model = %transcript.model,
                    language = ?transcript.language,
                    segments = transcript.segments.len(),
                    cost_usd = report.actual_cost_usd,
                    "transcribed"
                );
                let meter_model = match pick.engine {
                    Engine::Local => format!("whisper:{}", pick.model),
                    e => format!("{}:{}", e.name(), pick.model),
                };
                return Ok(Routed {
                    transcript,
                    report,
                    meter_model,
                });
            }
            Err(StageError::Failed(f)) if !plan.pinned => {
                report.attempts.push(EngineAttempt {
                    engine: pick.engine,
                    model: pick.model.clone(),
                    outcome: "failed".into(),
                    error: Some(f.message.clone()),
                    requests: 0,
                    seconds: words::round_ms(seconds),
                    cost_usd: seconds * cost_per_hour / 3600.0,
                });
                last_error = Some(StageError::Failed(f));
            }
            Err(e) => return Err(e),
        }
        if plan.pinned {
            break;
        }
    }
    Err(last_error.expect("the plan is never empty and every failure is kept"))
}

/// What the router decided from, and its plan.
struct Weighed {
    options: cutroom_core::jobs::TranscriptionOptions,
    model: WhisperModel,
    /// The tenant's usable cloud engines.
    cloud: Vec<ResolvedSpeech>,
    track: Track,
    ask: route::Ask,
    plan: route::Plan,
}

/// Reads the tenant's engines and budget and has the router weigh them.
async fn weigh(
    ctx: &JobCtx<'_>,
    audio: &[f32],
    speech: &[Interval],
) -> Result<Weighed, StageError> {
    let options = ctx.options.transcription.clone();
    let model = options
        .model
        .as_deref()
        .unwrap_or(&ctx.config.whisper_model)
        .parse::<WhisperModel>()
        .map_err(|e| {
            StageError::failed(
                ErrorCode::InternalError,
                "the transcription model is unknown",
            )
            .detail(e)
        })?;
    let job = ctx.job;
    let settings = tenants::settings(&ctx.db.orm, job.tenant_id)
        .await?
        .unwrap_or_default();
    let budget_left = meter::budget_left(ctx, &settings).await?;
    let (cloud, unusable) = cloud_engines(ctx, &settings.transcription.cloud);
    let track = Track::new(audio, speech);
    let speech_seconds: f64 = speech.iter().map(|i| i.end - i.start).sum();
    let threads = ctx.engines.threads;
    let cost_per_hour = ctx.config.router.cost_per_hour(threads);
    let ask = route::Ask {
        choice: options.engine.unwrap_or_default(),
        tier: options.tier.unwrap_or_default(),
        speech_seconds,
        sent_seconds: track.seconds(),
        local_model: model.name().to_owned(),
        cost_per_hour,
        threads,
        cloud: cloud
            .iter()
            .map(|c| route::Cloud {
                engine: c.engine,
                model: c.model.clone(),
                price_per_minute: c.price_per_minute,
            })
            .collect(),
        unusable,
        budget_left,
        at_budget: settings.budget.at_limit,
        long_speech: ctx.config.router.long_speech.as_secs_f64(),
    };
    let plan = route::plan(&ask).map_err(|no| match no {
        route::NoEngine::Budget(why) => StageError::failed(ErrorCode::BudgetExceeded, why),
        route::NoEngine::Wait(reason) => StageError::WaitForBudget {
            until: meter::budget_wait_until(ctx),
            reason,
        },
        route::NoEngine::Unusable(why) => StageError::failed(ErrorCode::EngineRefused, why),
    })?;
    Ok(Weighed {
        options,
        model,
        cloud,
        track,
        ask,
        plan,
    })
}

/// The local engine: whisper.cpp over the speech windows.
async fn local(
    ctx: &JobCtx<'_>,
    model: WhisperModel,
    options: &cutroom_core::jobs::TranscriptionOptions,
    audio: &Arc<Vec<f32>>,
    speech: &[Interval],
) -> Result<(Transcript, u32), StageError> {
    let engines = Arc::clone(ctx.engines);
    let speech = speech.to_vec();
    let stop = ctx.stop.clone();
    let options = options.clone();
    let audio = Arc::clone(audio);
    let result = ctx
        .blocking(Stage::Transcribe, move |progress| {
            transcribe_with_progress(&engines, model, &options, &audio, &speech, &stop, progress)
        })
        .await?;
    match result? {
        Some(transcript) => Ok((transcript, 0)),
        None => Err(StageError::Stopped(ctx.stop_reason())),
    }
}

/// The tenant's cloud engines with keys, opened, and those that cannot
/// be used with why.
fn cloud_engines(
    ctx: &JobCtx<'_>,
    endpoints: &SpeechEndpoints,
) -> (Vec<ResolvedSpeech>, Vec<(Engine, String)>) {
    let configured = endpoints.configured();
    // Checked again here: the server's lists may have changed since the
    // settings were saved.
    if let Err(why) =
        endpoints.check_endpoints(ctx.config.llm_hosts.as_ref(), &ctx.config.llm_private_hosts)
    {
        return (
            Vec::new(),
            configured.into_iter().map(|e| (e, why.clone())).collect(),
        );
    }
    let sealer = Sealer::new(&ctx.config.secret_key);
    let mut usable = Vec::new();
    let mut unusable = Vec::new();
    for engine in configured {
        match endpoints.resolve(engine, &sealer, ctx.job.tenant_id) {
            Ok(r) => usable.push(r),
            Err(why) => unusable.push((engine, why)),
        }
    }
    (usable, unusable)
}

fn cloud_price(cloud: &[ResolvedSpeech], engine: Engine) -> f64 {
    cloud
        .iter()
        .find(|c| c.engine == engine)
        .map_or(0.0, |c| c.price_per_minute)
}

/// The speech in chunks of at most [`track::CHUNK_SECONDS`], each as Ogg
/// Opus (written in the scratch folder).
async fn encode(
    ctx: &JobCtx<'_>,
    audio: &[f32],
    speech: &[Interval],
) -> Result<Vec<(Track, Vec<u8>)>, StageError> {
    let chunks = Track::chunks(audio, speech, track::CHUNK_SECONDS);
    let scratch = ctx.scratch.to_path_buf();
    tokio::task::spawn_blocking(move || {
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let path = scratch.join(format!("speech-for-cloud-{i}.ogg"));
                let bytes = track::encode(&t.samples, &path)?;
                Ok((t, bytes))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    .map_err(|e| {
        StageError::failed(
            ErrorCode::InternalError,
            "the speech could not be encoded for the cloud engine",
        )
        .detail(format!("{e:#}"))
    })
}

/// One cloud engine over every chunk, [`CHUNKS_IN_FLIGHT`] at a time,
/// each with its retries; the words merged onto the source's timeline.
/// Stopped by the job's cancellation.
async fn cloud_attempt(
    ctx: &JobCtx<'_>,
    endpoint: &ResolvedSpeech,
    chunks: &[(Track, Vec<u8>)],
    options: &cutroom_core::jobs::TranscriptionOptions,
) -> cloud::Outcome {
    use futures::StreamExt;
    let mut client = CloudClient::new(endpoint.clone(), ctx.config.llm_private_hosts.clone());
    client.attempts = ctx.config.router.cloud_attempts;
    client.backoff = ctx.config.router.cloud_backoff;
    let language = options.language.as_deref();
    let client = &client;
    // The futures are made first: a stream over a closure that borrows
    // would not be `Send` for every lifetime, as the worker needs.
    let calls: Vec<_> = chunks
        .iter()
        .map(|(_, ogg)| client.transcribe(ogg, language))
        .collect();
    let all = futures::stream::iter(calls)
        .buffered(CHUNKS_IN_FLIGHT)
        .collect::<Vec<_>>();
    let outcomes = tokio::select! {
        outcomes = all => outcomes,
        () = ctx.stop.cancelled() => return cloud::Outcome {
            result: Err(CloudError::Failed("the job was stopped".into())),
            requests: 0,
        },
    };
    let requests = outcomes.iter().map(|o| o.requests).sum();
    let mut parts = Vec::with_capacity(outcomes.len());
    for ((track, _), outcome) in chunks.iter().zip(outcomes) {
        match outcome.result {
            Ok(heard) => parts.push((track, heard)),
            Err(e) => {
                return cloud::Outcome {
                    result: Err(e),
                    requests,
                };
            }
        }
    }
    cloud::Outcome {
        result: Ok(cloud::merge(parts)),
        requests,
    }
}

/// A cloud engine's words (on the source's timeline) as a transcript,
/// fitted to the speech and the audio like the local engine's.
fn cloud_transcript(
    pick: &route::Pick,
    heard: cloud::Heard,
    audio: &[f32],
    speech: &[Interval],
) -> Transcript {
    let mut segments = cloud::segments(&heard);
    repeats::drop_repeats(&mut segments);
    words::fit_words_to_speech(&mut segments, speech);
    words::snap_words_to_audio(&mut segments, audio);
    for (id, s) in segments.iter_mut().enumerate() {
        s.id = id;
    }
    Transcript {
        version: FORMAT_VERSION,
        model: format!("{}:{}", pick.engine.name(), pick.model),
        language: heard.language,
        language_probability: heard.language_probability,
        duration: words::round_ms(audio.len() as f64 / f64::from(ANALYSIS_RATE)),
        segments,
    }
}

/// The tenant is told its key was refused: a job event (and so a
/// webhook) naming the engine.
async fn key_refused(ctx: &JobCtx<'_>, engine: Engine, status: u16) -> Result<(), StageError> {
    let job = ctx.job;
    events::record(
        &ctx.db.orm,
        job.tenant_id,
        job.id,
        JobEvent::EngineKeyRefused,
        Some(serde_json::json!({
            "engine": engine.name(),
            "status": status,
            "message": format!(
                "{name} refused the API key ({status}); an admin sets transcription.cloud.{name}.api_key again",
                name = engine.name()
            ),
        })),
    )
    .await?;
    Ok(())
}
