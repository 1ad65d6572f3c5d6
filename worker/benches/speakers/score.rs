//! How well the models did: equal error rate of verification, and the
//! diarization error rate with a collar.

/// The equal error rate of scores of same-speaker pairs against
/// different-speaker pairs, and the threshold where it falls (higher
/// score: more alike).
pub(crate) fn eer(same: &[f32], diff: &[f32]) -> (f64, f32) {
    let mut thresholds: Vec<f32> = same.iter().chain(diff).copied().collect();
    thresholds.sort_by(f32::total_cmp);
    let mut best = (f64::MAX, 0.0, 0.0f32);
    for &t in &thresholds {
        let (far, frr) = rates(same, diff, t);
        let gap = (far - frr).abs();
        if gap < best.0 {
            best = (gap, (far + frr) / 2.0, t);
        }
    }
    (best.1, best.2)
}

/// False accepts (different pairs at or above `t`) and false rejects (same
/// pairs below it), as shares.
pub(crate) fn rates(same: &[f32], diff: &[f32], t: f32) -> (f64, f64) {
    let far = diff.iter().filter(|&&s| s >= t).count() as f64 / diff.len().max(1) as f64;
    let frr = same.iter().filter(|&&s| s < t).count() as f64 / same.len().max(1) as f64;
    (far, frr)
}

/// One file's diarization against its truth, in frames of 10 ms.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Diarization {
    pub(crate) speakers_true: usize,
    pub(crate) speakers_found: usize,
    /// Reference speaker-time scored (overlaps count once per speaker).
    pub(crate) reference: f64,
    pub(crate) missed: f64,
    pub(crate) false_alarm: f64,
    pub(crate) confusion: f64,
    /// Single-speaker reference speech that was found as speech.
    pub(crate) attributed: f64,
    /// Of that, on the speaker mapped to the right one.
    pub(crate) right: f64,
}

impl Diarization {
    pub(crate) fn der(&self) -> f64 {
        (self.missed + self.false_alarm + self.confusion) / self.reference.max(1e-9)
    }

    pub(crate) fn right_share(&self) -> f64 {
        self.right / self.attributed.max(1e-9)
    }

    pub(crate) fn add(&mut self, o: &Diarization) {
        self.speakers_true += o.speakers_true;
        self.speakers_found += o.speakers_found;
        self.reference += o.reference;
        self.missed += o.missed;
        self.false_alarm += o.false_alarm;
        self.confusion += o.confusion;
        self.attributed += o.attributed;
        self.right += o.right;
    }
}

/// Scores `frames` (a label per 10 ms, `None` outside speech) against
/// `turns` ((start, end, speaker) seconds, overlaps allowed) as NIST's
/// md-eval does: frames within `collar` seconds of a reference turn's
/// start or end are not scored, and found labels are mapped one-to-one to
/// true speakers so as to maximise the time they share.
pub(crate) fn diarization(
    frames: &[Option<usize>],
    turns: &[(f64, f64, usize)],
    speakers: usize,
    collar: f64,
) -> Diarization {
    let len = frames.len();
    let at = |t: f64| ((t * 100.0).round().max(0.0) as usize).min(len);
    let mut reference: Vec<Vec<usize>> = vec![Vec::new(); len];
    let mut skip = vec![false; len];
    let c = (collar * 100.0).round() as usize;
    for &(s, e, who) in turns {
        let (a, b) = (at(s), at(e));
        for r in &mut reference[a..b] {
            if !r.contains(&who) {
                r.push(who);
            }
        }
        for edge in [a, b] {
            for f in &mut skip[edge.saturating_sub(c)..(edge + c).min(len)] {
                *f = true;
            }
        }
    }
    let found = frames.iter().flatten().max().map_or(0, |m| m + 1);
    // Time each found label shares with each true speaker.
    let mut shared = vec![vec![0usize; speakers]; found];
    for f in 0..len {
        if skip[f] {
            continue;
        }
        if let Some(h) = frames[f] {
            for &r in &reference[f] {
                shared[h][r] += 1;
            }
        }
    }
    let mapping = best_mapping(&shared, speakers);
    let mut d = Diarization {
        speakers_true: speakers,
        speakers_found: found,
        ..Default::default()
    };
    for f in 0..len {
        if skip[f] {
            continue;
        }
        let n_ref = reference[f].len();
        let n_hyp = usize::from(frames[f].is_some());
        let correct = frames[f]
            .and_then(|h| mapping[h])
            .is_some_and(|r| reference[f].contains(&r));
        d.reference += n_ref as f64 / 100.0;
        d.missed += n_ref.saturating_sub(n_hyp) as f64 / 100.0;
        d.false_alarm += n_hyp.saturating_sub(n_ref) as f64 / 100.0;
        d.confusion += (n_ref.min(n_hyp) - usize::from(correct)) as f64 / 100.0;
        if n_ref == 1 && n_hyp == 1 {
            d.attributed += 0.01;
            if correct {
                d.right += 0.01;
            }
        }
    }
    d
}

/// For each found label, the true speaker it stands for (or none), one
/// label per speaker, maximising shared time. Exhaustive: a handful of
/// speakers each way.
fn best_mapping(shared: &[Vec<usize>], speakers: usize) -> Vec<Option<usize>> {
    fn search(
        r: usize,
        shared: &[Vec<usize>],
        speakers: usize,
        used: &mut Vec<bool>,
        now: &mut Vec<Option<usize>>,
        score: usize,
        best: &mut (usize, Vec<Option<usize>>),
    ) {
        if r == speakers {
            if score > best.0 || best.1.is_empty() {
                *best = (score, now.clone());
            }
            return;
        }
        search(r + 1, shared, speakers, used, now, score, best);
        for h in 0..shared.len() {
            if !used[h] {
                used[h] = true;
                now[h] = Some(r);
                search(
                    r + 1,
                    shared,
                    speakers,
                    used,
                    now,
                    score + shared[h][r],
                    best,
                );
                now[h] = None;
                used[h] = false;
            }
        }
    }
    let mut best = (0, Vec::new());
    search(
        0,
        shared,
        speakers,
        &mut vec![false; shared.len()],
        &mut vec![None; shared.len()],
        0,
        &mut best,
    );
    if best.1.is_empty() {
        vec![None; shared.len()]
    } else {
        best.1
    }
}

/// The scoring on cases whose answer is known, checked before any number
/// is printed.
pub(crate) fn check() {
    let turns = [(0.0, 1.0, 0), (1.0, 2.0, 1)];
    let frames: Vec<Option<usize>> = (0..200).map(|f| Some(usize::from(f < 100))).collect();
    let d = diarization(&frames, &turns, 2, 0.0);
    assert!(d.der() < 1e-9 && (d.right_share() - 1.0).abs() < 1e-9);
    let one: Vec<Option<usize>> = vec![Some(0); 200];
    let d = diarization(&one, &turns, 2, 0.0);
    assert!((d.confusion - 1.0).abs() < 1e-9, "{d:?}");
    assert_eq!(eer(&[0.9, 0.8], &[0.1, 0.2]).0, 0.0);
}
