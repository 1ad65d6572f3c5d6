//! Smart rendering: a cut that needs nothing done to its picture (its own
//! shape and size, no burned captions, no jump cuts) keeps the source's
//! H.264 between the first and the last keyframe inside it, copied packet
//! for packet, and encodes only the frames before the first keyframe (the
//! head) and from the last one on (the tail). The sound is always encoded
//! again: it is cheap, and it is where the loudness is set.
//!
//! One H.264 track, two sets of parameter sets: the head and the tail are
//! encoded with x264's SPS/PPS ids set to one the source does not use. The
//! sample description (`avcC`) lists the source's sets and x264's, and the
//! encoded ends also carry theirs in-band. Each slice names its own PPS,
//! so a decoder never mixes the two. The copied stretch must start and end on IDR
//! frames of closed GOPs, at a constant frame rate; otherwise (or for any
//! other codec) the caller renders the whole cut instead.
//!
//! No crate does this; ffmpeg's own command line cannot either (stream
//! copy cuts only on keyframes), which is why it is written here.

pub(crate) mod avc;
mod keyframes;

use ffmpeg_next::{
    Dictionary, Error, Packet, Rational, codec, decoder, encoder, format, frame, media, picture,
};
use tokio_util::sync::CancellationToken;

use self::{
    avc::{annex_b_to_avcc, avc_config, extradata, free_id, has_idr, nal_units, set_extradata},
    keyframes::{Plan, Scanned, plan},
};
use super::{
    encode::{
        Picture, RenderSpec, Rendered, State, X264_PRESET, next_packet, seconds, seek_before,
    },
    sound::{AUDIO_RATE, finish_output},
    thumb::{THUMB_WINDOW, Thumb, write_jpeg},
};
use crate::media as ff;

/// How a smart render went.
pub(crate) enum Smart {
    Done(Rendered),
    /// The cut cannot be copied; the reason is for the log.
    Unsuitable(String),
    Stopped,
}

/// An SPS and a PPS, without start codes or lengths.
type ParameterSets = (Vec<u8>, Vec<u8>);

/// The SPS and PPS x264 writes for a head or tail, read off an encoder
/// opened the same way with global headers (x264's are fixed by its
/// settings, not by the pictures).
fn x264_parameter_sets(
    spec: &RenderSpec,
    picture: Picture,
    tb: Rational,
    id: u32,
) -> Result<Option<ParameterSets>, Error> {
    let enc = open_x264(spec, picture, tb, id, true)?;
    let data = extradata(&codec::Parameters::from(&enc));
    // libx264 leaves Annex B there.
    if data.first() == Some(&1) {
        return Ok(None);
    }
    let units = annex_b_to_avcc(&data);
    let Some(units) = nal_units(&units, 4) else {
        return Ok(None);
    };
    let of = |kind: u8| {
        units
            .iter()
            .find(|u| u.first().is_some_and(|h| h & 31 == kind))
    };
    Ok(match (of(7), of(8)) {
        (Some(sps), Some(pps)) => Some((sps.to_vec(), pps.to_vec())),
        _ => None,
    })
}

/// Renders `spec` by copying what it can; see the module's notes.
pub(crate) fn render(
    spec: &RenderSpec,
    picture: Picture,
    on_progress: &dyn Fn(f32),
    stop: &CancellationToken,
) -> Result<Smart, Error> {
    let mut input = ff::open(&spec.source)?;
    let track = match Track::of(&input, spec, picture)? {
        Ok(track) => track,
        Err(why) => return Ok(Smart::Unsuitable(why)),
    };
    let plan = match scan(&mut input, spec, &track)? {
        Ok(p) => p,
        Err(why) => return Ok(Smart::Unsuitable(why)),
    };
    if stop.is_cancelled() {
        return Ok(Smart::Stopped);
    }
    copy(spec, picture, &track, plan, on_progress, stop)
}

/// The source's video, as the checks before any reading found it.
struct Track {
    /// Its stream, and that stream's time base.
    index: usize,
    tb: Rational,
    params: codec::Parameters,
    /// Bytes before each NAL unit's length in its packets.
    length_size: usize,
    /// The parameter set id of the encoded head and tail.
    id: u32,
    /// The sample description: the source's parameter sets and x264's.
    avcc: Vec<u8>,
    /// One frame, in `tb`.
    ticks: i64,
    /// The cut's frames are `lo <= pts < hi`.
    lo: i64,
    hi: i64,
}

impl Track {
    /// The source's video, when it could be copied; `Err` inside says why
    /// it cannot.
    fn of(
        input: &format::context::Input,
        spec: &RenderSpec,
        picture: Picture,
    ) -> Result<Result<Self, String>, Error> {
        let unsuitable = |why: &str| Ok(Err(why.to_owned()));
        let Some(stream) = input.streams().best(media::Type::Video) else {
            return unsuitable("no video stream");
        };
        let vi = stream.index();
        let tb = stream.time_base();
        let params = stream.parameters();
        if params.id() != codec::Id::H264 {
            return unsuitable("the source's video is not H.264");
        }
        let Some(config) = avc_config(&extradata(&params)) else {
            return unsuitable("the source's H.264 has no avcC record");
        };
        let Some(id) = free_id(&config) else {
            return unsuitable("the source uses every parameter set id");
        };
        let probe = ff::video_decoder(params.clone())?;
        if probe.format() != format::Pixel::YUV420P
            || (probe.width(), probe.height()) != (spec.width, spec.height)
        {
            return unsuitable("the picture would change");
        }
        let Some((sps, pps)) = x264_parameter_sets(spec, picture, tb, id)? else {
            return unsuitable("x264's parameter sets could not be read");
        };
        let Some(avcc) = config.with(&sps, &pps) else {
            return unsuitable("the sample description has no room for more parameter sets");
        };
        // One frame in the stream's time base, exactly.
        let fps = picture.fps;
        let per_frame = i64::from(tb.denominator()) * i64::from(fps.denominator());
        let per_tick = i64::from(tb.numerator()) * i64::from(fps.numerator());
        if per_tick == 0 || per_frame % per_tick != 0 {
            return unsuitable("the frame length is not a whole number of ticks");
        }
        let ticks = per_frame / per_tick;
        let to_ts = |s: f64| (s / f64::from(tb)).round() as i64;
        let from = spec.origin + spec.start;
        let to = spec.origin + spec.end;
        let (lo, hi) = (to_ts(from) - ticks / 2, to_ts(to) - ticks / 2);
        Ok(Ok(Self {
            index: vi,
            tb,
            params,
            length_size: config.length_size,
            id,
            avcc,
            ticks,
            lo,
            hi,
        }))
    }

    fn decoder(&self) -> Result<decoder::Video, Error> {
        ff::video_decoder(self.params.clone())
    }
}

/// Pass 1: where the keyframes are, without decoding, and so what is
/// copied; `Err` inside says why nothing can be.
fn scan(
    input: &mut format::context::Input,
    spec: &RenderSpec,
    track: &Track,
) -> Result<Result<Plan, String>, Error> {
    let unsuitable = |why: &str| Ok(Err(why.to_owned()));
    let (ticks, hi) = (track.ticks, track.hi);
    seek_before(input, spec.origin + spec.start)?;
    let mut scanned = Vec::new();
    let mut packet = Packet::empty();
    while next_packet(input, &mut packet) {
        if packet.stream() != track.index {
            continue;
        }
        let (Some(pts), Some(dts)) = (packet.pts(), packet.dts()) else {
            return unsuitable("a packet has no timestamps");
        };
        let data = packet.data().unwrap_or_default();
        if nal_units(data, track.length_size).is_none() {
            return unsuitable("a packet is not length-prefixed H.264");
        }
        scanned.push(Scanned {
            pts,
            dts,
            idr: has_idr(data, track.length_size),
        });
        if pts > hi + 2 * ticks && dts > hi {
            break;
        }
    }
    Ok(plan(&scanned, track.lo, hi, ticks))
}

/// Pass 2: head and tail encoded, the rest copied, the sound encoded.
fn copy(
    spec: &RenderSpec,
    picture: Picture,
    track: &Track,
    plan: Plan,
    on_progress: &dyn Fn(f32),
    stop: &CancellationToken,
) -> Result<Smart, Error> {
    let (vi, tb, ticks, hi) = (track.index, track.tb, track.ticks, track.hi);
    let from = spec.origin + spec.start;
    let to = spec.origin + spec.end;
    // From a fresh reader: `seek_before` does not seek for a cut that
    // starts within its margin of the beginning, and pass 1 has read
    // past the cut already (such clips used to come out empty).
    let mut input = ff::open(&spec.source)?;
    let mut output = format::output_as(&spec.output, "mp4")?;
    let vost = {
        let mut s = output.add_stream(encoder::find(codec::Id::None))?;
        let mut described = track.params.clone();
        set_extradata(&mut described, &track.avcc)?;
        s.set_parameters(described);
        s.set_time_base(tb);
        s.index()
    };
    let (mut audio, vost_tb) = finish_output(spec, &input, &mut output, vost, (from, to))?;
    let mut state = State {
        rendered: Rendered::default(),
        thumb: spec.thumbnail.as_ref().map(|_| Thumb::default()),
        expected_frames: ((plan.end - plan.first) / ticks).max(1) as f64,
        audio_samples: 0,
    };
    let mut out = VideoOut {
        ost: vost,
        tb,
        ost_tb: vost_tb,
        ticks,
        plan,
    };
    let encoder_for = || open_x264(spec, picture, tb, track.id, false);

    seek_before(&mut input, from)?;
    let mut part = Part::Head;
    let mut dec = track.decoder()?;
    let mut enc = encoder_for()?;
    let mut thumb_dec: Option<decoder::Video> = None;
    let mut packet = Packet::empty();
    let mut copied = 0u64;
    let mut video_open = true;
    let mut audio_open = audio.is_some();
    let enough = to + 1.0;
    while next_packet(&mut input, &mut packet) {
        if stop.is_cancelled() {
            return Ok(Smart::Stopped);
        }
        let index = packet.stream();
        if index == vi && video_open {
            let dts = packet.dts().unwrap_or(i64::MIN);
            let pts = packet.pts().unwrap_or(i64::MIN);
            if part == Part::Head && dts >= plan.copy_from.dts {
                // The head is complete: everything before the keyframe.
                finish_part(&mut dec, &mut enc, &mut output, &mut out, &mut state)?;
                part = Part::Copy;
                thumb_dec = state.thumb.is_some().then(|| track.decoder()).transpose()?;
            }
            if part == Part::Copy && dts >= plan.copy_to.dts {
                part = Part::Tail;
                thumb_dec = None;
                dec = track.decoder()?;
                enc = encoder_for()?;
            }
            match part {
                Part::Head | Part::Tail => {
                    if dec.send_packet(&packet).is_ok() {
                        encode_ready(&mut dec, &mut enc, &mut output, &mut out, &mut state)?;
                    }
                    if pts > hi + ticks && dts > hi {
                        video_open = false;
                    }
                }
                Part::Copy => {
                    if let Some(d) = thumb_dec.as_mut() {
                        let at = seconds(pts - plan.first, tb);
                        if at <= THUMB_WINDOW.1 && d.send_packet(&packet).is_ok() {
                            let mut frame = frame::Video::empty();
                            while d.receive_frame(&mut frame).is_ok() {
                                let at = seconds(frame.timestamp().unwrap_or(0) - plan.first, tb);
                                if let Some(t) = state.thumb.as_mut() {
                                    t.consider(at, &frame, copied);
                                }
                            }
                        }
                    }
                    let mut copy = packet.clone();
                    copy.set_pts(Some(pts - plan.first));
                    copy.set_dts(Some(dts - plan.first));
                    copy.set_position(-1);
                    copy.set_stream(vost);
                    copy.rescale_ts(tb, vost_tb);
                    copy.write_interleaved(&mut output)?;
                    copied += 1;
                    state.rendered.frames += 1;
                }
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
    if part != Part::Tail {
        // The file ended inside the copy: the plan did not hold.
        return Err(Error::Bug);
    }
    finish_part(&mut dec, &mut enc, &mut output, &mut out, &mut state)?;
    if let Some(a) = audio.as_mut() {
        a.finish(&mut output, &mut state)?;
    }
    output.write_trailer()?;

    let mut rendered = state.rendered;
    rendered.video_seconds = rendered.frames as f64 / f64::from(picture.fps);
    rendered.audio_seconds = state.audio_samples as f64 / f64::from(AUDIO_RATE);
    rendered.copied_frames = copied;
    if let (Some(path), Some(thumb)) = (&spec.thumbnail, state.thumb)
        && let Some((at, frame)) = thumb.best
    {
        write_jpeg(&frame, path)?;
        rendered.thumbnail_at = Some(at);
    }
    Ok(Smart::Done(rendered))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Head,
    Copy,
    Tail,
}

/// Where encoded frames go, and which of them (`plan`).
struct VideoOut {
    ost: usize,
    tb: Rational,
    ost_tb: Rational,
    /// One frame, in `tb`.
    ticks: i64,
    plan: Plan,
}

/// x264 for a head or a tail: no B-frames (so each packet decodes when it
/// arrives), and parameter sets numbered `id`, written in-band as well as
/// in the sample description (or, with `global_header`, only into the
/// encoder's extradata, to be read from there).
fn open_x264(
    spec: &RenderSpec,
    picture: Picture,
    tb: Rational,
    id: u32,
    global_header: bool,
) -> Result<encoder::video::Encoder, Error> {
    let x264 = encoder::find_by_name("libx264").ok_or(Error::EncoderNotFound)?;
    let mut enc = codec::context::Context::new_with_codec(x264)
        .encoder()
        .video()?;
    enc.set_width(spec.width);
    enc.set_height(spec.height);
    enc.set_format(format::Pixel::YUV420P);
    enc.set_time_base(tb);
    enc.set_frame_rate(Some(picture.fps));
    if global_header {
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut opts = Dictionary::new();
    opts.set("preset", X264_PRESET);
    opts.set("crf", &spec.crf.to_string());
    opts.set("x264-params", &format!("sps-id={id}:bframes=0"));
    enc.open_with(opts)
}

/// Decodes what `dec` has ready and encodes the frames inside the clip.
fn encode_ready(
    dec: &mut decoder::Video,
    enc: &mut encoder::video::Encoder,
    output: &mut format::context::Output,
    out: &mut VideoOut,
    state: &mut State,
) -> Result<(), Error> {
    let plan = out.plan;
    let mut frame = frame::Video::empty();
    while dec.receive_frame(&mut frame).is_ok() {
        let Some(pts) = frame.timestamp() else {
            continue;
        };
        let head = pts < plan.copy_from.pts;
        let tail = pts >= plan.copy_to.pts;
        if pts < plan.first || pts >= plan.end || !(head || tail) {
            continue;
        }
        if let Some(t) = state.thumb.as_mut() {
            t.consider(
                seconds(pts - plan.first, out.tb),
                &frame,
                state.rendered.frames,
            );
        }
        frame.set_pts(Some(pts - plan.first));
        frame.set_kind(picture::Type::None);
        enc.send_frame(&frame)?;
        state.rendered.frames += 1;
        write_encoded(enc, output, out)?;
    }
    Ok(())
}

/// Flushes a head's or tail's decoder and encoder.
fn finish_part(
    dec: &mut decoder::Video,
    enc: &mut encoder::video::Encoder,
    output: &mut format::context::Output,
    out: &mut VideoOut,
    state: &mut State,
) -> Result<(), Error> {
    if dec.send_eof().is_ok() {
        encode_ready(dec, enc, output, out, state)?;
    }
    enc.send_eof()?;
    write_encoded(enc, output, out)
}

/// Writes x264's packets as length-prefixed H.264 with decode times set
/// back by the source's delay.
fn write_encoded(
    enc: &mut encoder::video::Encoder,
    output: &mut format::context::Output,
    out: &mut VideoOut,
) -> Result<(), Error> {
    let mut packet = Packet::empty();
    while enc.receive_packet(&mut packet).is_ok() {
        let pts = packet.pts().ok_or(Error::Bug)?;
        let mut written = Packet::copy(&annex_b_to_avcc(packet.data().unwrap_or_default()));
        written.set_pts(Some(pts));
        written.set_dts(Some(pts - out.plan.delay));
        written.set_duration(out.ticks);
        written.set_flags(packet.flags());
        written.set_stream(out.ost);
        written.rescale_ts(out.tb, out.ost_tb);
        written.write_interleaved(output)?;
    }
    Ok(())
}
