//! [`ModelSet::open`] on folders of small stand-in files.

use super::*;

/// A folder with a stand-in for every catalog file and a manifest that
/// matches them.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files = catalog::OUTPUTS
        .iter()
        .map(|o| {
            let data = format!("stand-in for {}", o.name);
            fs::write(dir.path().join(o.name), &data).unwrap();
            ManifestEntry {
                name: o.name.to_owned(),
                sha256: hex::encode(Sha256::digest(&data)),
                size: data.len() as u64,
                source: o.source(),
            }
        })
        .collect();
    write(dir.path(), Manifest { version: 1, files });
    dir
}

fn write(dir: &Path, manifest: Manifest) {
    fs::write(dir.join(MANIFEST), serde_json::to_vec(&manifest).unwrap()).unwrap();
}

fn edit(dir: &Path, name: &str, change: impl FnOnce(&mut ManifestEntry)) {
    let mut m = read_manifest(&dir.join(MANIFEST)).unwrap().unwrap();
    change(m.files.iter_mut().find(|e| e.name == name).unwrap());
    write(dir, m);
}

fn open_err(dir: &Path) -> String {
    let err = ModelSet::open(dir).unwrap_err().to_string();
    assert!(err.contains("cutroom models install"), "{err}");
    err
}

#[test]
fn a_complete_folder_opens() {
    let dir = folder();
    let set = ModelSet::open(dir.path()).unwrap();
    assert_eq!(set.files().count(), catalog::OUTPUTS.len());
    let tiny = set.whisper(WhisperModel::TinyEn);
    assert_eq!(tiny.path, dir.path().join("whisper-tiny.en.bin"));
    assert_eq!(tiny.size, "stand-in for whisper-tiny.en.bin".len() as u64);
    assert_eq!(set.onnxruntime().name, catalog::ONNXRUNTIME);
    assert_eq!(
        set.whisper_q8_0(WhisperModel::Base).name,
        catalog::WHISPER_BASE_Q8_0
    );
    // Cached the second time; same answer.
    assert_eq!(ModelSet::open(dir.path()).unwrap().files, set.files);
}

#[test]
fn an_optional_file_may_be_missing_but_not_damaged() {
    let dir = folder();
    assert!(
        ModelSet::open(dir.path())
            .unwrap()
            .face_detector()
            .is_some()
    );
    // Removed: the folder still opens, without it.
    fs::remove_file(dir.path().join(catalog::FACE_DETECTOR)).unwrap();
    let set = ModelSet::open(dir.path()).unwrap();
    assert!(set.face_detector().is_none());
    assert_eq!(set.files().count(), catalog::OUTPUTS.len() - 1);
    // There but altered: refused, like any other file.
    fs::write(dir.path().join(catalog::FACE_DETECTOR), "altered").unwrap();
    let err = open_err(dir.path());
    assert!(err.contains(catalog::FACE_DETECTOR), "{err}");
    // A required file is never optional.
    let dir = folder();
    fs::remove_file(dir.path().join(catalog::SILERO_VAD)).unwrap();
    assert!(open_err(dir.path()).contains(catalog::SILERO_VAD));
}

#[test]
fn each_problem_names_the_file_and_the_fix() {
    let empty = tempfile::tempdir().unwrap();
    assert!(open_err(empty.path()).contains("no manifest.json"));

    let dir = folder();
    fs::write(dir.path().join(MANIFEST), "{").unwrap();
    assert!(open_err(dir.path()).contains("not a model manifest"));

    let dir = folder();
    fs::remove_file(dir.path().join(catalog::SILERO_VAD)).unwrap();
    let err = open_err(dir.path());
    assert!(err.contains("silero_vad.onnx is missing"), "{err}");

    let dir = folder();
    edit(dir.path(), catalog::WHISPER_BASE, |e| e.size += 1);
    let err = open_err(dir.path());
    assert!(err.contains("whisper-base.bin has the wrong size"), "{err}");

    let dir = folder();
    edit(dir.path(), catalog::SPEAKER_EMBEDDER, |e| {
        e.sha256 = "00".repeat(32)
    });
    let err = open_err(dir.path());
    assert!(
        err.contains("speaker-embedder.onnx fails its checksum"),
        "{err}"
    );

    let dir = folder();
    edit(dir.path(), catalog::WHISPER_TINY_EN, |e| {
        e.source = "pypi:old==0".into()
    });
    let err = open_err(dir.path());
    assert!(
        err.contains("whisper-tiny.en.bin was made from pypi:old==0"),
        "{err}"
    );

    let dir = folder();
    let mut m = read_manifest(&dir.path().join(MANIFEST)).unwrap().unwrap();
    m.files.retain(|e| e.name != catalog::ONNXRUNTIME);
    write(dir.path(), m);
    let err = open_err(dir.path());
    assert!(
        err.contains("libonnxruntime.so.1.32.0 is not listed"),
        "{err}"
    );
}
