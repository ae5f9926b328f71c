//! Objective definitions, in one place, used for every solver (so fits compare).
//!
//! With Λ = WH:
//! - generalized KL divergence: `Σ x ln(x/λ) − x + λ`, with 0 ln 0 = 0 (Lee & Seung 2001);
//! - Poisson log-likelihood: `Σ x ln λ − λ − ln Γ(x+1)`; it equals `−KL` plus a constant of X,
//!   so minimizing KL maximizes the likelihood;
//! - squared Frobenius norm: `Σ (x − λ)²`.
//!
//! See ../shared/fixtures/losses.json for the reference values.

use super::mask::HeldOut;
use crate::linalg::Real;
use ndarray::{Array2, ArrayView2};
use std::sync::Arc;

/// The loss a fit minimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Generalized KL divergence, i.e. the Poisson likelihood.
    Kl,
    /// Squared Frobenius norm (Gaussian likelihood).
    Frobenius,
}

impl Loss {
    /// Every loss with its config name.
    pub const ALL: [(&'static str, Loss); 2] = [("kl", Loss::Kl), ("frobenius", Loss::Frobenius)];

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Kl => "kl",
            Loss::Frobenius => "frobenius",
        }
    }
}

/// All three objective values of one (W, H), whatever loss was optimized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objectives {
    /// Generalized KL divergence (≥ 0).
    pub kl: f64,
    /// Poisson log-likelihood (≤ 0 for counts).
    pub poisson_loglik: f64,
    /// Squared Frobenius norm of the residual (≥ 0).
    pub frobenius_sq: f64,
    /// The penalty terms of (W, H) (see [`Penalty`]; 0 without penalties).
    pub penalty: f64,
}

impl Objectives {
    /// The objective a fit of `loss` minimizes (lower is better): the loss plus the penalty.
    pub fn value(&self, loss: Loss) -> f64 {
        self.penalty
            + match loss {
                Loss::Kl => self.kl,
                Loss::Frobenius => self.frobenius_sq,
            }
    }

    /// Whether a fit of `loss` with these objectives succeeded: its own loss is finite and no value
    /// is NaN. (The KL of a Frobenius fit is +∞ where the model is 0 and the data positive: a true
    /// value, not a failure.)
    pub fn usable(&self, loss: Loss) -> bool {
        self.value(loss).is_finite()
            && !(self.kl.is_nan() || self.poisson_loglik.is_nan() || self.frobenius_sq.is_nan())
    }

    /// True when all three values are finite.
    pub fn is_finite(&self) -> bool {
        self.kl.is_finite() && self.poisson_loglik.is_finite() && self.frobenius_sq.is_finite()
    }
}

/// The data matrix X (N x p) of a fit, with the constants of X that the objectives need.
#[derive(Debug, Clone)]
pub struct FitMatrix {
    x: Array2<f64>,
    /// Σ ln Γ(x+1), the constant of the Poisson log-likelihood.
    lgamma_sum: f64,
    /// Σ x ln x − x over x > 0 (links KL and the log-likelihood).
    x_log_x: f64,
    /// Mean of X (for the scale of random starts).
    mean: f64,
    /// Entries left out of the objective and the updates (cross-validation), if any.
    heldout: Option<Arc<HeldOut>>,
    /// X rounded to f32, made on first use by an f32 fit and shared by all of them.
    x32: std::sync::OnceLock<Array2<f32>>,
}

/// The floating-point type of a fit's products (`[model] precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Double precision (the default).
    F64,
    /// Single precision: X, W, H and the products in f32 (sgemm), about twice as fast; the
    /// objectives are still evaluated in f64, and the factors are stored in f64.
    F32,
}

impl Precision {
    /// Every precision with its config name.
    pub const ALL: [(&'static str, Precision); 2] = [("f64", Precision::F64), ("f32", Precision::F32)];

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        }
    }
}

/// A precision a fit can run in: the numerical type of its products plus the copy of X in that
/// type ([`FitMatrix::x_in`]).
pub trait Scalar: Real {
    /// X (N x p) in this precision.
    fn x_of(data: &FitMatrix) -> ArrayView2<'_, Self>;
}

impl Scalar for f64 {
    fn x_of(data: &FitMatrix) -> ArrayView2<'_, f64> {
        data.x.view()
    }
}

impl Scalar for f32 {
    fn x_of(data: &FitMatrix) -> ArrayView2<'_, f32> {
        // Counts below 2^24 are exact in f32.
        data.x32.get_or_init(|| data.x.mapv(|v| v as f32)).view()
    }
}

impl FitMatrix {
    /// Wraps X (N x p); X must be finite and non-negative (checked by `data`).
    pub fn new(x: Array2<f64>) -> Self {
        let mut lgamma_sum = 0.0;
        let mut x_log_x = 0.0;
        let mut sum = 0.0;
        for row in x.rows() {
            let (mut lg, mut xl, mut s) = (0.0, 0.0, 0.0);
            for &v in row {
                if v > 0.0 {
                    lg += libm::lgamma(v + 1.0);
                    xl += v * v.ln() - v;
                    s += v;
                }
            }
            lgamma_sum += lg;
            x_log_x += xl;
            sum += s;
        }
        let mean = if x.is_empty() { 0.0 } else { sum / x.len() as f64 };
        FitMatrix {
            x,
            lgamma_sum,
            x_log_x,
            mean,
            heldout: None,
            x32: std::sync::OnceLock::new(),
        }
    }

    /// A training matrix (held-out entries already 0) whose objectives leave out `heldout`.
    pub fn with_heldout(train: Array2<f64>, heldout: Arc<HeldOut>) -> Self {
        FitMatrix {
            heldout: Some(heldout),
            ..FitMatrix::new(train)
        }
    }

    /// The held-out entries, for cross-validation fits.
    pub fn heldout(&self) -> Option<&Arc<HeldOut>> {
        self.heldout.as_ref()
    }

    /// X (N x p).
    pub fn x(&self) -> ArrayView2<'_, f64> {
        self.x.view()
    }

    /// X (N x p) in precision T (f64: X itself; f32: a rounded copy, made once).
    pub fn x_in<T: Scalar>(&self) -> ArrayView2<'_, T> {
        T::x_of(self)
    }

    /// N, p.
    pub fn dim(&self) -> (usize, usize) {
        self.x.dim()
    }

    /// Mean entry of X.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// All three objectives of the model Λ = `wh` (N x p, already computed).
    ///
    /// Sums run row by row in a fixed order, so the result is the same bits on every run.
    pub fn objectives(&self, wh: ArrayView2<f64>) -> Objectives {
        // KL is summed per entry (no cancellation when the fit is nearly exact); the
        // log-likelihood follows from the identity x ln λ − λ = (x ln x − x) − [x ln(x/λ) − x + λ].
        let mut kl = 0.0;
        let mut frob = 0.0;
        for (xr, lr) in self.x.rows().into_iter().zip(wh.rows()) {
            let (mut k, mut f) = (0.0, 0.0);
            for (&x, &l) in xr.iter().zip(lr.iter()) {
                k += if x > 0.0 { x * (x / l).ln() - x + l } else { l };
                let d = x - l;
                f += d * d;
            }
            kl += k;
            frob += f;
        }
        if let Some(ho) = &self.heldout {
            // Held-out entries are 0 in the training X; take out what they added (λ to KL, λ² to
            // Frobenius), so the objective is over observed entries only.
            for (i, j, _, _) in ho.entries() {
                let l = wh[[i, j]];
                kl -= l;
                frob -= l * l;
            }
        }
        Objectives {
            kl,
            poisson_loglik: self.x_log_x - self.lgamma_sum - kl,
            frobenius_sq: frob,
            penalty: 0.0,
        }
    }
}

/// L1 and L2 penalties on W and H (`[model] l1_w, l1_h, l2_w, l2_h`, all ≥ 0). A fit minimizes
/// loss + l1_w Σ W + l1_h Σ H + l2_w Σ W² + l2_h Σ H² (L1 favours sparse factors, L2 small ones;
/// scikit-learn's `alpha_W`/`alpha_H` with `l1_ratio` in other units).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Penalty {
    /// L1 weight on W.
    pub l1_w: f64,
    /// L1 weight on H.
    pub l1_h: f64,
    /// L2 weight on W.
    pub l2_w: f64,
    /// L2 weight on H.
    pub l2_h: f64,
}

impl Penalty {
    /// No penalty.
    pub const NONE: Penalty = Penalty {
        l1_w: 0.0,
        l1_h: 0.0,
        l2_w: 0.0,
        l2_h: 0.0,
    };

    /// The penalty terms of (W, H).
    pub fn value(&self, w: ArrayView2<f64>, h: ArrayView2<f64>) -> f64 {
        let terms = |m: ArrayView2<f64>, l1: f64, l2: f64| {
            if l1 == 0.0 && l2 == 0.0 {
                0.0
            } else {
                m.iter().map(|v| l1 * v + l2 * v * v).sum::<f64>()
            }
        };
        terms(w, self.l1_w, self.l2_w) + terms(h, self.l1_h, self.l2_h)
    }
}

/// Computes Λ = W H into `wh` (N x p) and returns the objectives of (W, H).
pub fn objectives_of(data: &FitMatrix, w: ArrayView2<f64>, h: ArrayView2<f64>, wh: &mut Array2<f64>) -> Objectives {
    crate::linalg::matmul_into(w, h, wh.view_mut());
    data.objectives(wh.view())
}

/// Straightforward per-entry definitions, for tests of the fused version above.
#[cfg(test)]
pub(crate) fn naive_objectives(x: ArrayView2<f64>, wh: ArrayView2<f64>) -> Objectives {
    let mut o = Objectives {
        kl: 0.0,
        poisson_loglik: 0.0,
        frobenius_sq: 0.0,
        penalty: 0.0,
    };
    ndarray::Zip::from(x).and(wh).for_each(|&x, &l| {
        let xlx = if x > 0.0 { x * (x / l).ln() } else { 0.0 };
        let xll = if x > 0.0 { x * l.ln() } else { 0.0 };
        o.kl += xlx - x + l;
        o.poisson_loglik += xll - l - libm::lgamma(x + 1.0);
        o.frobenius_sq += (x - l) * (x - l);
    });
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::update::tests::{fixture, matrix};

    #[test]
    fn losses_fixture() {
        let f = fixture("losses.json");
        let x = matrix(&f["X"]);
        let w = matrix(&f["W"]);
        let h = matrix(&f["H"]);
        let data = FitMatrix::new(x.clone());
        let mut wh = Array2::zeros(x.dim());
        let o = objectives_of(&data, w.view(), h.view(), &mut wh);
        let rel = |a: f64, b: f64| ((a - b) / b).abs();
        let kl = f["kl"].as_f64().unwrap();
        assert!(rel(o.kl, kl) < 1e-12, "kl {} vs {}", o.kl, kl);
        assert!(rel(2.0 * o.kl, f["poisson_deviance"].as_f64().unwrap()) < 1e-12);
        assert!(rel(o.poisson_loglik, f["poisson_loglik"].as_f64().unwrap()) < 1e-12);
        assert!(rel(o.frobenius_sq, f["frobenius_sq"].as_f64().unwrap()) < 1e-12);
        let n = naive_objectives(x.view(), wh.view());
        assert!(rel(o.kl, n.kl) < 1e-12 && rel(o.poisson_loglik, n.poisson_loglik) < 1e-12);
    }

    #[test]
    fn zero_model_where_data_positive_is_infinite_not_nan() {
        let data = FitMatrix::new(ndarray::array![[1.0, 0.0]]);
        let o = data.objectives(ndarray::array![[0.0, 0.0]].view());
        assert_eq!(o.kl, f64::INFINITY);
        assert!(!o.is_finite());
        let o = data.objectives(ndarray::array![[1.0, 0.0]].view());
        assert_eq!(o.kl, 0.0);
    }
}
