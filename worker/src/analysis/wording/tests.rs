//! The local wording against the stand-in endpoint: good answers replace
//! builtin's wording, invented, meta or failed ones leave it.

use std::time::Duration;

use axum::http::StatusCode;

use super::*;
use crate::analysis::{
    builtin::{Chapter, Highlight},
    llm::{
        LlmConfig, Wire,
        stub::{Canned, openai_reply, serve},
    },
};

fn sentence(start: f64, text: &str) -> Sentence {
    Sentence {
        start,
        end: start + 9.0,
        text: text.into(),
        words: text.split_whitespace().count(),
        speaker: None,
    }
}

fn talk() -> Vec<Sentence> {
    vec![
        sentence(
            0.0,
            "The rover on Mars survived the dust storm last winter.",
        ),
        sentence(
            10.0,
            "Its solar panels were covered, so it slept for weeks.",
        ),
        sentence(70.0, "Tomatoes in my garden need more water in July."),
        sentence(80.0, "I water them early, before the heat of the day."),
    ]
}

fn builtin() -> Analysis {
    Analysis {
        summary: "The rover on Mars survived the dust storm last winter.".into(),
        chapters: vec![
            Chapter {
                title: "The rover on Mars survived the dust storm".into(),
                start: 0.0,
                end: 19.0,
            },
            Chapter {
                title: "Tomatoes in my garden need more water in July".into(),
                start: 70.0,
                end: 89.0,
            },
        ],
        keywords: Vec::new(),
        highlights: ["Its solar panels were covered", "I water them early"]
            .iter()
            .zip([0.0, 70.0])
            .map(|(title, start)| Highlight {
                start,
                end: start + 19.0,
                title: (*title).into(),
                hook: "opening".into(),
                score: 50,
                reasons: Vec::new(),
            })
            .collect(),
    }
}

fn title(t: &str) -> Canned {
    Canned::Json(
        StatusCode::OK,
        openai_reply(&json!({ "title": t }).to_string()),
        None,
    )
}

#[tokio::test]
async fn good_titles_replace_builtins_and_the_rest_keep_them() {
    let summary = "A rover on Mars slept through a dust storm, and a gardener waters tomatoes \
                   early in July.";
    let (url, stub) = serve(vec![
        // Chapters, highlights, summary, in order (one request at a time).
        title("How the Mars rover survived the dust storm."),
        title("A passage about gardening"),
        title("Quantum finance secrets revealed"),
        Canned::Text(StatusCode::INTERNAL_SERVER_ERROR, "down"),
        Canned::Text(StatusCode::INTERNAL_SERVER_ERROR, "down"),
        Canned::Json(
            StatusCode::OK,
            openai_reply(&json!({ "summary": summary }).to_string()),
            None,
        ),
    ])
    .await;
    let mut config = LlmConfig::new(Wire::OpenAi, &url, "qwen", None);
    config.backoff = Duration::from_millis(5);
    config.max_attempts = 2;
    config.private_hosts.insert("127.0.0.1".into());
    let client = LlmClient::new(config);
    let mut analysis = builtin();
    let before = builtin();
    let Worded {
        report,
        run,
        failure,
    } = word(&client, &talk(), &mut analysis, 1, |_, _| {}).await;
    assert_eq!(failure, Some("llm_error_status"));

    assert_eq!(
        analysis.chapters[0].title,
        "How the Mars rover survived the dust storm"
    );
    assert_eq!(analysis.chapters[1].title, before.chapters[1].title);
    assert_eq!(analysis.highlights[0].title, before.highlights[0].title);
    assert_eq!(analysis.highlights[1].title, before.highlights[1].title);
    assert_eq!(analysis.summary, summary);
    assert_eq!((report.asked, report.written, report.refused), (5, 2, 3));
    let reasons = report.reasons.join("\n");
    assert!(
        reasons.contains("chapter 2: it is about the text"),
        "{reasons}"
    );
    assert!(
        reasons.contains("highlight 1: \"Quantum finance"),
        "{reasons}"
    );
    assert!(
        reasons.contains("highlight 2: the request failed"),
        "{reasons}"
    );
    assert_eq!(run.usage.requests, 6);
    // Each request carries its own passage, and only it.
    let seen = stub.seen.lock().unwrap();
    let first = seen[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(
        first.contains("dust storm") && !first.contains("Tomatoes"),
        "{first}"
    );
    assert_eq!(seen[0].body["model"], "qwen");
}

#[test]
fn titles_must_be_short_specific_and_about_the_passage() {
    let passage = "Interest rates rose again as inflation stayed high this spring.";
    assert_eq!(
        acceptable_title("\"why interest rates keep rising\"", passage).unwrap(),
        "Why interest rates keep rising"
    );
    // Same stem is the same word: inflationary, inflation.
    assert!(acceptable_title("Inflationary pressure this spring", passage).is_ok());
    assert!(acceptable_title("Economics", passage).is_err());
    assert!(acceptable_title("The speaker explains the economy to everyone", passage).is_err());
    assert!(acceptable_title("Cooking pasta with fresh eggs", passage).is_err());
    let long = "rates ".repeat(13);
    assert!(acceptable_title(&long, passage).is_err());
}

#[test]
fn summaries_hold_the_talks_words_in_a_few_sentences() {
    let talk = "Interest rates rose again as inflation stayed high. Central banks waited.";
    assert!(
        acceptable_summary(
            "Central banks kept interest rates high while inflation stayed.",
            talk
        )
        .is_ok()
    );
    assert!(
        acceptable_summary(
            "A recipe for bread with flour, yeast and water today.",
            talk
        )
        .is_err()
    );
    let rambling =
        "Rates rose. Inflation stayed. Banks waited. Rates rose. Banks waited. Rates rose.";
    assert!(acceptable_summary(rambling, talk).is_err());
}

#[test]
fn a_long_passage_is_sampled_whole_sentences_evenly() {
    let many: Vec<Sentence> = (0..300)
        .map(|k| sentence(k as f64 * 10.0, &format!("Sentence {k} has five words.")))
        .collect();
    let p = passage(&many, 0.0, 3000.0);
    let n = p.split_whitespace().count();
    assert!((500..=PASSAGE_WORDS).contains(&n), "{n}");
    assert!(
        p.starts_with("Sentence 0 has") && p.contains("Sentence 297"),
        "{p}"
    );
    // Only the sentences inside the range.
    assert_eq!(passage(&many, 20.0, 29.0), "Sentence 2 has five words.");
}
