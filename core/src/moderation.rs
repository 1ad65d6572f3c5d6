//! Cutroom's moderation taxonomy and a tenant's moderation policy.
//!
//! The categories line up with the public taxonomies (Perspective API's
//! attributes, OpenAI's moderation categories) so a tenant can carry its
//! thresholds over. Which model signal feeds each category is part of the
//! contract and is documented on [`Category`]; a category with no built-in
//! signal says so (`covered: false` in `moderation.json`) instead of
//! reporting "clean".

use serde::{Deserialize, Serialize};

/// A moderation category. Stable: names are never reused for another
/// meaning. Each lines up with a public taxonomy and is scored by the
/// built-in signals: one label of the toxicity classifier (tox-block,
/// Jigsaw's labels, which reads words), the meaning detector (sentence
/// embeddings against labelled exemplars), or both, taking the higher
/// score: `toxicity` (Perspective TOXICITY; label `toxic`),
/// `severe_toxicity` (Perspective SEVERE_TOXICITY; `severe_toxic`),
/// `harassment` (OpenAI harassment, Perspective INSULT; `insult` and
/// meaning), `hate` (OpenAI hate, Perspective IDENTITY_ATTACK;
/// `identity_hate` and meaning), `violence` (OpenAI violence and
/// harassment/threatening, Perspective THREAT; `threat` and meaning),
/// `profanity` (Perspective PROFANITY; `obscene`), `sexual` and `self_harm`
/// (OpenAI sexual, self-harm; meaning only).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Rude, disrespectful or unreasonable language likely to make someone
    /// leave a discussion (Perspective TOXICITY). Signal: Jigsaw `toxic`.
    Toxicity,
    /// Very hateful, aggressive language (Perspective SEVERE_TOXICITY).
    /// Signal: Jigsaw `severe_toxic`.
    SevereToxicity,
    /// Insults and abuse aimed at a person (OpenAI `harassment`,
    /// Perspective INSULT). Signals: Jigsaw `insult`, meaning.
    Harassment,
    /// Attacks on people for who they are, dehumanising comparisons
    /// included (OpenAI `hate`, Perspective IDENTITY_ATTACK). Signals:
    /// Jigsaw `identity_hate`, meaning.
    Hate,
    /// Threats of violence against people and wishes of harm (OpenAI
    /// `violence` and `harassment/threatening`, Perspective THREAT).
    /// Signals: Jigsaw `threat`, meaning.
    Violence,
    /// Swearing, obscene or vulgar language (Perspective PROFANITY).
    /// Signal: Jigsaw `obscene`.
    Profanity,
    /// Explicit sexual content (OpenAI `sexual`); sex education and
    /// medicine are not. Signal: meaning.
    Sexual,
    /// Self-harm: encouraging someone to hurt or kill themselves, or
    /// saying one means to (OpenAI `self-harm`); seeking help and news
    /// about prevention are not. Signal: meaning.
    SelfHarm,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Toxicity,
        Category::SevereToxicity,
        Category::Harassment,
        Category::Hate,
        Category::Violence,
        Category::Profanity,
        Category::Sexual,
        Category::SelfHarm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Toxicity => "toxicity",
            Category::SevereToxicity => "severe_toxicity",
            Category::Harassment => "harassment",
            Category::Hate => "hate",
            Category::Violence => "violence",
            Category::Profanity => "profanity",
            Category::Sexual => "sexual",
            Category::SelfHarm => "self_harm",
        }
    }

    /// The built-in classifier's label that scores this category, if any.
    pub fn classifier_label(self) -> Option<&'static str> {
        match self {
            Category::Toxicity => Some("toxic"),
            Category::SevereToxicity => Some("severe_toxic"),
            Category::Harassment => Some("insult"),
            Category::Hate => Some("identity_hate"),
            Category::Violence => Some("threat"),
            Category::Profanity => Some("obscene"),
            Category::Sexual | Category::SelfHarm => None,
        }
    }

    /// Whether the meaning detector (sentence embeddings against labelled
    /// exemplars) scores this category.
    pub fn meaning_scored(self) -> bool {
        matches!(
            self,
            Category::Harassment
                | Category::Hate
                | Category::Violence
                | Category::Sexual
                | Category::SelfHarm
        )
    }

    /// Whether any built-in signal scores this category (`covered` in
    /// `moderation.json`). Every category is scored today.
    pub fn covered(self) -> bool {
        self.classifier_label().is_some() || self.meaning_scored()
    }
}

/// What happens to material a category fires on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing: the score is recorded, no flag is raised.
    Ignore,
    /// A flag goes to the review queue; overlapping highlights and clips
    /// are held until a reviewer approves.
    Flag,
    /// Overlapping highlights and clips are never published; the flag
    /// still goes to the review queue, where approval releases them.
    Block,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Ignore => "ignore",
            Action::Flag => "flag",
            Action::Block => "block",
        }
    }

    /// Severity order: block > flag > ignore.
    pub fn rank(self) -> u8 {
        match self {
            Action::Ignore => 0,
            Action::Flag => 1,
            Action::Block => 2,
        }
    }
}

/// One category's rule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Scores at or above this (0-1) fire the rule.
    #[schema(example = 0.5)]
    pub threshold: f32,
    pub action: Action,
}

/// The threshold of every category a policy leaves out.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// A moderation policy: a rule per category. Categories left out are
/// flagged at 0.5. Categories: `toxicity`, `severe_toxicity`, `harassment`,
/// `hate`, `violence`, `profanity`, `sexual`, `self_harm`, all scored by
/// the built-in signals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationPolicy {
    /// Rules by category name, e.g. `{"profanity": {"threshold": 0.9,
    /// "action": "ignore"}}`.
    #[schema(value_type = std::collections::BTreeMap<Category, Rule>)]
    pub rules: std::collections::BTreeMap<Category, Rule>,
    /// Rules in plain language, judged segment by segment by the job's LLM
    /// analysis provider (`gemini` or `openai`). A job analysed by
    /// `builtin` cannot apply them, and `moderation.json` says so. At most
    /// [`MAX_CUSTOM_POLICIES`].
    pub custom: Vec<CustomPolicy>,
}

/// Custom policies a policy may hold.
pub const MAX_CUSTOM_POLICIES: usize = 10;

/// A policy written in plain language (after Zentropi's CoPE: the policy
/// and one piece of content in, a yes/no label with a rationale out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomPolicy {
    /// A name for it, unique in the policy: 1-40 of `a-z`, `0-9`, `_`. A
    /// job's custom policy replaces the tenant's of the same name.
    #[schema(example = "no_competitors")]
    pub name: String,
    /// What violates the policy and what does not, in plain language
    /// (1-2000 characters).
    #[schema(
        example = "Flag any mention of a competing meal-kit brand by name. Mentions of supermarkets are fine."
    )]
    pub text: String,
    /// The category a violation counts under (for filters and statistics).
    pub category: Category,
    pub action: Action,
}

impl ModerationPolicy {
    /// The rule in force for `category`: the tenant's, else the default.
    ///
    /// The default flags every covered category at 0.5, the classifier's
    /// own decision boundary (one sigmoid per label, trained with binary
    /// cross-entropy), where the meaning detector's scores are calibrated
    /// to put its threshold fitted on the tune exemplars; docs/benchmarks.md
    /// reports what it gives on sentences held out from that fit. Nothing is blocked by
    /// default: blocking is a tenant's decision.
    pub fn rule(&self, category: Category) -> Rule {
        self.rules.get(&category).copied().unwrap_or(Rule {
            threshold: DEFAULT_THRESHOLD,
            action: Action::Flag,
        })
    }

    pub fn validate(&self, field: &str) -> Result<(), String> {
        if self.custom.len() > MAX_CUSTOM_POLICIES {
            return Err(format!(
                "{field}.custom holds at most {MAX_CUSTOM_POLICIES} policies"
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (k, c) in self.custom.iter().enumerate() {
            let ok = (1..=40).contains(&c.name.len())
                && c.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(format!(
                    "{field}.custom[{k}].name must be 1-40 of a-z, 0-9 and _"
                ));
            }
            if !names.insert(c.name.as_str()) {
                return Err(format!(
                    "{field}.custom[{k}].name `{}` is used twice",
                    c.name
                ));
            }
            if c.text.trim().is_empty() || c.text.chars().count() > 2000 {
                return Err(format!(
                    "{field}.custom[{k}].text must be 1-2000 characters"
                ));
            }
        }
        for (category, rule) in &self.rules {
            if !(0.0..=1.0).contains(&rule.threshold) || rule.threshold.is_nan() {
                return Err(format!(
                    "{field}.rules.{}.threshold must be between 0 and 1",
                    category.name()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_read_category_names_and_fall_back_to_defaults() {
        let policy: ModerationPolicy = serde_json::from_str(
            r#"{"rules": {"profanity": {"threshold": 0.95, "action": "ignore"},
                          "hate": {"threshold": 0.3, "action": "block"}}}"#,
        )
        .unwrap();
        assert_eq!(
            policy.rule(Category::Hate),
            Rule {
                threshold: 0.3,
                action: Action::Block
            }
        );
        assert_eq!(policy.rule(Category::Profanity).action, Action::Ignore);
        assert_eq!(policy.rule(Category::Violence).action, Action::Flag);
        assert!(policy.validate("moderation").is_ok());

        let unknown = serde_json::from_str::<ModerationPolicy>(
            r#"{"rules": {"spam": {"threshold": 0.5, "action": "flag"}}}"#,
        );
        assert!(unknown.is_err());
        let bad = ModerationPolicy {
            rules: [(
                Category::Hate,
                Rule {
                    threshold: 1.5,
                    action: Action::Flag,
                },
            )]
            .into(),
            custom: Vec::new(),
        };
        assert_eq!(
            bad.validate("moderation").unwrap_err(),
            "moderation.rules.hate.threshold must be between 0 and 1"
        );
    }

    #[test]
    fn every_category_has_a_stable_name() {
        for c in Category::ALL {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.name()));
        }
    }

    #[test]
    fn custom_policies_are_named_and_bounded() {
        let policy = |json: &str| serde_json::from_str::<ModerationPolicy>(json).unwrap();
        let ok = policy(
            r#"{"custom": [{"name": "no_rivals", "text": "No rival brands.",
                            "category": "harassment", "action": "block"}]}"#,
        );
        assert!(ok.validate("moderation").is_ok());
        let bad_name = policy(
            r#"{"custom": [{"name": "No Rivals", "text": "x", "category": "hate", "action": "flag"}]}"#,
        );
        assert_eq!(
            bad_name.validate("moderation").unwrap_err(),
            "moderation.custom[0].name must be 1-40 of a-z, 0-9 and _"
        );
        let twice = policy(
            r#"{"custom": [{"name": "a", "text": "x", "category": "hate", "action": "flag"},
                           {"name": "a", "text": "y", "category": "hate", "action": "flag"}]}"#,
        );
        assert!(
            twice
                .validate("moderation")
                .unwrap_err()
                .contains("used twice")
        );
        let empty = policy(
            r#"{"custom": [{"name": "a", "text": " ", "category": "hate", "action": "flag"}]}"#,
        );
        assert!(empty.validate("moderation").unwrap_err().contains("1-2000"));
    }
}
