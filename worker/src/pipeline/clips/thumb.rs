//! A clip's thumbnail: the best of the frames a render passes in the
//! clip's first seconds, written as a JPEG. Its own module because every
//! renderer (the full render, the smart one, the audiogram) picks it the
//! same way from the frames it happens to have.

use std::path::Path;

use ffmpeg_next::{
    Dictionary, Error, Packet, Rational, codec, encoder, format, frame, software::scaling,
};

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
