//! A job that enrols an uploaded voice sample (`job.enrols_speaker_id`):
//! fetch, probe, decode and find the speech as any job does, then embed
//! and diarize it as the speakers stage does, and add the voice that
//! speaks as a sample of the library speaker. The sample is refused, and
//! the job fails with the refusal's code, when the file runs past
//! [`MAX_FILE_SECONDS`], holds under 5 s of speech, more than one voice,
//! or speech that does not agree with itself. Publishes `silences.json`
//! and `speakers.json`; nothing is transcribed.

use std::sync::Arc;

use cutroom_core::{
    ErrorCode,
    jobs::SpeakerOptions,
    queries::speakers as library,
    voiceprints::{self, Refusal, SampleVoice, Thresholds, Voiceprint},
};
use uuid::Uuid;

use super::{
    JobCtx, Output, Pipeline, Stage, StageError, fetch, meter, publish, silence, speakers,
};

/// Longest file taken as a voice sample, seconds: a sample is 5-120 s of
/// speech, with some room for silence around it.
pub(crate) const MAX_FILE_SECONDS: f64 = 130.0;

/// What the speakers stage of an enrolment found.
struct Found {
    voices: Vec<Voiceprint>,
    main: usize,
    sample: SampleVoice,
    report: Output,
}

impl Pipeline<'_> {
    pub(super) async fn enrol_stages(
        &self,
        ctx: &JobCtx<'_>,
        speaker_id: Uuid,
    ) -> Result<(), StageError> {
        let source = self.stage(ctx, Stage::Fetch, fetch::run(ctx)).await?;
        let (_, audio, _) = self
            .probe_and_decode(ctx, &source, Some(MAX_FILE_SECONDS))
            .await?;
        let seconds = audio.duration();
        if seconds > MAX_FILE_SECONDS {
            // The header understated it.
            return Err(too_long(seconds));
        }
        let speech = self
            .stage(ctx, Stage::Silence, silence::run(ctx, &audio))
            .await?;
        let vad = ctx.engines.set.silero_vad().name;
        meter::record(ctx, Stage::Silence, Some(vad), seconds).await?;
        let found = self
            .stage(
                ctx,
                Stage::Speakers,
                voices(ctx, Arc::clone(&audio.mono16k), &speech.report.speech),
            )
            .await?;
        let embedder = ctx.engines.speaker_file().name;
        meter::record(ctx, Stage::Speakers, Some(embedder), seconds).await?;
        self.stage(ctx, Stage::Publish, async {
            publish::run(ctx, &[speech.output, found.report]).await?;
            // Last, so that a job that fails before never leaves a sample
            // behind (and a retried one replaces its own).
            let job = ctx.job;
            let Some(sample) = library::enrol_recording(
                &ctx.db.orm,
                job.tenant_id,
                job.id,
                speaker_id,
                &found.voices,
                found.main,
                &found.sample,
            )
            .await?
            else {
                return Err(StageError::failed(
                    ErrorCode::SpeakerDeleted,
                    "the speaker was deleted before the sample could be added",
                ));
            };
            tracing::info!(
                speaker.id = %speaker_id,
                sample.id = %sample.id,
                seconds = sample.seconds,
                "voice sample enrolled"
            );
            Ok(())
        })
        .await
    }
}

pub(crate) fn too_long(seconds: f64) -> StageError {
    StageError::failed(
        ErrorCode::SampleTooLong,
        format!(
            "the file is {seconds:.0} s long; a voice sample is 5 to 120 s of one person \
             speaking (files up to {MAX_FILE_SECONDS:.0} s)"
        ),
    )
}

/// Embeds and diarizes the speech, and takes the sample from the voice
/// that speaks; writes `speakers.json`.
async fn voices(
    ctx: &JobCtx<'_>,
    audio: Arc<Vec<f32>>,
    speech: &[silence::Interval],
) -> Result<Found, StageError> {
    let model = ctx.engines.speaker_model;
    // The speaker count is left to the voices: a second one is a refusal.
    let options = SpeakerOptions::default();
    let (timeline, voices) = speakers::find_voices(ctx, audio, speech, options.clone()).await?;
    let report = timeline.report(&options, model);
    let (main, sample) =
        voiceprints::sample_of_recording(&voices, Thresholds::of(model)).map_err(refused)?;
    let report = ctx
        .write_output(
            "speakers.json",
            "application/json",
            serde_json::to_vec_pretty(&report).expect("the report is plain data"),
        )
        .await?
        .made_with([ctx.engines.set.silero_vad(), ctx.engines.speaker_file()]);
    Ok(Found {
        voices,
        main,
        sample,
        report,
    })
}

fn refused(r: Refusal) -> StageError {
    let code = match r {
        Refusal::TooShort { .. } => ErrorCode::SampleTooShort,
        Refusal::Noisy { .. } => ErrorCode::SampleTooNoisy,
        Refusal::SeveralSpeakers(_) => ErrorCode::SeveralSpeakers,
    };
    StageError::failed(code, format!("the voice sample was refused: {r}"))
}
