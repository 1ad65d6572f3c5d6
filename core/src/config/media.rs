//! What a source may be: the tallest picture downloaded, and the limits a
//! probed file must stay within.

use super::env::bounded;

/// [`Config::max_source_height`](super::Config::max_source_height) unless changed, and its bounds: 144p is
/// the smallest picture video hosts offer, 4320p (8K) the largest.
pub const DEFAULT_MAX_SOURCE_HEIGHT: u32 = 1080;
pub(super) const MIN_SOURCE_HEIGHT: u32 = 144;
pub(super) const MAX_SOURCE_HEIGHT: u32 = 4320;

/// What a source may hold, checked when the worker probes it, before
/// anything decodes a picture: a small file can declare a picture or a
/// frame rate whose decoding would take a worker's memory and hours.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaLimits {
    /// Widest and tallest picture, in pixels (`CUTROOM_MAX_VIDEO_DIMENSION`,
    /// default 8192).
    pub max_dimension: u32,
    /// Largest picture, width times height (`CUTROOM_MAX_VIDEO_PIXELS`,
    /// default 35,389,440: DCI 8K, 8192x4320).
    pub max_pixels: u64,
    /// Highest frame rate (`CUTROOM_MAX_FRAME_RATE`, default 240).
    pub max_frame_rate: u32,
    /// Most streams in one file, of every kind (`CUTROOM_MAX_STREAMS`,
    /// default 32: a recording has a few; a film with its subtitle tracks
    /// and fonts some twenty).
    pub max_streams: u32,
}

impl MediaLimits {
    /// The largest picture any decoder is allowed to allocate, whatever the
    /// configuration: 8192x8192. It also bounds a picture that grows in the
    /// middle of a stream (each MJPEG frame carries its own size).
    pub const PIXEL_CEILING: u64 = 8192 * 8192;

    /// Reads `CUTROOM_MAX_VIDEO_DIMENSION`, `CUTROOM_MAX_VIDEO_PIXELS`,
    /// `CUTROOM_MAX_FRAME_RATE` and `CUTROOM_MAX_STREAMS` over these values.
    pub(super) fn read_vars(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let limits = self;
        limits.max_dimension = u32::try_from(bounded(
            &var,
            "MAX_VIDEO_DIMENSION",
            limits.max_dimension.into(),
            16_384,
        )?)?;
        limits.max_pixels = bounded(
            &var,
            "MAX_VIDEO_PIXELS",
            limits.max_pixels,
            MediaLimits::PIXEL_CEILING,
        )?;
        limits.max_frame_rate = u32::try_from(bounded(
            &var,
            "MAX_FRAME_RATE",
            limits.max_frame_rate.into(),
            1000,
        )?)?;
        limits.max_streams = u32::try_from(bounded(
            &var,
            "MAX_STREAMS",
            limits.max_streams.into(),
            1000,
        )?)?;
        Ok(())
    }
}

impl Default for MediaLimits {
    fn default() -> Self {
        Self {
            max_dimension: 8192,
            max_pixels: 8192 * 4320,
            max_frame_rate: 240,
            max_streams: 32,
        }
    }
}
