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
}
