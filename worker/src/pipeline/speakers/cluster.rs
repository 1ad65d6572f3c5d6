//! Clustering: the windows' d-vectors grouped into speakers by
//! agglomerative clustering, then mended (too-small clusters absorbed,
//! halves of one voice merged).

use cutroom_core::jobs::SpeakerOptions;

use super::{MIN_SPEAKER_WINDOWS, RELIABLE, Tuning, embed::Span};
use crate::pipeline::voice::{cosine, unit};

/// A speaker index per window.
pub(crate) fn cluster(
    windows: &[Span],
    embeddings: &[Vec<f32>],
    options: &SpeakerOptions,
    tuning: Tuning,
) -> Vec<usize> {
    let min = options.min_speakers.map_or(1, |m| m as usize).max(1);
    let max = options
        .max_speakers
        .map_or(usize::MAX, |m| m as usize)
        .max(min);
    let reliable: Vec<usize> = (0..windows.len())
        .filter(|&i| windows[i].end - windows[i].start >= RELIABLE - 1e-9)
        .collect();
    // Too little long speech to tell voices apart: use every window.
    let members: Vec<usize> = if reliable.len() >= 2 {
        reliable
    } else {
        (0..windows.len()).collect()
    };
    let n = members.len();
    if n <= 1 || max == 1 {
        return vec![0; windows.len()];
    }

    let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let d = 1.0 - cosine(&embeddings[members[i]], &embeddings[members[j]]);
            condensed.push(d.max(0.0));
        }
    }
    let dendrogram = kodama::linkage(&mut condensed, n, kodama::Method::Average);

    // Replay the merges, closest first, while they are within the threshold
    // (or more clusters than allowed remain), never below `min`.
    let mut sets = DisjointSets::new(2 * n);
    let mut clusters = n;
    for (k, step) in dendrogram.steps().iter().enumerate() {
        if clusters <= min {
            break;
        }
        if step.dissimilarity > tuning.threshold && clusters <= max {
            break;
        }
        // kodama numbers the cluster made by step k as n + k.
        sets.union(step.cluster1, n + k);
        sets.union(step.cluster2, n + k);
        clusters -= 1;
    }
    let mut label_of_root = std::collections::HashMap::new();
    let mut member_labels = vec![0usize; n];
    for (i, l) in member_labels.iter_mut().enumerate() {
        let root = sets.find(i);
        let next = label_of_root.len();
        *l = *label_of_root.entry(root).or_insert(next);
    }

    // Clusters too small to be a speaker give their windows to the nearest
    // remaining one, as long as `min` clusters stay.
    let member_embeddings: Vec<Vec<f32>> = members.iter().map(|&m| embeddings[m].clone()).collect();
    let mut count = label_of_root.len();
    loop {
        let mut sizes = vec![0usize; count];
        for &l in &member_labels {
            sizes[l] += 1;
        }
        let Some((smallest, &size)) = sizes.iter().enumerate().min_by_key(|(_, s)| **s) else {
            break;
        };
        if size >= MIN_SPEAKER_WINDOWS || count <= min {
            break;
        }
        let centres = centroids(&member_embeddings, &member_labels, count);
        for (i, l) in member_labels.iter_mut().enumerate() {
            if *l == smallest {
                *l = nearest(&member_embeddings[i], &centres, Some(smallest));
            }
        }
        // Close the gap left by `smallest`.
        for l in &mut member_labels {
            if *l > smallest {
                *l -= 1;
            }
        }
        count -= 1;
    }

    // Parts of one voice that average linkage kept apart have centres
    // much closer than two voices do: merge the closest pair while they
    // are within `tuning.same_voice`, as long as `min` clusters stay.
    while count > min {
        let centres = centroids(&member_embeddings, &member_labels, count);
        let mut closest = (f32::MAX, 0, 0);
        for a in 0..count {
            for b in a + 1..count {
                let d = 1.0 - cosine(&centres[a], &centres[b]);
                if d < closest.0 {
                    closest = (d, a, b);
                }
            }
        }
        let (d, keep, gone) = closest;
        if d > tuning.same_voice {
            break;
        }
        for l in &mut member_labels {
            if *l == gone {
                *l = keep;
            } else if *l > gone {
                *l -= 1;
            }
        }
        count -= 1;
    }

    // Every window, clustered or not, to the nearest centre.
    let centres = centroids(&member_embeddings, &member_labels, count);
    if tracing::enabled!(tracing::Level::DEBUG) {
        let mut apart = Vec::new();
        for a in 0..count {
            for b in a + 1..count {
                apart.push(1.0 - cosine(&centres[a], &centres[b]));
            }
        }
        tracing::debug!(speakers = count, centre_distances = ?apart, "speakers clustered");
    }
    embeddings
        .iter()
        .map(|e| nearest(e, &centres, None))
        .collect()
}

pub(super) fn centroids(embeddings: &[Vec<f32>], labels: &[usize], count: usize) -> Vec<Vec<f32>> {
    let dim = embeddings.first().map_or(0, Vec::len);
    let mut sums = vec![vec![0.0f32; dim]; count];
    for (e, &l) in embeddings.iter().zip(labels) {
        for (s, x) in sums[l].iter_mut().zip(e) {
            *s += x;
        }
    }
    sums.iter().map(|s| unit(s)).collect()
}

fn nearest(e: &[f32], centres: &[Vec<f32>], except: Option<usize>) -> usize {
    (0..centres.len())
        .filter(|&k| Some(k) != except)
        .max_by(|&a, &b| cosine(e, &centres[a]).total_cmp(&cosine(e, &centres[b])))
        .unwrap_or(0)
}

/// Union-find over kodama's cluster numbers. Hand-written: a dozen lines,
/// smaller than a dependency.
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra] = rb;
        }
    }
}
