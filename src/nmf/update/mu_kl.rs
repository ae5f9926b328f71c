//! Multiplicative updates for the generalized KL divergence (Poisson likelihood).
//!
//! Lee & Seung (2001), "Algorithms for non-negative matrix factorization", Theorem 2; Hastie,
//! Tibshirani & Friedman, The Elements of Statistical Learning, eq. 14.74:
//!
//! ```text
//! H_kj ← H_kj · Σ_i W_ik X_ij/(WH)_ij / Σ_i W_ik
//! W_ik ← W_ik · Σ_j H_kj X_ij/(WH)_ij / Σ_j H_kj
//! ```
//!
//! Each update never increases the KL divergence. Per iteration: two products WH (N x p, 2Npr
//! flops each), Wᵀ R and R Hᵀ with R = X ⊘ WH (2Npr each).

use super::{UpdateRule, scale_by_ratio};
use crate::linalg::{matmul_into, matmul_nt_into, matmul_tn_into};
use crate::nmf::Penalty;
use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};

/// Floor on the model (WH)_ij where x_ij > 0: if every term of an entry underflowed, x/λ would be
/// infinite and 0·∞ = NaN in the next product. 1e-150 keeps x/λ and its products finite for any
/// data below 1e150, and is far below any model value a real fit reaches.
pub(super) const MODEL_FLOOR: f64 = 1e-150;

/// Buffers for the KL multiplicative updates at one shape, allocated once per fit.
pub struct MuKl {
    /// L1/L2 penalty weights.
    pen: Penalty,
    /// Wᵀ R (r x p).
    num_h: Array2<f64>,
    /// R Hᵀ (N x r).
    num_w: Array2<f64>,
    /// Column sums of W or row sums of H (r).
    sums: Array1<f64>,
}

impl MuKl {
    /// Buffers for X of shape (n, p) at rank r.
    pub fn new(n: usize, p: usize, r: usize, pen: Penalty) -> Self {
        MuKl {
            pen,
            num_h: Array2::zeros((r, p)),
            num_w: Array2::zeros((n, r)),
            sums: Array1::zeros(r),
        }
    }
}

/// `r ← X ⊘ max(W H, floor)`, with 0 wherever x = 0 (whatever the model there).
pub(super) fn ratio_into(x: ArrayView2<f64>, w: &Array2<f64>, h: &Array2<f64>, r: &mut Array2<f64>) {
    matmul_into(w.view(), h.view(), r.view_mut());
    Zip::from(r)
        .and(x)
        .for_each(|l, &x| *l = if x > 0.0 { x / l.max(MODEL_FLOOR) } else { 0.0 });
}

impl UpdateRule for MuKl {
    fn step(&mut self, x: ArrayView2<f64>, w: &mut Array2<f64>, h: &mut Array2<f64>, scratch: &mut Array2<f64>) {
        // H update from the current W.
        ratio_into(x, w, h, scratch);
        matmul_tn_into(w.view(), scratch.view(), self.num_h.view_mut());
        for (s, col) in self.sums.iter_mut().zip(w.axis_iter(Axis(1))) {
            *s = col.sum();
        }
        scale_by_ratio(h, &self.num_h, &self.sums, 0, (self.pen.l1_h, 2.0 * self.pen.l2_h));
        // W update from the new H.
        ratio_into(x, w, h, scratch);
        matmul_nt_into(scratch.view(), h.view(), self.num_w.view_mut());
        for (s, row) in self.sums.iter_mut().zip(h.rows()) {
            *s = row.sum();
        }
        scale_by_ratio(w, &self.num_w, &self.sums, 1, (self.pen.l1_w, 2.0 * self.pen.l2_w));
    }
}
