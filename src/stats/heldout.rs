//! Held-out likelihood (Wold-style cross-validation, as in RcppML's `crossValidate`): fits trained
//! on the observed entries are scored on the held-out ones, by the Poisson deviance
//! 2 [x ln(x/λ) − x + λ] under the KL loss, or the squared error (x − λ)² under Frobenius, as a
//! mean per held-out entry. Entries fall into `BLOCKS` hash blocks; block means give paired
//! standard errors between ranks (batch means) at no memory cost.

use crate::nmf::Loss;
use crate::nmf::mask::{BLOCKS, HeldOut};
use ndarray::ArrayView2;

/// Smallest model value used in a deviance (a held-out x > 0 where the model is 0 would be ∞).
const MODEL_FLOOR: f64 = 1e-300;

/// Deviance of one held-out entry.
pub fn entry_deviance(loss: Loss, x: f64, l: f64) -> f64 {
    match loss {
        Loss::Kl => {
            let l = l.max(MODEL_FLOOR);
            2.0 * (if x > 0.0 { x * (x / l).ln() - x + l } else { l })
        }
        Loss::Frobenius => (x - l) * (x - l),
    }
}

/// Per-block deviance sums then counts (2 x BLOCKS values) of the model WH of a fit (W N x r,
/// H r x p), evaluated at the held-out entries only.
pub fn score(ho: &HeldOut, w: ArrayView2<f64>, h: ArrayView2<f64>, loss: Loss) -> Vec<f64> {
    let mut out = vec![0.0; 2 * BLOCKS];
    for (i, j, x, b) in ho.entries() {
        out[b] += entry_deviance(loss, x, w.row(i).dot(&h.column(j)));
        out[BLOCKS + b] += 1.0;
    }
    out
}

/// The held-out score of one rank.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldoutScore {
    /// Mean deviance per held-out entry over all repeats.
    pub mean: f64,
    /// Repeats scored.
    pub repeats: usize,
    /// Mean deviance of each (repeat, block), NaN where a block is empty; index repeat·BLOCKS + b.
    pub block_means: Vec<f64>,
}

impl HeldoutScore {
    /// Mean and standard error of (self − other) over the blocks both have.
    pub fn paired_difference(&self, other: &HeldoutScore) -> (f64, f64) {
        let d: Vec<f64> = self
            .block_means
            .iter()
            .zip(&other.block_means)
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .map(|(a, b)| a - b)
            .collect();
        let n = d.len() as f64;
        if n < 2.0 {
            return (self.mean - other.mean, f64::INFINITY);
        }
        let mean = d.iter().sum::<f64>() / n;
        let var = d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
        (mean, (var / n).sqrt())
    }
}

/// Collects the scores of the held-out fits of one rank, in any order.
#[derive(Debug, Clone)]
pub struct HeldoutAccumulator {
    repeats: usize,
    sums: Vec<f64>,
    counts: Vec<f64>,
    seen: usize,
}

impl HeldoutAccumulator {
    /// Room for `repeats` repeats.
    pub fn new(repeats: usize) -> Self {
        HeldoutAccumulator {
            repeats,
            sums: vec![0.0; repeats * BLOCKS],
            counts: vec![0.0; repeats * BLOCKS],
            seen: 0,
        }
    }

    /// Adds repeat `repeat`'s `score` output.
    pub fn add(&mut self, repeat: usize, extra: &[f64]) {
        if repeat >= self.repeats || extra.len() != 2 * BLOCKS {
            return;
        }
        self.sums[repeat * BLOCKS..(repeat + 1) * BLOCKS].copy_from_slice(&extra[..BLOCKS]);
        self.counts[repeat * BLOCKS..(repeat + 1) * BLOCKS].copy_from_slice(&extra[BLOCKS..]);
        self.seen += 1;
    }

    /// The score, or None when no repeat was scored.
    pub fn finish(&self) -> Option<HeldoutScore> {
        let total: f64 = self.counts.iter().sum();
        if self.seen == 0 || total == 0.0 {
            return None;
        }
        let mean = self.sums.iter().sum::<f64>() / total;
        let block_means = self
            .sums
            .iter()
            .zip(&self.counts)
            .map(|(s, c)| if *c > 0.0 { s / c } else { f64::NAN })
            .collect();
        Some(HeldoutScore {
            mean,
            repeats: self.seen,
            block_means,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deviance_definitions() {
        assert_eq!(entry_deviance(Loss::Kl, 0.0, 2.0), 4.0);
        assert!((entry_deviance(Loss::Kl, 3.0, 3.0)).abs() < 1e-15);
        let d = entry_deviance(Loss::Kl, 4.0, 2.0);
        assert!((d - 2.0 * (4.0 * 2f64.ln() - 2.0)).abs() < 1e-12);
        assert_eq!(entry_deviance(Loss::Frobenius, 4.0, 1.0), 9.0);
        assert!(entry_deviance(Loss::Kl, 1.0, 0.0).is_finite());
    }

    #[test]
    fn paired_standard_error() {
        let mut a = HeldoutAccumulator::new(1);
        let mut b = HeldoutAccumulator::new(1);
        let mut ea = vec![0.0; 2 * BLOCKS];
        let mut eb = vec![0.0; 2 * BLOCKS];
        for k in 0..BLOCKS {
            ea[k] = 10.0 + k as f64;
            eb[k] = 10.0 + k as f64 + if k % 2 == 0 { 0.5 } else { 1.5 };
            ea[BLOCKS + k] = 10.0;
            eb[BLOCKS + k] = 10.0;
        }
        a.add(0, &ea);
        b.add(0, &eb);
        let (sa, sb) = (a.finish().unwrap(), b.finish().unwrap());
        let (d, se) = sb.paired_difference(&sa);
        assert!((d - 0.1).abs() < 1e-12, "{d}");
        assert!(se > 0.0 && se < 0.02, "{se}");
        assert!(HeldoutAccumulator::new(2).finish().is_none());
    }
}
