//! Moderation by meaning: a sentence's MiniLM embedding against a bank of
//! labelled exemplars written for Cutroom (the `tune` split of
//! `moderation_set.tsv`).
//!
//! The toxicity classifier scores words: a threat with no insult in it
//! ("keep talking and I will put you in the hospital"), a wish of harm or a
//! group likened to vermin scores low on every label. Sentence embeddings
//! place such sentences near exemplars that mean the same, whatever their
//! words. Two readers score a category (`SCORER`):
//! - neighbours: a similarity-weighted vote of the nearest exemplars
//!   (k-NN), the share of their weight that carries the category. Benign
//!   exemplars that share the harmful words (sport, cooking, games, news
//!   quoting threats, fiction, help for self-harm, sex education) pull the
//!   vote the other way. Threats and self-harm are read this way.
//! - a linear probe ([`super::probe`]) fitted on every exemplar, which
//!   reads contempt for a group, harassment and sexual content better.
//!
//! Everything is fitted when the bank is built, once per process, with no
//! randomness: each exemplar is scored by the bank without it
//! (leave-one-out), and a category's threshold is the lowest score that no
//! more than [`Params::benign_flagged`] of the benign exemplars reach. Scores are
//! then mapped piecewise-linearly so that the threshold lands on 0.5, the
//! default policy's threshold, as the classifier's sigmoid does: a policy
//! threshold means the same whichever signal scored the category.

use anyhow::Context;
use cutroom_core::moderation::Category;

use super::{
    embed::{Embedding, SentenceEmbedder, similarity},
    probe::Probe,
};

/// The labelled set: sentences, their categories and their split.
const SET: &str = include_str!("moderation_set.tsv");

/// The categories the bank scores: those with enough tune exemplars to
/// vote (profanity and severe toxicity are words, which the classifier
/// reads well; `toxicity` is the classifier's broad label).
pub(crate) const CATEGORIES: [Category; 5] = [
    Category::Harassment,
    Category::Hate,
    Category::Violence,
    Category::Sexual,
    Category::SelfHarm,
];

/// Which reader scores a category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scorer {
    /// The nearest exemplars vote.
    Neighbours,
    /// The linear probe.
    Probe,
}

/// Each of [`CATEGORIES`]'s reader: the one that found more of the
/// category's tune exemplars, left out, at the same share of benign
/// exemplars flagged (docs/benchmarks.md, "Moderation", round 2).
const SCORER: [Scorer; CATEGORIES.len()] = [
    Scorer::Probe,      // harassment
    Scorer::Probe,      // hate
    Scorer::Neighbours, // violence
    Scorer::Probe,      // sexual
    Scorer::Neighbours, // self_harm
];

/// How the exemplars vote.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    /// Neighbours that vote.
    pub k: usize,
    /// Softmax temperature of the votes' weights over cosine similarity:
    /// at 0.05 a neighbour 0.05 less similar weighs e^-1 as much.
    pub temperature: f32,
    /// The similarity of a benign vote every sentence gets: a sentence
    /// near no exemplar (ordinary talk unlike anything in the bank) is
    /// outvoted by it instead of following whichever exemplar is least far.
    pub floor: f32,
    /// The share of benign tune exemplars a category may flag on its own.
    pub benign_flagged: f32,
    /// The probe's penalty on its weights (ridge regression's lambda).
    pub ridge: f64,
}

impl Params {
    pub(crate) const DEFAULT: Params = Params {
        k: 20,
        temperature: 0.1,
        floor: 0.3,
        benign_flagged: 0.01,
        ridge: 1.0,
    };
}

/// The label bit of a benign exemplar.
const BENIGN: u8 = 1 << 7;

/// Which part of the labelled set a sentence is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Split {
    /// Builds the bank and decides thresholds.
    Tune,
    /// Only ever measured.
    HeldOut,
}

/// One sentence of the labelled set.
#[derive(Clone, Debug)]
pub(crate) struct Labelled {
    pub categories: Vec<Category>,
    pub split: Split,
    pub text: &'static str,
    /// The comment line above it (its section): the split rule's unit.
    #[cfg_attr(not(test), allow(dead_code))]
    pub section: &'static str,
}

/// `moderation_set.tsv`, in file order.
pub(crate) fn labelled_set() -> Vec<Labelled> {
    let mut section = "";
    let mut out = Vec::new();
    for line in SET.lines() {
        if let Some(comment) = line.strip_prefix('#') {
            section = comment.trim();
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let mut columns = line.splitn(3, '\t');
        let (Some(labels), Some(split), Some(text)) =
            (columns.next(), columns.next(), columns.next())
        else {
            panic!("moderation_set.tsv: labels<TAB>split<TAB>text, got {line:?}");
        };
        let categories = if labels == "-" {
            Vec::new()
        } else {
            labels
                .split(',')
                .map(|c| {
                    serde_json::from_value(serde_json::json!(c))
                        .unwrap_or_else(|_| panic!("moderation_set.tsv: no category {c:?}"))
                })
                .collect()
        };
        let split = match split {
            "tune" => Split::Tune,
            "held_out" => Split::HeldOut,
            other => panic!("moderation_set.tsv: no split {other:?}"),
        };
        out.push(Labelled {
            categories,
            split,
            text,
            section,
        });
    }
    out
}

/// Scores in [`CATEGORIES`] order, calibrated so that 0.5 is the
/// threshold fitted on the tune exemplars.
pub(crate) type Scores = [f32; CATEGORIES.len()];

/// What the bank makes of one sentence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Reading {
    pub scores: Scores,
    /// The share of the vote cast by benign exemplars (no category at
    /// all): near 1 for a sentence that means what the bank's sport,
    /// cooking, games or news sentences mean, whatever its words.
    pub benign: f32,
}

/// The exemplar bank with its fitted thresholds.
pub(crate) struct Meaning {
    exemplars: Vec<Embedding>,
    /// Bit `k` set: the exemplar carries `CATEGORIES[k]`; bit 7: it is
    /// benign (no category at all).
    labels: Vec<u8>,
    probe: Probe<{ CATEGORIES.len() }>,
    /// Each exemplar's probe scores with itself left out of the fit.
    probe_left_out: Vec<Scores>,
    /// Raw scores (votes or probe outputs) that map to 0.5.
    thresholds: [f32; CATEGORIES.len()],
    params: Params,
}

impl Meaning {
    /// Embeds the tune exemplars and fits each category's threshold.
    /// Blocking: about 300 sentences through MiniLM.
    pub(crate) fn fit(embedder: &mut SentenceEmbedder) -> anyhow::Result<Self> {
        let tune: Vec<Labelled> = labelled_set()
            .into_iter()
            .filter(|l| l.split == Split::Tune)
            .collect();
        let texts: Vec<&str> = tune.iter().map(|l| l.text).collect();
        let exemplars = embedder
            .embed(&texts)
            .context("embedding the moderation exemplars")?;
        Ok(Self::build(&tune, exemplars, Params::DEFAULT))
    }

    /// The bank of `tune` sentences with their `exemplars` (embeddings).
    pub(crate) fn build(tune: &[Labelled], exemplars: Vec<Embedding>, params: Params) -> Self {
        let labels = tune
            .iter()
            .map(|l| {
                CATEGORIES
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| l.categories.contains(c))
                    .fold(0u8, |bits, (k, _)| bits | 1 << k)
                    | if l.categories.is_empty() { BENIGN } else { 0 }
            })
            .collect();
        let targets: Vec<Scores> = tune
            .iter()
            .map(|l| CATEGORIES.map(|c| f32::from(u8::from(l.categories.contains(&c)))))
            .collect();
        let (probe, probe_left_out) = Probe::fit(&exemplars, &targets, params.ridge);
        let mut bank = Self {
            exemplars,
            labels,
            probe,
            probe_left_out,
            thresholds: [0.5; CATEGORIES.len()],
            params,
        };
        let benign: Vec<Scores> = tune
            .iter()
            .enumerate()
            .filter(|(_, l)| l.categories.is_empty())
            .map(|(i, _)| bank.raw(&bank.exemplars[i], Some(i)).0)
            .collect();
        for k in 0..CATEGORIES.len() {
            let mut scores: Vec<f32> = benign.iter().map(|s| s[k]).collect();
            scores.sort_by(|a, b| b.total_cmp(a));
            // The highest benign scores allowed to reach the threshold; the
            // threshold sits just above the next one.
            let allowed = (params.benign_flagged * scores.len() as f32).floor() as usize;
            let above = scores.get(allowed).copied().unwrap_or(0.0);
            bank.thresholds[k] = (above + 1e-4).clamp(0.05, 0.95);
        }
        bank
    }

    /// The fitted thresholds on the raw scores, in [`CATEGORIES`] order.
    #[cfg(test)]
    pub(crate) fn thresholds(&self) -> Scores {
        self.thresholds
    }

    /// What the bank makes of one embedding.
    pub(crate) fn read(&self, e: &Embedding) -> Reading {
        self.reading(self.raw(e, None))
    }

    /// Calibrated scores of the bank's own exemplar `i` against the rest of
    /// the bank: what a sentence like it, never seen, would score.
    #[cfg(test)]
    pub(crate) fn read_left_out(&self, i: usize) -> Reading {
        self.reading(self.raw(&self.exemplars[i], Some(i)))
    }

    /// Each category's raw score from its reader, and the benign share of
    /// the neighbours' vote (`skip`: an exemplar left out).
    fn raw(&self, e: &Embedding, skip: Option<usize>) -> (Scores, f32) {
        let (votes, benign) = self.votes(e, skip);
        let probe = match skip {
            Some(i) => self.probe_left_out[i],
            None => self.probe.score(e),
        };
        let scores = std::array::from_fn(|k| match SCORER[k] {
            Scorer::Neighbours => votes[k],
            Scorer::Probe => probe[k],
        });
        (scores, benign)
    }

    fn reading(&self, (votes, benign): (Scores, f32)) -> Reading {
        Reading {
            scores: std::array::from_fn(|k| calibrate(votes[k], self.thresholds[k])),
            benign,
        }
    }

    /// Each category's raw vote: the share of the nearest exemplars' weight
    /// that carries it, and the benign exemplars' share (`skip`: an
    /// exemplar left out, for fitting).
    fn votes(&self, e: &Embedding, skip: Option<usize>) -> (Scores, f32) {
        let mut near: Vec<(f32, usize)> = self
            .exemplars
            .iter()
            .enumerate()
            .filter(|&(i, _)| Some(i) != skip)
            .map(|(i, x)| (similarity(e, x), i))
            .collect();
        near.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        near.truncate(self.params.k);
        let Params {
            temperature, floor, ..
        } = self.params;
        let top = near.first().map_or(floor, |n| n.0).max(floor);
        let mut votes = [0.0f32; CATEGORIES.len()];
        let mut benign = 0.0;
        // The floor's benign vote.
        let mut total = ((floor - top) / temperature).exp();
        for &(sim, i) in &near {
            let w = ((sim - top) / temperature).exp();
            total += w;
            if self.labels[i] & BENIGN != 0 {
                benign += w;
            }
            for (k, v) in votes.iter_mut().enumerate() {
                if self.labels[i] & (1 << k) != 0 {
                    *v += w;
                }
            }
        }
        (votes.map(|v| v / total), benign / total)
    }
}

/// Maps a score onto 0-1 with `threshold` at 0.5, linearly on each side
/// (a probe's output, which may leave 0-1, is clamped to it first).
fn calibrate(vote: f32, threshold: f32) -> f32 {
    let vote = vote.clamp(0.0, 1.0);
    if vote < threshold {
        0.5 * vote / threshold
    } else {
        0.5 + 0.5 * (vote - threshold) / (1.0 - threshold)
    }
}
