//! What yt-dlp chose to download, as it printed it before starting: kept
//! on the job's `media` (`download`) so a user can see why a clip is
//! 720p, and used to weigh each download's share of the fetch progress.
//!
//! Everything here comes from the video host (format ids, codec names),
//! so fields are read leniently, kept short and few.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Longest text kept from one field.
const MAX_TEXT: usize = 64;
/// Formats kept from one download: a merge takes one video and one audio.
const MAX_FORMATS: usize = 4;

/// What the fetch asked yt-dlp for and what it picked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Download {
    /// yt-dlp's id of what was fetched; `137+140` for a video and an
    /// audio format merged into one file.
    pub format_id: String,
    /// The tallest picture asked for (`CUTROOM_MAX_SOURCE_HEIGHT`);
    /// `null` when the job asked for audio only.
    pub max_height: Option<u32>,
    pub audio_only: bool,
    /// The formats downloaded, in order: one, or the video and the audio.
    pub formats: Vec<Format>,
}

/// One format of the source, in yt-dlp's terms. Unknown fields are left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Format {
    #[serde(default, deserialize_with = "text")]
    pub format_id: Option<String>,
    /// The downloaded file's extension, such as `mp4` or `webm`.
    #[serde(
        default,
        deserialize_with = "text",
        skip_serializing_if = "Option::is_none"
    )]
    pub ext: Option<String>,
    /// `https`, `m3u8_native`, `http_dash_segments`...
    #[serde(
        default,
        deserialize_with = "text",
        skip_serializing_if = "Option::is_none"
    )]
    pub protocol: Option<String>,
    #[serde(
        default,
        deserialize_with = "whole",
        skip_serializing_if = "Option::is_none"
    )]
    pub width: Option<u64>,
    #[serde(
        default,
        deserialize_with = "whole",
        skip_serializing_if = "Option::is_none"
    )]
    pub height: Option<u64>,
    #[serde(
        default,
        deserialize_with = "real",
        skip_serializing_if = "Option::is_none"
    )]
    pub fps: Option<f64>,
    /// `none` for an audio-only format.
    #[serde(
        default,
        deserialize_with = "text",
        skip_serializing_if = "Option::is_none"
    )]
    pub vcodec: Option<String>,
    /// `none` for a video-only format.
    #[serde(
        default,
        deserialize_with = "text",
        skip_serializing_if = "Option::is_none"
    )]
    pub acodec: Option<String>,
    /// Total bit rate, kbit/s.
    #[serde(
        default,
        deserialize_with = "real",
        skip_serializing_if = "Option::is_none"
    )]
    pub tbr: Option<f64>,
    /// Audio bit rate, kbit/s.
    #[serde(
        default,
        deserialize_with = "real",
        skip_serializing_if = "Option::is_none"
    )]
    pub abr: Option<f64>,
    /// Audio sample rate, Hz.
    #[serde(
        default,
        deserialize_with = "whole",
        skip_serializing_if = "Option::is_none"
    )]
    pub asr: Option<u64>,
    /// Bytes, when the host says.
    #[serde(
        default,
        deserialize_with = "whole",
        skip_serializing_if = "Option::is_none"
    )]
    pub filesize: Option<u64>,
    /// Bytes, as yt-dlp estimates them from the bit rate.
    #[serde(
        default,
        deserialize_with = "whole",
        skip_serializing_if = "Option::is_none"
    )]
    pub filesize_approx: Option<u64>,
}

/// Reads a `cutroom-format` line (the selected format, a JSON object)
/// and a `cutroom-formats` line (the merged ones, a JSON array, empty
/// when one format was fetched as it is).
pub(crate) fn parse_selected(line: &str) -> Option<Format> {
    serde_json::from_str(line).ok()
}

pub(crate) fn parse_merged(line: &str) -> Vec<Format> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(line) else {
        return Vec::new();
    };
    items
        .into_iter()
        .take(MAX_FORMATS)
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect()
}

/// Each download's share of the fetch, in the order yt-dlp runs them:
/// by expected size when every format has one, else by bit rate when
/// every one has that, else equal shares.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shares(Vec<(String, f64)>);

impl Shares {
    pub fn new(formats: &[Format]) -> Self {
        let all = |f: fn(&Format) -> Option<f64>| -> Option<Vec<f64>> {
            formats
                .iter()
                .map(|x| f(x).filter(|w| w.is_finite() && *w > 0.0))
                .collect()
        };
        let weights = all(|f| f.filesize.or(f.filesize_approx).map(|b| b as f64))
            .or_else(|| all(|f| f.tbr.or(f.abr)))
            .unwrap_or_else(|| vec![1.0; formats.len()]);
        let total: f64 = weights.iter().sum();
        Self(
            formats
                .iter()
                .zip(weights)
                .map(|(f, w)| (f.format_id.clone().unwrap_or_default(), w / total))
                .collect(),
        )
    }

    /// The whole fetch's fraction done, when the download of `format_id`
    /// is `done` (0-1) through. Downloads before it count as finished. A
    /// format not among the shares (a single download) is the whole fetch.
    pub fn overall(&self, format_id: &str, done: f64) -> f64 {
        let Some(at) = self.0.iter().position(|(id, _)| id == format_id) else {
            return done;
        };
        let before: f64 = self.0[..at].iter().map(|(_, w)| w).sum();
        (before + self.0[at].1 * done).clamp(0.0, 1.0)
    }
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s.chars().take(MAX_TEXT).collect()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn real<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .and_then(|v| v.as_f64())
        .filter(|x| x.is_finite() && *x >= 0.0))
}

fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    // Rounding is the intent: yt-dlp prints some counts as floats.
    Ok(real(d)?.map(|x| x.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    // As yt-dlp 2026.10 prints them for a DASH manifest.
    const MERGED: &str = r#"[{"format_id": "0", "ext": "mp4", "width": 640, "height": 360, "vcodec": "avc1.42c01e", "acodec": "none", "tbr": 1834.532, "filesize_approx": 1834532, "protocol": "http_dash_segments"}, {"format_id": "1", "ext": "m4a", "vcodec": "none", "acodec": "mp4a.40.2", "abr": 96.246, "tbr": 96.246, "asr": 48000, "filesize_approx": 96246.0, "protocol": "http_dash_segments"}]"#;

    #[test]
    fn merged_formats_are_read_and_weigh_by_size() {
        let formats = parse_merged(MERGED);
        assert_eq!(formats.len(), 2);
        assert_eq!(formats[0].height, Some(360));
        assert_eq!(formats[0].vcodec.as_deref(), Some("avc1.42c01e"));
        assert_eq!(formats[1].filesize_approx, Some(96246));
        assert_eq!(formats[1].asr, Some(48000));
        let shares = Shares::new(&formats);
        let video = 1_834_532.0 / (1_834_532.0 + 96_246.0);
        assert!((shares.overall("0", 1.0) - video).abs() < 1e-9);
        assert!((shares.overall("0", 0.5) - video / 2.0).abs() < 1e-9);
        assert!((shares.overall("1", 0.0) - video).abs() < 1e-9);
        assert!((shares.overall("1", 1.0) - 1.0).abs() < 1e-9);
        // A single download is the whole fetch.
        assert!((Shares::new(&[]).overall("mp4", 0.25) - 0.25).abs() < 1e-9);
    }

    #[test]
    fn formats_without_sizes_share_equally() {
        // An HLS audio rendition declares no bit rate.
        let formats = parse_merged(
            r#"[{"format_id": "2123", "tbr": 2123.8}, {"format_id": "group_aud-audio_1"}]"#,
        );
        let shares = Shares::new(&formats);
        assert!((shares.overall("2123", 1.0) - 0.5).abs() < 1e-9);
        assert!((shares.overall("group_aud-audio_1", 0.5) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn what_the_host_sends_is_kept_short_and_typed() {
        let long = "x".repeat(1000);
        let f = parse_selected(&format!(
            r#"{{"format_id": "{long}", "height": "tall", "fps": -3, "tbr": 1e400}}"#
        ));
        // 1e400 is no JSON number serde accepts: the line is dropped whole.
        assert_eq!(f, None);
        let f = parse_selected(&format!(
            r#"{{"format_id": "{long}", "height": "tall", "fps": -3, "vcodec": 7}}"#
        ))
        .unwrap();
        assert_eq!(f.format_id.unwrap().len(), MAX_TEXT);
        assert_eq!((f.height, f.fps), (None, None));
        assert_eq!(f.vcodec.as_deref(), Some("7"));
        assert!(parse_merged("NA").is_empty());
        let many = format!("[{}]", [r#"{"format_id": "a"}"#; 10].join(","));
        assert_eq!(parse_merged(&many).len(), MAX_FORMATS);
    }
}
