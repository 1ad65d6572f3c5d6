//! The text models from the installed model folder: the toxicity
//! classifier against the scores `toxicity.py`'s numpy reference gave for
//! the same sentences, and the sentence embedder on meaning.

use cutroom_core::moderation::{Action, Category, ModerationPolicy};
use serde::Deserialize;

use super::{
    embed::similarity,
    toxicity::{LABELS, Toxicity},
};
use crate::pipeline::listening_tests::engines;

fn toxicity() -> Toxicity {
    engines().toxicity().unwrap()
}

#[derive(Deserialize)]
struct Expected {
    text: String,
    scores: std::collections::HashMap<String, f32>,
}

#[test]
fn toxicity_matches_the_keras_reference() {
    let expected: Vec<Expected> =
        serde_json::from_str(include_str!("toxicity_expected.json")).unwrap();
    assert!(expected.len() >= 8);
    let mut model = toxicity();
    let texts: Vec<&str> = expected.iter().map(|e| e.text.as_str()).collect();
    let scores = model.classify(&texts).unwrap();
    for (e, got) in expected.iter().zip(&scores) {
        for (k, label) in LABELS.iter().enumerate() {
            let want = e.scores[*label];
            // The reference is rounded to 4 decimals.
            assert!(
                (got[k] - want).abs() <= 1.5e-4,
                "{:?} {label}: got {}, the Keras maths gave {want}",
                e.text,
                got[k]
            );
        }
    }
    // One at a time gives what a batch gives.
    let one = model.classify(&texts[3..4]).unwrap();
    assert!((one[0][0] - scores[3][0]).abs() < 1e-5);
}

#[test]
fn toxicity_tokens_follow_keras_rules() {
    let model = toxicity();
    // Punctuation splits, case folds, unknown words vanish.
    let a = model.tokens("You are an IDIOT!!!");
    let b = model.tokens("you are an idiot");
    assert_eq!(a, b);
    assert_eq!(a.len(), 4);
    assert!(model.tokens("qwxzyvk blorfnaxt").is_empty());
    // Jigsaw's comments include some German, none of this Japanese.
    assert_eq!(model.known_words("これはとても良いです"), 0);
    assert_eq!(model.known_words("Das ist nicht gut"), 4);
}

#[test]
fn sentence_embeddings_follow_meaning() {
    let mut embedder = engines().sentence_embedder().unwrap();
    let texts = [
        "The cat sat on the mat.",
        "A kitten was sitting on the rug.",
        "Interest rates rose again this quarter.",
        "The central bank increased borrowing costs.",
    ];
    let e = embedder.embed(&texts).unwrap();
    for v in &e {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    let cats = similarity(&e[0], &e[1]);
    let money = similarity(&e[2], &e[3]);
    let across = similarity(&e[0], &e[2]).max(similarity(&e[1], &e[3]));
    eprintln!("cats {cats:.3}, money {money:.3}, across {across:.3}");
    assert!(cats > 0.5 && money > 0.4, "cats {cats}, money {money}");
    assert!(across < 0.1, "{across}");
    // A text alone embeds as it does in a padded batch.
    let alone = embedder.embed(&texts[..1]).unwrap();
    assert!(similarity(&alone[0], &e[0]) > 0.9999);
}

/// One line of `moderation_set.tsv`.
struct Labelled {
    categories: Vec<Category>,
    text: String,
}

fn labelled_set() -> Vec<Labelled> {
    include_str!("moderation_set.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (labels, text) = l.split_once('\t').expect("labels<TAB>text");
            let categories = if labels == "-" {
                Vec::new()
            } else {
                labels
                    .split(',')
                    .map(|c| serde_json::from_value(serde_json::json!(c)).expect("a category"))
                    .collect()
            };
            Labelled {
                categories,
                text: text.to_owned(),
            }
        })
        .collect()
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

/// The classifier on the labelled set: AUC per category and precision and
/// recall of the default policy's flags, printed for docs/benchmarks.md
/// (`cargo test -p cutroom-worker --lib moderation_accuracy -- --nocapture`).
#[test]
fn moderation_accuracy_on_the_labelled_set() {
    let set = labelled_set();
    assert!(set.len() >= 60, "{} sentences", set.len());
    let mut model = toxicity();
    let texts: Vec<&str> = set.iter().map(|l| l.text.as_str()).collect();
    let scores = model.classify(&texts).unwrap();
    let policy = ModerationPolicy::default();
    let label_index = |c: Category| LABELS.iter().position(|l| Some(*l) == c.classifier_label());

    eprintln!("category         n+  n-   AUC  thr  precision recall");
    let mut aucs = Vec::new();
    for c in Category::ALL {
        let Some(k) = label_index(c) else { continue };
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for (l, s) in set.iter().zip(&scores) {
            if l.categories.contains(&c) {
                pos.push(s[k]);
            } else {
                neg.push(s[k]);
            }
        }
        if pos.is_empty() {
            continue;
        }
        let a = auc(&pos, &neg);
        let thr = policy.rule(c).threshold;
        let tp = pos.iter().filter(|&&s| s >= thr).count();
        let fp = neg.iter().filter(|&&s| s >= thr).count();
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / pos.len() as f64;
        eprintln!(
            "{:<16} {:>3} {:>3} {a:>5.3} {thr:>4.2} {precision:>9.2} {recall:>6.2}",
            c.name(),
            pos.len(),
            neg.len()
        );
        aucs.push((c, a));
    }

    // The job-level question: does the default policy flag the sentence?
    let flagged = |s: &[f32; 6]| {
        Category::ALL.iter().any(|&c| {
            label_index(c).is_some_and(|k| {
                let rule = policy.rule(c);
                rule.action != Action::Ignore && s[k] >= rule.threshold
            })
        })
    };
    let (mut tp, mut fp, mut positives) = (0, 0, 0);
    let mut misses = Vec::new();
    let mut false_alarms = Vec::new();
    for (l, s) in set.iter().zip(&scores) {
        let truth = !l.categories.is_empty();
        let got = flagged(s);
        positives += usize::from(truth);
        match (truth, got) {
            (true, true) => tp += 1,
            (false, true) => {
                fp += 1;
                false_alarms.push(l.text.as_str());
            }
            (true, false) => misses.push(l.text.as_str()),
            (false, false) => {}
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / positives as f64;
    eprintln!(
        "any flag (default policy): precision {precision:.2}, recall {recall:.2} \
         ({tp} of {positives} labelled sentences flagged, {fp} false alarms)"
    );
    eprintln!("missed: {misses:#?}\nfalse alarms: {false_alarms:#?}");
    if std::env::var_os("CUTROOM_PRINT_SCORES").is_some() {
        for (l, s) in set.iter().zip(&scores) {
            let s: Vec<String> = s.iter().map(|x| format!("{x:.3}")).collect();
            eprintln!(
                "{} | {:<40} | {}",
                s.join(" "),
                l.categories
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(","),
                l.text
            );
        }
    }

    // Floors well under what was measured (docs/benchmarks.md), so a broken
    // tokeniser or conversion fails here while the numbers stay reported.
    let toxicity_auc = aucs
        .iter()
        .find(|(c, _)| *c == Category::Toxicity)
        .unwrap()
        .1;
    assert!(toxicity_auc > 0.85, "toxicity AUC {toxicity_auc}");
    assert!(precision > 0.8 && recall > 0.6, "{precision} {recall}");
}
