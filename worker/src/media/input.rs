//! Opening a source, the one way every stage does it.
//!
//! A file's bytes, and its name, choose ffmpeg's demuxer, and some
//! demuxers open other files: an HLS playlist or an ffconcat list names
//! files by path, and the scratch folder sits next to other jobs' files
//! (and, with local storage, every tenant's uploads). A playlist of
//! `../../../objects/uploads/...` made a worker transcribe another tenant's
//! upload; an ffconcat list naming itself recursed until the process died.
//! So only the containers Cutroom supports may open a source, only through
//! the file protocol, and no decoder allocates a picture past
//! [`MediaLimits::PIXEL_CEILING`].

use std::{ffi::CString, io::Read, path::Path, ptr};

use cutroom_core::config::MediaLimits;
use ffmpeg_next::{Dictionary, Error, codec, decoder, ffi, format};

/// The demuxers a source may be opened with: ffmpeg's names for the audio
/// and video containers people record and export to. Each opens the one
/// file it is given and nothing else (`mov`'s external references stay
/// off). Playlists and lists of files (`hls`, `concat`, `dash`), image
/// sequences (`image2`), text (`tty`) and devices (`lavfi`) are not here.
pub(crate) const CONTAINERS: [&str; 15] = [
    "mov",      // mov,mp4,m4a,3gp,3g2,mj2
    "matroska", // matroska,webm
    "mp3", "wav", "w64", "flac", "ogg", "aac", "aiff", "caf", "mpegts", "mpeg", "avi", "flv",
    "asf",
];

/// How much of a refused file is read to name its format.
const SNIFF_BYTES: u64 = 1 << 20;

/// Opens `path` for reading with one of [`CONTAINERS`], and reads its
/// streams' parameters. Blocking.
pub(crate) fn open(path: &Path) -> Result<format::context::Input, Error> {
    super::init();
    let path = c_path(path)?;
    let mut options = Dictionary::new();
    options.set("format_whitelist", &CONTAINERS.join(","));
    options.set("protocol_whitelist", "file");
    options.set("enable_drefs", "0");
    let ceiling = CString::new(MediaLimits::PIXEL_CEILING.to_string()).expect("digits only");
    // SAFETY: `ctx` starts null and is only used after a successful open,
    // which allocates it; on failure avformat_open_input frees it itself.
    // The dictionaries passed are owned here: `opts` is taken back (with
    // whatever options no component used) and freed by its Dictionary;
    // the per-stream ones are freed after avformat_find_stream_info, which
    // reads at most `nb_streams` of them (as many as were made). On
    // success the context is handed to `Input`, which closes it on drop.
    #[allow(unsafe_code)]
    unsafe {
        let mut ctx = ptr::null_mut();
        let mut opts = options.disown();
        let opened = ffi::avformat_open_input(&mut ctx, path.as_ptr(), ptr::null_mut(), &mut opts);
        drop(Dictionary::own(opts));
        if opened < 0 {
            return Err(Error::from(opened));
        }
        let mut per_stream: Vec<*mut ffi::AVDictionary> = (0..(*ctx).nb_streams)
            .map(|_| {
                let mut d = ptr::null_mut();
                ffi::av_dict_set(&mut d, c"max_pixels".as_ptr(), ceiling.as_ptr(), 0);
                d
            })
            .collect();
        let found = ffi::avformat_find_stream_info(ctx, per_stream.as_mut_ptr());
        for d in &mut per_stream {
            ffi::av_dict_free(d);
        }
        if found < 0 {
            ffi::avformat_close_input(&mut ctx);
            return Err(Error::from(found));
        }
        Ok(format::context::Input::wrap(ctx))
    }
}

/// A decoder for a video stream that refuses pictures past the ceiling,
/// even one that grows in the middle of the stream.
pub(crate) fn video_decoder(params: codec::Parameters) -> Result<decoder::Video, Error> {
    let mut ctx = codec::context::Context::from_parameters(params)?;
    // SAFETY: `as_mut_ptr` points at the AVCodecContext `ctx` owns; the
    // field is a plain integer read when frames are allocated.
    #[allow(unsafe_code)]
    unsafe {
        (*ctx.as_mut_ptr()).max_pixels =
            i64::try_from(MediaLimits::PIXEL_CEILING).unwrap_or(i64::MAX);
    }
    ctx.decoder().video()
}

/// Why a source that [`open`] refused is not supported, for the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// ffmpeg's name for the format it would have read the file as.
    pub demuxer: &'static str,
    pub message: &'static str,
}

/// Names the format of a file [`open`] could not open, when it is one
/// Cutroom refuses on purpose (a playlist, an image). Reads the file's
/// start only; nothing it names is opened.
pub(crate) fn refusal(path: &Path) -> Option<Refusal> {
    let demuxer = sniff(path)?;
    if CONTAINERS
        .iter()
        .any(|c| demuxer.split(',').any(|d| d == *c))
    {
        return None;
    }
    let message = match demuxer {
        "hls" | "concat" | "dash" | "imf" | "sdp" | "rtsp" | "webm_dash_manifest" => {
            "playlists and lists of other files (such as HLS .m3u8 or ffconcat) are not supported; upload the media file itself"
        }
        "image2" | "gif" | "apng" | "mpjpeg" => {
            "images and image sequences are not supported; upload an audio or video file"
        }
        d if d.ends_with("_pipe") => {
            "images and image sequences are not supported; upload an audio or video file"
        }
        _ => "the file is not a readable audio or video file",
    };
    Some(Refusal { demuxer, message })
}

/// The demuxer ffmpeg's probe picks for the file's first bytes and name.
fn sniff(path: &Path) -> Option<&'static str> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(SNIFF_BYTES)
        .read_to_end(&mut buf)
        .ok()?;
    let size = i32::try_from(buf.len()).ok()?;
    // The probe functions may read this far past the end.
    buf.resize(buf.len() + ffi::AVPROBE_PADDING_SIZE as usize, 0);
    let name = c_path(path).ok()?;
    let probe = ffi::AVProbeData {
        filename: name.as_ptr(),
        buf: buf.as_mut_ptr(),
        buf_size: size,
        mime_type: ptr::null(),
    };
    let mut score = 0;
    super::init();
    // SAFETY: `probe` points at a buffer of `size` bytes plus the zeroed
    // padding the probe functions expect, and at a NUL-terminated name,
    // both alive for the call. The format returned, when not null, is one
    // of libavformat's static demuxer descriptions, as is its name.
    #[allow(unsafe_code)]
    unsafe {
        let format = ffi::av_probe_input_format2(&probe, 1, &mut score);
        if format.is_null() || (*format).name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*format).name).to_str().ok()
    }
}

fn c_path(path: &Path) -> Result<CString, Error> {
    path.to_str()
        .and_then(|p| CString::new(p).ok())
        .ok_or(Error::InvalidData)
}
