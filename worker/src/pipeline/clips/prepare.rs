//! Planning each chosen clip before anything is encoded: where it is cut
//! ([`super::plan`]), what tightening keeps of it, its words and caption
//! files, how it is framed, where its loudness fitting starts, and the
//! render of each shape and of its preview. Apart from the assembling so
//! that every clip is planned (and its folder written) before the one
//! blocking task renders them all.

use std::path::{Path, PathBuf};

use cutroom_core::{
    clips::{ClipFormat, ClipOptions},
    outputs::clips::{Framing, Manifest, SkipCode, Skipped},
};

use super::{
    Inputs,
    captions::{self, BurnStyle, ClipWord},
    edit,
    encode::{Picture, RenderSpec},
    faces::{FaceDetector, Shot},
    files::{make_dir, write_file},
    framing::{canvas, face_detector, frame_speaker, framed_filters},
    look::Look,
    manifest::{Origin, round2},
    plan::{self, Cut, Span, clip_words, word_timeline},
    render,
};
use crate::{
    analysis::builtin::Highlight,
    pipeline::{
        JobCtx, StageError,
        loudness::{LoudnessReport, Series},
        silence::SilenceKind,
    },
};

/// Width of the animated preview, at most.
const PREVIEW_WIDTH: u32 = 240;

/// Seconds of the clip the preview shows, from its start.
const PREVIEW_SECONDS: f64 = 3.0;

/// One clip's renders, planned before any encoding starts.
pub(super) struct Planned {
    pub index: u32,
    /// Where it came from: a highlight's rank, or the range's position.
    pub made_from: Origin,
    pub highlight: usize,
    pub cut: Cut,
    /// Stretches of the cut kept by tightening (clip clock); empty: all.
    pub keep: Vec<(f64, f64)>,
    pub framing: Option<Framing>,
    pub source_lufs: Option<f64>,
    pub dir: PathBuf,
    /// (format, spec) per requested shape; the first also picks the
    /// thumbnail.
    pub renders: Vec<(ClipFormat, RenderSpec)>,
    pub preview: RenderSpec,
    pub srt: String,
    pub vtt: String,
}

/// What every clip of a job is planned from.
pub(super) struct Planner<'p, 'a> {
    input: &'p Inputs<'a>,
    options: &'p ClipOptions,
    picture: Picture,
    /// Where the transcript's zero is on the file's clock.
    origin: f64,
    look: &'p Look,
    /// The clips' folder; each clip has its own inside.
    dir: &'p Path,
    spans: Vec<Span>,
    texts: Vec<String>,
    speakers: Vec<Option<String>>,
}

impl<'p, 'a> Planner<'p, 'a> {
    pub(super) fn new(
        input: &'p Inputs<'a>,
        options: &'p ClipOptions,
        (picture, origin): (Picture, f64),
        look: &'p Look,
        dir: &'p Path,
    ) -> Self {
        let (spans, texts, speakers) = word_timeline(input.transcript);
        Self {
            input,
            options,
            picture,
            origin,
            look,
            dir,
            spans,
            texts,
            speakers,
        }
    }

    /// The renders of each of the `chosen` highlights (with their position
    /// among all of them), in order; one without words is skipped.
    pub(super) async fn plan(
        &self,
        ctx: &JobCtx<'_>,
        chosen: Vec<(usize, &Highlight)>,
        manifest: &mut Manifest,
    ) -> Result<Vec<Planned>, StageError> {
        let input = self.input;
        let mut planned = Vec::new();
        let mut detector = match self.look {
            Look::Video => face_detector(ctx, self.options, manifest),
            Look::Audiogram { .. } => None,
        };
        for (k, h) in chosen {
            let made_from = Origin::new(k, input.ranked);
            let Some(cut) = plan::cut(
                &self.spans,
                &input.audio.mono16k,
                input.audio.duration(),
                h.start,
                h.end,
            ) else {
                manifest.skipped.push(Skipped {
                    highlight_rank: made_from.rank(),
                    range: made_from.range(),
                    code: SkipCode::NoWords,
                    message: format!("no transcribed word lies inside the {}", made_from.noun()),
                });
                continue;
            };
            let index = u32::try_from(planned.len() + 1).unwrap_or(u32::MAX);
            planned.push(
                self.clip(ctx, (k, made_from), cut, index, &mut detector)
                    .await?,
            );
        }
        Ok(planned)
    }

    /// One clip's renders, numbered `index`.
    async fn clip(
        &self,
        ctx: &JobCtx<'_>,
        (k, made_from): (usize, Origin),
        cut: Cut,
        index: u32,
        detector: &mut Option<FaceDetector>,
    ) -> Result<Planned, StageError> {
        let (input, options, picture, look) = (self.input, self.options, self.picture, self.look);
        let clip_dir = self.dir.join(format!("{index:02}"));
        // Made here, not only when a caption script is written into it: a
        // clip without burned captions renders straight into it.
        make_dir(&clip_dir).await?;
        let words = clip_words(&self.spans, &self.texts, &cut);
        let keep = self.keep(&cut, &words);
        // The words where they are heard in the clip as rendered.
        let words: Vec<ClipWord> = words
            .into_iter()
            .map(|w| ClipWord {
                start: edit::retime(w.start, &keep),
                end: edit::retime(w.end, &keep),
                text: w.text,
            })
            .collect();
        let duration = kept_seconds(&keep, cut.duration());
        let cues = captions::cues(&words, duration);
        let (framing, shots) = self.frame(ctx, detector, &cut, &keep, duration).await?;
        let measured = range_loudness(&input.audio.loudness, cut.start, cut.end);
        // Where the fitting starts; see `render::fit_loudness`.
        let gain_db = measured.map_or(0.0, |m| options.loudness_target - m);
        let mut renders = Vec::new();
        for (n, &format) in options.formats.iter().enumerate() {
            let (width, height) = canvas(format, picture);
            let title = look.title(width, height);
            let ass = (options.captions.burn || title.is_some()).then(|| {
                let path = clip_dir.join(format!("{}.ass", format.name()));
                let burned: &[ClipWord] = if options.captions.burn { &words } else { &[] };
                let script = captions::ass(
                    burned,
                    duration,
                    BurnStyle {
                        width,
                        height,
                        words_per_caption: options.captions.words_per_caption as usize,
                        title,
                    },
                );
                (path, script)
            });
            let filters = look.filters(
                ass.as_ref().map(|(path, _)| path.as_path()),
                (width, height),
                || {
                    framed_filters(
                        format,
                        options.reframe,
                        picture,
                        shots.as_deref(),
                        (width, height),
                    )
                },
            );
            renders.push((
                format,
                RenderSpec {
                    source: input.source.path.clone(),
                    audio_stream: input.media.audio_stream,
                    origin: self.origin,
                    start: cut.start,
                    end: cut.end,
                    video_filters: filters,
                    width,
                    height,
                    gain_db,
                    output: clip_dir.join(format!("{}.mp4", format.name())),
                    thumbnail: (n == 0).then(|| clip_dir.join("thumbnail.jpg")),
                    audio: true,
                    crf: render::CLIP_CRF,
                    keep: keep.clone(),
                    smart: look.is_video()
                        && format == ClipFormat::Original
                        && (width, height) == (picture.width, picture.height)
                        && !options.captions.burn
                        && keep.is_empty(),
                },
            ));
            if let Some((path, script)) = ass {
                write_file(&clip_dir, &path, script.into_bytes()).await?;
            }
        }

        let preview = self.preview(&renders[0], &cut, &keep, &clip_dir, shots.as_deref());
        Ok(Planned {
            index,
            preview,
            made_from,
            highlight: k,
            cut,
            keep,
            framing,
            source_lufs: measured.map(round2),
            dir: clip_dir,
            renders,
            srt: captions::srt(&cues),
            vtt: captions::vtt(&cues),
        })
    }

    /// Stretches of the cut kept by tightening (clip clock), when the job
    /// asks for it; empty keeps it all.
    fn keep(&self, cut: &Cut, words: &[ClipWord]) -> Vec<(f64, f64)> {
        let options = self.options;
        if options.tighten.enabled {
            let pauses: Vec<(f64, f64)> = self
                .input
                .silences
                .silences
                .iter()
                .filter(|s| s.kind == SilenceKind::Quiet && s.end > cut.start && s.start < cut.end)
                .map(|s| (s.start - cut.start, s.end - cut.start))
                .collect();
            let said: Vec<(f64, f64)> = words.iter().map(|w| (w.start, w.end)).collect();
            edit::jump_cuts(
                cut.duration(),
                &pauses,
                &said,
                (options.tighten.min_silence, options.tighten.margin),
                f64::from(self.picture.fps),
            )
        } else {
            Vec::new()
        }
    }

    /// How speaker framing frames the clip, and the shots it renders,
    /// when the job has a face detector; the detector is handed on to
    /// the next clip.
    async fn frame(
        &self,
        ctx: &JobCtx<'_>,
        detector: &mut Option<FaceDetector>,
        cut: &Cut,
        keep: &[(f64, f64)],
        duration: f64,
    ) -> Result<(Option<Framing>, Option<Vec<Shot>>), StageError> {
        let (spans, speakers) = (&self.spans, &self.speakers);
        Ok(match detector.take() {
            None => (None, None),
            Some(d) => {
                let turns: Vec<f64> = (cut.first_word + 1..=cut.last_word)
                    .filter(|&k| {
                        matches!((&speakers[k - 1], &speakers[k]), (Some(a), Some(b)) if a != b)
                    })
                    .map(|k| edit::retime((spans[k - 1].end + spans[k].start) / 2.0 - cut.start, keep))
                    .collect();
                let range = (self.origin + cut.start, self.origin + cut.end);
                let (d, framed) =
                    frame_speaker(ctx, self.input, d, range, keep, &turns, duration).await?;
                *detector = Some(d);
                let shots = (!framed.shots.is_empty()).then(|| {
                    framed
                        .shots
                        .iter()
                        .map(|s| Shot {
                            start: s.start,
                            centre: (s.x, s.y),
                        })
                        .collect::<Vec<_>>()
                });
                (Some(framed), shots)
            }
        })
    }

    /// The preview: the first shape, small, muted, its first seconds.
    fn preview(
        &self,
        (format, first): &(ClipFormat, RenderSpec),
        cut: &Cut,
        keep: &[(f64, f64)],
        clip_dir: &Path,
        shots: Option<&[Shot]>,
    ) -> RenderSpec {
        let scale = (f64::from(PREVIEW_WIDTH) / f64::from(first.width)).min(1.0);
        let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
        let (pw, ph) = (
            even(f64::from(first.width) * scale),
            even(f64::from(first.height) * scale),
        );
        let mut preview_keep = first_seconds(keep, PREVIEW_SECONDS);
        let preview_end = preview_keep
            .last()
            .map_or(cut.duration().min(PREVIEW_SECONDS), |k| k.1);
        if preview_keep.len() < 2 {
            preview_keep.clear();
        }
        RenderSpec {
            end: cut.start + preview_end,
            keep: preview_keep,
            video_filters: self.look.filters(None, (pw, ph), || {
                framed_filters(*format, self.options.reframe, self.picture, shots, (pw, ph))
            }),
            width: pw,
            height: ph,
            output: clip_dir.join("preview.mp4"),
            thumbnail: None,
            audio: false,
            crf: render::PREVIEW_CRF,
            smart: false,
            ..first.clone()
        }
    }
}

/// Seconds of a cut of `length` once only `keep` is left of it.
pub(super) fn kept_seconds(keep: &[(f64, f64)], length: f64) -> f64 {
    if keep.is_empty() {
        length
    } else {
        keep.iter().map(|(a, b)| b - a).sum()
    }
}

/// The stretches of `keep` (all of a clip when empty) that make its first
/// `seconds` as rendered.
fn first_seconds(keep: &[(f64, f64)], seconds: f64) -> Vec<(f64, f64)> {
    if keep.is_empty() {
        return Vec::new();
    }
    let mut left = seconds;
    let mut out = Vec::new();
    for &(a, b) in keep {
        if left <= 0.0 {
            break;
        }
        out.push((a, b.min(a + left)));
        left -= b - a;
    }
    out
}

/// Integrated loudness (BS.1770: absolute gate -70 LUFS, relative -10 LU)
/// of `start..end` from the momentary series, whose 400 ms windows every
/// 100 ms are exactly the standard's gating blocks. `None` for silence or a
/// range shorter than one block.
pub(super) fn range_loudness(report: &LoudnessReport, start: f64, end: f64) -> Option<f64> {
    let Series {
        interval,
        window,
        values,
    } = &report.momentary;
    let energies: Vec<f64> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let block_end = (i + 1) as f64 * interval;
            let block_start = block_end - window;
            (block_start >= start - 1e-6 && block_end <= end + 1e-6)
                .then_some(*v)
                .flatten()
        })
        .filter(|l| *l >= -70.0)
        .map(|l| 10f64.powf((l + 0.691) / 10.0))
        .collect();
    if energies.is_empty() {
        return None;
    }
    let loudness = |e: f64| -0.691 + 10.0 * e.log10();
    let mean = energies.iter().sum::<f64>() / energies.len() as f64;
    let gate = loudness(mean) - 10.0;
    let kept: Vec<f64> = energies
        .into_iter()
        .filter(|e| loudness(*e) >= gate)
        .collect();
    Some(loudness(kept.iter().sum::<f64>() / kept.len() as f64))
}
