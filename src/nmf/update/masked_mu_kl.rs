//! Multiplicative updates for the KL divergence over observed entries only (weighted NMF with 0/1
//! weights M; Lee & Seung 2001 with weights, as in cross-validated NMF, e.g. RcppML):
//!
//! ```text
//! H_kj ← H_kj · Σ_i M_ij W_ik X_ij/(WH)_ij / Σ_i M_ij W_ik
//! W_ik ← W_ik · Σ_j M_ij H_kj X_ij/(WH)_ij / Σ_j M_ij H_kj
//! ```
//!
//! Held-out entries are 0 in the training X, so the numerators are the unweighted ones; the
//! denominators are the column sums of W (row sums of H) minus the held-out terms, taken from the
//! sparse held-out list (O(|held out|·r) per iteration). Never increases the observed-entry KL.

use super::mu_kl::RatioBlocks;
use super::{PenaltyGrad, UpdateRule, Weights, scale_by_matrix_ratio};
use crate::linalg::Real;
use crate::nmf::mask::HeldOut;
use ndarray::{Array2, ArrayView2};
use std::sync::Arc;

/// Buffers for the masked KL multiplicative updates at one shape, allocated once per fit.
pub struct MaskedMuKl<'a, T> {
    /// X (N x p).
    x: ArrayView2<'a, T>,
    /// The penalty gradients of H and W.
    pen: PenaltyGrad<T>,
    heldout: Arc<HeldOut>,
    /// Wᵀ R (r x p), then Hᵀ-side numerators R Hᵀ (N x r).
    num_h: Array2<T>,
    num_w: Array2<T>,
    /// Σ_i M_ij W_ik (r x p) and Σ_j M_ij H_kj (N x r).
    den_h: Array2<T>,
    den_w: Array2<T>,
    /// Row sums of H (r).
    sums: Vec<T>,
    /// Row blocks of R = X ⊘ WH.
    blocks: RatioBlocks<T>,
}

impl<'a, T: Real> MaskedMuKl<'a, T> {
    /// Buffers for X of shape (n, p) at rank r, leaving out `heldout`.
    pub(crate) fn new(x: ArrayView2<'a, T>, r: usize, heldout: Arc<HeldOut>, pen: Weights<T>) -> Self {
        let (n, p) = x.dim();
        MaskedMuKl {
            x,
            pen: pen.kl(),
            heldout,
            num_h: Array2::zeros((r, p)),
            num_w: Array2::zeros((n, r)),
            den_h: Array2::zeros((r, p)),
            den_w: Array2::zeros((n, r)),
            sums: vec![T::zero(); r],
            blocks: RatioBlocks::new(n, p, r),
        }
    }
}

impl<T: Real> UpdateRule<T> for MaskedMuKl<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        let x = self.x;
        self.blocks.wt_ratio(x, w, h, &mut self.num_h);
        self.heldout.observed_column_sums(w, &mut self.den_h);
        scale_by_matrix_ratio(h, &self.num_h, &self.den_h, self.pen.h);

        self.blocks.ratio_ht(x, w, h, &mut self.num_w);
        for (s, hk) in self.sums.iter_mut().zip(h.rows()) {
            *s = hk.sum();
        }
        for (i, den_row) in self.den_w.rows_mut().into_iter().enumerate() {
            self.heldout.observed_row_sums(i, h, &self.sums, den_row);
        }
        scale_by_matrix_ratio(w, &self.num_w, &self.den_w, self.pen.w);
    }

    fn set_parallel(&mut self, on: bool) {
        self.blocks.set_parallel(on);
    }
}
