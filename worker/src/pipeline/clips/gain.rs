//! Fitting a clip's gain to the loudness target before it is rendered:
//! the clip's sound run through its own filters ([`super::sound`]) and
//! measured, a few times over. Apart from the renders because it runs
//! once a clip, before any of its shapes, which then all take its gain.

use ffmpeg_next::{Error, Packet, codec, decoder, filter, frame};
use tokio_util::sync::CancellationToken;

use super::{
    encode::{RenderSpec, next_packet, seconds, seek_before},
    sound::{AUDIO_RATE, AudioIn, audio_graph},
};
use crate::media as ff;

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
