//! Multiplicative updates for the squared Frobenius loss over observed entries only (weighted NMF
//! with 0/1 weights M):
//!
//! ```text
//! H ← H ⊙ (Wᵀ (M⊙X)) ⊘ (Wᵀ (M⊙WH))
//! W ← W ⊙ ((M⊙X) Hᵀ) ⊘ ((M⊙WH) Hᵀ)
//! ```
//!
//! M⊙X is the training X (held-out entries are 0); M⊙WH is WH with the held-out entries zeroed
//! in the scratch buffer. Never increases the observed-entry loss.

use super::{UpdateRule, scale_by_matrix_ratio};
use crate::linalg::{matmul_into, matmul_nt_into, matmul_tn_into};
use crate::nmf::Penalty;
use crate::nmf::mask::HeldOut;
use ndarray::{Array2, ArrayView2};
use std::sync::Arc;

/// Buffers for the masked Frobenius multiplicative updates, allocated once per fit.
pub struct MaskedMuFrobenius {
    /// L1/L2 penalty weights.
    pen: Penalty,
    heldout: Arc<HeldOut>,
    /// Wᵀ X (r x p) and Wᵀ(M⊙WH) (r x p).
    wtx: Array2<f64>,
    den_h: Array2<f64>,
    /// X Hᵀ (N x r) and (M⊙WH) Hᵀ (N x r).
    xht: Array2<f64>,
    den_w: Array2<f64>,
}

impl MaskedMuFrobenius {
    /// Buffers for X of shape (n, p) at rank r, leaving out `heldout`.
    pub fn new(n: usize, p: usize, r: usize, heldout: Arc<HeldOut>, pen: Penalty) -> Self {
        MaskedMuFrobenius {
            pen,
            heldout,
            wtx: Array2::zeros((r, p)),
            den_h: Array2::zeros((r, p)),
            xht: Array2::zeros((n, r)),
            den_w: Array2::zeros((n, r)),
        }
    }
}

impl UpdateRule for MaskedMuFrobenius {
    fn step(&mut self, x: ArrayView2<f64>, w: &mut Array2<f64>, h: &mut Array2<f64>, scratch: &mut Array2<f64>) {
        matmul_tn_into(w.view(), x, self.wtx.view_mut());
        matmul_into(w.view(), h.view(), scratch.view_mut());
        self.heldout.zero(scratch);
        matmul_tn_into(w.view(), scratch.view(), self.den_h.view_mut());
        scale_by_matrix_ratio(h, &self.wtx, &self.den_h, (0.5 * self.pen.l1_h, self.pen.l2_h));

        matmul_nt_into(x, h.view(), self.xht.view_mut());
        matmul_into(w.view(), h.view(), scratch.view_mut());
        self.heldout.zero(scratch);
        matmul_nt_into(scratch.view(), h.view(), self.den_w.view_mut());
        scale_by_matrix_ratio(w, &self.xht, &self.den_w, (0.5 * self.pen.l1_w, self.pen.l2_w));
    }
}
