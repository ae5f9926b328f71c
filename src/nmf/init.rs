//! Starting points of a fit.

use ndarray::Array2;
use rand::{Rng, RngExt};

/// How a fit's starting point is chosen (`[model] init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Independent uniform entries, scaled to the data (see [`random`]).
    Random,
}

impl Init {
    /// Every initialization with its config name.
    pub const ALL: [(&'static str, Init); 1] = [("random", Init::Random)];

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Init::Random => "random",
        }
    }
}

/// Random W (n x r) and H (r x p) with entries uniform on (0, s], s = 2·sqrt(mean(X)/r), so that
/// E[(WH)_ij] = mean(X). Entries are never exactly 0 (a zero entry stays 0 under multiplicative
/// updates). W is drawn first, row by row, then H, row by row: part of the reproducibility contract.
pub fn random<R: Rng>(rng: &mut R, n: usize, p: usize, r: usize, data_mean: f64) -> (Array2<f64>, Array2<f64>) {
    let mean = if data_mean > 0.0 && data_mean.is_finite() {
        data_mean
    } else {
        1.0
    };
    let s = 2.0 * (mean / r as f64).sqrt();
    // 1 - U[0,1) lies in (0, 1].
    let draw = |rng: &mut R| s * (1.0 - rng.random::<f64>());
    let w = Array2::from_shape_simple_fn((n, r), || draw(rng));
    let h = Array2::from_shape_simple_fn((r, p), || draw(rng));
    (w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_start_is_positive_scaled_and_reproducible() {
        let (w, h) = random(&mut crate::rng::fit_rng(3), 200, 100, 4, 10.0);
        assert!(w.iter().chain(h.iter()).all(|v| *v > 0.0));
        let mean = w.dot(&h).mean().unwrap();
        assert!((mean - 10.0).abs() < 1.0, "mean of WH {mean}");
        let (w2, h2) = random(&mut crate::rng::fit_rng(3), 200, 100, 4, 10.0);
        assert_eq!(w, w2);
        assert_eq!(h, h2);
    }
}
