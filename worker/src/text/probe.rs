//! A linear probe over sentence embeddings: ridge regression of each
//! category's 0/1 label on the MiniLM embedding (plus a bias), fitted in
//! closed form, with no randomness, when the exemplar bank is built.
//!
//! Nearest neighbours judge a sentence by the few exemplars most like it;
//! a probe learns one direction per category from all of them. On the tune
//! exemplars (each scored with itself left out) the probe finds groups
//! spoken of with contempt far better than neighbours do (hate recall 0.95
//! against 0.81 at the same share of benign exemplars flagged), and
//! neighbours find threats better (0.92 against 0.70), so the bank uses
//! each where it is better (`meaning::SCORER`).
//!
//! The solve is written here: it is one 385 x 385 symmetric positive
//! definite system (Cholesky, then two triangular solves), and the
//! linear-algebra crates that do it either need LAPACK on the system or
//! add more to the build than these forty lines.

use super::embed::{DIM, Embedding};

/// Features: the embedding and a constant 1 (the bias, not penalised).
const D: usize = DIM + 1;

/// Fitted weights for `N` outputs.
pub(crate) struct Probe<const N: usize> {
    /// `weights[j][k]`: feature `j`'s weight for output `k`.
    weights: Vec<[f64; N]>,
}

impl<const N: usize> Probe<N> {
    /// Fits the probe to `targets` (one row of `N` per exemplar) with
    /// penalty `lambda` on the embedding weights. Also returns each
    /// exemplar's leave-one-out score: what the probe fitted without it
    /// would say of it (ridge regression has it in closed form,
    /// `(y_hat - h * y) / (1 - h)` with `h` the exemplar's leverage).
    pub(crate) fn fit(
        exemplars: &[Embedding],
        targets: &[[f32; N]],
        lambda: f64,
    ) -> (Self, Vec<[f32; N]>) {
        assert_eq!(exemplars.len(), targets.len());
        // The normal equations: (X'X + lambda I) w = X'y.
        let mut a = vec![0.0f64; D * D];
        let mut b = [[0.0f64; N]; D];
        for (e, t) in exemplars.iter().zip(targets) {
            let f = features(e);
            for i in 0..D {
                for j in 0..=i {
                    a[i * D + j] += f[i] * f[j];
                }
                for k in 0..N {
                    b[i][k] += f[i] * f64::from(t[k]);
                }
            }
        }
        for i in 0..D {
            a[i * D + i] += if i < DIM { lambda } else { 1e-6 };
        }
        let l = cholesky(&a);
        let mut weights = vec![[0.0f64; N]; D];
        for k in 0..N {
            let column: Vec<f64> = b.iter().map(|row| row[k]).collect();
            let w = solve_upper(&l, &solve_lower(&l, &column));
            for (row, w) in weights.iter_mut().zip(w) {
                row[k] = w;
            }
        }
        let probe = Self { weights };
        let left_out = exemplars
            .iter()
            .zip(targets)
            .map(|(e, t)| {
                let f = features(e);
                // Leverage: f' (X'X + lambda I)^-1 f = |L^-1 f|^2.
                let h: f64 = solve_lower(&l, &f).iter().map(|z| z * z).sum();
                let fitted = probe.raw(&f);
                std::array::from_fn(|k| {
                    ((fitted[k] - h * f64::from(t[k])) / (1.0 - h).max(1e-9)) as f32
                })
            })
            .collect();
        (probe, left_out)
    }

    /// The probe's outputs for one embedding.
    pub(crate) fn score(&self, e: &Embedding) -> [f32; N] {
        self.raw(&features(e)).map(|s| s as f32)
    }

    fn raw(&self, f: &[f64; D]) -> [f64; N] {
        let mut out = [0.0f64; N];
        for (x, w) in f.iter().zip(&self.weights) {
            for k in 0..N {
                out[k] += x * w[k];
            }
        }
        out
    }
}

fn features(e: &Embedding) -> [f64; D] {
    std::array::from_fn(|j| if j < DIM { f64::from(e[j]) } else { 1.0 })
}

/// The lower-triangular `L` with `L L' = a` (`a` symmetric positive
/// definite; only its lower triangle is read), row-major.
fn cholesky(a: &[f64]) -> Vec<f64> {
    let mut l = vec![0.0f64; D * D];
    for i in 0..D {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[i * D + k] * l[j * D + k]).sum();
            let s = a[i * D + j] - dot;
            l[i * D + j] = if i == j {
                s.max(1e-12).sqrt()
            } else {
                s / l[j * D + j]
            };
        }
    }
    l
}

/// `z` with `L z = b`.
fn solve_lower(l: &[f64], b: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0f64; D];
    for i in 0..D {
        let dot: f64 = (0..i).map(|j| l[i * D + j] * z[j]).sum();
        z[i] = (b[i] - dot) / l[i * D + i];
    }
    z
}

/// `w` with `L' w = z`.
fn solve_upper(l: &[f64], z: &[f64]) -> Vec<f64> {
    let mut w = vec![0.0f64; D];
    for i in (0..D).rev() {
        let dot: f64 = (i + 1..D).map(|j| l[j * D + i] * w[j]).sum();
        w[i] = (z[i] - dot) / l[i * D + i];
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector along axis `axis`, tilted a little towards axis 0.
    fn unit(axis: usize, tilt: f32) -> Embedding {
        let mut e = [0.0f32; DIM];
        e[axis] = 1.0;
        e[0] += tilt;
        let n = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        e.map(|x| x / n)
    }

    #[test]
    fn the_probe_learns_a_direction_and_its_left_out_scores_are_honest() {
        // Label 1 on axes 1..=20, 0 on axes 21..=60: a direction no single
        // exemplar is near, which a probe finds.
        let exemplars: Vec<Embedding> = (1..=60).map(|a| unit(a, 0.3 * (a % 3) as f32)).collect();
        let targets: Vec<[f32; 1]> = (1..=60).map(|a| [f32::from(u8::from(a <= 20))]).collect();
        let (probe, left_out) = Probe::fit(&exemplars, &targets, 0.1);
        // Fitted scores follow the labels.
        for (e, t) in exemplars.iter().zip(&targets) {
            let s = probe.score(e)[0];
            assert!((s - t[0]).abs() < 0.5, "{s} for {t:?}");
        }
        // Left out, each exemplar's own axis is unseen: it scores further
        // from its label than when fitted.
        for (i, (s, t)) in left_out.iter().zip(&targets).enumerate() {
            let fitted = probe.score(&exemplars[i])[0];
            assert!(
                (s[0] - t[0]).abs() > (fitted - t[0]).abs(),
                "left out {} vs fitted {fitted} for {t:?}",
                s[0]
            );
        }
        // The closed form equals refitting without the exemplar.
        let (without, _) = Probe::fit(&exemplars[1..], &targets[1..], 0.1);
        assert!((without.score(&exemplars[0])[0] - left_out[0][0]).abs() < 1e-3);
    }
}
