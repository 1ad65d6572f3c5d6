//! The transcript's files (`transcript.json`, `.srt`, `.vtt`, `.txt`) and
//! its rows in the database, written after the speakers stage and read
//! back for re-renders.

use cutroom_core::{
    ErrorCode,
    queries::transcripts,
    subtitles::{self, Cue},
};

use super::{Segment, Transcript};
use crate::{
    models::WhisperModel,
    pipeline::{JobCtx, Output, StageError},
};

/// Writes `transcript.json`, `.srt`, `.vtt` and `.txt`, and records the
/// transcript for the API and search.
pub(crate) async fn save(
    ctx: &JobCtx<'_>,
    transcript: &Transcript,
) -> Result<Vec<Output>, StageError> {
    let outputs = write_outputs(ctx, transcript).await?;
    store(ctx, transcript).await?;
    Ok(outputs)
}

/// A job's transcript as stored, with the corrections people made to it
/// through the API since: what a re-render captions from. Also the ids of
/// the corrected segments, which moderation has not read yet.
pub(crate) async fn load(
    ctx: &JobCtx<'_>,
    job_id: uuid::Uuid,
) -> Result<(Transcript, Vec<usize>), StageError> {
    let Some((meta, rows)) = transcripts::get(&ctx.db.orm, ctx.job.tenant_id, job_id).await? else {
        return Err(StageError::failed(
            ErrorCode::InternalError,
            "the job's transcript could not be found",
        )
        .detail(format!("no transcript row for job {job_id}")));
    };
    // Written by this worker or the API's correction, both from this
    // shape; anything else is a bug worth failing loudly on.
    let transcript = Transcript::from_rows(meta, rows).map_err(|e| {
        StageError::failed(
            ErrorCode::InternalError,
            "the job's transcript could not be read",
        )
        .detail(e)
    })?;
    let edited = transcript
        .segments
        .iter()
        .filter(|s| s.edited_at.is_some())
        .map(|s| s.id)
        .collect();
    Ok((transcript, edited))
}

/// Records the transcript for the API and search (replacing any earlier
/// run's).
async fn store(ctx: &JobCtx<'_>, t: &Transcript) -> Result<(), StageError> {
    let (meta, segments) = t.rows(ctx.job.tenant_id, ctx.job.id, chrono::Utc::now());
    transcripts::replace(&ctx.db.orm, meta, segments).await?;
    Ok(())
}

async fn write_outputs(ctx: &JobCtx<'_>, t: &Transcript) -> Result<Vec<Output>, StageError> {
    let files: [(&'static str, &'static str, Vec<u8>); 4] = [
        (
            "transcript.json",
            "application/json",
            serde_json::to_vec_pretty(t).expect("the transcript is plain data"),
        ),
        (
            "transcript.srt",
            "application/x-subrip",
            srt(t).into_bytes(),
        ),
        ("transcript.vtt", "text/vtt", vtt(t).into_bytes()),
        (
            "transcript.txt",
            "text/plain; charset=utf-8",
            txt(t).into_bytes(),
        ),
    ];
    // Speech regions, words, speaker labels.
    let set = &ctx.engines.set;
    let whisper = t
        .model
        .parse::<WhisperModel>()
        .map(|m| ctx.engines.whisper_file(m))
        .ok();
    let models = [
        Some(set.silero_vad()),
        whisper,
        Some(ctx.engines.speaker_file()),
    ];
    let mut outputs = Vec::with_capacity(files.len());
    for (name, content_type, bytes) in files {
        let output = ctx.write_output(name, content_type, bytes).await?;
        outputs.push(output.made_with(models.iter().flatten().copied()));
    }
    Ok(outputs)
}

/// The transcript's cues: one per segment, with its speaker.
fn cues(t: &Transcript) -> Vec<Cue> {
    t.segments
        .iter()
        .map(|s| Cue {
            start: s.start,
            end: s.end,
            text: cue_text(s),
        })
        .collect()
}

/// SubRip (`cutroom_core::subtitles`).
pub(crate) fn srt(t: &Transcript) -> String {
    subtitles::srt(&cues(t))
}

/// WebVTT (`cutroom_core::subtitles`).
pub(crate) fn vtt(t: &Transcript) -> String {
    subtitles::vtt(&cues(t))
}

/// Plain text, one segment per line.
pub(crate) fn txt(t: &Transcript) -> String {
    let mut out = String::new();
    for s in &t.segments {
        out.push_str(&cue_text(s));
        out.push('\n');
    }
    out
}

fn cue_text(s: &Segment) -> String {
    match &s.speaker {
        Some(speaker) => format!("[{speaker}] {}", s.text),
        None => s.text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caption_formats() {
        let t = Transcript {
            segments: vec![Segment {
                edited_at: None,
                id: 0,
                start: 3661.5,
                end: 3662.25,
                text: "Hello there.".into(),
                speaker: Some("S1".into()),
                confidence: 0.9,
                words: vec![],
            }],
            ..Transcript::default()
        };
        assert_eq!(
            srt(&t),
            "1\n01:01:01,500 --> 01:01:02,250\n[S1] Hello there.\n\n"
        );
        assert_eq!(
            vtt(&t),
            "WEBVTT\n\n01:01:01.500 --> 01:01:02.250\n[S1] Hello there.\n\n"
        );
        assert_eq!(txt(&t), "[S1] Hello there.\n");
    }
}
