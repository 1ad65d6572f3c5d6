//! How transcription runs: the Whisper weights' storage and its threads.

use anyhow::bail;

/// How the Whisper models' weight matrices are stored (`CUTROOM_WHISPER_QUANT`).
/// The model folder always holds both; see `docs/benchmarks.md` for what
/// each costs in time and word errors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WhisperQuant {
    /// Half precision, as converted from the packaged models.
    F16,
    /// 8-bit blocks (the default): about half the memory, transcription
    /// 20-25 % faster, no more word errors on the benchmark.
    #[default]
    Q8_0,
}

impl WhisperQuant {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
        }
    }
}

impl std::str::FromStr for WhisperQuant {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "f16" => Ok(Self::F16),
            "q8_0" => Ok(Self::Q8_0),
            _ => bail!("expected f16 or q8_0"),
        }
    }
}

/// One thread per core, at most 8 (whisper.cpp gains little beyond).
pub(super) fn default_threads() -> u16 {
    std::thread::available_parallelism().map_or(4, |n| u16::try_from(n.get().min(8)).unwrap_or(8))
}
