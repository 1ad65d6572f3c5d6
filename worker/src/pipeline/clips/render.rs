//! Renders one cut of the source to an MP4 (H.264 + AAC, `+faststart`)
//! with ffmpeg's libraries: seek to the keyframe before the cut, decode,
//! trim to the exact range in a filter graph, reframe, burn captions,
//! normalise the loudness, encode, mux. Optionally picks the thumbnail from
//! the frames it renders.
//!
//! Blocking; one call per clip and format. Decoding the few seconds before
//! the cut again for each format is cheap next to encoding them.

use std::path::{Path, PathBuf};

use ffmpeg_next::{
    ChannelLayout, Dictionary, Error, Packet, Rational, codec, decoder, encoder, filter, format,
    frame, media, picture, software::scaling,
};
use tokio_util::sync::CancellationToken;

use super::smart::{self, Smart};
use crate::media as ff;

/// x264's speed/size trade-off: `veryfast` keeps a clip's encode well under
/// its length on two cores at 1080p.
pub(crate) const X264_PRESET: &str = "veryfast";
/// Clean on phones.
pub(crate) const CLIP_CRF: u8 = 21;
/// Small enough for a page of previews.
pub(crate) const PREVIEW_CRF: u8 = 30;
/// AAC at 48 kHz stereo, what every platform takes.
pub(crate) const AUDIO_RATE: i32 = 48_000;
const AUDIO_BIT_RATE: usize = 160_000;
/// Seconds decoded before the cut, so the decoder has a keyframe to start
/// from even when the index points a little late.
const SEEK_MARGIN: f64 = 3.0;
/// Where the limiter holds sample peaks: 2 dB under full scale, leaving the
/// room that inter-sample peaks and the AAC encoder take, so the true peak
/// stays under -1 dBTP.
const LIMIT: f64 = 0.794;

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

/// The best video stream's size and frame rate, and where the audio
/// stream starts on the file's clock; `None` for a file without a picture.
pub(crate) fn inspect(path: &Path, audio_stream: usize) -> Result<(Option<Picture>, f64), Error> {
    let input = ff::open(path)?;
    let origin = input
        .stream(audio_stream)
        .map(|s| seconds(s.start_time(), s.time_base()))
        .unwrap_or(0.0);
    let picture = match input.streams().best(media::Type::Video) {
        Some(stream) => {
            let decoder = ff::video_decoder(stream.parameters())?;
            let fps = output_fps(stream.avg_frame_rate(), stream.rate());
            // Cover art (an attached picture) is a video stream too.
            let still = stream
                .disposition()
                .contains(format::stream::Disposition::ATTACHED_PIC);
            (!still && decoder.width() > 0).then_some(Picture {
                width: decoder.width(),
                height: decoder.height(),
                fps,
            })
        }
        None => None,
    };
    Ok((picture, origin))
}

/// A frame rate the encoder can keep: the stream's average (which a
/// variable-rate source also has), within 10-60, else 30.
fn output_fps(avg: Rational, real: Rational) -> Rational {
    for r in [avg, real] {
        if r.denominator() > 0 && r.numerator() > 0 {
            let f = f64::from(r);
            if (10.0..=60.0).contains(&f) {
                return r.reduce();
            }
        }
    }
    Rational::new(30, 1)
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

/// Renders `spec`. `Ok(None)` when `stop` was cancelled.
pub(crate) fn render(
    spec: &RenderSpec,
    picture: Picture,
    on_progress: &dyn Fn(f32),
    stop: &CancellationToken,
) -> Result<Option<Rendered>, Error> {
    if spec.smart {
        match smart::render(spec, picture, on_progress, stop) {
            Ok(Smart::Done(rendered)) => return Ok(Some(rendered)),
            Ok(Smart::Stopped) => return Ok(None),
            Ok(Smart::Unsuitable(why)) => {
                tracing::debug!(%why, "no smart render; encoding the whole cut");
            }
            Err(e) => {
                tracing::warn!(error = %e, "the smart render failed; encoding the whole cut");
            }
        }
    }
    let mut input = ff::open(&spec.source)?;
    let video_index = input
        .streams()
        .best(media::Type::Video)
        .map(|s| s.index())
        .ok_or(Error::StreamNotFound)?;
    let (mut vdec, vtb) = {
        let s = input.stream(video_index).ok_or(Error::StreamNotFound)?;
        (ff::video_decoder(s.parameters())?, s.time_base())
    };
    let from = spec.origin + spec.start;
    let to = spec.origin + spec.end;
    let mut vgraph = video_graph(spec, picture, &vdec, vtb, from, to)?;
    let vsink_tb = vgraph.get("out").ok_or(Error::Bug)?.sink().time_base();

    let mut output = format::output_as(&spec.output, "mp4")?;
    let (mut venc, vost) = x264(&mut output, spec, picture.fps, vsink_tb)?;
    let (mut audio, vost_tb) = finish_output(spec, &input, &mut output, vost, (from, to))?;

    seek_before(&mut input, from)?;

    let mut state = State {
        rendered: Rendered::default(),
        thumb: spec.thumbnail.as_ref().map(|_| Thumb::default()),
        expected_frames: (spec.kept_seconds() * f64::from(picture.fps)).max(1.0),
        audio_samples: 0,
    };
    let mut packet = Packet::empty();
    let mut video_open = true;
    let mut audio_open = audio.is_some();
    // Past the cut's end by this much on both streams, the rest of the
    // file is not needed.
    let enough = to + 1.0;
    loop {
        if stop.is_cancelled() {
            return Ok(None);
        }
        if !next_packet(&mut input, &mut packet) {
            break;
        }
        let index = packet.stream();
        if index == video_index && video_open {
            let at = packet.pts().map_or(0.0, |p| seconds(p, vtb));
            if vdec.send_packet(&packet).is_ok() {
                pull_video(&mut vdec, &mut vgraph)?;
            }
            drain_video(
                &mut vgraph,
                &mut venc,
                &mut output,
                vost,
                vsink_tb,
                vost_tb,
                &mut state,
            )?;
            if at > enough {
                video_open = false;
            }
        } else if index == spec.audio_stream
            && audio_open
            && let Some(a) = audio.as_mut()
        {
            audio_open = a.feed(&packet, &mut output, &mut state, enough)?;
        }
        on_progress((state.rendered.frames as f64 / state.expected_frames).min(1.0) as f32);
        if !video_open && !audio_open {
            break;
        }
    }
    // Flush: decoders, graphs, encoders.
    if vdec.send_eof().is_ok() {
        pull_video(&mut vdec, &mut vgraph)?;
    }
    vgraph.get("in").ok_or(Error::Bug)?.source().flush()?;
    drain_video(
        &mut vgraph,
        &mut venc,
        &mut output,
        vost,
        vsink_tb,
        vost_tb,
        &mut state,
    )?;
    venc.send_eof()?;
    write_packets(&mut venc, &mut output, vost, (vsink_tb, 1), vost_tb)?;
    if let Some(a) = audio.as_mut() {
        a.finish(&mut output, &mut state)?;
    }
    output.write_trailer()?;

    let mut rendered = state.rendered;
    rendered.video_seconds = rendered.frames as f64 / f64::from(picture.fps);
    rendered.audio_seconds = state.audio_samples as f64 / f64::from(AUDIO_RATE);
    if let (Some(path), Some(thumb)) = (&spec.thumbnail, state.thumb)
        && let Some((at, frame)) = thumb.best
    {
        write_jpeg(&frame, path)?;
        rendered.thumbnail_at = Some(at);
    }
    Ok(Some(rendered))
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

/// The AAC encoder of a clip's sound (48 kHz stereo), and its stream in
/// `output`.
pub(crate) fn aac(
    output: &mut format::context::Output,
) -> Result<(encoder::audio::Encoder, usize), Error> {
    let global_header = output
        .format()
        .flags()
        .contains(format::Flags::GLOBAL_HEADER);
    let aac = encoder::find(codec::Id::AAC).ok_or(Error::EncoderNotFound)?;
    let mut enc = codec::context::Context::new_with_codec(aac)
        .encoder()
        .audio()?;
    enc.set_rate(AUDIO_RATE);
    // ffmpeg 5 derives the channel count from the layout when opening.
    enc.set_channel_layout(ChannelLayout::STEREO);
    enc.set_format(format::Sample::F32(format::sample::Type::Planar));
    enc.set_bit_rate(AUDIO_BIT_RATE);
    enc.set_time_base(Rational::new(1, AUDIO_RATE));
    if global_header {
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let enc = enc.open_as(aac)?;
    let ost = {
        let mut s = output.add_stream(aac)?;
        s.set_parameters(&enc);
        s.set_time_base(Rational::new(1, AUDIO_RATE));
        s.index()
    };
    Ok((enc, ost))
}

/// Adds the sound (when `spec` has it) to an output whose video stream
/// `vost` is set up, and writes the header: MP4 with the index in front,
/// so playback starts before the download ends. Returns the sound's side
/// and the video stream's time base as the muxer chose it.
pub(crate) fn finish_output(
    spec: &RenderSpec,
    input: &format::context::Input,
    output: &mut format::context::Output,
    vost: usize,
    (from, to): (f64, f64),
) -> Result<(Option<AudioOut>, Rational), Error> {
    let mut audio = if spec.audio {
        Some(AudioOut::new(spec, input, output, from, to)?)
    } else {
        None
    };
    let mut mux_opts = Dictionary::new();
    mux_opts.set("movflags", "+faststart");
    output.write_header_with(mux_opts)?;
    let vost_tb = output.stream(vost).ok_or(Error::Bug)?.time_base();
    if let Some(a) = audio.as_mut() {
        a.ost_tb = output.stream(a.ost).ok_or(Error::Bug)?.time_base();
    }
    Ok((audio, vost_tb))
}

/// How many times [`fit_loudness`] measures at most.
const FIT_ROUNDS: usize = 4;
/// Close enough to the target to stop measuring, LU.
const FIT_WITHIN: f64 = 0.2;
/// Most gain a quiet clip gets: past this it is mostly noise being raised.
pub(crate) const MAX_GAIN_DB: f64 = 24.0;

/// A clip's gain as fitted, and the loudness it gives.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Fitted {
    pub gain_db: f64,
    /// Integrated loudness of the clip's audio with that gain, LUFS;
    /// `None` for silence.
    pub lufs: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
}

/// The gain that brings the clip's audio to `target` LUFS through the
/// limiter, starting from `spec.gain_db` (the gain the source's own
/// measurement suggests). Speech has peaks well above its loudness, so
/// the limiter takes some of the gain back; the clip's audio (seconds of
/// it, cheap next to the video) is run through the same filters and
/// measured until it lands within [`FIT_WITHIN`] of the target.
/// `Ok(None)` when `stop` was cancelled.
pub(crate) fn fit_loudness(
    spec: &RenderSpec,
    target: f64,
    stop: &CancellationToken,
) -> Result<Option<Fitted>, Error> {
    let mut input = ff::open(&spec.source)?;
    let (mut dec, tb) = {
        let s = input
            .stream(spec.audio_stream)
            .ok_or(Error::StreamNotFound)?;
        let ctx = codec::context::Context::from_parameters(s.parameters())?;
        (ctx.decoder().audio()?, s.time_base())
    };
    let from = spec.origin + spec.start;
    let to = spec.origin + spec.end;
    seek_before(&mut input, from)?;
    // The clip's decoded frames, kept to run through the filters again.
    let mut frames = Vec::new();
    let mut audio_in = None;
    let mut packet = Packet::empty();
    let take = |dec: &mut decoder::Audio, frames: &mut Vec<frame::Audio>| {
        let mut frame = frame::Audio::empty();
        while dec.receive_frame(&mut frame).is_ok() {
            let ts = frame.timestamp();
            frame.set_pts(ts);
            frame.set_channel_layout(ff::layout_of(&frame));
            frames.push(std::mem::replace(&mut frame, frame::Audio::empty()));
        }
    };
    loop {
        if stop.is_cancelled() {
            return Ok(None);
        }
        if !next_packet(&mut input, &mut packet) {
            break;
        }
        if packet.stream() != spec.audio_stream {
            continue;
        }
        let at = packet.pts().map_or(0.0, |p| seconds(p, tb));
        if dec.send_packet(&packet).is_ok() {
            take(&mut dec, &mut frames);
        }
        if audio_in.is_none() && !frames.is_empty() {
            audio_in = Some(AudioIn::of(&dec, tb));
        }
        if at > to + 1.0 {
            break;
        }
    }
    if dec.send_eof().is_ok() {
        take(&mut dec, &mut frames);
    }
    let Some(audio_in) = audio_in else {
        return Ok(Some(Fitted {
            gain_db: 0.0,
            ..Fitted::default()
        }));
    };
    let mut gain = spec.gain_db.clamp(-MAX_GAIN_DB, MAX_GAIN_DB);
    let mut fitted = Fitted::default();
    for _ in 0..FIT_ROUNDS {
        let (lufs, true_peak_dbtp) = measure(&frames, audio_in, gain, (from, to), &spec.keep)?;
        fitted = Fitted {
            gain_db: gain,
            lufs,
            true_peak_dbtp,
        };
        let Some(lufs) = lufs else { break };
        let miss = target - lufs;
        let next = (gain + miss).clamp(-MAX_GAIN_DB, MAX_GAIN_DB);
        if miss.abs() <= FIT_WITHIN || (next - gain).abs() < 0.01 {
            break;
        }
        gain = next;
    }
    Ok(Some(fitted))
}

/// Integrated loudness and true peak of `frames` through the clip's audio
/// filters with `gain_db`.
fn measure(
    frames: &[frame::Audio],
    input: AudioIn,
    gain_db: f64,
    (from, to): (f64, f64),
    keep: &[(f64, f64)],
) -> Result<(Option<f64>, Option<f64>), Error> {
    let mut graph = audio_graph(gain_db, input, from, to, keep, 0)?;
    let mut meter = ebur128::EbuR128::new(
        2,
        AUDIO_RATE as u32,
        ebur128::Mode::I | ebur128::Mode::TRUE_PEAK,
    )
    .map_err(|_| Error::Bug)?;
    let mut out = frame::Audio::empty();
    let mut drain =
        |graph: &mut filter::Graph, meter: &mut ebur128::EbuR128| -> Result<(), Error> {
            while graph
                .get("out")
                .ok_or(Error::Bug)?
                .sink()
                .frame(&mut out)
                .is_ok()
            {
                // Packed: the one plane holds every channel, interleaved.
                meter
                    .add_frames_f32(out.plane::<f32>(0))
                    .map_err(|_| Error::Bug)?;
            }
            Ok(())
        };
    for frame in frames {
        // The filter takes the frame's buffers; it gets a copy, since
        // every round runs the same frames.
        graph
            .get("in")
            .ok_or(Error::Bug)?
            .source()
            .add(&copy_audio(frame))?;
        drain(&mut graph, &mut meter)?;
    }
    graph.get("in").ok_or(Error::Bug)?.source().flush()?;
    drain(&mut graph, &mut meter)?;
    let lufs = meter.loudness_global().ok().filter(|l| l.is_finite());
    let peak = (0..2)
        .filter_map(|c| meter.true_peak(c).ok())
        .fold(0.0, f64::max);
    let true_peak = (peak > 0.0).then(|| 20.0 * peak.log10());
    Ok((lufs, true_peak))
}

/// A copy of `frame`'s samples and timing. Not `Clone`: that copies with
/// `av_frame_copy`, which on ffmpeg 5 silently copies nothing when the
/// frame's new-style channel layout is unspecified (PCM in WAV has none)
/// and the copy's is not, leaving whatever the buffer held.
fn copy_audio(frame: &frame::Audio) -> frame::Audio {
    let mut copy = frame::Audio::new(frame.format(), frame.samples(), frame.channel_layout());
    let per_plane = frame.samples()
        * frame.format().bytes()
        * if frame.is_planar() {
            1
        } else {
            usize::from(frame.channels())
        };
    for p in 0..frame.planes() {
        copy.data_mut(p)[..per_plane].copy_from_slice(&frame.data(p)[..per_plane]);
    }
    copy.set_pts(frame.pts());
    copy.set_rate(frame.rate());
    copy
}

fn video_graph(
    spec: &RenderSpec,
    picture: Picture,
    dec: &decoder::Video,
    tb: Rational,
    from: f64,
    to: f64,
) -> Result<filter::Graph, Error> {
    let mut graph = filter::Graph::new();
    let sar = dec.aspect_ratio();
    let sar = if sar.numerator() > 0 && sar.denominator() > 0 {
        sar
    } else {
        Rational::new(1, 1)
    };
    let args = format!(
        "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
        dec.width(),
        dec.height(),
        ffmpeg_next::ffi::AVPixelFormat::from(dec.format()) as i32,
        tb.numerator(),
        tb.denominator(),
        sar.numerator(),
        sar.denominator(),
    );
    graph.add(
        &filter::find("buffer").ok_or(Error::FilterNotFound)?,
        "in",
        &args,
    )?;
    graph.add(
        &filter::find("buffersink").ok_or(Error::FilterNotFound)?,
        "out",
        "",
    )?;
    let (num, den) = (picture.fps.numerator(), picture.fps.denominator());
    // Jump cuts: the frames of the kept stretches, counted after `fps` has
    // made the rate constant, then stamped back to back. `fps` sets the
    // time base to one frame, so the frame count is the timestamp (an
    // expression in seconds would be truncated, giving two frames one).
    let select = if spec.keep.len() > 1 {
        let fps = f64::from(picture.fps);
        let frame = |t: f64| (t * fps).round() as i64;
        let ranges: Vec<String> = spec
            .keep
            .iter()
            .map(|&(a, b)| format!("between(n,{},{})", frame(a), frame(b) - 1))
            .collect();
        format!("select='{}',setpts=N,", ranges.join("+"))
    } else {
        String::new()
    };
    let spec = format!(
        "trim=start={from:.6}:end={to:.6},setpts=PTS-STARTPTS,fps={num}/{den},{select}{},format=yuv420p",
        spec.video_filters,
    );
    graph.output("in", 0)?.input("out", 0)?.parse(&spec)?;
    graph.validate()?;
    Ok(graph)
}

/// The audio as decoded, for the filter graph's source.
#[derive(Clone, Copy)]
pub(crate) struct AudioIn {
    tb: Rational,
    rate: u32,
    format: format::Sample,
    layout: ChannelLayout,
}

impl AudioIn {
    /// The `abuffer` source's arguments for this audio.
    pub(crate) fn args(&self) -> String {
        format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}",
            self.tb.numerator(),
            self.tb.denominator(),
            self.rate,
            self.format.name(),
            self.layout.bits(),
        )
    }

    pub(crate) fn of(dec: &decoder::Audio, tb: Rational) -> Self {
        let layout = if dec.channel_layout().is_empty() {
            ChannelLayout::default(i32::from(dec.channels()))
        } else {
            dec.channel_layout()
        };
        Self {
            tb,
            rate: dec.rate(),
            format: dec.format(),
            layout,
        }
    }
}

/// The decoder of the input's stream `index` (its sound), and the
/// stream's time base.
pub(crate) fn audio_decoder(
    input: &format::context::Input,
    index: usize,
) -> Result<(decoder::Audio, Rational), Error> {
    let s = input.stream(index).ok_or(Error::StreamNotFound)?;
    let dec = codec::context::Context::from_parameters(s.parameters())?
        .decoder()
        .audio()?;
    Ok((dec, s.time_base()))
}

/// The clip's audio: trimmed, the gain applied, peaks limited, as 48 kHz
/// stereo `fltp` frames of `frame_size` for the encoder, or interleaved
/// `flt` (`frame_size` 0) for the loudness meter.
fn audio_graph(
    gain_db: f64,
    input: AudioIn,
    from: f64,
    to: f64,
    keep: &[(f64, f64)],
    frame_size: u32,
) -> Result<filter::Graph, Error> {
    let mut graph = filter::Graph::new();
    graph.add(
        &filter::find("abuffer").ok_or(Error::FilterNotFound)?,
        "in",
        &input.args(),
    )?;
    graph.add(
        &filter::find("abuffersink").ok_or(Error::FilterNotFound)?,
        "out",
        "",
    )?;
    let sample_format = if frame_size > 0 { "fltp" } else { "flt" };
    let spec = audio_filters(gain_db, from, to, keep, sample_format);
    graph.output("in", 0)?.input("out", 0)?.parse(&spec)?;
    graph.validate()?;
    if frame_size > 0 {
        graph
            .get("out")
            .ok_or(Error::Bug)?
            .sink()
            .set_frame_size(frame_size);
    }
    Ok(graph)
}

/// The filters of the clip's sound, as [`audio_graph`] describes it, in
/// `sample_format` (`fltp` for AAC, `flt` for the meter).
pub(crate) fn audio_filters(
    gain_db: f64,
    from: f64,
    to: f64,
    keep: &[(f64, f64)],
    sample_format: &str,
) -> String {
    // The gain takes the clip to its target; the limiter (delay
    // compensated, no auto level) catches the peaks the gain pushed up.
    format!(
        "atrim=start={from:.6}:end={to:.6},asetpts=PTS-STARTPTS,{}volume={gain_db:.3}dB,\
         alimiter=limit={LIMIT}:level=0:latency=1,aresample={AUDIO_RATE},\
         aformat=sample_fmts={sample_format}:sample_rates={AUDIO_RATE}:channel_layouts=stereo",
        jump_cuts(keep)
    )
}

/// Each join of a jump cut fades out and in over this long, so the cut
/// does not click.
const JOIN_FADE: f64 = 0.005;

/// The audio filters that keep only `keep` of the clip, back to back: each
/// stretch trimmed to the sample, faded at its joins, and concatenated.
/// Empty when nothing is cut.
fn jump_cuts(keep: &[(f64, f64)]) -> String {
    if keep.len() < 2 {
        return String::new();
    }
    let n = keep.len();
    let mut graph = format!("asplit={n}");
    for k in 0..n {
        graph.push_str(&format!("[s{k}]"));
    }
    for (k, &(a, b)) in keep.iter().enumerate() {
        let length = b - a;
        graph.push_str(&format!(
            ";[s{k}]atrim=start={a:.6}:end={b:.6},asetpts=PTS-STARTPTS"
        ));
        if k > 0 {
            graph.push_str(&format!(",afade=t=in:d={JOIN_FADE}"));
        }
        if k + 1 < n {
            graph.push_str(&format!(
                ",afade=t=out:st={:.6}:d={JOIN_FADE}",
                (length - JOIN_FADE).max(0.0)
            ));
        }
        graph.push_str(&format!("[k{k}]"));
    }
    graph.push(';');
    for k in 0..n {
        graph.push_str(&format!("[k{k}]"));
    }
    graph.push_str(&format!("concat=n={n}:v=0:a=1,"));
    graph
}

pub(crate) struct State {
    pub rendered: Rendered,
    pub thumb: Option<Thumb>,
    pub expected_frames: f64,
    pub audio_samples: u64,
}

fn pull_video(dec: &mut decoder::Video, graph: &mut filter::Graph) -> Result<(), Error> {
    let mut frame = frame::Video::empty();
    while dec.receive_frame(&mut frame).is_ok() {
        let ts = frame.timestamp();
        frame.set_pts(ts);
        graph.get("in").ok_or(Error::Bug)?.source().add(&frame)?;
    }
    Ok(())
}

pub(crate) fn pull_audio(dec: &mut decoder::Audio, graph: &mut filter::Graph) -> Result<(), Error> {
    let mut frame = frame::Audio::empty();
    while dec.receive_frame(&mut frame).is_ok() {
        let ts = frame.timestamp();
        frame.set_pts(ts);
        let layout = ff::layout_of(&frame);
        frame.set_channel_layout(layout);
        graph.get("in").ok_or(Error::Bug)?.source().add(&frame)?;
    }
    Ok(())
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

/// The audio side of a render: decoder, filters, AAC encoder, stream.
pub(crate) struct AudioOut {
    dec: decoder::Audio,
    tb: Rational,
    graph: filter::Graph,
    enc: encoder::audio::Encoder,
    ost: usize,
    /// The output stream's time base, known once the header is written.
    ost_tb: Rational,
}

impl AudioOut {
    fn new(
        spec: &RenderSpec,
        input: &format::context::Input,
        output: &mut format::context::Output,
        from: f64,
        to: f64,
    ) -> Result<Self, Error> {
        let (dec, tb) = audio_decoder(input, spec.audio_stream)?;
        let (enc, ost) = aac(output)?;
        let graph = audio_graph(
            spec.gain_db,
            AudioIn::of(&dec, tb),
            from,
            to,
            &spec.keep,
            enc.frame_size(),
        )?;
        Ok(Self {
            dec,
            tb,
            graph,
            enc,
            ost,
            ost_tb: Rational::new(1, AUDIO_RATE),
        })
    }

    /// Decodes, filters, encodes and writes one packet of the sound;
    /// `false` once it is past `enough` (seconds on the file's clock) and
    /// the rest of the file is not needed.
    pub(crate) fn feed(
        &mut self,
        packet: &Packet,
        output: &mut format::context::Output,
        state: &mut State,
        enough: f64,
    ) -> Result<bool, Error> {
        let at = packet.pts().map_or(0.0, |p| seconds(p, self.tb));
        if self.dec.send_packet(packet).is_ok() {
            pull_audio(&mut self.dec, &mut self.graph)?;
        }
        self.drain(output, state)?;
        Ok(at <= enough)
    }

    /// Encodes and writes what the filters have ready.
    fn drain(
        &mut self,
        output: &mut format::context::Output,
        state: &mut State,
    ) -> Result<(), Error> {
        let mut frame = frame::Audio::empty();
        while self
            .graph
            .get("out")
            .ok_or(Error::Bug)?
            .sink()
            .frame(&mut frame)
            .is_ok()
        {
            state.audio_samples += frame.samples() as u64;
            self.enc.send_frame(&frame)?;
            write_packets(
                &mut self.enc,
                output,
                self.ost,
                (Rational::new(1, AUDIO_RATE), 0),
                self.ost_tb,
            )?;
        }
        Ok(())
    }

    /// Flushes the decoder, the filters and the encoder.
    pub(crate) fn finish(
        &mut self,
        output: &mut format::context::Output,
        state: &mut State,
    ) -> Result<(), Error> {
        if self.dec.send_eof().is_ok() {
            pull_audio(&mut self.dec, &mut self.graph)?;
        }
        self.graph.get("in").ok_or(Error::Bug)?.source().flush()?;
        self.drain(output, state)?;
        self.enc.send_eof()?;
        write_packets(
            &mut self.enc,
            output,
            self.ost,
            (Rational::new(1, AUDIO_RATE), 0),
            self.ost_tb,
        )
    }
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

/// The sharpest frame that is neither black nor washed out among those in
/// the clip's first seconds, where the hook is said.
#[derive(Default)]
pub(crate) struct Thumb {
    pub best: Option<(f64, frame::Video)>,
    best_score: f64,
}

/// Seconds of the clip the thumbnail is chosen from.
pub(crate) const THUMB_WINDOW: (f64, f64) = (0.3, 4.0);

impl Thumb {
    pub(crate) fn consider(&mut self, at: f64, frame: &frame::Video, n: u64) {
        let first = self.best.is_none();
        // Every third frame is plenty; the first one always counts, so a
        // clip shorter than the window still gets a picture.
        if !first && (!(THUMB_WINDOW.0..=THUMB_WINDOW.1).contains(&at) || !n.is_multiple_of(3)) {
            return;
        }
        let (mean, sharpness) = luma_stats(frame);
        let usable = (30.0..=225.0).contains(&mean);
        let score = if usable { sharpness } else { -1.0 };
        if first || score > self.best_score {
            self.best = Some((at, frame.clone()));
            self.best_score = score;
        }
    }
}

/// Mean luma and the variance of its Laplacian (a standard focus measure:
/// a blurred or flat frame has little), on every second pixel.
fn luma_stats(frame: &frame::Video) -> (f64, f64) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let y = frame.data(0);
    if w < 6 || h < 6 {
        return (0.0, 0.0);
    }
    let px = |x: usize, r: usize| f64::from(y[r * stride + x]);
    let (mut n, mut sum, mut lap_sum, mut lap_sq) = (0.0, 0.0, 0.0, 0.0);
    for r in (2..h - 2).step_by(2) {
        for x in (2..w - 2).step_by(2) {
            let c = px(x, r);
            let lap = px(x - 1, r) + px(x + 1, r) + px(x, r - 1) + px(x, r + 1) - 4.0 * c;
            n += 1.0;
            sum += c;
            lap_sum += lap;
            lap_sq += lap * lap;
        }
    }
    let mean = sum / n;
    let lap_mean = lap_sum / n;
    (mean, lap_sq / n - lap_mean * lap_mean)
}

/// mjpeg's quantiser, 2-31 (lower is better): 3 is near-transparent.
const JPEG_QUANTISER: &str = "3";

/// Encodes one frame as a baseline JPEG.
pub(crate) fn write_jpeg(frame: &frame::Video, path: &Path) -> Result<(), Error> {
    let mut scaler = scaling::Context::get(
        frame.format(),
        frame.width(),
        frame.height(),
        format::Pixel::YUVJ420P,
        frame.width(),
        frame.height(),
        scaling::Flags::BICUBIC,
    )?;
    let mut jpeg_frame = frame::Video::empty();
    scaler.run(frame, &mut jpeg_frame)?;
    jpeg_frame.set_pts(Some(0));
    let mjpeg = encoder::find(codec::Id::MJPEG).ok_or(Error::EncoderNotFound)?;
    let mut enc = codec::context::Context::new_with_codec(mjpeg)
        .encoder()
        .video()?;
    enc.set_width(frame.width());
    enc.set_height(frame.height());
    enc.set_format(format::Pixel::YUVJ420P);
    enc.set_time_base(Rational::new(1, 25));
    // A fixed quantiser: the frame asks for none, so mjpeg clips it into
    // qmin..qmax.
    enc.set_flags(codec::Flags::QSCALE);
    let mut opts = Dictionary::new();
    opts.set("qmin", JPEG_QUANTISER);
    opts.set("qmax", JPEG_QUANTISER);
    let mut enc = enc.open_as_with(mjpeg, opts)?;
    enc.send_frame(&jpeg_frame)?;
    enc.send_eof()?;
    let mut packet = Packet::empty();
    let mut bytes = Vec::new();
    while enc.receive_packet(&mut packet).is_ok() {
        if let Some(data) = packet.data() {
            bytes.extend_from_slice(data);
        }
    }
    if bytes.is_empty() {
        return Err(Error::Bug);
    }
    std::fs::write(path, bytes).map_err(|e| Error::from(e.raw_os_error().unwrap_or(5)))
}
