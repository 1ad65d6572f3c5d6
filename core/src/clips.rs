//! What a job renders from its highlights: how many clips, in which
//! shapes, with which captions and loudness.

use serde::{Deserialize, Serialize};

/// Most clips one job may render.
pub const MAX_CLIPS: u32 = 20;

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
}

impl Default for ClipOptions {
    fn default() -> Self {
        Self {
            count: 3,
            formats: vec![ClipFormat::Vertical],
            reframe: Reframe::default(),
            captions: CaptionOptions::default(),
            loudness_target: -14.0,
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
