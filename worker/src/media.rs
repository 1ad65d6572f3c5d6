//! ffmpeg plumbing the stages share: library set-up, the one way to open a
//! source ([`open`]), and a resampler that turns decoded frames of any
//! format into packed `f32` at a chosen rate and channel layout.

mod input;

use std::sync::Once;

pub(crate) use input::{open, refusal, video_decoder};

use ffmpeg_next::{
    ChannelLayout, Error,
    format::{Sample, sample::Type},
    frame,
    software::resampling,
};

/// Initialises ffmpeg once per process and keeps its own logging quiet:
/// failures surface as error codes on the job, not as stderr noise.
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Err(e) = ffmpeg_next::init() {
            tracing::error!(error = %e, "ffmpeg failed to initialise");
        }
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
    });
}

/// The layout a frame really has. Some decoders (raw PCM, some WAVs) leave
/// the layout unset and give only a channel count; swresample needs one.
pub(crate) fn layout_of(frame: &frame::Audio) -> ChannelLayout {
    let layout = frame.channel_layout();
    if layout.is_empty() || layout.channels() != i32::from(frame.channels()) {
        ChannelLayout::default(i32::from(frame.channels()))
    } else {
        layout
    }
}

/// Collects resampled audio as interleaved `f32`.
///
/// One instance per output of the decode pass (16 kHz mono for analysis,
/// the source rate for loudness), all fed the same frames.
pub(crate) struct Resampler {
    rate: u32,
    layout: ChannelLayout,
    ctx: Option<resampling::Context>,
    samples: Vec<f32>,
    /// Samples already handed out by [`Resampler::take`].
    taken: usize,
}

impl Resampler {
    pub fn new(rate: u32, layout: ChannelLayout) -> Self {
        Self {
            rate,
            layout,
            ctx: None,
            samples: Vec::new(),
            taken: 0,
        }
    }

    /// Converts one decoded frame. The frame's layout must already be set
    /// (see [`layout_of`]). A frame whose format differs from the previous
    /// one (streams may change mid-way) gets a fresh converter.
    pub fn push(&mut self, input: &frame::Audio) -> Result<(), Error> {
        let changed = self.ctx.as_ref().is_none_or(|ctx| {
            let d = ctx.input();
            d.format != input.format()
                || d.channel_layout != input.channel_layout()
                || d.rate != input.rate()
        });
        if changed {
            self.flush()?;
            self.ctx = Some(resampling::Context::get(
                input.format(),
                input.channel_layout(),
                input.rate(),
                Sample::F32(Type::Packed),
                self.layout,
                self.rate,
            )?);
        }
        let Some(ctx) = self.ctx.as_mut() else {
            unreachable!("set above")
        };
        // Room for this frame at the new rate plus whatever the converter
        // still holds, so nothing piles up inside it.
        let pending = ctx
            .delay()
            .map_or(0, |d| usize::try_from(d.output).unwrap_or(0));
        let capacity =
            input.samples() * self.rate as usize / input.rate().max(1) as usize + pending + 64;
        let mut out = frame::Audio::new(Sample::F32(Type::Packed), capacity, self.layout);
        ctx.run(input, &mut out)?;
        append(&mut self.samples, &out);
        Ok(())
    }

    /// Drains the converter and returns everything collected.
    pub fn finish(mut self) -> Result<Vec<f32>, Error> {
        self.flush()?;
        Ok(self.samples)
    }

    /// Hands over what was converted since the last call, so an output
    /// consumed frame by frame (the loudness meter) never holds more than a
    /// frame. [`Resampler::finish`] then returns only the rest.
    pub fn take(&mut self) -> std::vec::Drain<'_, f32> {
        self.taken += self.samples.len();
        self.samples.drain(..)
    }

    /// Samples converted so far, per channel.
    pub fn len(&self) -> usize {
        (self.taken + self.samples.len()) / self.channels()
    }

    fn channels(&self) -> usize {
        usize::try_from(self.layout.channels()).unwrap_or(1).max(1)
    }

    fn flush(&mut self) -> Result<(), Error> {
        let Some(ctx) = self.ctx.as_mut() else {
            return Ok(());
        };
        loop {
            let mut out = frame::Audio::new(Sample::F32(Type::Packed), 4096, self.layout);
            ctx.flush(&mut out)?;
            if out.samples() == 0 {
                return Ok(());
            }
            append(&mut self.samples, &out);
        }
    }
}

fn append(into: &mut Vec<f32>, out: &frame::Audio) {
    if out.samples() > 0 {
        into.extend_from_slice(out.plane::<f32>(0));
    }
}
