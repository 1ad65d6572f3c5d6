//! The text models from the installed model folder: the toxicity
//! classifier against the scores `toxicity.py`'s numpy reference gave for
//! the same sentences, and the sentence embedder on meaning. Moderation's
//! accuracy on the labelled set is in `moderation_tests.rs`.

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
