//! Clips rendered from real files made by the `ffmpeg` command line: cut
//! lengths, A/V sync, loudness, burned captions and thumbnails, checked by
//! decoding what was written. The sources and the checks are here; the
//! tests are by what they render: [`render`] (the full render), [`framing`]
//! (speaker framing) and [`smart`] (the smart render).

mod framing;
mod render;
mod smart;

use std::path::Path;

use ffmpeg_next::{codec, format, frame, media};

use super::render::{CLIP_CRF, RenderSpec};
use crate::pipeline::{
    audio::{ANALYSIS_RATE, DecodedAudio},
    media_tests::ffmpeg,
    probe::probe,
};

const FPS: f64 = 25.0;

/// Where the source flashes white and beeps at once.
const SYNC_AT: f64 = 5.0;

/// 12 s of 640x360 test pattern at 25 fps with a keyframe every 2 s, over
/// quiet noise (-35 dBFS); at [`SYNC_AT`] the picture flashes white and a
/// 1 kHz beep 15 dB louder than the noise starts, for 0.2 s.
fn source(dir: &Path) -> std::path::PathBuf {
    source_encoded(dir, "ultrafast")
}

/// [`source`] with x264's `preset`: `ultrafast` has no B-frames, the
/// others (like most real files) do.
fn source_encoded(dir: &Path, preset: &str) -> std::path::PathBuf {
    let path = dir.join("source.mp4");
    let video = format!(
        "testsrc2=size=640x360:rate=25:duration=12,\
         drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='between(t,{SYNC_AT},{})'",
        SYNC_AT + 0.195
    );
    let audio = format!(
        "aevalsrc=exprs='0.03*(random(0)*2-1)+if(between(t,{SYNC_AT},{}),0.15*sin(2*PI*1000*t),0)':\
         sample_rate=48000:duration=12",
        SYNC_AT + 0.2
    );
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &video,
        "-f",
        "lavfi",
        "-i",
        &audio,
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-g",
        "50",
        // Keyframes every 2 s and nowhere else (not at the flash).
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-ac",
        "2",
        "-shortest",
        path.to_str().unwrap(),
    ]);
    path
}

/// Every decoded video frame's time and mean luma, and the picture size.
pub(super) fn video_frames(path: &Path) -> (Vec<(f64, f64)>, u32, u32) {
    // Our own outputs, a JPEG thumbnail among them: not a source, so not
    // through `media::open` and its containers.
    let mut input = format::input(path).unwrap();
    let stream = input.streams().best(media::Type::Video).unwrap();
    let index = stream.index();
    let tb = f64::from(stream.time_base());
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .unwrap()
        .decoder()
        .video()
        .unwrap();
    let mut frames = Vec::new();
    let mut frame = frame::Video::empty();
    let mut take = |decoder: &mut ffmpeg_next::decoder::Video, frames: &mut Vec<(f64, f64)>| {
        while decoder.receive_frame(&mut frame).is_ok() {
            let (w, h) = (frame.width() as usize, frame.height() as usize);
            let stride = frame.stride(0);
            let y = frame.data(0);
            let sum: u64 = (0..h)
                .flat_map(|r| y[r * stride..r * stride + w].iter())
                .map(|v| u64::from(*v))
                .sum();
            let t = frame.timestamp().unwrap_or(0) as f64 * tb;
            frames.push((t, sum as f64 / (w * h) as f64));
        }
    };
    for (s, packet) in input.packets() {
        if s.index() == index {
            decoder.send_packet(&packet).unwrap();
            take(&mut decoder, &mut frames);
        }
    }
    decoder.send_eof().unwrap();
    take(&mut decoder, &mut frames);
    (frames, decoder.width(), decoder.height())
}

/// Where a loud sound first starts in the 16 kHz mono decode: the first
/// 5 ms window 10 dB above the median window.
fn onset(audio: &DecodedAudio) -> f64 {
    let n = ANALYSIS_RATE as usize / 200;
    let rms: Vec<f64> = audio
        .mono16k
        .chunks(n)
        .map(|c| (c.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / c.len() as f64).sqrt())
        .collect();
    let mut sorted = rms.clone();
    sorted.sort_by(f64::total_cmp);
    let floor = sorted[sorted.len() / 2];
    let k = rms.iter().position(|r| *r > floor * 3.16).unwrap();
    k as f64 * n as f64 / f64::from(ANALYSIS_RATE)
}

fn spec(
    dir: &Path,
    source: &Path,
    origin: f64,
    filters: String,
    size: (u32, u32),
    gain_db: f64,
) -> RenderSpec {
    RenderSpec {
        source: source.to_path_buf(),
        audio_stream: probe(source).unwrap().audio_stream,
        origin,
        start: 3.0,
        end: 8.0,
        video_filters: filters,
        width: size.0,
        height: size.1,
        gain_db,
        output: dir.join("clip.mp4"),
        thumbnail: Some(dir.join("thumbnail.jpg")),
        audio: true,
        crf: CLIP_CRF,
        keep: Vec::new(),
        smart: false,
    }
}
