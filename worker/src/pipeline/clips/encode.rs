//! What every clip renderer shares: what to render and what came of it,
//! reading the source from just before the cut, the H.264 encoder, and
//! writing encoded packets. The full render ([`super::render`]), the smart
//! one ([`super::smart`]) and the audiogram ([`super::audiogram`]) build on
//! it; here rather than in any one of them, so that none imports another
//! for these (the smart render and the full one used to import each
//! other).

use std::path::PathBuf;

use ffmpeg_next::{
    Dictionary, Error, Packet, Rational, codec, encoder, filter, format, frame, picture,
};

use super::thumb::Thumb;

/// x264's speed/size trade-off: `veryfast` keeps a clip's encode well under
/// its length on two cores at 1080p.
pub(crate) const X264_PRESET: &str = "veryfast";

/// Seconds decoded before the cut, so the decoder has a keyframe to start
/// from even when the index points a little late.
const SEEK_MARGIN: f64 = 3.0;

/// What to render.
#[derive(Clone, Debug)]
pub(crate) struct RenderSpec {
    pub source: PathBuf,
    /// The audio stream (the one the pipeline decoded).
    pub audio_stream: usize,
    /// Where the transcript's zero is on the file's clock: the audio
    /// stream's start, in seconds.
    pub origin: f64,
    /// The cut, seconds on the transcript's timeline.
    pub start: f64,
    pub end: f64,
    /// The video filters between the trim and the encoder (reframing,
    /// captions); they must output `width` x `height`.
    pub video_filters: String,
    pub width: u32,
    pub height: u32,
    /// Gain to reach the loudness target.
    pub gain_db: f64,
    pub output: PathBuf,
    /// Where to write the thumbnail chosen from this render's frames.
    pub thumbnail: Option<PathBuf>,
    /// With sound (a clip), or without (a preview).
    pub audio: bool,
    /// x264's constant rate factor: lower is better and bigger.
    pub crf: u8,
    /// The stretches of the cut that are kept, seconds on the clip's clock
    /// (0 at `start`), in order, each starting on a frame; empty keeps it
    /// all. The rest is jump-cut out.
    pub keep: Vec<(f64, f64)>,
    /// The picture is the source's own (same size, nothing drawn on it, no
    /// jump cuts): try copying its H.264 between keyframes
    /// ([`super::smart`]) before encoding the whole cut.
    pub smart: bool,
}

impl RenderSpec {
    /// Seconds of the clip as rendered: the cut less its jump cuts.
    pub(crate) fn kept_seconds(&self) -> f64 {
        if self.keep.is_empty() {
            self.end - self.start
        } else {
            self.keep.iter().map(|(a, b)| b - a).sum()
        }
    }
}

/// What a render produced.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rendered {
    pub frames: u64,
    /// Seconds, as written: video frames times the frame length; audio
    /// samples over the rate.
    pub video_seconds: f64,
    pub audio_seconds: f64,
    /// Seconds into the clip of the thumbnail's frame.
    pub thumbnail_at: Option<f64>,
    /// Video frames copied from the source rather than encoded (a smart
    /// render); 0 for a full one.
    pub copied_frames: u64,
}

/// The source's picture, as the planner needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Picture {
    pub width: u32,
    pub height: u32,
    pub fps: Rational,
}

/// Moves `input` to the keyframe at or before [`SEEK_MARGIN`] ahead of
/// `from` (seconds on the file's clock).
pub(crate) fn seek_before(input: &mut format::context::Input, from: f64) -> Result<(), Error> {
    let target = ((from - SEEK_MARGIN).max(0.0) * 1e6) as i64;
    if target > 0 {
        input.seek(target, ..target)?;
    }
    Ok(())
}

/// Reads the next packet into `packet`; `false` at the end of the file. A
/// damaged packet is skipped: the decoders resynchronise on the next.
pub(crate) fn next_packet(input: &mut format::context::Input, packet: &mut Packet) -> bool {
    loop {
        match packet.read(input) {
            Ok(()) => return true,
            Err(Error::Eof) => return false,
            Err(_) => {}
        }
    }
}

pub(crate) fn seconds(ts: i64, tb: Rational) -> f64 {
    if ts == ffmpeg_next::ffi::AV_NOPTS_VALUE || tb.denominator() == 0 {
        0.0
    } else {
        ts as f64 * f64::from(tb)
    }
}

/// The H.264 encoder of `spec`'s picture at `fps`, frames stamped in `tb`,
/// and its stream in `output`.
pub(crate) fn x264(
    output: &mut format::context::Output,
    spec: &RenderSpec,
    fps: Rational,
    tb: Rational,
) -> Result<(encoder::video::Encoder, usize), Error> {
    let global_header = output
        .format()
        .flags()
        .contains(format::Flags::GLOBAL_HEADER);
    let x264 = encoder::find_by_name("libx264").ok_or(Error::EncoderNotFound)?;
    let mut venc = codec::context::Context::new_with_codec(x264)
        .encoder()
        .video()?;
    venc.set_width(spec.width);
    venc.set_height(spec.height);
    venc.set_format(format::Pixel::YUV420P);
    venc.set_time_base(tb);
    venc.set_frame_rate(Some(fps));
    // A keyframe every two seconds: players seek and platforms cut cleanly.
    venc.set_gop((2.0 * f64::from(fps)).round().max(1.0) as u32);
    if global_header {
        venc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut opts = Dictionary::new();
    opts.set("preset", X264_PRESET);
    opts.set("crf", &spec.crf.to_string());
    let venc = venc.open_with(opts)?;
    let vost = {
        let mut s = output.add_stream(x264)?;
        s.set_parameters(&venc);
        s.set_time_base(tb);
        s.index()
    };
    Ok((venc, vost))
}

pub(crate) struct State {
    pub rendered: Rendered,
    pub thumb: Option<Thumb>,
    pub expected_frames: f64,
    pub audio_samples: u64,
}

pub(crate) fn drain_video(
    graph: &mut filter::Graph,
    enc: &mut encoder::video::Encoder,
    output: &mut format::context::Output,
    ost: usize,
    tb: Rational,
    ost_tb: Rational,
    state: &mut State,
) -> Result<(), Error> {
    let mut frame = frame::Video::empty();
    while graph
        .get("out")
        .ok_or(Error::Bug)?
        .sink()
        .frame(&mut frame)
        .is_ok()
    {
        let at = frame.pts().map_or(0.0, |p| seconds(p, tb));
        if let Some(thumb) = state.thumb.as_mut() {
            thumb.consider(at, &frame, state.rendered.frames);
        }
        frame.set_kind(picture::Type::None);
        enc.send_frame(&frame)?;
        state.rendered.frames += 1;
        write_packets(enc, output, ost, (tb, 1), ost_tb)?;
    }
    Ok(())
}

/// Writes what the encoder has ready. `ticks` is a packet's duration in
/// `tb` when the encoder leaves it unset, as libx264 does: the MP4 muxer
/// would then end the track's edit list at the last frame's start, hiding
/// that frame. Zero leaves durations alone.
pub(crate) fn write_packets(
    enc: &mut encoder::Encoder,
    output: &mut format::context::Output,
    ost: usize,
    (tb, ticks): (Rational, i64),
    ost_tb: Rational,
) -> Result<(), Error> {
    let mut packet = Packet::empty();
    while enc.receive_packet(&mut packet).is_ok() {
        if packet.duration() == 0 {
            packet.set_duration(ticks);
        }
        packet.set_stream(ost);
        packet.rescale_ts(tb, ost_tb);
        packet.write_interleaved(output)?;
    }
    Ok(())
}

/// A path as the value of a filter option inside a filter graph: escaped
/// once for the option parser and once for the graph parser.
pub(crate) fn filter_path(path: &std::path::Path) -> String {
    let text = path.to_string_lossy();
    let mut option = String::new();
    for c in text.chars() {
        if matches!(c, '\\' | '\'' | ':') {
            option.push('\\');
        }
        option.push(c);
    }
    let mut graph = String::new();
    for c in option.chars() {
        if matches!(c, '\\' | '\'' | '[' | ']' | ',' | ';') {
            graph.push('\\');
        }
        graph.push(c);
    }
    graph
}
