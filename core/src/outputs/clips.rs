//! `clips.json`, the manifest written to storage beside the clips: what
//! was asked for, each clip as published, what was skipped and why, and
//! the whole-video edit decision lists written with it. A full run, a
//! re-render and a job with no clips at all each end with one.

use serde::{Deserialize, Serialize};

use crate::clips::{ClipFormat, ClipOptions, Reframe};

/// The object's name beside the job's other outputs.
pub const FILE_NAME: &str = "clips.json";

/// `clips.json`'s `version`; bumped when the manifest's shape changes
/// incompatibly.
pub const FORMAT_VERSION: u32 = 1;

/// The contents of `clips.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// The job's options, as the clips were made with them.
    pub formats: Vec<ClipFormat>,
    pub reframe: Reframe,
    /// LUFS.
    pub loudness_target: f64,
    pub captions_burned: bool,
    /// Why `speaker` framing fell back to a centred crop for every clip,
    /// when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framing_note: Option<String>,
    /// Why no clip was rendered at all, when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How the clips of a source without a picture were drawn, when they
    /// are audiograms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiogram: Option<AudiogramNote>,
    pub clips: Vec<ManifestClip>,
    /// Highlights that were chosen but gave no clip, and why.
    pub skipped: Vec<Skipped>,
    /// The whole-video edit decision lists.
    pub edits: Edits,
}

impl Manifest {
    /// The manifest of a job's `options`, before any clip is made.
    pub fn new(options: &ClipOptions) -> Self {
        Manifest {
            version: FORMAT_VERSION,
            formats: options.formats.clone(),
            reframe: options.reframe,
            loudness_target: options.loudness_target,
            captions_burned: options.captions.burn,
            framing_note: None,
            note: None,
            audiogram: None,
            clips: Vec::new(),
            skipped: Vec::new(),
            edits: Edits::default(),
        }
    }
}

/// `highlights.edl`, `tightened.edl` and `edit.otio`: the clips back to
/// back, and the video without its long silences.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Edits {
    /// The files' names beside the manifest.
    pub files: Vec<String>,
    /// Silences at least this long are cut from the tightened edit...
    pub min_silence_seconds: f64,
    /// ...keeping this much beside the speech.
    pub margin_seconds: f64,
    pub silences_removed: usize,
    pub seconds_saved: f64,
    /// Timecode rate of the EDLs (non-drop).
    pub timecode_fps: u32,
}

/// `clips.json`'s `audiogram`: how the clips were drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudiogramNote {
    pub fps: i32,
    /// The job's title is across the top.
    pub title: bool,
    /// The tenant's logo is in the top right corner.
    pub logo: bool,
}

/// One clip as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestClip {
    /// 1 for the first clip.
    pub index: u32,
    /// The highlight it was cut from...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highlight_rank: Option<i32>,
    /// ...or, in a re-render, the range asked for (`ranges[range]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<usize>,
    pub title: String,
    pub hook: String,
    pub score: u32,
    pub kind: ClipKind,
    /// The cut on the source's timeline, seconds.
    pub source_start: f64,
    pub source_end: f64,
    pub duration: f64,
    /// As rendered; the API has the state now.
    pub moderation: ClipModeration,
    pub loudness: ClipLoudness,
    /// How `speaker` framing framed the clip, when it was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framing: Option<Framing>,
    /// The pauses cut out of the clip, when tightening was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tightened: Option<Tightened>,
    pub files: Vec<ManifestFile>,
}

/// What a clip's picture is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipKind {
    /// Cut from the source's picture.
    Video,
    /// Drawn from its sound (a source without a picture).
    Audiogram,
}

/// Whether a clip could be published when it was rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipModeration {
    Ready,
    /// Moderation flags over it hold it until a reviewer approves them.
    Held,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Framing {
    /// Each framing from `start` (seconds into the clip as rendered), on
    /// the face centred at `x`, `y` (fractions of the source picture).
    /// Empty when the clip fell back to a centred crop.
    pub shots: Vec<FramingShot>,
    /// Frames the face detector looked at, and how many had a face.
    pub frames_sampled: usize,
    pub frames_with_faces: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FramingShot {
    pub start: f64,
    pub x: f64,
    pub y: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tightened {
    /// Each pause cut out, `[start, end]` on the source's timeline.
    pub cuts: Vec<[f64; 2]>,
    /// The cut's length less the clip's `duration`.
    pub seconds_saved: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipLoudness {
    /// The source's integrated loudness over the cut, as the loudness
    /// stage measured it; `null` for silence.
    pub source_lufs: Option<f64>,
    /// The gain applied before the peak limiter, fitted so the clip lands
    /// on the target.
    pub gain_db: f64,
    /// The clip's integrated loudness and true peak as rendered (before
    /// AAC encoding).
    pub lufs: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
}

/// One of a clip's published files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// The artifact's name.
    pub name: String,
    pub kind: FileKind,
    /// A video's shape and size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ClipFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub content_type: String,
    pub size_bytes: u64,
    pub sha256: String,
    /// For a video smart-rendered: how many of its frames are the source's
    /// own H.264, copied rather than encoded again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames_copied: Option<u64>,
}

/// What a [`ManifestFile`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Video,
    Srt,
    Vtt,
    Thumbnail,
    /// A few muted seconds, small, for browsing.
    Preview,
}

/// A highlight (or a re-render's range) that was chosen but gave no clip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highlight_rank: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<usize>,
    pub code: SkipCode,
    pub message: String,
}

/// Why a chosen clip was not rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipCode {
    /// No transcribed word lies inside it.
    NoWords,
    /// Its render failed ([`crate::ErrorCode::UnsupportedMedia`]'s name).
    UnsupportedMedia,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clips::ClipOptions;

    fn manifest() -> Manifest {
        let mut m = Manifest::new(&ClipOptions::default());
        m.audiogram = Some(AudiogramNote {
            fps: 25,
            title: true,
            logo: false,
        });
        m.clips.push(ManifestClip {
            index: 1,
            highlight_rank: Some(1),
            range: None,
            title: "Why".into(),
            hook: "Why would you?".into(),
            score: 55,
            kind: ClipKind::Audiogram,
            source_start: 3.25,
            source_end: 40.0,
            duration: 36.75,
            moderation: ClipModeration::Held,
            loudness: ClipLoudness {
                source_lufs: None,
                gain_db: 1.5,
                lufs: Some(-14.0),
                true_peak_dbtp: Some(-1.0),
            },
            framing: Some(Framing {
                shots: vec![FramingShot {
                    start: 0.0,
                    x: 0.5,
                    y: 0.4,
                }],
                frames_sampled: 10,
                frames_with_faces: 9,
                note: None,
            }),
            tightened: Some(Tightened {
                cuts: vec![[10.0, 11.0]],
                seconds_saved: 1.0,
            }),
            files: vec![ManifestFile {
                name: "clips/01/vertical.mp4".into(),
                kind: FileKind::Video,
                format: Some(ClipFormat::Vertical),
                width: Some(1080),
                height: Some(1920),
                content_type: "video/mp4".into(),
                size_bytes: 1234,
                sha256: "ab".repeat(32),
                frames_copied: Some(100),
            }],
        });
        m.skipped.push(Skipped {
            highlight_rank: None,
            range: Some(2),
            code: SkipCode::NoWords,
            message: "no transcribed word lies inside the range".into(),
        });
        m.edits.files = vec!["highlights.edl".into()];
        m
    }

    #[test]
    fn round_trips() {
        let manifest = manifest();
        let json = serde_json::to_string(&manifest).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), manifest);
    }

    /// The names clients read: kinds and codes as words, absent options
    /// left out.
    #[test]
    fn shape() {
        let value = serde_json::to_value(manifest()).unwrap();
        let clip = &value["clips"][0];
        assert_eq!(clip["kind"], "audiogram");
        assert_eq!(clip["moderation"], "held");
        assert_eq!(clip["files"][0]["kind"], "video");
        assert!(clip.get("range").is_none());
        assert_eq!(value["skipped"][0]["code"], "no_words");
        assert_eq!(
            serde_json::to_value(SkipCode::UnsupportedMedia).unwrap(),
            crate::ErrorCode::UnsupportedMedia.as_str()
        );
        assert!(value.get("note").is_none());
    }
}
