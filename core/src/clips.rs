//! What a job renders from its highlights: how many clips, in which
//! shapes, with which captions and loudness.

use serde::{Deserialize, Serialize};

/// Most clips one job may render.
pub const MAX_CLIPS: u32 = 20;

/// Longest a job may keep its source for re-renders, hours (a week).
pub const MAX_KEEP_SOURCE_HOURS: u32 = 168;

/// Shortest range a re-render may ask for, seconds.
pub const MIN_RANGE_SECONDS: f64 = 1.0;
/// Longest range a re-render may ask for, seconds.
pub const MAX_RANGE_SECONDS: f64 = 600.0;
/// Longest title a person may give a clip, characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// A stretch of the source a person chose to make a clip of. Like a
/// highlight's, the cut starts at the first word that starts inside the
/// range and ends with the last word that ends inside it, with a little
/// room before and after that lands in the pause around them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClipRange {
    /// Seconds on the source's timeline.
    #[schema(example = 12.5)]
    pub start: f64,
    #[schema(example = 41.0)]
    pub end: f64,
    /// The clip's title (at most 200 characters). Unset: its first words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Checks the ranges of a re-render against the source's `duration`
/// (seconds, when known); the message names the field.
pub fn validate_ranges(ranges: &[ClipRange], duration: Option<f64>) -> Result<(), String> {
    if ranges.is_empty() || ranges.len() > MAX_CLIPS as usize {
        return Err(format!("ranges must hold between 1 and {MAX_CLIPS} ranges"));
    }
    for (k, r) in ranges.iter().enumerate() {
        let field = format!("ranges[{k}]");
        if !(r.start.is_finite() && r.end.is_finite()) || r.start < 0.0 || r.end <= r.start {
            return Err(format!("{field} must have 0 <= start < end, in seconds"));
        }
        let length = r.end - r.start;
        if !(MIN_RANGE_SECONDS..=MAX_RANGE_SECONDS).contains(&length) {
            return Err(format!(
                "{field} is {length:.1} s long; a range must be {MIN_RANGE_SECONDS}-{MAX_RANGE_SECONDS} s"
            ));
        }
        if let Some(d) = duration
            && r.end > d + 0.001
        {
            return Err(format!(
                "{field} ends at {:.3} s, after the source's end at {d:.3} s",
                r.end
            ));
        }
        if let Some(t) = &r.title {
            if t.trim().is_empty() {
                return Err(format!("{field}.title must not be blank"));
            }
            if t.chars().count() > MAX_TITLE_CHARS {
                return Err(format!(
                    "{field}.title must be at most {MAX_TITLE_CHARS} characters"
                ));
            }
        }
    }
    Ok(())
}

/// The shape of a rendered clip.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ClipFormat {
    /// The source's own aspect ratio.
    Original,
    /// 9:16, for Shorts, Reels and TikTok.
    Vertical,
    /// 1:1.
    Square,
}

impl ClipFormat {
    pub fn name(self) -> &'static str {
        match self {
            ClipFormat::Original => "original",
            ClipFormat::Vertical => "vertical",
            ClipFormat::Square => "square",
        }
    }
}

/// How a vertical or square clip is cut from a wider (or taller) picture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reframe {
    /// The whole picture, fitted, over a blurred copy of itself filling the
    /// frame: nothing is lost.
    #[default]
    Blur,
    /// The centre of the picture, filling the frame.
    Crop,
    /// A crop that follows the face of whoever is speaking: framed on the
    /// most prominent face, moved only when the speaker changes and never
    /// sooner than 2 s after the last move. Needs the face detector in the
    /// model folder; without it, or where no face is found, the clip is
    /// cropped at the centre and the manifest says so.
    Speaker,
}

/// Clips rendered from the best highlight candidates, each cut on word
/// boundaries with a little room before and after, loudness-normalised,
/// with SRT and VTT captions and a thumbnail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClipOptions {
    /// How many of the best highlights become clips (0-20, default 3; 0
    /// renders none).
    #[schema(example = 3)]
    pub count: u32,
    /// Which shapes each clip is rendered in (default `["vertical"]`; at
    /// least one, no repeats).
    pub formats: Vec<ClipFormat>,
    /// How `vertical` and `square` clips are framed.
    pub reframe: Reframe,
    pub captions: CaptionOptions,
    /// Integrated loudness of each clip, LUFS (-30 to -9, default -14, as
    /// the big platforms play back). The true peak stays under -1 dBTP.
    #[schema(example = -14.0)]
    pub loudness_target: f64,
    pub tighten: TightenOptions,
}

impl Default for ClipOptions {
    fn default() -> Self {
        Self {
            count: 3,
            formats: vec![ClipFormat::Vertical],
            reframe: Reframe::default(),
            captions: CaptionOptions::default(),
            loudness_target: -14.0,
            tighten: TightenOptions::default(),
        }
    }
}

/// Jump cuts inside each clip: quiet pauses at least `min_silence` long
/// are taken out, `margin` of them kept on each side of the speech. The
/// manifest reports each cut and the seconds saved. Pauses with sound in
/// them (music, laughter) are kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TightenOptions {
    /// Off by default: a clip keeps its pauses.
    pub enabled: bool,
    /// Seconds; shorter pauses stay (0.3-10, default 0.75).
    #[schema(example = 0.75)]
    pub min_silence: f64,
    /// Seconds of each cut pause kept beside the speech (0-1, default 0.2;
    /// under half of `min_silence`).
    #[schema(example = 0.2)]
    pub margin: f64,
}

impl Default for TightenOptions {
    fn default() -> Self {
        Self {
            enabled: false,
            min_silence: 0.75,
            margin: 0.2,
        }
    }
}

/// Captions of a clip. SRT and VTT files are always made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CaptionOptions {
    /// Burn the words into the picture, a few at a time with the word being
    /// said highlighted (default true).
    pub burn: bool,
    /// Most words shown at once when burned (1-8, default 3).
    #[schema(example = 3)]
    pub words_per_caption: u32,
}

impl Default for CaptionOptions {
    fn default() -> Self {
        Self {
            burn: true,
            words_per_caption: 3,
        }
    }
}

impl ClipOptions {
    pub fn validate(&self, field: &str) -> Result<(), String> {
        if self.count > MAX_CLIPS {
            return Err(format!("{field}.count must be at most {MAX_CLIPS}"));
        }
        if self.formats.is_empty() {
            return Err(format!(
                "{field}.formats must name at least one of original, vertical, square"
            ));
        }
        let mut seen = self.formats.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.formats.len() {
            return Err(format!("{field}.formats names a format twice"));
        }
        if !(1..=8).contains(&self.captions.words_per_caption) {
            return Err(format!(
                "{field}.captions.words_per_caption must be between 1 and 8"
            ));
        }
        if !(-30.0..=-9.0).contains(&self.loudness_target) {
            return Err(format!(
                "{field}.loudness_target must be between -30 and -9 LUFS"
            ));
        }
        let t = &self.tighten;
        if !(0.3..=10.0).contains(&t.min_silence) {
            return Err(format!(
                "{field}.tighten.min_silence must be between 0.3 and 10 seconds"
            ));
        }
        if !(0.0..=1.0).contains(&t.margin) || t.margin * 2.0 >= t.min_silence {
            return Err(format!(
                "{field}.tighten.margin must be between 0 and 1 second and under half of min_silence"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_must_lie_inside_the_source() {
        let range = |start: f64, end: f64| ClipRange {
            start,
            end,
            title: None,
        };
        assert!(validate_ranges(&[range(0.0, 10.0), range(5.0, 20.0)], Some(20.0)).is_ok());
        assert!(
            validate_ranges(&[], None)
                .unwrap_err()
                .contains("between 1 and 20")
        );
        let err = validate_ranges(&[range(0.0, 10.0), range(8.0, 4.0)], None).unwrap_err();
        assert!(err.starts_with("ranges[1] must have"), "{err}");
        assert!(
            validate_ranges(&[range(3.0, 3.5)], None)
                .unwrap_err()
                .contains("1-600 s")
        );
        assert!(
            validate_ranges(&[range(0.0, 601.0)], None)
                .unwrap_err()
                .contains("1-600 s")
        );
        assert!(validate_ranges(&[range(f64::NAN, 4.0)], None).is_err());
        let late = validate_ranges(&[range(50.0, 70.0)], Some(60.0)).unwrap_err();
        assert!(
            late.contains("after the source's end at 60.000 s"),
            "{late}"
        );
        let blank = ClipRange {
            title: Some("  ".into()),
            ..range(0.0, 5.0)
        };
        assert!(
            validate_ranges(&[blank], None)
                .unwrap_err()
                .contains("title")
        );
        let many = vec![range(0.0, 5.0); 21];
        assert!(validate_ranges(&many, None).is_err());
    }

    #[test]
    fn defaults_and_limits() {
        let o: ClipOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(o, ClipOptions::default());
        assert!(o.validate("options.clips").is_ok());
        let twice: ClipOptions =
            serde_json::from_str(r#"{"formats": ["square", "original", "square"]}"#).unwrap();
        assert_eq!(
            twice.validate("options.clips").unwrap_err(),
            "options.clips.formats names a format twice"
        );
        let none: ClipOptions = serde_json::from_str(r#"{"formats": []}"#).unwrap();
        assert!(none.validate("x").unwrap_err().contains("at least one"));
        let loud: ClipOptions = serde_json::from_str(r#"{"loudness_target": -3}"#).unwrap();
        assert!(loud.validate("x").unwrap_err().contains("loudness_target"));
        let many: ClipOptions = serde_json::from_str(r#"{"count": 21}"#).unwrap();
        assert!(many.validate("x").unwrap_err().contains("at most 20"));
        assert!(serde_json::from_str::<ClipOptions>(r#"{"formats": ["portrait"]}"#).is_err());
        let tight: ClipOptions = serde_json::from_str(r#"{"tighten": {"enabled": true}}"#).unwrap();
        assert_eq!(tight.tighten.min_silence, 0.75);
        assert!(tight.validate("x").is_ok());
        let wide: ClipOptions =
            serde_json::from_str(r#"{"tighten": {"min_silence": 0.5, "margin": 0.25}}"#).unwrap();
        assert!(wide.validate("x").unwrap_err().contains("tighten.margin"));
        let short: ClipOptions =
            serde_json::from_str(r#"{"tighten": {"min_silence": 0.1}}"#).unwrap();
        assert!(
            short
                .validate("x")
                .unwrap_err()
                .contains("tighten.min_silence")
        );
    }
}
