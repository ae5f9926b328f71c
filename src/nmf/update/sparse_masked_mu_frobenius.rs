//! Multiplicative updates for the squared Frobenius loss over observed entries only (weights M,
//! 0 on left-out entries; see `masked_mu_frobenius`), for sparse X (CSR):
//!
//! ```text
//! H ← H ⊙ (Wᵀ X) ⊘ (Wᵀ (M⊙WH)),    W ← W ⊙ (X Hᵀ) ⊘ ((M⊙WH) Hᵀ)
//! ```
//!
//! Left-out entries are not stored in X, so the numerators are plain sparse products. The
//! denominators use M⊙WH = WH − E⊙WH with E the sparse left-out set: Wᵀ(M⊙WH) = (WᵀW)H − Wᵀ(E⊙WH)
//! and (M⊙WH)Hᵀ = W(HHᵀ) − (E⊙WH)Hᵀ, so nothing of size N x p is formed: O(nnz·r + |E|·r +
//! (N + p)·r²) per iteration.

use super::sparse_mu_kl::{dot_r, slice};
use super::{UpdateRule, Weights, scale_by_matrix_ratio};
use crate::linalg::{Real, matmul_into, matmul_nt_into, matmul_tn_into};
use crate::nmf::loss::{SparseView, XView};
use crate::nmf::mask::HeldOut;
use ndarray::Array2;
use std::sync::Arc;

/// Buffers for the sparse masked Frobenius multiplicative updates, allocated once per fit.
pub struct SparseMaskedMuFrobenius<'a, T> {
    /// X (N x p, CSR).
    x: SparseView<'a, T>,
    /// L1/L2 penalty weights.
    pen: Weights<T>,
    excluded: Arc<HeldOut>,
    /// Wᵀ X and Wᵀ(M⊙WH) (r x p).
    wtx: Array2<T>,
    den_h: Array2<T>,
    /// X Hᵀ and (M⊙WH) Hᵀ (N x r).
    xht: Array2<T>,
    den_w: Array2<T>,
    /// WᵀW or HHᵀ (r x r).
    gram: Array2<T>,
    /// Hᵀ (p x r), also the scratch of the sparse products.
    ht: Array2<T>,
}

impl<'a, T: Real> SparseMaskedMuFrobenius<'a, T> {
    /// Buffers for X at rank r, leaving out `excluded`.
    pub(crate) fn new(x: SparseView<'a, T>, r: usize, excluded: Arc<HeldOut>, pen: Weights<T>) -> Self {
        let (n, p) = (x.nrows, x.ncols);
        SparseMaskedMuFrobenius {
            x,
            pen,
            excluded,
            wtx: Array2::zeros((r, p)),
            den_h: Array2::zeros((r, p)),
            xht: Array2::zeros((n, r)),
            den_w: Array2::zeros((n, r)),
            gram: Array2::zeros((r, r)),
            ht: Array2::zeros((p, r)),
        }
    }
}

impl<T: Real> UpdateRule<T> for SparseMaskedMuFrobenius<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        let x = XView::Sparse(self.x);
        x.wt_x_into(w, &mut self.wtx, &mut self.ht);
        matmul_tn_into(w.view(), w.view(), self.gram.view_mut());
        matmul_into(self.gram.view(), h.view(), self.den_h.view_mut());
        self.ht.assign(&h.t());
        for (i, wi) in w.rows().into_iter().enumerate() {
            let wi_s = slice(wi);
            for &j in self.excluded.row(i) {
                let l = dot_r::<0, T>(wi_s, slice(self.ht.row(j as usize)), wi_s.len());
                self.den_h.column_mut(j as usize).scaled_add(-l, &wi);
            }
        }
        scale_by_matrix_ratio(h, &self.wtx, &self.den_h, (T::of(0.5) * self.pen.l1_h, self.pen.l2_h));

        x.x_ht_into(h, &mut self.xht, &mut self.ht);
        matmul_nt_into(h.view(), h.view(), self.gram.view_mut());
        matmul_into(w.view(), self.gram.view(), self.den_w.view_mut());
        for (i, (wi, mut di)) in w.rows().into_iter().zip(self.den_w.rows_mut()).enumerate() {
            let wi = slice(wi);
            for &j in self.excluded.row(i) {
                let hj = self.ht.row(j as usize);
                let l = dot_r::<0, T>(wi, slice(hj), wi.len());
                di.scaled_add(-l, &hj);
            }
        }
        scale_by_matrix_ratio(w, &self.xht, &self.den_w, (T::of(0.5) * self.pen.l1_w, self.pen.l2_w));
    }
}
