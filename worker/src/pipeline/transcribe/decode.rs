//! Running whisper.cpp over the windows: language detection, decoding,
//! and turning its segments and tokens into ours.

use cutroom_core::{ErrorCode, jobs::TranscriptionOptions};
use tokio_util::sync::CancellationToken;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext};

use super::{
    FORMAT_VERSION, Segment, Transcript, Word, repeats,
    windows::{Window, windows},
    words::{fit_words_to_speech, round_ms, snap_words_to_audio},
};
use crate::{
    engines::Engines,
    models::WhisperModel,
    pipeline::{Progress, StageError, audio::ANALYSIS_RATE, silence::Interval},
};

/// Speech the voice activity detector heard after whisper.cpp's last
/// segment in a window that makes it encode the rest again, centiseconds
/// (see [`encode_again`]).
const SPEECH_LEFT_CS: i64 = 100;
/// Shortest word duration reported.
const MIN_WORD: f64 = 0.02;

/// The blocking part, reporting the share of speech done after each
/// window; `Ok(None)` once `stop` fired.
pub(crate) fn transcribe_with_progress(
    engines: &Engines,
    model: WhisperModel,
    options: &TranscriptionOptions,
    audio: &[f32],
    speech: &[Interval],
    stop: &CancellationToken,
    progress: &Progress,
) -> Result<Option<Transcript>, StageError> {
    let internal = |message: &'static str| {
        move |e: whisper_rs::WhisperError| {
            StageError::failed(ErrorCode::InternalError, message).detail(e)
        }
    };
    let duration = audio.len() as f64 / f64::from(ANALYSIS_RATE);
    let mut transcript = Transcript {
        version: FORMAT_VERSION,
        model: model.name().to_owned(),
        duration: round_ms(duration),
        ..Transcript::default()
    };
    let windows = windows(audio, speech);
    if windows.is_empty() {
        return Ok(Some(transcript));
    }
    let whisper = engines.whisper(model).map_err(|e| {
        StageError::failed(
            ErrorCode::InternalError,
            "the transcription model could not be loaded",
        )
        .detail(format!("{e:#}"))
    })?;
    let threads = engines.threads;
    let mut state = whisper
        .create_state()
        .map_err(internal("the transcription model could not start"))?;

    let (language, probability) = if !model.multilingual() {
        ("en".to_owned(), None)
    } else if let Some(lang) = &options.language {
        (lang.clone(), None)
    } else {
        // Detected once, on the first window, and kept for the whole file
        // so one video does not switch languages mid-sentence.
        let first = &windows[0].samples;
        state.pcm_to_mel(first, threads).map_err(internal(
            "the audio could not be prepared for transcription",
        ))?;
        let (id, probs) = state
            .lang_detect(0, threads)
            .map_err(internal("the spoken language could not be detected"))?;
        let code = whisper_rs::get_lang_str(id).unwrap_or("en").to_owned();
        let p = usize::try_from(id).ok().and_then(|i| probs.get(i).copied());
        (code, p)
    };
    transcript.language = Some(language.clone());
    transcript.language_probability = probability;

    let mut segments = Vec::new();
    let total: usize = windows.iter().map(|w| w.samples.len()).sum();
    let mut done = 0;
    for window in &windows {
        if stop.is_cancelled() {
            return Ok(None);
        }
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(i32::try_from(threads).unwrap_or(1));
        params.set_language(Some(&language));
        params.set_token_timestamps(true);
        params.set_no_context(true);
        params.set_suppress_blank(true);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        // No abort callback: whisper-rs 0.16's `set_abort_callback_safe`
        // hands whisper.cpp a pointer of the wrong type (it hung our
        // tests). A stop is noticed between windows.
        // Read by `encode_again` while `full` runs; outlives the call.
        let mut speech_end = window.speech_end_cs();
        // SAFETY: the callback only reads `speech_end` and the state's
        // segment list through whisper.cpp's own accessors, and the
        // pointer stays valid until `full` returns.
        #[allow(unsafe_code)]
        unsafe {
            params.set_start_encoder_callback(Some(encode_again));
            params.set_start_encoder_callback_user_data((&raw mut speech_end).cast());
        }
        params.set_audio_ctx(window.encoder_frames());
        state
            .full(params, &window.samples)
            .map_err(internal("transcription failed"))?;
        collect(&whisper, &state, window, &mut segments);
        done += window.samples.len();
        progress.set(done as f32 / total.max(1) as f32);
    }
    repeats::drop_repeats(&mut segments);
    fit_words_to_speech(&mut segments, speech);
    snap_words_to_audio(&mut segments, audio);
    for (id, s) in segments.iter_mut().enumerate() {
        s.id = id;
    }
    transcript.segments = segments;
    Ok(Some(transcript))
}

/// Whether whisper.cpp's next encoder pass over a window is worth it.
///
/// After each pass whisper.cpp moves to the end of the last segment it
/// wrote and, if more than 0.1 s of the window is left, encodes from there
/// again: a whole encoder pass (the bulk of the cost) even when all that is
/// left is the quiet context after the last word. On the ten-minute
/// benchmark, 10 windows would pay such a pass, and the model
/// heard words in the quiet (WER 2.5 % against 1.6 %). The first pass
/// always runs, and a later one still does when the voice activity
/// detector heard more than [`SPEECH_LEFT_CS`] of speech after that segment
/// (the model stopped early), so no speech goes unheard.
#[allow(unsafe_code)]
unsafe extern "C" fn encode_again(
    _ctx: *mut whisper_rs_sys::whisper_context,
    state: *mut whisper_rs_sys::whisper_state,
    user_data: *mut std::ffi::c_void,
) -> bool {
    // SAFETY: `user_data` is the `i64` `transcribe` lends for this call;
    // the state is the one being decoded, read only through its accessors.
    unsafe {
        let speech_end = *user_data.cast::<i64>();
        let n = whisper_rs_sys::whisper_full_n_segments_from_state(state);
        if n == 0 {
            return true;
        }
        let written = whisper_rs_sys::whisper_full_get_segment_t1_from_state(state, n - 1);
        speech_end - written > SPEECH_LEFT_CS
    }
}

/// Turns whisper.cpp's segments and tokens of one window into ours.
fn collect(
    whisper: &WhisperContext,
    state: &whisper_rs::WhisperState,
    window: &Window,
    out: &mut Vec<Segment>,
) {
    let eot = whisper.token_eot();
    for segment in state.as_iter() {
        let mut words: Vec<(Vec<f32>, String, f64, f64)> = Vec::new();
        let mut probs = Vec::new();
        for i in 0..segment.n_tokens() {
            let Some(token) = segment.get_token(i) else {
                continue;
            };
            let data = token.token_data();
            if data.id >= eot {
                continue;
            }
            let Ok(text) = token.to_str_lossy() else {
                continue;
            };
            let text = text.into_owned();
            probs.push(data.p);
            // DTW times (when enabled) mark when a token is spoken;
            // whisper's own token timestamps (t0, t1) bound it. Centiseconds.
            let start = if data.t_dtw >= 0 { data.t_dtw } else { data.t0 };
            let (start, end) = (start as f64 / 100.0, data.t1 as f64 / 100.0);
            let new_word = text.starts_with(' ') || words.is_empty();
            if new_word && !text.trim().is_empty() {
                words.push((vec![data.p], text.trim().to_owned(), start, end));
            } else if let Some(w) = words.last_mut() {
                w.0.push(data.p);
                w.1.push_str(text.trim_end());
                w.3 = end;
            }
        }
        if words.is_empty() {
            continue;
        }
        // A word ends by the time the next one starts.
        let mut list: Vec<Word> = Vec::with_capacity(words.len());
        for i in 0..words.len() {
            let (p, text, start, end) = &words[i];
            let next = words.get(i + 1).map(|w| w.2);
            let end = next.map_or(*end, |n| end.min(n)).max(start + MIN_WORD);
            list.push(Word {
                start: window.to_source(*start),
                end: window.to_source(end),
                text: text.clone(),
                probability: mean(p),
                speaker: None,
            });
        }
        let text = list
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        out.push(Segment {
            id: 0,
            start: list[0].start,
            end: list[list.len() - 1].end,
            text,
            speaker: None,
            confidence: mean(&probs),
            words: list,
            edited_at: None,
        });
    }
}

fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        0.0
    } else {
        let m = v.iter().sum::<f32>() / v.len() as f32;
        (m * 1000.0).round() / 1000.0
    }
}
