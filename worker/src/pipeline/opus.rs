//! A batch child's recording kept as Ogg Opus: the decoded 16 kHz mono
//! speech (the one decode every stage shares) encoded with libopus at the
//! batch's bitrate, then decoded again and measured. A copy whose length
//! strays from the source's by more than
//! [`cutroom_core::batches::DURATION_TOLERANCE`] is not trusted: the child
//! fails with `conversion_mismatch` rather than keeping a broken copy in
//! place of an original that is not kept.

use std::{path::Path, sync::Arc, time::Duration};

use cutroom_core::{ErrorCode, batches::DURATION_TOLERANCE};
use ffmpeg_next::{ChannelLayout, Error, Packet, Rational, codec, encoder, format, frame};
use tokio_util::sync::CancellationToken;

use super::{
    JobCtx, Output, StageError,
    audio::{self, ANALYSIS_RATE, DecodeOptions},
};
use crate::media;

/// The output's name among the job's outputs.
pub(crate) const NAME: &str = cutroom_core::batches::OPUS_OUTPUT;

/// Encodes `mono16k` into `recording.opus` in the scratch folder at
/// `kbps`, checks its length, and returns it as an output with the
/// measured lengths.
pub(crate) async fn run(
    ctx: &JobCtx<'_>,
    mono16k: Arc<Vec<f32>>,
    kbps: u32,
) -> Result<(Output, Check), StageError> {
    let path = ctx.scratch.join(NAME);
    let stop = ctx.stop.clone();
    let target = path.clone();
    let span = tracing::Span::current();
    let check = tokio::task::spawn_blocking(move || {
        span.in_scope(|| {
            encode(&mono16k, kbps, &target).map_err(|e| {
                StageError::failed(
                    ErrorCode::InternalError,
                    "the recording could not be converted to Opus",
                )
                .detail(e)
            })?;
            measure(&target, mono16k.len(), &stop)
        })
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    let Some(check) = check else {
        return Err(StageError::Stopped(ctx.stop_reason()));
    };
    if !check.passes() {
        return Err(StageError::failed(
            ErrorCode::ConversionMismatch,
            format!(
                "the Opus copy decodes to {:.3} s but the source is {:.3} s (more than {} % apart); \
                 it was not kept",
                check.opus_seconds,
                check.source_seconds,
                DURATION_TOLERANCE * 100.0
            ),
        ));
    }
    tracing::info!(
        source_seconds = check.source_seconds,
        opus_seconds = check.opus_seconds,
        kbps,
        "recording kept as Opus"
    );
    Ok((
        Output {
            name: NAME.into(),
            path,
            content_type: "audio/ogg; codecs=opus",
            models: Vec::new(),
        },
        check,
    ))
}

/// The bitrate the child's batch keeps recordings at.
pub(crate) async fn bitrate(ctx: &JobCtx<'_>, batch_id: uuid::Uuid) -> Result<u32, StageError> {
    let batch = cutroom_core::queries::batches::get(&ctx.db.orm, ctx.job.tenant_id, batch_id)
        .await?
        .ok_or_else(|| {
            StageError::failed(ErrorCode::InternalError, "the job's batch was deleted")
        })?;
    let options: cutroom_core::batches::BatchOptions = serde_json::from_value(batch.options)
        .map_err(|e| {
            StageError::failed(
                ErrorCode::InternalError,
                "the batch's options could not be read",
            )
            .detail(e)
        })?;
    Ok(options.opus_kbps)
}

/// What the integrity check measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Check {
    pub source_seconds: f64,
    pub opus_seconds: f64,
}

impl Check {
    pub fn passes(&self) -> bool {
        let off = (self.opus_seconds - self.source_seconds).abs();
        off <= self.source_seconds * DURATION_TOLERANCE
    }
}

/// Decodes the Opus file as any source is decoded and compares its length
/// with the source's (`samples` at 16 kHz). `None` when stopped.
fn measure(
    path: &Path,
    samples: usize,
    stop: &CancellationToken,
) -> Result<Option<Check>, StageError> {
    let options = DecodeOptions {
        stream: 0,
        // Twice the source and a minute: a copy longer than that fails
        // the check anyway.
        max_duration: Duration::from_secs_f64(
            samples as f64 / f64::from(ANALYSIS_RATE) * 2.0 + 60.0,
        ),
        keep_source: false,
        allowance: None,
    };
    let decoded = audio::decode(path, &options, stop).map_err(|_| {
        StageError::failed(
            ErrorCode::ConversionMismatch,
            "the Opus copy of the recording does not decode; it was not kept",
        )
    })?;
    Ok(decoded.map(|d| Check {
        source_seconds: samples as f64 / f64::from(ANALYSIS_RATE),
        opus_seconds: d.duration(),
    }))
}

/// Ogg Opus of 16 kHz mono `f32` samples at `kbps`. Blocking.
pub(crate) fn encode(samples: &[f32], kbps: u32, path: &Path) -> Result<(), Error> {
    media::init();
    let mut output = format::output_as(path, "ogg")?;
    let opus = encoder::find_by_name("libopus").ok_or(Error::EncoderNotFound)?;
    let rate = ANALYSIS_RATE as i32;
    let mut enc = codec::context::Context::new_with_codec(opus)
        .encoder()
        .audio()?;
    enc.set_rate(rate);
    enc.set_channel_layout(ChannelLayout::MONO);
    enc.set_format(format::Sample::F32(format::sample::Type::Packed));
    enc.set_bit_rate(kbps as usize * 1000);
    enc.set_time_base(Rational::new(1, rate));
    let mut opts = ffmpeg_next::Dictionary::new();
    // Speech, not music: libopus's VoIP tuning.
    opts.set("application", "voip");
    let mut enc = enc.open_as_with(opus, opts)?;
    let ost = {
        let mut s = output.add_stream(opus)?;
        s.set_parameters(&enc);
        s.set_time_base(Rational::new(1, rate));
        s.index()
    };
    output.write_header()?;
    let ost_tb = output.stream(ost).ok_or(Error::Bug)?.time_base();
    let frame_size = match enc.frame_size() {
        0 => 320,
        n => n as usize,
    };
    let tb = Rational::new(1, rate);
    let mut pts = 0i64;
    for chunk in samples.chunks(frame_size) {
        let mut f = frame::Audio::new(
            format::Sample::F32(format::sample::Type::Packed),
            frame_size,
            ChannelLayout::MONO,
        );
        f.set_rate(ANALYSIS_RATE);
        // The last frame is padded with silence; the Ogg end granule
        // trims it off again when decoded.
        let plane = f.plane_mut::<f32>(0);
        plane[..chunk.len()].copy_from_slice(chunk);
        plane[chunk.len()..].fill(0.0);
        f.set_samples(chunk.len().max(1));
        f.set_pts(Some(pts));
        pts += chunk.len() as i64;
        enc.send_frame(&f)?;
        drain(&mut enc, &mut output, ost, tb, ost_tb)?;
    }
    enc.send_eof()?;
    drain(&mut enc, &mut output, ost, tb, ost_tb)?;
    output.write_trailer()?;
    Ok(())
}

fn drain(
    enc: &mut encoder::audio::Encoder,
    output: &mut format::context::Output,
    ost: usize,
    tb: Rational,
    ost_tb: Rational,
) -> Result<(), Error> {
    let mut packet = Packet::empty();
    while enc.receive_packet(&mut packet).is_ok() {
        packet.set_stream(ost);
        packet.rescale_ts(tb, ost_tb);
        packet.write_interleaved(output)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tone with pauses, the length of a short recording.
    fn speechlike(seconds: f64) -> Vec<f32> {
        let n = (seconds * f64::from(ANALYSIS_RATE)) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / ANALYSIS_RATE as f32;
                let on = (t * 2.0).fract() < 0.6;
                if on {
                    0.3 * (t * 220.0 * std::f32::consts::TAU).sin()
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn opus_copies_keep_their_length_at_every_bitrate() {
        let dir = tempfile::tempdir().unwrap();
        // Lengths that are no whole number of 20 ms frames.
        for (seconds, kbps) in [(3.217, 32), (10.0, 16), (0.5, 64)] {
            let samples = speechlike(seconds);
            let path = dir.path().join(format!("{kbps}.opus"));
            encode(&samples, kbps, &path).unwrap();
            let check = measure(&path, samples.len(), &CancellationToken::new())
                .unwrap()
                .unwrap();
            assert!(check.passes(), "{check:?}");
            assert!(
                (check.opus_seconds - seconds).abs() < 0.021,
                "{seconds} s at {kbps} kbit/s: {check:?}"
            );
            // About the bitrate asked for (Ogg framing adds a little).
            let bytes = std::fs::metadata(&path).unwrap().len() as f64;
            let kbits_per_second = bytes * 8.0 / 1000.0 / seconds;
            assert!(
                kbits_per_second < f64::from(kbps) * 1.6,
                "{kbits_per_second}"
            );
        }
    }

    #[test]
    fn a_copy_of_another_length_fails_the_check() {
        let ok = Check {
            source_seconds: 100.0,
            opus_seconds: 100.4,
        };
        assert!(ok.passes());
        let short = Check {
            source_seconds: 100.0,
            opus_seconds: 99.4,
        };
        assert!(!short.passes());
        // A file that is no Opus at all does not decode.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.opus");
        std::fs::write(&path, b"not an ogg file at all").unwrap();
        let err = measure(&path, 16_000, &CancellationToken::new()).unwrap_err();
        assert!(format!("{err:?}").contains("ConversionMismatch"), "{err:?}");
    }
}
