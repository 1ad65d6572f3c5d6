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

use ffmpeg_next::{
    Dictionary, Error, Packet, Rational, codec, decoder, encoder, format, frame, media, picture,
};
use tokio_util::sync::CancellationToken;

use super::render::{
    AUDIO_RATE, Picture, RenderSpec, Rendered, State, THUMB_WINDOW, Thumb, X264_PRESET,
    finish_output, next_packet, seconds, seek_before, write_jpeg,
};
use crate::media as ff;

/// How a smart render went.
pub(crate) enum Smart {
    Done(Rendered),
    /// The cut cannot be copied; the reason is for the log.
    Unsuitable(String),
    Stopped,
}

/// One video packet as the planner sees it, in decode order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scanned {
    pub pts: i64,
    pub dts: i64,
    /// Holds an IDR slice: decoding can start here.
    pub idr: bool,
}

/// Which packets are copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The first frame of the clip.
    pub first: i64,
    /// Frames with `pts < end` are in the clip.
    pub end: i64,
    /// The IDR frames the copy starts at and stops before.
    pub copy_from: Times,
    pub copy_to: Times,
    /// `pts - dts` of the copied keyframes: encoded frames get the same,
    /// so decode times keep rising across the joins.
    pub delay: i64,
}

/// A packet's times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Times {
    pub pts: i64,
    pub dts: i64,
}

/// Plans the copy of a cut whose frames are `lo <= pts < hi`, from the
/// packets around it (decode order); `Err` says why it cannot be done.
pub(crate) fn plan(packets: &[Scanned], lo: i64, hi: i64, ticks: i64) -> Result<Plan, String> {
    // The cut's frames. All of them were read: reading stops only past
    // `hi` in decode order, and nothing shown before `hi` decodes later.
    // Frames beyond it may be missing (B-frames not yet read).
    let mut frames: Vec<i64> = packets
        .iter()
        .map(|p| p.pts)
        .filter(|p| (lo..hi).contains(p))
        .collect();
    frames.sort_unstable();
    if frames.windows(2).any(|w| w[1] - w[0] != ticks) {
        return Err("the frame rate is not constant".into());
    }
    let (Some(&first), Some(&last)) = (frames.first(), frames.last()) else {
        return Err("no frame in the cut".into());
    };
    let end = last + ticks;
    let keys: Vec<&Scanned> = packets
        .iter()
        .filter(|p| p.idr && p.pts >= first && p.pts < end)
        .collect();
    let (Some(a), Some(b)) = (keys.first(), keys.last()) else {
        return Err("the cut holds no IDR frame".into());
    };
    if a.pts >= b.pts {
        return Err("the cut holds fewer than two IDR frames".into());
    }
    let delay = a.pts - a.dts;
    if delay < 0 || b.pts - b.dts != delay {
        return Err("the decode delay changes between keyframes".into());
    }
    // Closed GOPs: everything decoded between the two keyframes shows
    // between them, and nothing before the first shows after it.
    for p in packets {
        let copied = p.dts >= a.dts && p.dts < b.dts;
        if copied != (p.pts >= a.pts && p.pts < b.pts) {
            return Err("the source has open GOPs".into());
        }
    }
    Ok(Plan {
        first,
        end,
        copy_from: Times {
            pts: a.pts,
            dts: a.dts,
        },
        copy_to: Times {
            pts: b.pts,
            dts: b.dts,
        },
        delay,
    })
}

/// An `avcC` record (ISO/IEC 14496-15, 5.3.3.1), the parameter sets a
/// decoder starts from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AvcConfig {
    /// Bytes before each NAL unit's length.
    pub length_size: usize,
    pub sps_ids: Vec<u32>,
    pub pps_ids: Vec<u32>,
    /// Version, profile, compatibility, level and length size.
    head: [u8; 5],
    sps: Vec<Vec<u8>>,
    pps: Vec<Vec<u8>>,
    /// What follows the PPS (chroma format and bit depths, for the High
    /// profiles).
    rest: Vec<u8>,
}

/// Reads an `avcC` record; `None` for anything else (an Annex B stream,
/// say).
pub(crate) fn avc_config(data: &[u8]) -> Option<AvcConfig> {
    if data.len() < 7 || data[0] != 1 {
        return None;
    }
    let length_size = usize::from(data[4] & 3) + 1;
    let mut at = 5;
    // A count, then each set as a 16-bit length and its bytes.
    let mut sets = |mask: u8| -> Option<Vec<Vec<u8>>> {
        let count = usize::from(*data.get(at)? & mask);
        at += 1;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]));
            out.push(data.get(at + 2..at + 2 + len)?.to_vec());
            at += 2 + len;
        }
        Some(out)
    };
    let sps = sets(31)?;
    let pps = sets(255)?;
    // An SPS's id follows its NAL header, profile, flags and level; a
    // PPS's is its first field. Emulation prevention bytes cannot occur
    // that early (the level is never zero).
    let sps_ids = sps
        .iter()
        .map(|s| Bits::new(s.get(4..)?).ue())
        .collect::<Option<_>>()?;
    let pps_ids = pps
        .iter()
        .map(|p| Bits::new(p.get(1..)?).ue())
        .collect::<Option<_>>()?;
    Some(AvcConfig {
        length_size,
        sps_ids,
        pps_ids,
        head: data[..5].try_into().ok()?,
        sps,
        pps,
        rest: data[at..].to_vec(),
    })
}

impl AvcConfig {
    /// The record with one more SPS and PPS, so a decoder that only reads
    /// the sample description knows the encoded ends' too.
    fn with(&self, sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
        let sets = |list: &[Vec<u8>], extra: &[u8], out: &mut Vec<u8>| -> Option<()> {
            for set in list.iter().map(Vec::as_slice).chain([extra]) {
                out.extend_from_slice(&u16::try_from(set.len()).ok()?.to_be_bytes());
                out.extend_from_slice(set);
            }
            Some(())
        };
        let mut out = self.head.to_vec();
        let sps_count = u8::try_from(self.sps.len() + 1).ok().filter(|n| *n < 32)?;
        out.push(0xE0 | sps_count);
        sets(&self.sps, sps, &mut out)?;
        out.push(u8::try_from(self.pps.len() + 1).ok()?);
        sets(&self.pps, pps, &mut out)?;
        out.extend_from_slice(&self.rest);
        Some(out)
    }
}

/// An id for the head's and tail's parameter sets that the source uses
/// for neither its SPS nor its PPS.
fn free_id(config: &AvcConfig) -> Option<u32> {
    (1..32).find(|id| !config.sps_ids.contains(id) && !config.pps_ids.contains(id))
}

/// Reads Exp-Golomb codes off a byte string.
struct Bits<'a> {
    data: &'a [u8],
    bit: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, bit: 0 }
    }

    fn next(&mut self) -> Option<u32> {
        let byte = self.data.get(self.bit / 8)?;
        let b = (byte >> (7 - self.bit % 8)) & 1;
        self.bit += 1;
        Some(u32::from(b))
    }

    /// An unsigned Exp-Golomb code, `ue(v)`.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.next()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let mut value = 0u32;
        for _ in 0..zeros {
            value = (value << 1) | self.next()?;
        }
        Some((1u32 << zeros) - 1 + value)
    }
}

/// The NAL units of a length-prefixed packet; `None` when the lengths do
/// not add up.
fn nal_units(data: &[u8], length_size: usize) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let len = data
            .get(at..at + length_size)?
            .iter()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        at += length_size;
        out.push(data.get(at..at + len)?);
        at += len;
    }
    Some(out)
}

/// Whether a length-prefixed packet holds an IDR slice.
fn has_idr(data: &[u8], length_size: usize) -> bool {
    nal_units(data, length_size)
        .is_some_and(|units| units.iter().any(|u| u.first().is_some_and(|h| h & 31 == 5)))
}

/// An Annex B packet (x264's) as length-prefixed NAL units, 4-byte lengths.
pub(crate) fn annex_b_to_avcc(data: &[u8]) -> Vec<u8> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(data.len() + 4 * starts.len());
    for (k, &(_, body)) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |&(s, _)| s);
        // A four-byte start code leaves its leading zero on the unit before.
        while end > body && data[end - 1] == 0 && k + 1 < starts.len() {
            end -= 1;
        }
        let unit = &data[body..end];
        out.extend_from_slice(&u32::try_from(unit.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(unit);
    }
    out
}

/// The extradata of a stream or an encoder (an `avcC` record, or x264's
/// parameter sets). ffmpeg-next has no accessor for it.
#[allow(unsafe_code)]
fn extradata(params: &codec::Parameters) -> Vec<u8> {
    // SAFETY: `as_ptr` points at live AVCodecParameters, whose `extradata`
    // holds `extradata_size` bytes (or is null); they are copied out before
    // `params` can go away.
    unsafe {
        let p = &*params.as_ptr();
        if p.extradata.is_null() || p.extradata_size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts(p.extradata, p.extradata_size as usize).to_vec()
    }
}

/// Replaces the extradata of `params` with `data`.
#[allow(unsafe_code)]
fn set_extradata(params: &mut codec::Parameters, data: &[u8]) -> Result<(), Error> {
    let size = i32::try_from(data.len()).map_err(|_| Error::Bug)?;
    let padding = ffmpeg_next::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
    // SAFETY: `as_mut_ptr` points at AVCodecParameters this `params` owns.
    // The old buffer was allocated by libavcodec with av_malloc and is
    // freed with av_freep; the new one comes from av_mallocz with the
    // zeroed padding libavcodec expects after extradata, and is owned (and
    // freed) by the parameters from here on.
    unsafe {
        let p = &mut *params.as_mut_ptr();
        let buffer = ffmpeg_next::ffi::av_mallocz(data.len() + padding).cast::<u8>();
        if buffer.is_null() {
            return Err(Error::Other {
                errno: ffmpeg_next::ffi::ENOMEM,
            });
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), buffer, data.len());
        ffmpeg_next::ffi::av_freep((&raw mut p.extradata).cast());
        p.extradata = buffer;
        p.extradata_size = size;
    }
    Ok(())
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
    let unsuitable = |why: &str| Ok(Smart::Unsuitable(why.to_owned()));
    let mut input = ff::open(&spec.source)?;
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
    let new_decoder = || -> Result<decoder::Video, Error> { ff::video_decoder(params.clone()) };
    let probe = new_decoder()?;
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

    // Pass 1: where the keyframes are, without decoding.
    seek_before(&mut input, from)?;
    let mut scanned = Vec::new();
    let mut packet = Packet::empty();
    while next_packet(&mut input, &mut packet) {
        if packet.stream() != vi {
            continue;
        }
        let (Some(pts), Some(dts)) = (packet.pts(), packet.dts()) else {
            return unsuitable("a packet has no timestamps");
        };
        let data = packet.data().unwrap_or_default();
        if nal_units(data, config.length_size).is_none() {
            return unsuitable("a packet is not length-prefixed H.264");
        }
        scanned.push(Scanned {
            pts,
            dts,
            idr: has_idr(data, config.length_size),
        });
        if pts > hi + 2 * ticks && dts > hi {
            break;
        }
    }
    let plan = match plan(&scanned, lo, hi, ticks) {
        Ok(p) => p,
        Err(why) => return Ok(Smart::Unsuitable(why)),
    };
    if stop.is_cancelled() {
        return Ok(Smart::Stopped);
    }

    // Pass 2: head and tail encoded, the rest copied, the sound encoded.
    // From a fresh reader: `seek_before` does not seek for a cut that
    // starts within its margin of the beginning, and this one has been
    // read past the cut already (such clips used to come out empty).
    input = ff::open(&spec.source)?;
    let mut output = format::output_as(&spec.output, "mp4")?;
    let vost = {
        let mut s = output.add_stream(encoder::find(codec::Id::None))?;
        let mut described = params.clone();
        set_extradata(&mut described, &avcc)?;
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
    let encoder_for = || open_x264(spec, picture, tb, id, false);

    seek_before(&mut input, from)?;
    let mut part = Part::Head;
    let mut dec = new_decoder()?;
    let mut enc = encoder_for()?;
    let mut thumb_dec: Option<decoder::Video> = None;
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
                thumb_dec = state.thumb.is_some().then(new_decoder).transpose()?;
            }
            if part == Part::Copy && dts >= plan.copy_to.dts {
                part = Part::Tail;
                thumb_dec = None;
                dec = new_decoder()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pts: i64, dts: i64, idr: bool) -> Scanned {
        Scanned { pts, dts, idr }
    }

    /// Closed GOPs of 4 frames (I P B B in decode order), one tick each,
    /// decode delay 1.
    fn gops(n: i64) -> Vec<Scanned> {
        let mut out = Vec::new();
        for g in 0..n {
            let b = g * 4;
            out.push(p(b + 1, b, true));
            out.push(p(b + 4, b + 1, false));
            out.push(p(b + 2, b + 2, false));
            out.push(p(b + 3, b + 3, false));
        }
        out
    }

    #[test]
    fn the_copy_runs_between_the_first_and_last_idr_inside_the_cut() {
        let planned = plan(&gops(5), 3, 15, 1).unwrap();
        assert_eq!(planned.first, 3);
        assert_eq!(planned.end, 15);
        assert_eq!(planned.copy_from, Times { pts: 5, dts: 4 });
        assert_eq!(planned.copy_to, Times { pts: 13, dts: 12 });
        assert_eq!(planned.delay, 1);
        assert!(
            plan(&gops(5), 6, 12, 1)
                .unwrap_err()
                .contains("fewer than two")
        );
    }

    #[test]
    fn open_gops_and_uneven_frames_are_refused() {
        let mut open = gops(4);
        // A B-frame after the second keyframe that shows before it.
        open[6].pts = 4;
        open[1].pts = 3;
        open[3].pts = 6;
        assert!(plan(&open, 3, 16, 1).unwrap_err().contains("open GOPs"));
        let mut uneven = gops(4);
        uneven[5].pts = 9;
        assert!(
            plan(&uneven, 1, 16, 1)
                .unwrap_err()
                .contains("not constant")
        );
    }

    #[test]
    fn avcc_records_and_annex_b_are_read() {
        // avcC: version 1, High@4.0, 4-byte lengths, one SPS (id 0), one PPS (id 0).
        let sps = [0x67, 0x64, 0x00, 0x28, 0xAC];
        let pps = [0x68, 0xEE, 0x3C, 0x80];
        let mut avcc = vec![1, 0x64, 0x00, 0x28, 0xFF, 0xE1, 0, sps.len() as u8];
        avcc.extend_from_slice(&sps);
        avcc.extend_from_slice(&[1, 0, pps.len() as u8]);
        avcc.extend_from_slice(&pps);
        let config = avc_config(&avcc).unwrap();
        assert_eq!(config.length_size, 4);
        assert_eq!(
            (&config.sps_ids[..], &config.pps_ids[..]),
            (&[0][..], &[0][..])
        );
        assert_eq!(free_id(&config), Some(1));
        // Another SPS and PPS added: the record reads back with both.
        let more = config
            .with(&[0x67, 0x64, 0x00, 0x28, 0x40], &[0x68, 0x40])
            .unwrap();
        let both = avc_config(&more).unwrap();
        assert_eq!((both.sps_ids, both.pps_ids), (vec![0, 1], vec![0, 1]));
        assert_eq!(&more[..5], &avcc[..5]);
        assert!(avc_config(&[0, 0, 0, 1, 0x67]).is_none());

        let annex_b = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5,
        ];
        let avcc_packet = annex_b_to_avcc(&annex_b);
        let units = nal_units(&avcc_packet, 4).unwrap();
        assert_eq!(units, [&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4, 5]]);
        assert!(has_idr(&avcc_packet, 4));
        assert!(nal_units(&[0, 0, 0, 9, 1], 4).is_none());
        assert_eq!(Bits::new(&[0b0010_1000]).ue(), Some(4));
    }
}
