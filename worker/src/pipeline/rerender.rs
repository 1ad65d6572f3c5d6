//! A re-render job: new clips from a kept source and its corrected
//! transcript, without transcribing or analysing again.

use uuid::Uuid;

use super::{
    JobCtx, Pipeline, Stage, StageError, clips, fetch, meter, moderate, silence, transcribe,
};

impl Pipeline<'_> {
    /// A re-render: the clips of the ranges a person chose, from the source
    /// `parent` kept, captioned from its transcript as corrected since. The
    /// audio is decoded and its silences found again (the cuts land in
    /// them); nothing is transcribed or analysed again, but the corrected
    /// segments are moderated before any clip shows them.
    pub(super) async fn render_stages(
        &self,
        ctx: &JobCtx<'_>,
        parent: Uuid,
    ) -> Result<(), StageError> {
        let source = self
            .stage(ctx, Stage::Fetch, fetch::kept(ctx, parent))
            .await?;
        let (media, audio, _) = self.probe_and_decode(ctx, &source, None).await?;
        let speech = self
            .stage(ctx, Stage::Silence, silence::run(ctx, &audio))
            .await?;
        let vad = ctx.engines.set.silero_vad().name;
        meter::record(ctx, Stage::Silence, Some(vad), audio.duration()).await?;
        // Read once: the text moderation reads is the text the clips show.
        let (transcript, moderation) = self
            .stage(ctx, Stage::Moderate, async {
                let (transcript, edited) = transcribe::load(ctx, parent).await?;
                if edited.is_empty() {
                    return Ok((transcript, None));
                }
                let checked = moderate::recheck(ctx, parent, &transcript, &edited).await?;
                Ok((transcript, Some(checked)))
            })
            .await?;
        let mut outputs = Vec::new();
        let mut edit_flags = Vec::new();
        if let Some((report, output, flags)) = moderation {
            let edited = report.edited_segments.as_deref().unwrap_or_default();
            let seconds = transcript
                .segments
                .iter()
                .filter(|s| edited.contains(&s.id))
                .map(|s| s.end - s.start)
                .sum();
            let classifier = ctx.engines.set.toxicity().0.name;
            meter::record(ctx, Stage::Moderate, Some(classifier), seconds).await?;
            self.flagged(ctx, &report).await?;
            outputs.push(output);
            edit_flags = flags;
        }
        let clips = self
            .stage(ctx, Stage::Clips, async {
                let highlights = clips::ranges(ctx.job, &transcript)?;
                clips::run(
                    ctx,
                    &clips::Inputs {
                        source: &source,
                        media: &media,
                        audio: &audio,
                        silences: &speech.report,
                        transcript: &transcript,
                        highlights: &highlights,
                        ranked: false,
                        edit_flags: &edit_flags,
                    },
                )
                .await
            })
            .await?;
        self.publish_clips(ctx, clips, outputs, None).await
    }
}
