//! The builtin analysis on a real transcript: two topics, each about a
//! minute, spoken by espeak-ng, transcribed by Whisper tiny.en and
//! embedded by MiniLM, exactly as a job runs them.

use cutroom_core::jobs::SilenceOptions;

use super::{
    builtin::{Lengths, Signals, analyse},
    sentences,
};
use crate::{
    models::WhisperModel,
    pipeline::listening_tests::{Gap, detect_speech, engines, espeak, timeline, transcribe_speech},
};

pub(super) const COOKING: [&str; 16] = [
    "Today we are making fresh pasta from scratch in my kitchen.",
    "You only need flour, eggs and a little salt for the dough.",
    "Make a well in the flour and crack the eggs into the middle.",
    "Knead the dough for ten minutes until it feels smooth.",
    "Wrap the dough and let it rest for half an hour.",
    "Roll the pasta dough thin enough to see your hand through it.",
    "Cut the sheets into long ribbons for tagliatelle.",
    "Bring a big pot of salted water to a rolling boil.",
    "Fresh pasta cooks in about two minutes, so watch it closely.",
    "Meanwhile, melt butter in a pan with a few sage leaves.",
    "Toss the cooked pasta in the butter with some pasta water.",
    "Grate plenty of parmesan cheese over the top.",
    "Why does fresh pasta taste so much better than dried pasta?",
    "The eggs give the dough a rich flavour and a silky texture.",
    "Leftover dough keeps in the fridge for two days.",
    "Serve the pasta straight away while it is hot.",
];

pub(super) const SPACE: [&str; 16] = [
    "Now let us talk about the new mission to the planet Mars.",
    "The rocket launched from Florida early on Tuesday morning.",
    "It will take about seven months to reach the red planet.",
    "The spacecraft carries a rover that can drill into rocks.",
    "Scientists hope to find signs of ancient water on Mars.",
    "The rover is powered by a small nuclear battery.",
    "Landing on Mars is hard because the atmosphere is so thin.",
    "A parachute and rockets slow the lander before touchdown.",
    "Signals from Mars take up to twenty minutes to reach Earth.",
    "Engineers plan every move of the rover a day in advance.",
    "The mission will also test making oxygen from the air.",
    "What would it take to send astronauts to Mars one day?",
    "Future crews would need food, water and shelter for years.",
    "The orbiter will relay data from the rover back home.",
    "Telescopes on Earth will follow the spacecraft the whole way.",
    "The team expects the first pictures from the surface next year.",
];

#[test]
fn two_spoken_topics_make_two_chapters_and_whole_sentence_highlights() {
    let clips: Vec<Vec<f32>> = COOKING
        .iter()
        .chain(&SPACE)
        .map(|t| espeak("en-us", t))
        .collect();
    let (audio, truth) = timeline(&clips, &[Gap::Silence(0.7)]);
    let change = (truth[COOKING.len() - 1].1 + truth[COOKING.len()].0) / 2.0;
    let report = detect_speech(&audio, &SilenceOptions::default());
    let transcript = transcribe_speech(WhisperModel::TinyEn, &audio, &report.speech);
    let sentences = sentences::split(&transcript);
    assert!(sentences.len() >= 28, "{} sentences", sentences.len());

    let mut embedder = engines().sentence_embedder().unwrap();
    let texts: Vec<&str> = sentences.iter().map(|s| s.text.as_str()).collect();
    let embeddings = embedder.embed(&texts).unwrap();
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
    eprintln!(
        "{:.1} s of audio, topic change at {change:.1} s; chapters {:#?}\nsummary: {}\nkeywords: {:?}",
        audio.len() as f64 / 16_000.0,
        a.chapters,
        a.summary,
        a.keywords.iter().map(|k| &k.word).collect::<Vec<_>>()
    );
    for h in &a.highlights {
        eprintln!(
            "{:>3} {:6.1}-{:6.1} {:?} {:?}",
            h.score,
            h.start,
            h.end,
            h.title,
            h.reasons
                .iter()
                .map(|r| (r.signal, r.points))
                .collect::<Vec<_>>()
        );
    }

    // Two chapters, split within one sentence of where the topic changed.
    assert_eq!(a.chapters.len(), 2, "{:?}", a.chapters);
    assert!(
        (a.chapters[1].start - change).abs() < 5.0,
        "split at {}, topic changed at {change}",
        a.chapters[1].start
    );
    let titles = format!("{} | {}", a.chapters[0].title, a.chapters[1].title).to_lowercase();
    assert!(
        ["pasta", "dough", "eggs"]
            .iter()
            .any(|w| titles.contains(w))
            && ["mars", "rover", "planet"]
                .iter()
                .any(|w| titles.contains(w)),
        "{titles}"
    );
    // Highlights: enough of them, on word boundaries, in range, apart.
    assert!(a.highlights.len() >= 3, "{:?}", a.highlights);
    let words: Vec<(f64, f64)> = transcript
        .segments
        .iter()
        .flat_map(|s| s.words.iter().map(|w| (w.start, w.end)))
        .collect();
    for h in &a.highlights {
        assert!(
            words.iter().any(|w| w.0 == h.start),
            "{h:?} starts inside a word"
        );
        assert!(
            words.iter().any(|w| w.1 == h.end),
            "{h:?} ends inside a word"
        );
        assert!((15.0..=60.0).contains(&(h.end - h.start)), "{h:?}");
    }
    for (i, x) in a.highlights.iter().enumerate() {
        for y in &a.highlights[i + 1..] {
            let shared = (x.end.min(y.end) - x.start.max(y.start)).max(0.0);
            assert!(shared <= 0.5 * (x.end - x.start).min(y.end - y.start) + 1e-9);
        }
    }
}
