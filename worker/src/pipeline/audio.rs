//! Stage 3: decode the audio, once.
//!
//! One pass over the file feeds every output the later stages need: the
//! 16 kHz mono copy for analysis (silence now; VAD, ASR and embeddings
//! later), the loudness measurement (on the audio at its own rate and
//! channels, fed frame by frame so no full-rate copy is kept) and, when
//! asked, that full-rate copy itself. No stage decodes the file again.

use std::{fmt::Display, path::Path, sync::Arc, time::Duration};

use cutroom_core::ErrorCode;
use ffmpeg_next::{ChannelLayout, Error, Packet, codec, error::EAGAIN, format, frame};
use tokio_util::sync::CancellationToken;

use super::{
    JobCtx, StageError,
    fetch::Source,
    loudness::{LoudnessMeter, LoudnessReport},
    meter::Allowance,
    probe::MediaInfo,
};
use crate::media::{self, Resampler};

/// The rate every analysis stage works at.
pub(crate) const ANALYSIS_RATE: u32 = 16_000;
/// Read or decode errors tolerated before a file counts as corrupt even if
/// audio keeps coming.
const MAX_ERRORS: usize = 500;
/// How much shorter than its index says a file may decode (encoder
/// padding, rounding) before it counts as cut off; at least half a second.
const TRUNCATION_TOLERANCE: f64 = 0.02;
/// How much more audio than its header declares a file may hold before it
/// counts as malformed: twice the declared length and two minutes more.
/// Honest files stay far inside (their headers count their samples); a
/// header that declares 2 s in front of hours of audio does not.
const OVERRUN_FACTOR: f64 = 2.0;
const OVERRUN_SLACK: f64 = 120.0;

/// The decoded audio, shared read-only by the stages after this one.
pub(crate) struct DecodedAudio {
    /// [`ANALYSIS_RATE`] mono `f32`, shared so stages can hand it to a
    /// blocking thread without copying.
    pub mono16k: Arc<Vec<f32>>,
    /// The audio stream's own sample rate and channel count.
    pub source_rate: u32,
    pub source_channels: u16,
    /// The same pass at `source_rate` and `source_channels`, interleaved;
    /// only when [`DecodeOptions::keep_source`] asked for it.
    pub source: Option<Vec<f32>>,
    /// EBU R128 loudness of the audio at its own rate and channels.
    pub loudness: LoudnessReport,
}

impl std::fmt::Debug for DecodedAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedAudio")
            .field("seconds", &self.duration())
            .field("source_rate", &self.source_rate)
            .field("source_channels", &self.source_channels)
            .field("source_samples", &self.source.as_ref().map(Vec::len))
            .field("integrated_lufs", &self.loudness.integrated_lufs)
            .finish()
    }
}

impl DecodedAudio {
    /// Length in seconds.
    pub fn duration(&self) -> f64 {
        self.mono16k.len() as f64 / f64::from(ANALYSIS_RATE)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct DecodeOptions {
    /// Index of the audio stream (from the probe).
    pub stream: usize,
    /// Decoding stops with `source_too_long` past this, so a file whose
    /// header understates its length cannot exhaust memory.
    pub max_duration: Duration,
    pub keep_source: bool,
    /// What is left of the tenant's monthly quota: decoding stops with
    /// `quota_exceeded` past it, whatever the header declared.
    pub allowance: Option<Allowance>,
}

pub(crate) async fn run(
    ctx: &JobCtx<'_>,
    source: &Source,
    media: &MediaInfo,
    allowance: Option<Allowance>,
) -> Result<DecodedAudio, StageError> {
    let path = source.path.clone();
    let options = DecodeOptions {
        stream: media.audio_stream,
        max_duration: ctx.config.max_duration,
        keep_source: false,
        allowance,
    };
    let stop = ctx.stop.clone();
    let span = tracing::Span::current();
    let decoded =
        tokio::task::spawn_blocking(move || span.in_scope(|| decode(&path, &options, &stop)))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    let Some(audio) = decoded else {
        return Err(StageError::Stopped(ctx.stop_reason()));
    };
    tracing::info!(
        seconds = audio.duration(),
        source_rate = audio.source_rate,
        source_channels = audio.source_channels,
        kept_source = audio.source.is_some(),
        "audio decoded"
    );
    Ok(audio)
}

/// Decodes stream `options.stream` of `path`. Blocking; returns `Ok(None)`
/// as soon as `stop` is cancelled.
pub(crate) fn decode(
    path: &Path,
    options: &DecodeOptions,
    stop: &CancellationToken,
) -> Result<Option<DecodedAudio>, StageError> {
    let unsupported = |message: &str, e: &dyn Display| {
        StageError::failed(ErrorCode::UnsupportedMedia, message).detail(e)
    };
    let mut input = media::open(path)
        .map_err(|e| unsupported("the file is not a readable audio or video file", &e))?;
    let stream = input
        .stream(options.stream)
        .ok_or_else(|| unsupported("the file has no audio stream", &"stream index out of range"))?;
    let expected = exact_duration(input.format().name(), &stream);
    let overrun =
        declared_duration(&input, &stream).map(|d| (d, d * OVERRUN_FACTOR + OVERRUN_SLACK));
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().audio())
        .map_err(|e| unsupported("the file's audio codec is not supported", &e))?;

    let (source_rate, source_channels) = (decoder.rate(), decoder.channels());
    let mut outputs = Outputs {
        mono16k: Resampler::new(ANALYSIS_RATE, ChannelLayout::MONO),
        source: options.keep_source.then(|| {
            Resampler::new(
                source_rate,
                ChannelLayout::default(i32::from(source_channels)),
            )
        }),
        loudness: None,
    };
    // Whole samples; the fraction of one does not matter here.
    let limit = (options.max_duration.as_secs_f64() * f64::from(ANALYSIS_RATE)) as usize;
    let mut damage = Damage::default();
    let mut packet = Packet::empty();
    loop {
        if stop.is_cancelled() {
            return Ok(None);
        }
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(Error::Eof) => break,
            Err(e) => {
                damage.note(outputs.seconds(), e)?;
                continue;
            }
        }
        if packet.stream() != options.stream {
            continue;
        }
        // A packet cut short by the end of the file: decoding it would
        // only produce noise.
        if packet.is_corrupt() {
            damage.note(outputs.seconds(), "corrupt packet")?;
            continue;
        }
        match decoder.send_packet(&packet) {
            Ok(()) => outputs.drain(&mut decoder, &mut damage, true)?,
            Err(e) => damage.note(outputs.seconds(), e)?,
        }
        if outputs.mono16k.len() > limit {
            return Err(StageError::failed(
                ErrorCode::SourceTooLong,
                format!(
                    "the audio is longer than the limit of {}",
                    super::probe::human(options.max_duration.as_secs_f64())
                ),
            ));
        }
        let seconds = outputs.seconds();
        if let Some(allowance) = options.allowance.filter(|a| seconds > a.seconds()) {
            return Err(allowance.exceeded(seconds));
        }
        if let Some((declared, _)) = overrun.filter(|(_, most)| seconds > *most) {
            return Err(StageError::failed(
                ErrorCode::UnsupportedMedia,
                format!(
                    "the file holds more than {} of audio but its header declares {}; it is malformed",
                    super::probe::human(seconds),
                    super::probe::human(declared)
                ),
            ));
        }
    }
    // Frames the decoder still holds come from before any damage, so they
    // do not count as recovering from it.
    if decoder.send_eof().is_ok() {
        outputs.drain(&mut decoder, &mut damage, false)?;
    }
    // Some cut-off files end without a single read error (an MP4 with its
    // index in front simply runs out of samples); their index still says
    // how long they should be.
    let decoded = outputs.seconds();
    if let Some(expected) = expected.filter(|e| decoded + (e * TRUNCATION_TOLERANCE).max(0.5) < *e)
    {
        return Err(StageError::failed(
            ErrorCode::UnsupportedMedia,
            format!("the file is truncated or corrupt at {decoded:.1} s"),
        )
        .detail(format!("its index declares {expected:.1} s of audio")));
    }
    if let Some((at, error)) = damage.pending.take() {
        let message = if at > 0.0 {
            format!("the file is truncated or corrupt at {at:.1} s")
        } else {
            "the file's audio could not be decoded".to_owned()
        };
        return Err(unsupported(&message, &error));
    }
    let convert = |e: Error| unsupported("the audio could not be converted", &e);
    let mono16k = outputs.mono16k.finish().map_err(convert)?;
    let source = outputs
        .source
        .map(Resampler::finish)
        .transpose()
        .map_err(convert)?;
    let Some((rest, mut meter)) = outputs.loudness.filter(|_| !mono16k.is_empty()) else {
        return Err(unsupported(
            "the file's audio stream contains no sound",
            &"no samples decoded",
        ));
    };
    let rest = rest.finish().map_err(convert)?;
    meter.add(&rest).map_err(|e| unmeasurable(&e))?;
    Ok(Some(DecodedAudio {
        mono16k: Arc::new(mono16k),
        source_rate,
        source_channels,
        source,
        loudness: meter.finish(),
    }))
}

/// The audio stream's length as declared by containers whose index
/// counts samples exactly. Others (MP3, ADTS, Matroska) only estimate it,
/// or give the longest track's length, so they are not checked.
fn exact_duration(container: &str, stream: &format::stream::Stream<'_>) -> Option<f64> {
    const EXACT: [&str; 6] = ["mov", "wav", "w64", "flac", "aiff", "caf"];
    let tb = stream.time_base();
    let exact = container.split(',').any(|name| EXACT.contains(&name));
    (exact && stream.duration() > 0 && tb.denominator() > 0)
        .then(|| stream.duration() as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()))
}

/// The audio's length as the file's header declares it: a count of
/// samples or a duration field, not an estimate from the bit rate or the
/// last timestamps (which honest files miss by far for good reasons).
fn declared_duration(
    input: &format::context::Input,
    stream: &format::stream::Stream<'_>,
) -> Option<f64> {
    // SAFETY: `as_ptr` points at the AVFormatContext `input` owns; the
    // field is a plain enum set when the file was opened.
    #[allow(unsafe_code)]
    let method = unsafe { (*input.as_ptr()).duration_estimation_method };
    if method != ffmpeg_next::ffi::AVDurationEstimationMethod::AVFMT_DURATION_FROM_STREAM {
        return None;
    }
    let tb = stream.time_base();
    if stream.duration() > 0 && tb.denominator() > 0 {
        Some(stream.duration() as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()))
    } else {
        Some(input.duration() as f64 / 1_000_000.0).filter(|d| *d > 0.0)
    }
}

/// Everything one decoded frame feeds.
struct Outputs {
    mono16k: Resampler,
    source: Option<Resampler>,
    /// Packed `f32` at the first frame's rate and layout, handed to the
    /// meter frame by frame. Made at the first frame: the meter must see
    /// the channels as the file has them, which a decoder may only know then.
    loudness: Option<(Resampler, LoudnessMeter)>,
}

impl Outputs {
    fn seconds(&self) -> f64 {
        self.mono16k.len() as f64 / f64::from(ANALYSIS_RATE)
    }

    /// Takes every frame the decoder has ready. `recovers` says whether a
    /// good frame proves the stream readable again after earlier damage.
    fn drain(
        &mut self,
        decoder: &mut ffmpeg_next::decoder::Audio,
        damage: &mut Damage,
        recovers: bool,
    ) -> Result<(), StageError> {
        let mut frame = frame::Audio::empty();
        loop {
            match decoder.receive_frame(&mut frame) {
                Ok(()) => {}
                Err(Error::Eof) => return Ok(()),
                Err(Error::Other { errno }) if errno == EAGAIN => return Ok(()),
                Err(e) => return damage.note(self.seconds(), e),
            }
            let layout = media::layout_of(&frame);
            frame.set_channel_layout(layout);
            if self.loudness.is_none() {
                let meter =
                    LoudnessMeter::new(frame.rate(), &layout).map_err(|e| unmeasurable(&e))?;
                self.loudness = Some((Resampler::new(frame.rate(), layout), meter));
            }
            let Some((converter, meter)) = self.loudness.as_mut() else {
                unreachable!("set above")
            };
            let pushed = self
                .mono16k
                .push(&frame)
                .and_then(|()| self.source.as_mut().map_or(Ok(()), |s| s.push(&frame)))
                .and_then(|()| converter.push(&frame));
            if let Err(e) = pushed {
                return Err(StageError::failed(
                    ErrorCode::UnsupportedMedia,
                    "the audio could not be converted",
                )
                .detail(e));
            }
            meter
                .add(converter.take().as_slice())
                .map_err(|e| unmeasurable(&e))?;
            if recovers && frame.samples() > 0 {
                damage.recovered();
            }
        }
    }
}

/// The meter refuses only what EBU R128 cannot measure: more than 64
/// channels, or a rate outside 16 Hz..2.8 MHz.
fn unmeasurable(e: &dyn Display) -> StageError {
    StageError::failed(
        ErrorCode::UnsupportedMedia,
        "the audio's loudness could not be measured",
    )
    .detail(e)
}

/// Read and decode errors. One followed by good audio was a glitch; one
/// that nothing readable follows means the file ends there.
#[derive(Default)]
struct Damage {
    errors: usize,
    /// Where the first unrecovered error happened, in seconds of audio.
    pending: Option<(f64, String)>,
}

impl Damage {
    fn note(&mut self, at: f64, error: impl Display) -> Result<(), StageError> {
        self.errors += 1;
        if self.pending.is_none() {
            self.pending = Some((at, error.to_string()));
        }
        if self.errors > MAX_ERRORS {
            let (at, error) = self.pending.take().unwrap_or_default();
            return Err(StageError::failed(
                ErrorCode::UnsupportedMedia,
                format!("the file is truncated or corrupt at {at:.1} s"),
            )
            .detail(format!("{MAX_ERRORS} read/decode errors, first: {error}")));
        }
        Ok(())
    }

    fn recovered(&mut self) {
        if let Some((at, error)) = self.pending.take() {
            tracing::debug!(at, %error, "damaged audio skipped");
        }
    }
}
