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

mod decode;
mod outputs;
mod windows;
mod words;

use std::sync::Arc;

use cutroom_core::ErrorCode;

use super::{JobCtx, Stage, StageError, silence::Interval};
use crate::models::WhisperModel;

pub(crate) use cutroom_core::transcript::{FORMAT_VERSION, Segment, Transcript, Word};
pub(crate) use decode::transcribe_with_progress;
pub(crate) use outputs::{load, save};

/// The stage: transcribes the speech. The transcript is saved by [`save`]
/// once the speakers stage has labelled it.
pub(crate) async fn run(
    ctx: &JobCtx<'_>,
    audio: Arc<Vec<f32>>,
    speech: &[Interval],
) -> Result<Transcript, StageError> {
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
    let engines = Arc::clone(ctx.engines);
    let speech = speech.to_vec();
    let stop = ctx.stop.clone();
    let result = ctx
        .blocking(Stage::Transcribe, move |progress| {
            transcribe_with_progress(&engines, model, &options, &audio, &speech, &stop, progress)
        })
        .await?;
    let Some(transcript) = result? else {
        return Err(StageError::Stopped(ctx.stop_reason()));
    };
    tracing::info!(
        model = %transcript.model,
        language = ?transcript.language,
        segments = transcript.segments.len(),
        "transcribed"
    );
    Ok(transcript)
}
