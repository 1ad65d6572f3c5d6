//! Audiograms: the clips of a source with no picture (a podcast, a phone
//! recording, an MP3). The picture is drawn from the clip's own sound as
//! rendered: a waveform of bars over a solid background, the job's title
//! across the top, the burned captions, and the tenant's logo in the top
//! right corner when it has set one (`PUT /v1/tenant/logo`).
//!
//! One filter graph does it all: the sound is trimmed, jump-cut and
//! normalised exactly as for a video clip ([`sound::audio_filters`]),
//! then split; one branch goes to the AAC encoder, the other through
//! `showwaves` to the picture. Each video frame shows the samples of its
//! own 1/30 s (80 columns of 20 samples: 48000 / (30 x 80) = 20), so the
//! bars move on the frame where the sound starts.
//!
//! User text never enters the filter graph: the title and captions are in
//! the ASS script libass reads, and the logo is a PNG the API wrote.

use std::path::Path;

use ffmpeg_next::{Dictionary, Error, Packet, Rational, filter, format, frame};
use tokio_util::sync::CancellationToken;

use super::{
    captions::Title,
    encode::{self, Picture, RenderSpec, Rendered, State, filter_path},
    sound::{self, AUDIO_RATE, AudioIn},
    thumb::{self, Thumb},
};
use crate::media as ff;

/// Frames per second of an audiogram.
pub(crate) const FPS: i32 = 30;
/// Columns of the waveform: each a bar of [`SAMPLES_PER_COLUMN`] samples.
const COLUMNS: u32 = 80;
const SAMPLES_PER_COLUMN: u32 = AUDIO_RATE as u32 / (FPS as u32 * COLUMNS);
const _: () = assert!(SAMPLES_PER_COLUMN * FPS as u32 * COLUMNS == AUDIO_RATE as u32);
/// The background, a dark blue (luma about 53, so the thumbnail picker
/// does not take it for black)...
const BACKGROUND: &str = "0x1d2b53";
/// ...and the bars, a warm yellow.
const BARS: &str = "0xffc857";
/// Longest title shown, in characters; a longer one ends in an ellipsis.
const MAX_TITLE_CHARS: usize = 100;

/// What an audiogram's picture is cut from: `canvas` on this 16:9 picture
/// makes `original` 1920x1080, `vertical` 1080x1920 and `square` 1080x1080.
pub(crate) fn picture() -> Picture {
    Picture {
        width: 1920,
        height: 1080,
        fps: Rational::new(FPS, 1),
    }
}

/// Where things go on a `width` x `height` canvas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The waveform's box: left, top, width, height.
    pub wave: (u32, u32, u32, u32),
    /// The side of the square the logo is fitted into, `margin` from the
    /// top and right edges.
    pub logo_box: u32,
    pub margin: u32,
    pub title_font: u32,
}

pub(crate) fn layout(width: u32, height: u32) -> Layout {
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    let short = f64::from(width.min(height));
    let (ww, wh) = (even(f64::from(width) * 0.9), even(short * 0.4));
    Layout {
        wave: ((width - ww) / 2, (height - wh) / 2, ww, wh),
        logo_box: even(short * 0.14),
        margin: (short * 0.04).round() as u32,
        title_font: (short * 0.055).round().max(8.0) as u32,
    }
}

/// The title across the top: clear of the logo's corner on both sides, so
/// it stays centred whether or not there is a logo.
pub(crate) fn title(text: &str, width: u32, height: u32) -> Title<'_> {
    let l = layout(width, height);
    Title {
        text,
        font_size: l.title_font,
        margin_h: 2 * l.margin + l.logo_box,
        margin_v: l.margin,
    }
}

/// A job title as shown: at most [`MAX_TITLE_CHARS`], `None` when blank.
pub(crate) fn shown_title(title: Option<&str>) -> Option<String> {
    let t = title?.trim();
    if t.is_empty() {
        return None;
    }
    let mut chars = t.chars();
    let head: String = chars.by_ref().take(MAX_TITLE_CHARS).collect();
    Some(if chars.next().is_some() {
        format!("{}…", head.trim_end())
    } else {
        head
    })
}

/// The picture's filters, from the clip's sound at `[sound]` to an open
/// end that [`render`] closes: bars over the background, the logo, the
/// ASS script (title and captions) when there is one.
pub(crate) fn filters(width: u32, height: u32, ass: Option<&Path>, logo: Option<&Path>) -> String {
    let l = layout(width, height);
    let (x, y, ww, wh) = l.wave;
    // Bars from the middle up and down (`cline`), every sample of a
    // column drawn in full colour, on a square-root scale so speech
    // fills the box without shouting; widened to the box, blocky.
    let mut graph = format!(
        "[sound]aformat=channel_layouts=mono,\
         showwaves=s={COLUMNS}x{wh}:mode=cline:n={SAMPLES_PER_COLUMN}:draw=full:scale=sqrt:colors={BARS},\
         format=rgba,scale={ww}:{wh}:flags=neighbor[bars];\
         color=c={BACKGROUND}:s={width}x{height}:r={FPS}[bg];\
         [bg][bars]overlay=x={x}:y={y}:eof_action=repeat"
    );
    if let Some(logo) = logo {
        let side = l.logo_box;
        graph.push_str(&format!(
            "[drawn];movie=filename={},scale=w={side}:h={side}:force_original_aspect_ratio=decrease,\
             format=rgba[logo];[drawn][logo]overlay=x=W-w-{m}:y={m}:eof_action=repeat",
            filter_path(logo),
            m = l.margin,
        ));
    }
    if let Some(ass) = ass {
        graph.push_str(&format!(",ass=filename={}", filter_path(ass)));
    }
    graph
}

/// The whole graph: the clip's sound to the `aout` sink (and the AAC
/// encoder), and to the picture, cut to the clip's frame count, at `out`.
fn graph(spec: &RenderSpec, input: AudioIn, from: f64, to: f64) -> Result<filter::Graph, Error> {
    let mut graph = filter::Graph::new();
    graph.add(
        &filter::find("abuffer").ok_or(Error::FilterNotFound)?,
        "in",
        &input.args(),
    )?;
    graph.add(
        &filter::find("abuffersink").ok_or(Error::FilterNotFound)?,
        "aout",
        "",
    )?;
    graph.add(
        &filter::find("buffersink").ok_or(Error::FilterNotFound)?,
        "out",
        "",
    )?;
    // The background runs for ever: the picture ends on the frame that
    // makes it as long as the sound.
    let frames = (spec.kept_seconds() * f64::from(FPS)).round().max(1.0);
    let text = format!(
        "[in]{},asplit=2[aout][sound];{},trim=end_frame={frames},format=yuv420p[out]",
        sound::audio_filters(spec.gain_db, from, to, &spec.keep, "fltp"),
        spec.video_filters,
    );
    graph
        .output("in", 0)?
        .input("aout", 0)?
        .input("out", 0)?
        .parse(&text)?;
    graph.validate()?;
    Ok(graph)
}

/// Renders the audiogram `spec` describes (its `video_filters` from
/// [`filters`]). `Ok(None)` when `stop` was cancelled.
pub(crate) fn render(
    spec: &RenderSpec,
    on_progress: &dyn Fn(f32),
    stop: &CancellationToken,
) -> Result<Option<Rendered>, Error> {
    let mut input = ff::open(&spec.source)?;
    let (mut dec, tb) = sound::audio_decoder(&input, spec.audio_stream)?;
    let from = spec.origin + spec.start;
    let to = spec.origin + spec.end;
    let mut graph = graph(spec, AudioIn::of(&dec, tb), from, to)?;
    let vsink_tb = graph.get("out").ok_or(Error::Bug)?.sink().time_base();
    let fps = Rational::new(FPS, 1);

    let mut output = format::output_as(&spec.output, "mp4")?;
    let (mut venc, vost) = encode::x264(&mut output, spec, fps, vsink_tb)?;
    let mut aenc = if spec.audio {
        let (enc, ost) = sound::aac(&mut output)?;
        graph
            .get("aout")
            .ok_or(Error::Bug)?
            .sink()
            .set_frame_size(enc.frame_size());
        Some((enc, ost))
    } else {
        None
    };
    let mut mux_opts = Dictionary::new();
    mux_opts.set("movflags", "+faststart");
    output.write_header_with(mux_opts)?;
    let vost_tb = output.stream(vost).ok_or(Error::Bug)?.time_base();
    let aost_tb = match &aenc {
        Some((_, ost)) => output.stream(*ost).ok_or(Error::Bug)?.time_base(),
        None => Rational::new(1, AUDIO_RATE),
    };

    encode::seek_before(&mut input, from)?;
    let mut state = State {
        rendered: Rendered::default(),
        thumb: spec.thumbnail.as_ref().map(|_| Thumb::default()),
        expected_frames: (spec.kept_seconds() * f64::from(FPS)).max(1.0),
        audio_samples: 0,
    };
    let mut packet = Packet::empty();
    let drain = |graph: &mut filter::Graph,
                 venc: &mut ffmpeg_next::encoder::video::Encoder,
                 aenc: &mut Option<(ffmpeg_next::encoder::audio::Encoder, usize)>,
                 output: &mut format::context::Output,
                 state: &mut State|
     -> Result<(), Error> {
        let mut frame = frame::Audio::empty();
        while graph
            .get("aout")
            .ok_or(Error::Bug)?
            .sink()
            .frame(&mut frame)
            .is_ok()
        {
            // A preview is muted: its sound only drives the bars.
            if let Some((enc, ost)) = aenc.as_mut() {
                state.audio_samples += frame.samples() as u64;
                enc.send_frame(&frame)?;
                encode::write_packets(
                    enc,
                    output,
                    *ost,
                    (Rational::new(1, AUDIO_RATE), 0),
                    aost_tb,
                )?;
            }
        }
        encode::drain_video(graph, venc, output, vost, vsink_tb, vost_tb, state)
    };
    loop {
        if stop.is_cancelled() {
            return Ok(None);
        }
        if !encode::next_packet(&mut input, &mut packet) {
            break;
        }
        if packet.stream() != spec.audio_stream {
            continue;
        }
        let at = packet.pts().map_or(0.0, |p| encode::seconds(p, tb));
        if dec.send_packet(&packet).is_ok() {
            sound::pull_audio(&mut dec, &mut graph)?;
        }
        drain(&mut graph, &mut venc, &mut aenc, &mut output, &mut state)?;
        on_progress((state.rendered.frames as f64 / state.expected_frames).min(1.0) as f32);
        if at > to + 1.0 {
            break;
        }
    }
    if dec.send_eof().is_ok() {
        sound::pull_audio(&mut dec, &mut graph)?;
    }
    graph.get("in").ok_or(Error::Bug)?.source().flush()?;
    drain(&mut graph, &mut venc, &mut aenc, &mut output, &mut state)?;
    venc.send_eof()?;
    encode::write_packets(&mut venc, &mut output, vost, (vsink_tb, 1), vost_tb)?;
    if let Some((enc, ost)) = aenc.as_mut() {
        enc.send_eof()?;
        encode::write_packets(
            enc,
            &mut output,
            *ost,
            (Rational::new(1, AUDIO_RATE), 0),
            aost_tb,
        )?;
    }
    output.write_trailer()?;

    let mut rendered = state.rendered;
    rendered.video_seconds = rendered.frames as f64 / f64::from(FPS);
    rendered.audio_seconds = state.audio_samples as f64 / f64::from(AUDIO_RATE);
    if let (Some(path), Some(thumb)) = (&spec.thumbnail, state.thumb)
        && let Some((at, frame)) = thumb.best
    {
        thumb::write_jpeg(&frame, path)?;
        rendered.thumbnail_at = Some(at);
    }
    Ok(Some(rendered))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::clips::render;

    #[test]
    fn the_canvases_and_layout_fit() {
        use cutroom_core::clips::ClipFormat;
        let p = picture();
        assert_eq!(
            super::super::framing::canvas(ClipFormat::Original, p),
            (1920, 1080)
        );
        assert_eq!(
            super::super::framing::canvas(ClipFormat::Vertical, p),
            (1080, 1920)
        );
        assert_eq!(
            super::super::framing::canvas(ClipFormat::Square, p),
            (1080, 1080)
        );
        for (w, h) in [(1920, 1080), (1080, 1920), (1080, 1080), (240, 426)] {
            let l = layout(w, h);
            let (x, y, ww, wh) = l.wave;
            assert!(x + ww <= w && y + wh <= h, "{w}x{h}: {l:?}");
            assert!(ww >= COLUMNS, "a bar per column at least");
            // The logo's corner stays above the bars.
            assert!(l.margin + l.logo_box < y, "{w}x{h}: {l:?}");
        }
    }

    #[test]
    fn titles_are_trimmed_and_shortened() {
        assert_eq!(shown_title(None), None);
        assert_eq!(shown_title(Some("  ")), None);
        assert_eq!(
            shown_title(Some(" Episode 4 ")).as_deref(),
            Some("Episode 4")
        );
        let long = "word ".repeat(40);
        let shown = shown_title(Some(&long)).unwrap();
        assert!(shown.ends_with('…') && shown.chars().count() <= MAX_TITLE_CHARS + 1);
    }

    /// A beep 2.013 s into a 5 s cut of a 44.1 kHz WAV: the bars rise on
    /// frame 60 (2.000-2.033 s) and not before; both streams are the cut's
    /// length; a preview has no sound.
    #[test]
    fn the_bars_move_on_the_frame_the_sound_starts() {
        use crate::pipeline::{media_tests::ffmpeg, probe::probe};
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("call.wav");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "aevalsrc=exprs='if(between(t,5.013,5.213),0.15*sin(2*PI*1000*t),0)':\
             sample_rate=44100:duration=12",
            "-c:a",
            "pcm_s16le",
            source.to_str().unwrap(),
        ]);
        let (width, height) = (360, 640);
        let spec = RenderSpec {
            audio_stream: probe(&source).unwrap().audio_stream,
            source,
            origin: 0.0,
            start: 3.0,
            end: 8.0,
            video_filters: filters(width, height, None, None),
            width,
            height,
            gain_db: 0.0,
            output: dir.path().join("clip.mp4"),
            thumbnail: Some(dir.path().join("thumbnail.jpg")),
            audio: true,
            crf: render::CLIP_CRF,
            keep: Vec::new(),
            smart: false,
        };
        let stop = CancellationToken::new();
        let rendered = render(&spec, &|_| {}, &stop).unwrap().unwrap();
        assert_eq!(rendered.frames, 150, "{rendered:?}");
        assert!((rendered.audio_seconds - 5.0).abs() < 0.001, "{rendered:?}");
        assert!(rendered.thumbnail_at.is_some());
        let (frames, w, h) = super::super::tests::video_frames(&spec.output);
        assert_eq!((w, h, frames.len()), (width, height, 150));
        let quiet = frames[0].1;
        let risen = frames.iter().position(|(_, y)| *y > quiet + 1.0);
        assert_eq!(risen, Some(60), "{frames:?}");

        let preview = RenderSpec {
            audio: false,
            thumbnail: None,
            output: dir.path().join("preview.mp4"),
            ..spec
        };
        let rendered = render(&preview, &|_| {}, &stop).unwrap().unwrap();
        assert_eq!((rendered.frames, rendered.audio_seconds), (150, 0.0));
        let input = ffmpeg_next::format::input(&preview.output).unwrap();
        assert_eq!(input.streams().count(), 1, "muted");
    }

    /// PCM in a WAV (16-bit, no channel mask) is fitted to the target like
    /// any other sound: the same tone as 16-bit WAV, float WAV and AAC
    /// gets the same gain and lands on the target.
    #[test]
    fn a_wav_is_fitted_to_the_loudness_target_like_any_sound() {
        use crate::pipeline::{media_tests::ffmpeg, probe::probe};
        let dir = tempfile::tempdir().unwrap();
        let mut fitted = Vec::new();
        for (name, codec) in [
            ("a.wav", "pcm_s16le"),
            ("b.wav", "pcm_f32le"),
            ("c.m4a", "aac"),
        ] {
            let source = dir.path().join(name);
            ffmpeg(&[
                "-f",
                "lavfi",
                "-i",
                "aevalsrc=exprs='0.05*sin(2*PI*1000*t)':sample_rate=48000:duration=12",
                "-ac",
                "2",
                "-c:a",
                codec,
                source.to_str().unwrap(),
            ]);
            let spec = RenderSpec {
                audio_stream: probe(&source).unwrap().audio_stream,
                source,
                origin: 0.0,
                start: 3.0,
                end: 8.0,
                video_filters: String::new(),
                width: 2,
                height: 2,
                gain_db: 0.0,
                output: dir.path().join("unused.mp4"),
                thumbnail: None,
                audio: true,
                crf: render::CLIP_CRF,
                keep: Vec::new(),
                smart: false,
            };
            let f = render::fit_loudness(&spec, -14.0, &CancellationToken::new())
                .unwrap()
                .unwrap();
            assert!((f.lufs.unwrap() + 14.0).abs() < 0.3, "{name}: {f:?}");
            fitted.push(f.gain_db);
        }
        assert!(
            fitted.iter().all(|g| (g - fitted[2]).abs() < 0.3),
            "{fitted:?}"
        );
    }
}
