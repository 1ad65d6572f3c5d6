//! Moderation on the labelled set (`moderation_set.tsv`): the toxicity
//! classifier alone against both signals fused, on the tune split (the
//! meaning detector's own exemplars, each scored with itself left out of
//! the bank) and on the held-out split (never used to fit anything), as
//! text and spoken by espeak-ng and transcribed by the default Whisper
//! model. The numbers are printed for docs/benchmarks.md:
//! `cargo test -p cutroom-worker --lib moderation_accuracy -- --nocapture`.

use cutroom_core::{jobs::SilenceOptions, moderation::Category};

use super::meaning::{CATEGORIES, Labelled, Split, labelled_set};
use crate::{
    models::WhisperModel,
    pipeline::{
        listening_tests::{Gap, detect_speech, engines, espeak, timeline, transcribe_speech},
        moderate::signals::{Scores, score_texts},
    },
};

/// A sentence's score in each category (`Category::ALL` order; `None`:
/// not scored).
type ByCategory = [Option<f32>; 8];

fn by_category(s: &Scores) -> ByCategory {
    Category::ALL.map(|c| s.get(c).map(|(score, _)| score))
}

/// The default policy flags every category at 0.5.
fn flagged(s: &ByCategory) -> bool {
    s.iter().any(|x| x.is_some_and(|x| x >= 0.5))
}

fn is_benign(l: &Labelled) -> bool {
    l.categories.is_empty()
}

/// Area under the ROC curve: the chance that a random positive scores
/// above a random negative (ties count half).
fn auc(positives: &[f32], negatives: &[f32]) -> f64 {
    let mut wins = 0.0;
    for p in positives {
        for n in negatives {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (positives.len() * negatives.len()) as f64
}

/// What one detector made of one part of the set.
#[derive(Debug)]
struct Measured {
    /// Per category: AUC, precision and recall at 0.5.
    categories: Vec<(Category, f64, f64, f64)>,
    /// Benign sentences flagged by any category, and benign sentences.
    benign_flagged: (usize, usize),
}

impl Measured {
    fn category(&self, c: Category) -> (f64, f64, f64) {
        let &(_, a, p, r) = self
            .categories
            .iter()
            .find(|x| x.0 == c)
            .unwrap_or_else(|| panic!("{c:?} not measured"));
        (a, p, r)
    }

    fn benign_rate(&self) -> f64 {
        self.benign_flagged.0 as f64 / self.benign_flagged.1 as f64
    }
}

/// Prints and returns the table for `rows`; lists the misses and false
/// alarms of the threats and hate.
fn measure(title: &str, rows: &[Row<'_>]) -> Measured {
    eprintln!("\n{title} ({} sentences)", rows.len());
    eprintln!("category         n+  n-   AUC  precision recall");
    let mut categories = Vec::new();
    for (k, c) in Category::ALL.into_iter().enumerate() {
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for (l, _, s) in rows {
            let Some(score) = s[k] else { continue };
            if l.categories.contains(&c) {
                pos.push(score);
            } else {
                neg.push(score);
            }
        }
        if pos.is_empty() {
            continue;
        }
        let a = auc(&pos, &neg);
        let tp = pos.iter().filter(|&&s| s >= 0.5).count();
        let fp = neg.iter().filter(|&&s| s >= 0.5).count();
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / pos.len() as f64;
        eprintln!(
            "{:<16} {:>3} {:>3} {a:>5.3} {precision:>9.2} {recall:>6.2}",
            c.name(),
            pos.len(),
            neg.len()
        );
        categories.push((c, a, precision, recall));
    }
    let benign: Vec<_> = rows.iter().filter(|(l, _, _)| is_benign(l)).collect();
    let false_alarms: Vec<&str> = benign
        .iter()
        .filter(|(_, _, s)| flagged(s))
        .map(|(_, heard, _)| *heard)
        .collect();
    eprintln!(
        "benign flagged: {} of {} ({:.1} %): {false_alarms:?}",
        false_alarms.len(),
        benign.len(),
        100.0 * false_alarms.len() as f64 / benign.len() as f64
    );
    let harmful: Vec<_> = rows
        .iter()
        .filter(|(l, _, _)| l.categories.iter().any(|c| *c != Category::Profanity))
        .collect();
    eprintln!(
        "harmful flagged by any category: {} of {}",
        harmful.iter().filter(|(_, _, s)| flagged(s)).count(),
        harmful.len()
    );
    for c in [Category::Violence, Category::Hate] {
        let k = Category::ALL.iter().position(|x| *x == c).unwrap();
        let missed: Vec<&str> = rows
            .iter()
            .filter(|(l, _, s)| l.categories.contains(&c) && s[k].is_none_or(|x| x < 0.5))
            .map(|(_, heard, _)| *heard)
            .collect();
        eprintln!("{} missed: {missed:?}", c.name());
    }
    Measured {
        categories,
        benign_flagged: (false_alarms.len(), benign.len()),
    }
}

#[test]
fn moderation_set_is_split_by_its_rule() {
    let set = labelled_set();
    assert!(set.len() >= 600, "{} sentences", set.len());
    // Round 2's held-out sections come last and are all held out; every
    // other section is tune (round 1's held-out third was spent).
    let first_held = set
        .iter()
        .position(|l| l.section.starts_with("Held out, round 2:"))
        .expect("a held-out section");
    for (i, l) in set.iter().enumerate() {
        let want = if i >= first_held {
            Split::HeldOut
        } else {
            Split::Tune
        };
        assert_eq!(l.split, want, "{:?} in {:?}", l.text, l.section);
        assert_eq!(
            l.section.starts_with("Held out, round 2:"),
            want == Split::HeldOut,
            "{:?}",
            l.section
        );
    }
    let held = set.iter().filter(|l| l.split == Split::HeldOut).count();
    assert!(held * 5 >= set.len(), "{held} of {} held out", set.len());
    let benign = set.iter().filter(|l| is_benign(l)).count();
    assert!(benign * 10 >= set.len() * 4, "{benign} benign");
    // Every category the meaning detector scores has tune exemplars and
    // held-out sentences.
    for c in CATEGORIES {
        for split in [Split::Tune, Split::HeldOut] {
            let n = set
                .iter()
                .filter(|l| l.split == split && l.categories.contains(&c))
                .count();
            assert!(n >= 6, "{c:?} {split:?}: {n}");
        }
    }
    let mut texts: Vec<&str> = set.iter().map(|l| l.text).collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), set.len(), "a sentence is in the set twice");
}

type Row<'a> = (&'a Labelled, &'a str, ByCategory);

fn part<'a>(rows: &[Row<'a>], split: Split) -> Vec<Row<'a>> {
    rows.iter()
        .filter(|(l, _, _)| l.split == split)
        .copied()
        .collect()
}

/// The text of both splits. Tune sentences are scored by the bank with
/// themselves left out (in the bank they would find themselves).
#[test]
fn moderation_accuracy_on_the_labelled_set() {
    let set = labelled_set();
    let engines = engines();
    let texts: Vec<&str> = set.iter().map(|l| l.text).collect();
    let scores = score_texts(&engines, &texts).unwrap();
    let bank = engines.meaning().unwrap();
    eprintln!(
        "meaning thresholds (raw scores, {:?}): {:?}",
        CATEGORIES.map(Category::name),
        bank.thresholds()
    );
    let mut tune_at = 0;
    let mut fused = Vec::new();
    let mut words = Vec::new();
    for (l, s) in set.iter().zip(&scores) {
        let mut s = s.expect("every sentence has known words");
        if l.split == Split::Tune {
            s.meaning = Some(bank.read_left_out(tune_at));
            tune_at += 1;
        }
        fused.push((l, l.text, by_category(&s)));
        words.push((
            l,
            l.text,
            by_category(&Scores::classifier_only(s.classifier)),
        ));
    }
    let old_tune = measure("tune, classifier alone", &part(&words, Split::Tune));
    let new_tune = measure(
        "tune, classifier + meaning (left out)",
        &part(&fused, Split::Tune),
    );
    let old_held = measure("held out, classifier alone", &part(&words, Split::HeldOut));
    let new_held = measure(
        "held out, classifier + meaning",
        &part(&fused, Split::HeldOut),
    );
    if std::env::var_os("CUTROOM_PRINT_SCORES").is_some() {
        for (l, _, s) in &fused {
            let s: Vec<String> = s
                .iter()
                .map(|x| x.map_or("-".into(), |x| format!("{x:.2}")))
                .collect();
            eprintln!("{:?} {} | {}", l.split, s.join(" "), l.text);
        }
    }
    // Floors under what was measured (docs/benchmarks.md, round 2). On
    // held-out text the goal (recall 0.9 on threats and hate, at most 5 %
    // of benign sentences flagged) is met for hate (1.00) and benign
    // sentences (4.4 %), and violence reaches 0.88.
    for m in [&old_tune, &old_held] {
        assert!(m.category(Category::Toxicity).0 > 0.75, "{m:?}");
        assert!(m.category(Category::Violence).2 < 0.2, "{m:?}");
    }
    for m in [&new_tune, &new_held] {
        for c in [Category::Harassment, Category::Violence, Category::Sexual] {
            assert!(m.category(c).0 >= 0.9, "{c:?} {m:?}");
        }
        assert!(m.category(Category::Hate).0 >= 0.95, "{m:?}");
        assert!(m.category(Category::SelfHarm).0 >= 0.85, "{m:?}");
        assert!(m.category(Category::Violence).2 >= 0.85, "{m:?}");
        assert!(m.category(Category::Hate).2 >= 0.9, "{m:?}");
        assert!(m.benign_rate() <= 0.06, "{m:?}");
    }
}

/// The held-out sentences spoken by espeak-ng, each transcribed by the
/// default model on its own with half a second of silence around it. (One
/// long recording transcribed once is faster, but Whisper's word times in a
/// 30 s window ran late enough to hand a sentence's last word to the next
/// one, which garbled a third of the sentences.)
#[test]
fn moderation_accuracy_on_held_out_speech() {
    let _turn = crate::CPU_HEAVY.blocking_lock();
    let held: Vec<Labelled> = labelled_set()
        .into_iter()
        .filter(|l| l.split == Split::HeldOut)
        .collect();
    let heard: Vec<String> = held
        .iter()
        .map(|l| {
            let (audio, _) = timeline(&[espeak("en-us", l.text)], &[Gap::Silence(0.5)]);
            let report = detect_speech(&audio, &SilenceOptions::default());
            let transcript = transcribe_speech(WhisperModel::TinyEn, &audio, &report.speech);
            transcript
                .segments
                .iter()
                .map(|s| s.text.trim())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let texts: Vec<&str> = heard.iter().map(String::as_str).collect();
    let scores = score_texts(&engines(), &texts).unwrap();
    let mut fused = Vec::new();
    let mut alone = Vec::new();
    for ((l, text), s) in held.iter().zip(&texts).zip(&scores) {
        // A sentence Whisper heard nothing of (or nothing the classifier
        // knows) is unscored, as in a job: it counts as not flagged.
        let unscored = (
            Category::ALL.map(|c| c.covered().then_some(0.0)),
            Category::ALL.map(|c| c.classifier_label().map(|_| 0.0)),
        );
        let (f, w) = s.map_or(unscored, |s| {
            (
                by_category(&s),
                by_category(&Scores::classifier_only(s.classifier)),
            )
        });
        fused.push((l, *text, f));
        alone.push((l, *text, w));
    }
    let old = measure("held out, spoken, classifier alone", &alone);
    let new = measure("held out, spoken, classifier + meaning", &fused);
    // The goal (recall 0.9 on threats and hate, at most 5 % of benign
    // sentences flagged) is not met spoken (round 2: 0.85, 0.85, 5.9 %);
    // these are floors under what was measured, so a regression fails
    // here (docs/benchmarks.md).
    assert!(old.category(Category::Violence).2 < 0.3, "{old:?}");
    assert!(new.category(Category::Violence).2 >= 0.8, "{new:?}");
    assert!(new.category(Category::Hate).2 >= 0.8, "{new:?}");
    assert!(new.category(Category::Hate).0 >= 0.95, "{new:?}");
    assert!(new.benign_rate() <= 0.08, "{new:?}");
}
