//! The builtin analysis of made-up talks whose topics, questions and
//! speakers are known.

use super::*;

fn sentence(start: f64, end: f64, text: &str, speaker: &str) -> Sentence {
    Sentence {
        start,
        end,
        text: text.into(),
        words: text.split_whitespace().count(),
        speaker: Some(speaker.into()),
    }
}

/// An embedding pointing along axis `k` (topics are orthogonal).
fn topic(k: usize) -> Embedding {
    let mut e = [0.0; DIM];
    e[k] = 1.0;
    e
}

#[test]
fn chapters_break_where_the_topic_changes() {
    // Ten sentences on one topic, ten on another, 10 s each.
    let mut sentences = Vec::new();
    let mut embeddings = Vec::new();
    for i in 0..20 {
        let (text, k) = if i < 10 {
            ("Interest rates and inflation keep rising this year.", 0)
        } else {
            ("Our garden tomatoes need water and sunlight daily.", 1)
        };
        sentences.push(sentence(i as f64 * 10.0, i as f64 * 10.0 + 9.0, text, "S1"));
        embeddings.push(topic(k));
    }
    let a = analyse(
        &sentences,
        &embeddings,
        &Signals {
            loudness: &[],
            loudness_interval: 0.1,
            noise: &[],
        },
        Lengths {
            min: 15.0,
            max: 60.0,
        },
    );
    assert_eq!(a.chapters.len(), 2, "{:?}", a.chapters);
    assert_eq!(a.chapters[1].start, 100.0);
    let first = a.chapters[0].title.to_lowercase();
    let second = a.chapters[1].title.to_lowercase();
    assert!(
        ["interest", "rates", "inflation", "rising"]
            .iter()
            .any(|w| first.contains(w))
            && !second.contains("inflation"),
        "{:?}",
        a.chapters
    );
    assert!(
        ["garden", "tomatoes", "water", "sunlight", "daily"]
            .iter()
            .any(|w| second.contains(w))
            && !first.contains("garden"),
        "{:?}",
        a.chapters
    );
    assert!(!a.summary.is_empty());
    assert!(a.keywords.iter().any(|k| k.word == "rates"));
}

#[test]
fn highlights_are_whole_sentences_in_range_and_barely_overlap() {
    let mut sentences = Vec::new();
    let mut embeddings = Vec::new();
    for i in 0..60 {
        let text = if i % 7 == 0 {
            "Why does this matter so much?"
        } else if i % 5 == 0 {
            "And then it went on."
        } else {
            "The budget decides what the city can build next year."
        };
        let speaker = if i % 4 == 0 { "S2" } else { "S1" };
        sentences.push(sentence(
            i as f64 * 6.0,
            i as f64 * 6.0 + 5.5,
            text,
            speaker,
        ));
        embeddings.push(topic(i % 3));
    }
    let loudness: Vec<Option<f64>> = (0..3600)
        .map(|k| Some(-23.0 + (k % 100) as f64 / 50.0))
        .collect();
    let noise = [(100.0, 102.0)];
    let a = analyse(
        &sentences,
        &embeddings,
        &Signals {
            loudness: &loudness,
            loudness_interval: 0.1,
            noise: &noise,
        },
        Lengths {
            min: 15.0,
            max: 60.0,
        },
    );
    assert!(a.highlights.len() >= MIN_HIGHLIGHTS, "{:?}", a.highlights);
    let starts: Vec<f64> = sentences.iter().map(|s| s.start).collect();
    let ends: Vec<f64> = sentences.iter().map(|s| s.end).collect();
    for h in &a.highlights {
        assert!(starts.contains(&h.start) && ends.contains(&h.end), "{h:?}");
        let len = h.end - h.start;
        assert!((15.0..=60.0).contains(&len), "{h:?}");
        assert!(h.score <= 100 && !h.reasons.is_empty());
        let sum: u32 = h.reasons.iter().filter_map(|r| r.points).sum();
        assert_eq!(sum.min(100), h.score, "the reasons add up to the score");
    }
    for i in 0..a.highlights.len() {
        for j in i + 1..a.highlights.len() {
            let (x, y) = (&a.highlights[i], &a.highlights[j]);
            let shared = (x.end.min(y.end) - x.start.max(y.start)).max(0.0);
            assert!(shared <= 0.5 * (x.end - x.start).min(y.end - y.start) + 1e-9);
        }
    }
    // Ranked best first.
    assert!(a.highlights.windows(2).all(|w| w[0].score >= w[1].score));
    // A question opener is worth its points.
    let question = a.highlights.iter().find(|h| h.hook.ends_with('?'));
    if let Some(q) = question {
        assert!(q.reasons.iter().any(|r| r.signal == Signal::Question));
    }
}

#[test]
fn nothing_said_gives_an_empty_analysis() {
    let a = analyse(
        &[],
        &[],
        &Signals {
            loudness: &[],
            loudness_interval: 0.1,
            noise: &[],
        },
        Lengths {
            min: 15.0,
            max: 60.0,
        },
    );
    assert!(a.chapters.is_empty() && a.highlights.is_empty() && a.summary.is_empty());
}
