//! Multiplicative updates for the squared Frobenius loss over observed entries only (weighted NMF
//! with 0/1 weights M):
//!
//! ```text
//! H ← H ⊙ (Wᵀ (M⊙X)) ⊘ (Wᵀ (M⊙WH))
//! W ← W ⊙ ((M⊙X) Hᵀ) ⊘ ((M⊙WH) Hᵀ)
//! ```
//!
//! M⊙X is the training X (held-out entries are 0); M⊙WH is WH with the held-out entries zeroed
//! in an N x p buffer. Never increases the observed-entry loss.

use super::{UpdateRule, Weights, scale_by_matrix_ratio};
use crate::linalg::{Real, matmul_into, matmul_nt_into, matmul_tn_into};
use crate::nmf::mask::HeldOut;
use ndarray::{Array2, ArrayView2};
use std::sync::Arc;

/// Buffers for the masked Frobenius multiplicative updates, allocated once per fit.
pub struct MaskedMuFrobenius<'a, T> {
    /// X (N x p).
    x: ArrayView2<'a, T>,
    /// L1/L2 penalty weights.
    pen: Weights<T>,
    heldout: Arc<HeldOut>,
    /// Wᵀ X (r x p) and Wᵀ(M⊙WH) (r x p).
    wtx: Array2<T>,
    den_h: Array2<T>,
    /// X Hᵀ (N x r) and (M⊙WH) Hᵀ (N x r).
    xht: Array2<T>,
    den_w: Array2<T>,
    /// M⊙WH (N x p).
    scratch: Array2<T>,
}

impl<'a, T: Real> MaskedMuFrobenius<'a, T> {
    /// Buffers for X of shape (n, p) at rank r, leaving out `heldout`.
    pub(crate) fn new(x: ArrayView2<'a, T>, r: usize, heldout: Arc<HeldOut>, pen: Weights<T>) -> Self {
        let (n, p) = x.dim();
        MaskedMuFrobenius {
            x,
            pen,
            heldout,
            wtx: Array2::zeros((r, p)),
            den_h: Array2::zeros((r, p)),
            xht: Array2::zeros((n, r)),
            den_w: Array2::zeros((n, r)),
            scratch: Array2::zeros((n, p)),
        }
    }
}

impl<T: Real> UpdateRule<T> for MaskedMuFrobenius<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        let x = self.x;
        let scratch = &mut self.scratch;
        matmul_tn_into(w.view(), x, self.wtx.view_mut());
        matmul_into(w.view(), h.view(), scratch.view_mut());
        self.heldout.zero(scratch);
        matmul_tn_into(w.view(), scratch.view(), self.den_h.view_mut());
        scale_by_matrix_ratio(h, &self.wtx, &self.den_h, (T::of(0.5) * self.pen.l1_h, self.pen.l2_h));

        matmul_nt_into(x, h.view(), self.xht.view_mut());
        matmul_into(w.view(), h.view(), scratch.view_mut());
        self.heldout.zero(scratch);
        matmul_nt_into(scratch.view(), h.view(), self.den_w.view_mut());
        scale_by_matrix_ratio(w, &self.xht, &self.den_w, (T::of(0.5) * self.pen.l1_w, self.pen.l2_w));
    }
}
