//! Renders one cut of the source to an MP4 (H.264 + AAC, `+faststart`)
//! with ffmpeg's libraries: seek to the keyframe before the cut, decode,
//! trim to the exact range in a filter graph, reframe, burn captions,
//! normalise the loudness, encode, mux. Optionally picks the thumbnail from
//! the frames it renders.
//!
//! Blocking; one call per clip and format. Decoding the few seconds before
//! the cut again for each format is cheap next to encoding them.

use std::path::Path;

use ffmpeg_next::{Error, Packet, Rational, decoder, filter, format, frame, media};
use tokio_util::sync::CancellationToken;

// What a render takes and what fits its gain, where the stage and the
// benchmarks have always found them.
pub(crate) use super::{
    encode::{Picture, RenderSpec},
    gain::fit_loudness,
};
use super::{
    encode::{
        Rendered, State, drain_video, next_packet, seconds, seek_before, write_packets, x264,
    },
    smart::{self, Smart},
    sound::{AUDIO_RATE, finish_output},
    thumb::{Thumb, write_jpeg},
};
use crate::media as ff;

/// Clean on phones.
pub(crate) const CLIP_CRF: u8 = 21;

/// Small enough for a page of previews.
pub(crate) const PREVIEW_CRF: u8 = 30;

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

fn pull_video(dec: &mut decoder::Video, graph: &mut filter::Graph) -> Result<(), Error> {
    let mut frame = frame::Video::empty();
    while dec.receive_frame(&mut frame).is_ok() {
        let ts = frame.timestamp();
        frame.set_pts(ts);
        graph.get("in").ok_or(Error::Bug)?.source().add(&frame)?;
    }
    Ok(())
}
