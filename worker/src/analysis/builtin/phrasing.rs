//! How a highlight's opening and closing lines read: a hook or a question
//! to open with, a reference back to what came before, a whole sentence to
//! end on, and the title cut from the opening.

/// Openers that promise a payoff.
const HOOKS: &[&str] = &[
    "here's the thing",
    "here is the thing",
    "the secret",
    "the truth is",
    "the problem is",
    "the key is",
    "the reason",
    "let me tell you",
    "you won't believe",
    "you will not believe",
    "imagine",
    "what if",
    "the biggest",
    "the most important",
    "the first thing",
    "nobody tells you",
    "the mistake",
    "i learned",
    "the lesson",
    "here's why",
    "here is why",
    "here's how",
    "here is how",
];

pub(super) fn hook_phrase(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase().replace('’', "'");
    HOOKS.iter().find(|h| lower.contains(*h)).copied()
}

/// Opens with a word that points back at something unsaid.
pub(super) fn dangling_start(text: &str) -> bool {
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    matches!(
        first.as_str(),
        "and"
            | "but"
            | "so"
            | "because"
            | "then"
            | "also"
            | "or"
            | "which"
            | "that"
            | "this"
            | "it"
            | "they"
            | "he"
            | "she"
            | "those"
            | "these"
            | "there"
    )
}

pub(super) fn ends_cleanly(text: &str) -> bool {
    text.trim_end()
        .trim_end_matches(['"', '\'', ')', '”', '’'])
        .ends_with(['.', '?', '!'])
}

/// The opening line, cut to eight words.
pub(super) fn title_of(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= 8 {
        return text.trim_end_matches(['.', ',', ';', ':']).to_owned();
    }
    format!(
        "{}…",
        words[..8].join(" ").trim_end_matches(['.', ',', ';', ':'])
    )
}

/// Words that open a clause without adding to it.
const FILLERS: &[&str] = &[
    "and", "but", "so", "well", "um", "uh", "okay", "ok", "oh", "like", "yeah", "now", "then",
    "also", "because", "anyway", "right",
];

/// A word as [`title_from`]'s `weight` sees it: lower case, without the
/// punctuation around it.
pub(super) fn bare(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
        .replace('’', "'")
}

/// A title in the speaker's own words, never a list of keywords: of the
/// clauses in `texts` (each sentence, and its parts between `,` `;` `:`
/// and dashes) that hold 3 to 10 words once leading fillers are dropped,
/// the one whose words say most about the passage (`weight` per word,
/// summed, over the square root of its length, so a dense short clause
/// beats a long one that merely holds more), capitalised, without closing
/// punctuation or quotes. `None` when no clause qualifies or none holds a
/// word of any weight.
pub(super) fn title_from(texts: &[&str], weight: impl Fn(&str) -> f64) -> Option<String> {
    let mut best: Option<(f64, String)> = None;
    for text in texts {
        let whole = std::iter::once(*text);
        let parts = text
            .split([',', ';', ':', '—', '–'])
            .filter(|p| p.len() < text.len());
        for clause in whole.chain(parts) {
            let mut words: Vec<&str> = clause
                .split_whitespace()
                .map(|w| w.trim_matches(['"', '“', '”', '(', ')']))
                .filter(|w| !w.is_empty() && *w != "-")
                .collect();
            while words
                .first()
                .is_some_and(|w| FILLERS.contains(&bare(w).as_str()))
            {
                words.remove(0);
            }
            if !(3..=10).contains(&words.len()) {
                continue;
            }
            let total: f64 = words.iter().map(|w| weight(&bare(w))).sum();
            if total <= 0.0 {
                continue;
            }
            let score = total / (words.len() as f64).sqrt();
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                let line = words.join(" ");
                let line = line.trim_end_matches(['.', ',', ';', ':', '!', '?', '…']);
                best = Some((score, capitalise(line)));
            }
        }
    }
    best.map(|(_, t)| t)
}

pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openers_and_endings_are_read() {
        assert!(dangling_start("And then we left."));
        assert!(!dangling_start("Budgets matter."));
        assert_eq!(
            hook_phrase("Here's the thing about rates."),
            Some("here's the thing")
        );
        assert!(ends_cleanly("It works."));
        assert!(!ends_cleanly("It works and"));
        assert_eq!(title_of("One two three."), "One two three");
        assert_eq!(
            title_of("one two three four five six seven eight nine ten"),
            "one two three four five six seven eight…"
        );
    }

    #[test]
    fn titles_are_whole_clauses_in_the_speakers_words() {
        let weight = |w: &str| match w {
            "rover" | "mars" => 2.0,
            "dust" | "storm" => 1.0,
            _ => 0.0,
        };
        // Not "Hello?" nor a keyword list: the clause that says most.
        let texts = [
            "Hello?",
            "So, well, the rover on Mars survived the dust storm, which surprised everyone.",
            "Thank you.",
        ];
        assert_eq!(
            title_from(&texts, weight).as_deref(),
            Some("The rover on Mars survived the dust storm")
        );
        // Quotes and a leading filler go; nothing of weight, no title.
        assert_eq!(
            title_from(&["and \"my fellow Mars rover!\""], weight).as_deref(),
            Some("My fellow Mars rover")
        );
        assert_eq!(title_from(&["Hello there, friends."], weight), None);
    }
}
