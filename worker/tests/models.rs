//! The installed model folder, used for real: every converted Whisper model
//! loads in whisper.cpp and transcribes the JFK sample correctly, and the
//! ONNX files and runtime library are what they claim to be.
//!
//! Needs the folder from `bash .ci/models` (CUTROOM_MODELS_DIR) and
//! `$CUTROOM_TEST_DATA/jfk.wav` from `bash .ci/setup --test`; `.ci/env.sh`
//! sets both variables.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use cutroom_core::config::SpeakerModel;
use cutroom_worker::models::{ModelFile, ModelSet, WhisperModel};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

const JFK: &str = "and so my fellow americans ask not what your country can do for you \
                   ask what you can do for your country";

fn models() -> &'static ModelSet {
    static SET: OnceLock<ModelSet> = OnceLock::new();
    SET.get_or_init(|| {
        let dir = std::env::var_os("CUTROOM_MODELS_DIR").expect(
            "CUTROOM_MODELS_DIR is not set: run `bash .ci/models`, then `. .ci/env.sh` \
             (or point CUTROOM_MODELS_DIR at an installed model folder)",
        );
        ModelSet::open(Path::new(&dir)).unwrap_or_else(|e| panic!("{e}"))
    })
}

fn test_data(name: &str) -> PathBuf {
    let dir = std::env::var_os("CUTROOM_TEST_DATA")
        .expect("CUTROOM_TEST_DATA is not set: run `bash .ci/setup --test`, then `. .ci/env.sh`");
    Path::new(&dir).join(name)
}

/// The samples of a 16 kHz mono 16-bit PCM WAV file, as f32 in [-1, 1).
fn read_wav(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE");
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let mut pos = 12;
    let mut format = None;
    while pos + 8 <= bytes.len() {
        let (id, len) = (&bytes[pos..pos + 4], u32_at(pos + 4) as usize);
        let body = pos + 8;
        match id {
            b"fmt " => {
                format = Some((
                    u16_at(body),
                    u16_at(body + 2),
                    u32_at(body + 4),
                    u16_at(body + 14),
                ))
            }
            b"data" => {
                assert_eq!(
                    format,
                    Some((1, 1, 16_000, 16)),
                    "want 16 kHz mono 16-bit PCM"
                );
                let data = &bytes[body..(body + len).min(bytes.len())];
                return data
                    .chunks_exact(2)
                    .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                    .collect();
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = body + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

/// Lower case, punctuation removed, single spaces.
fn normalise(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .flat_map(char::to_lowercase)
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Greedy transcription in English with two threads; asserts on the way
/// that the model is the one the file name says and timestamps are sane.
fn transcribe(file: &ModelFile, model: WhisperModel) -> String {
    whisper_rs::install_logging_hooks();
    let audio = read_wav(&test_data("jfk.wav"));
    let path = file.path.to_str().expect("UTF-8 model path");
    let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default())
        .unwrap_or_else(|e| panic!("whisper.cpp cannot load {}: {e}", file.path.display()));
    assert_eq!(ctx.is_multilingual(), model.multilingual(), "{}", file.name);
    // Tokens are stored as bytes: " ask" and " country" are whole tokens
    // (undecoded, " ask" would exist only as "Ġask" and split into bytes).
    let tokens = ctx.tokenize(" ask country", 16).unwrap();
    let bytes: Vec<&[u8]> = tokens
        .iter()
        .map(|t| ctx.token_to_bytes(*t).unwrap())
        .collect();
    assert_eq!(bytes, [&b" ask"[..], b" country"], "{}", file.name);

    let mut state = ctx.create_state().unwrap();
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_language(Some("en"));
    params.set_n_threads(2);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
    state.full(params, &audio).unwrap();

    let duration_cs = (audio.len() / 160) as i64;
    let mut text = String::new();
    for segment in state.as_iter() {
        let (start, end) = (segment.start_timestamp(), segment.end_timestamp());
        assert!(
            0 <= start && start <= end && end <= duration_cs + 10,
            "{start}..{end}"
        );
        text.push_str(&segment.to_str_lossy().unwrap());
    }
    eprintln!("{}: {}", file.name, text.trim());
    normalise(&text)
}

#[test]
fn whisper_tiny_en_transcribes_jfk() {
    let m = WhisperModel::TinyEn;
    assert_eq!(transcribe(models().whisper(m), m), JFK);
}

#[test]
fn whisper_base_transcribes_jfk() {
    let m = WhisperModel::Base;
    assert_eq!(transcribe(models().whisper(m), m), JFK);
}

#[test]
fn whisper_tiny_en_q8_0_transcribes_jfk() {
    let m = WhisperModel::TinyEn;
    assert_eq!(transcribe(models().whisper_q8_0(m), m), JFK);
}

#[test]
fn whisper_base_q8_0_transcribes_jfk() {
    let m = WhisperModel::Base;
    assert_eq!(transcribe(models().whisper_q8_0(m), m), JFK);
}

#[test]
fn onnx_models_and_runtime_have_the_right_formats() {
    let set = models();
    for file in [
        set.silero_vad(),
        set.speaker_model(SpeakerModel::DVector),
        set.speaker_model(SpeakerModel::CamPlus),
    ] {
        let head = first_bytes(&file.path);
        // ModelProto starts with field 1, ir_version (a small varint).
        assert_eq!(head[0], 0x08, "{} is not an ONNX model", file.name);
        assert!(
            (3..=12).contains(&head[1]),
            "{}: IR version {}",
            file.name,
            head[1]
        );
    }
    let lib = first_bytes(&set.onnxruntime().path);
    assert_eq!(
        &lib[..4],
        b"\x7fELF",
        "the ONNX Runtime library is not an ELF file"
    );
}

fn first_bytes(path: &Path) -> [u8; 4] {
    let mut head = [0; 4];
    std::io::Read::read_exact(&mut std::fs::File::open(path).unwrap(), &mut head).unwrap();
    head
}

#[test]
fn normalising_ignores_case_and_punctuation() {
    assert_eq!(
        normalise(" And so, my fellow Americans: ask not!"),
        "and so my fellow americans ask not"
    );
}
