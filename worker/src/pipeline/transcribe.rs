//! Transcription with whisper.cpp (whisper-rs), producing
//! `transcript.json`, `.srt`, `.vtt` and `.txt`.
//!
//! Only speech is transcribed: the speech intervals from
//! [`super::silence`] are packed into windows of up to [`WINDOW_SECONDS`]
//! (with a short pause between pieces, so the model hears them as separate
//! phrases), long silences cost nothing, and every time whisper.cpp reports
//! is mapped back onto the source's timeline.
//!
//! Word timing comes from whisper.cpp's token timestamps (its DTW
//! alignment measured worse, see [`crate::engines`]). A word is then kept
//! inside the speech interval that holds it, so a cut made at a silence
//! boundary never falls inside a word, and its edges are moved off quiet
//! audio onto the word itself ([`snap_words_to_audio`]).

use std::sync::Arc;

use cutroom_core::{
    ErrorCode,
    jobs::TranscriptionOptions,
    queries::transcripts,
    subtitles::{self, Cue},
};
use tokio_util::sync::CancellationToken;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext};

use super::{
    JobCtx, Output, Progress, Stage, StageError,
    audio::ANALYSIS_RATE,
    silence::{self, Interval},
};
use crate::{engines::Engines, models::WhisperModel};

/// Speech is packed into windows of up to this much audio, one whisper.cpp
/// call each, and the encoder runs over the window only (`audio_ctx`)
/// instead of the 30 s it was trained on. Its cost grows faster than the
/// audio it hears, so short windows cost less per second; on the listening
/// benchmark (ten minutes, tiny.en q8_0, two threads, one second of
/// padding) 30 s windows took 25.5 s at 2.6 % WER, 20 s 19.1 s at 3.5 %,
/// 15 s 14.4 s at 3.6 % and 10 s 13.7 s at 1.6 % (docs/benchmarks.md).
const WINDOW_SECONDS: f64 = 10.0;
/// Frames of the encoder's context (50 a second) beyond a window's audio:
/// the model hears a second of the quiet it was trained to end on. With
/// none (30 s windows) the benchmark's WER rose from 2.6 % to 3.6 %.
const ENCODER_PAD_FRAMES: usize = 50;
/// The encoder hears at least 8 s: with only a second of quiet after a
/// lone 5 s utterance tiny.en repeated its end (WER test 12.9 % against
/// 5.4 %). Two seconds of padding everywhere fixed that too, at 5-10 %
/// more time on the benchmark.
const MIN_ENCODER_FRAMES: usize = 400;
/// whisper.cpp's full context: 30 s.
const ENCODER_FRAMES: usize = 1500;
/// Audio beyond each speech edge that the model hears too.
const CONTEXT_SECONDS: f64 = 0.2;
/// Silence put between two pieces of one window.
const SPACER_SECONDS: f64 = 0.3;
/// Speech the voice activity detector heard after whisper.cpp's last
/// segment in a window that makes it encode the rest again, centiseconds
/// (see [`encode_again`]).
const SPEECH_LEFT_CS: i64 = 100;
/// Shortest word duration reported.
const MIN_WORD: f64 = 0.02;

pub(crate) use cutroom_core::transcript::{FORMAT_VERSION, Segment, Transcript, Word};

/// The stage: transcribes the speech. The transcript is saved by [`save`]
/// once the speakers stage has labelled it.
pub(crate) async fn run(
    ctx: &JobCtx<'_>,
    audio: Arc<Vec<f32>>,
    speech: &[Interval],
) -> Result<Transcript, StageError> {
    let options = ctx.options.transcription.clone();
    let model = options
        .model
        .as_deref()
        .unwrap_or(&ctx.config.whisper_model)
        .parse::<WhisperModel>()
        .map_err(|e| {
            StageError::failed(
                ErrorCode::InternalError,
                "the transcription model is unknown",
            )
            .detail(e)
        })?;
    let engines = Arc::clone(ctx.engines);
    let speech = speech.to_vec();
    let stop = ctx.stop.clone();
    let result = ctx
        .blocking(Stage::Transcribe, move |progress| {
            transcribe_with_progress(&engines, model, &options, &audio, &speech, &stop, progress)
        })
        .await?;
    let Some(transcript) = result? else {
        return Err(StageError::Stopped(ctx.stop_reason()));
    };
    tracing::info!(
        model = %transcript.model,
        language = ?transcript.language,
        segments = transcript.segments.len(),
        "transcribed"
    );
    Ok(transcript)
}

/// Writes `transcript.json`, `.srt`, `.vtt` and `.txt`, and records the
/// transcript for the API and search.
pub(crate) async fn save(
    ctx: &JobCtx<'_>,
    transcript: &Transcript,
) -> Result<Vec<Output>, StageError> {
    let outputs = write_outputs(ctx, transcript).await?;
    store(ctx, transcript).await?;
    Ok(outputs)
}

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

/// A stretch of source audio inside a window.
#[derive(Clone, Copy, Debug)]
struct Piece {
    /// Where it starts in the window and in the source, in seconds.
    at: f64,
    source: f64,
    len: f64,
}

struct Window {
    samples: Vec<f32>,
    pieces: Vec<Piece>,
}

impl Window {
    /// The encoder context that holds the window's audio and
    /// [`ENCODER_PAD_FRAMES`] more (at least [`MIN_ENCODER_FRAMES`]),
    /// rounded up to 64 frames, at most the model's 30 s (a longer window
    /// is walked through 30 s at a time).
    fn encoder_frames(&self) -> i32 {
        let seconds = self.samples.len() as f64 / f64::from(ANALYSIS_RATE);
        let frames =
            ((seconds * 50.0).ceil() as usize + ENCODER_PAD_FRAMES).max(MIN_ENCODER_FRAMES);
        let frames = frames.next_multiple_of(64).min(ENCODER_FRAMES);
        i32::try_from(frames).expect("at most ENCODER_FRAMES")
    }

    /// Where the last speech in the window ends (before its trailing
    /// context), in centiseconds of window time as whisper.cpp counts.
    fn speech_end_cs(&self) -> i64 {
        self.pieces.last().map_or(0, |p| {
            ((p.at + (p.len - CONTEXT_SECONDS).max(0.0)) * 100.0).round() as i64
        })
    }

    /// A window time on the source's timeline. Times in a spacer belong to
    /// the end of the piece before it.
    fn to_source(&self, t: f64) -> f64 {
        let piece = self
            .pieces
            .iter()
            .rev()
            .find(|p| p.at <= t)
            .unwrap_or(&self.pieces[0]);
        piece.source + (t - piece.at).clamp(0.0, piece.len)
    }
}

/// Packs speech intervals into windows of at most [`WINDOW_SECONDS`]. An
/// interval longer than that gets a window of its own (whisper.cpp walks
/// through longer audio by itself).
fn windows(audio: &[f32], speech: &[Interval]) -> Vec<Window> {
    let rate = f64::from(ANALYSIS_RATE);
    let index = |t: f64| ((t * rate).round() as usize).min(audio.len());
    let spacer = (SPACER_SECONDS * rate) as usize;
    let mut out: Vec<Window> = Vec::new();
    let mut taken = 0;
    for interval in speech {
        // The model hears a little context on each side (a soft final
        // consonant below the speech edge), never the same audio twice.
        let a = index(interval.start - CONTEXT_SECONDS).max(taken);
        let b = index(interval.end + CONTEXT_SECONDS);
        taken = b;
        if b <= a {
            continue;
        }
        let len = (b - a) as f64 / rate;
        let fits = out
            .last()
            .is_some_and(|w| (w.samples.len() + spacer) as f64 / rate + len <= WINDOW_SECONDS);
        if !fits {
            out.push(Window {
                samples: Vec::new(),
                pieces: Vec::new(),
            });
        }
        let window = out.last_mut().expect("just pushed");
        if !window.samples.is_empty() {
            window.samples.resize(window.samples.len() + spacer, 0.0);
        }
        window.pieces.push(Piece {
            at: window.samples.len() as f64 / rate,
            source: a as f64 / rate,
            len,
        });
        window.samples.extend_from_slice(&audio[a..b]);
    }
    out
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

/// Keeps every word inside the speech interval that holds its middle (or
/// the nearest one), in order and without overlaps, then rounds times.
fn fit_words_to_speech(segments: &mut [Segment], speech: &[Interval]) {
    let mut last_end = 0.0f64;
    for segment in segments.iter_mut() {
        for word in &mut segment.words {
            let mid = (word.start + word.end) / 2.0;
            if let Some(iv) = speech
                .iter()
                .min_by(|a, b| distance(a, mid).total_cmp(&distance(b, mid)))
            {
                word.start = word.start.clamp(iv.start, iv.end);
                word.end = word.end.clamp(iv.start, iv.end);
                if word.start < last_end && last_end <= iv.end {
                    word.start = last_end;
                }
                if word.end < word.start {
                    word.end = word.start;
                }
            }
            word.start = round_ms(word.start);
            word.end = round_ms(word.end);
            last_end = word.end;
        }
        if let (Some(first), Some(last)) = (segment.words.first(), segment.words.last()) {
            segment.start = first.start;
            segment.end = last.end;
        }
    }
}

/// Frames (10 ms) of a quiet run that separates two words.
const GAP_FRAMES: usize = 8;
/// A frame this far below the loudest frame of its word is quiet.
const QUIET_BELOW_PEAK_DB: f64 = 30.0;

/// Moves word edges onto the audio. whisper.cpp's token timestamps often
/// chain words (a word starts where the one before it ends), so a word after
/// a pause starts inside the pause, and the end of the word before it is cut
/// short. (Its DTW times are no better here: on espeak-ng words with known
/// edges they fell 0.1-0.5 s after each word's start, often past its end.)
///
/// So: a word that starts where the previous one ends and holds a quiet run
/// of [`GAP_FRAMES`] or more gives the audio before that run to the previous
/// word and starts after it; and no word starts or ends on quiet frames.
/// Words only shrink or hand time to their neighbour, so they stay inside
/// their speech interval and in order.
fn snap_words_to_audio(segments: &mut [Segment], audio: &[f32]) {
    let rate = f64::from(ANALYSIS_RATE);
    let hop = ANALYSIS_RATE as usize / 100;
    let frame_db = |f: usize| {
        let a = (f * hop).min(audio.len());
        silence::level_db(&audio[a..(a + hop).min(audio.len())])
    };
    let frame_at = |t: f64| (t * 100.0).round().max(0.0) as usize;
    // The source's end rounded as `silences.json` rounds it, so a word
    // that ends with the audio ends where the last speech interval does.
    let audio_end = round_ms(audio.len() as f64 / rate);
    let time_of = |f: usize| round_ms(f as f64 / 100.0).min(audio_end);

    let mut prev: Option<(usize, usize)> = None;
    for si in 0..segments.len() {
        for wi in 0..segments[si].words.len() {
            let (start, end) = {
                let w = &segments[si].words[wi];
                (frame_at(w.start), frame_at(w.end))
            };
            if end <= start + 1 {
                prev = Some((si, wi));
                continue;
            }
            let levels: Vec<f64> = (start..end).map(frame_db).collect();
            let peak = levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let quiet = |l: f64| l < peak - QUIET_BELOW_PEAK_DB;
            let mut first = 0;
            // A pause inside a chained word: the audio before it is the
            // previous word's tail.
            let chained = prev.is_some_and(|(ps, pw)| {
                (segments[ps].words[pw].end - segments[si].words[wi].start).abs() < 0.011
            });
            if chained && let Some((ps, pw)) = prev {
                let mut run = 0;
                for (i, &l) in levels.iter().enumerate() {
                    if quiet(l) {
                        run += 1;
                        continue;
                    }
                    if run >= GAP_FRAMES && i > run {
                        segments[ps].words[pw].end = time_of(start + i - run);
                        first = i;
                        break;
                    }
                    run = 0;
                }
            }
            // No edge on quiet frames.
            while first < levels.len() && quiet(levels[first]) {
                first += 1;
            }
            let mut last = levels.len();
            while last > first + 1 && quiet(levels[last - 1]) {
                last -= 1;
            }
            if first < last {
                let w = &mut segments[si].words[wi];
                w.start = time_of(start + first);
                w.end = time_of(start + last).max(w.start);
            }
            prev = Some((si, wi));
        }
    }
    for s in segments.iter_mut() {
        if let (Some(first), Some(last)) = (s.words.first(), s.words.last()) {
            s.start = first.start;
            s.end = last.end;
        }
    }
}

fn distance(iv: &Interval, t: f64) -> f64 {
    if t < iv.start {
        iv.start - t
    } else if t > iv.end {
        t - iv.end
    } else {
        0.0
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

fn round_ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

/// A job's transcript as stored, with the corrections people made to it
/// through the API since: what a re-render captions from. Also the ids of
/// the corrected segments, which moderation has not read yet.
pub(crate) async fn load(
    ctx: &JobCtx<'_>,
    job_id: uuid::Uuid,
) -> Result<(Transcript, Vec<usize>), StageError> {
    let Some((meta, rows)) = transcripts::get(&ctx.db.orm, ctx.job.tenant_id, job_id).await? else {
        return Err(StageError::failed(
            ErrorCode::InternalError,
            "the job's transcript could not be found",
        )
        .detail(format!("no transcript row for job {job_id}")));
    };
    // Written by this worker or the API's correction, both from this
    // shape; anything else is a bug worth failing loudly on.
    let transcript = Transcript::from_rows(meta, rows).map_err(|e| {
        StageError::failed(
            ErrorCode::InternalError,
            "the job's transcript could not be read",
        )
        .detail(e)
    })?;
    let edited = transcript
        .segments
        .iter()
        .filter(|s| s.edited_at.is_some())
        .map(|s| s.id)
        .collect();
    Ok((transcript, edited))
}

/// Records the transcript for the API and search (replacing any earlier
/// run's).
async fn store(ctx: &JobCtx<'_>, t: &Transcript) -> Result<(), StageError> {
    let (meta, segments) = t.rows(ctx.job.tenant_id, ctx.job.id, chrono::Utc::now());
    transcripts::replace(&ctx.db.orm, meta, segments).await?;
    Ok(())
}

async fn write_outputs(ctx: &JobCtx<'_>, t: &Transcript) -> Result<Vec<Output>, StageError> {
    let files: [(&'static str, &'static str, Vec<u8>); 4] = [
        (
            "transcript.json",
            "application/json",
            serde_json::to_vec_pretty(t).expect("the transcript is plain data"),
        ),
        (
            "transcript.srt",
            "application/x-subrip",
            srt(t).into_bytes(),
        ),
        ("transcript.vtt", "text/vtt", vtt(t).into_bytes()),
        (
            "transcript.txt",
            "text/plain; charset=utf-8",
            txt(t).into_bytes(),
        ),
    ];
    // Speech regions, words, speaker labels.
    let set = &ctx.engines.set;
    let whisper = t
        .model
        .parse::<WhisperModel>()
        .map(|m| ctx.engines.whisper_file(m))
        .ok();
    let models = [
        Some(set.silero_vad()),
        whisper,
        Some(set.speaker_embedder()),
    ];
    let mut outputs = Vec::with_capacity(files.len());
    for (name, content_type, bytes) in files {
        let output = ctx.write_output(name, content_type, bytes).await?;
        outputs.push(output.made_with(models.iter().flatten().copied()));
    }
    Ok(outputs)
}

/// The transcript's cues: one per segment, with its speaker.
fn cues(t: &Transcript) -> Vec<Cue> {
    t.segments
        .iter()
        .map(|s| Cue {
            start: s.start,
            end: s.end,
            text: cue_text(s),
        })
        .collect()
}

/// SubRip (`cutroom_core::subtitles`).
pub(crate) fn srt(t: &Transcript) -> String {
    subtitles::srt(&cues(t))
}

/// WebVTT (`cutroom_core::subtitles`).
pub(crate) fn vtt(t: &Transcript) -> String {
    subtitles::vtt(&cues(t))
}

/// Plain text, one segment per line.
pub(crate) fn txt(t: &Transcript) -> String {
    let mut out = String::new();
    for s in &t.segments {
        out.push_str(&cue_text(s));
        out.push('\n');
    }
    out
}

fn cue_text(s: &Segment) -> String {
    match &s.speaker {
        Some(speaker) => format!("[{speaker}] {}", s.text),
        None => s.text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(start: f64, end: f64) -> Interval {
        Interval { start, end }
    }

    #[test]
    fn speech_is_packed_into_windows_and_mapped_back() {
        let audio = vec![0.1f32; 16_000 * 100];
        let speech = [iv(1.0, 4.0), iv(20.0, 25.0), iv(50.0, 90.0)];
        let w = windows(&audio, &speech);
        // 3.4 s + 0.3 s + 5.4 s (speech with 0.2 s of context on each
        // side) fit in 10 s; 40.4 s gets its own window.
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].pieces.len(), 2);
        assert!((w[0].samples.len() as f64 / 16_000.0 - 9.1).abs() < 1e-3);
        assert!((w[0].to_source(0.5) - 1.3).abs() < 1e-9);
        assert!((w[0].to_source(3.7 + 2.0) - 21.8).abs() < 1e-9);
        // A time in the spacer belongs to the end of the first piece.
        assert!((w[0].to_source(3.5) - 4.2).abs() < 1e-9);
        assert!((w[1].to_source(39.0) - 88.8).abs() < 1e-9);
        // The encoder hears 9.1 s and a second more, in 64-frame steps;
        // the long window gets the model's whole 30 s.
        assert_eq!(w[0].encoder_frames(), 512);
        assert_eq!(w[1].encoder_frames(), 1500);
        // The last speech ends 0.2 s (its context) before the window does.
        assert_eq!(w[0].speech_end_cs(), 890);
    }

    #[test]
    fn words_stay_inside_speech_and_in_order() {
        let word = |s: f64, e: f64| Word {
            start: s,
            end: e,
            text: "w".into(),
            probability: 1.0,
            speaker: None,
        };
        let mut segments = vec![Segment {
            edited_at: None,
            id: 0,
            start: 0.0,
            end: 0.0,
            text: String::new(),
            speaker: None,
            confidence: 1.0,
            words: vec![word(0.9, 1.4), word(1.3, 2.2), word(4.8, 5.6)],
        }];
        fit_words_to_speech(&mut segments, &[iv(1.0, 2.0), iv(5.0, 6.0)]);
        let w = &segments[0].words;
        assert_eq!((w[0].start, w[0].end), (1.0, 1.4));
        assert_eq!((w[1].start, w[1].end), (1.4, 2.0));
        assert_eq!((w[2].start, w[2].end), (5.0, 5.6));
        assert_eq!((segments[0].start, segments[0].end), (1.0, 5.6));
    }

    #[test]
    fn caption_formats() {
        let t = Transcript {
            segments: vec![Segment {
                edited_at: None,
                id: 0,
                start: 3661.5,
                end: 3662.25,
                text: "Hello there.".into(),
                speaker: Some("S1".into()),
                confidence: 0.9,
                words: vec![],
            }],
            ..Transcript::default()
        };
        assert_eq!(
            srt(&t),
            "1\n01:01:01,500 --> 01:01:02,250\n[S1] Hello there.\n\n"
        );
        assert_eq!(
            vtt(&t),
            "WEBVTT\n\n01:01:01.500 --> 01:01:02.250\n[S1] Hello there.\n\n"
        );
        assert_eq!(txt(&t), "[S1] Hello there.\n");
    }
}
