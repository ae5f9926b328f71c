//! Multiplicative updates for the squared Frobenius loss.
//!
//! Lee & Seung (2001), Theorem 1:
//!
//! ```text
//! H ← H ⊙ (Wᵀ X) ⊘ (Wᵀ W H)
//! W ← W ⊙ (X Hᵀ) ⊘ (W H Hᵀ)
//! ```
//!
//! Each update never increases ‖X − WH‖². Per iteration: Wᵀ X and X Hᵀ (2Npr flops each) and
//! small r x r Gram products.

use super::{UpdateRule, Weights, scale_by_matrix_ratio};
use crate::linalg::{Real, matmul_into, matmul_nt_into, matmul_tn_into};
use crate::nmf::loss::XView;
use ndarray::Array2;

/// Buffers for the Frobenius multiplicative updates at one shape, allocated once per fit.
pub struct MuFrobenius<'a, T> {
    /// X (N x p).
    x: XView<'a, T>,
    /// Scratch (p x r) of the sparse products (empty for dense X).
    pr: Array2<T>,
    /// L1/L2 penalty weights.
    pen: Weights<T>,
    /// Wᵀ X (r x p).
    wtx: Array2<T>,
    /// Wᵀ W (r x r).
    wtw: Array2<T>,
    /// Wᵀ W H (r x p).
    wtwh: Array2<T>,
    /// X Hᵀ (N x r).
    xht: Array2<T>,
    /// H Hᵀ (r x r).
    hht: Array2<T>,
    /// W H Hᵀ (N x r).
    whht: Array2<T>,
}

impl<'a, T: Real> MuFrobenius<'a, T> {
    /// Buffers for X of shape (n, p) at rank r.
    pub(crate) fn new(x: XView<'a, T>, r: usize, pen: Weights<T>) -> Self {
        let (n, p) = x.dim();
        MuFrobenius {
            pr: x.product_scratch(r),
            x,
            pen,
            wtx: Array2::zeros((r, p)),
            wtw: Array2::zeros((r, r)),
            wtwh: Array2::zeros((r, p)),
            xht: Array2::zeros((n, r)),
            hht: Array2::zeros((r, r)),
            whht: Array2::zeros((n, r)),
        }
    }
}

impl<T: Real> UpdateRule<T> for MuFrobenius<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        let x = self.x;
        x.wt_x_into(w, &mut self.wtx, &mut self.pr);
        matmul_tn_into(w.view(), w.view(), self.wtw.view_mut());
        matmul_into(self.wtw.view(), h.view(), self.wtwh.view_mut());
        scale_by_matrix_ratio(h, &self.wtx, &self.wtwh, (T::of(0.5) * self.pen.l1_h, self.pen.l2_h));

        x.x_ht_into(h, &mut self.xht, &mut self.pr);
        matmul_nt_into(h.view(), h.view(), self.hht.view_mut());
        matmul_into(w.view(), self.hht.view(), self.whht.view_mut());
        scale_by_matrix_ratio(w, &self.xht, &self.whht, (T::of(0.5) * self.pen.l1_w, self.pen.l2_w));
    }
}
