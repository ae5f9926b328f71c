//! Multiplicative updates for the squared Frobenius loss, over every entry of X or over the
//! observed entries only (weighted NMF with 0/1 weights M, 0 on left-out entries).
//!
//! Lee & Seung (2001), Theorem 1, with weights:
//!
//! ```text
//! H ← H ⊙ (Wᵀ X) ⊘ (Wᵀ (M⊙WH))
//! W ← W ⊙ (X Hᵀ) ⊘ ((M⊙WH) Hᵀ)
//! ```
//!
//! Left-out entries are 0 in the training X, so the numerators are the plain products Wᵀ X and
//! X Hᵀ. Each update never increases the (observed-entry) loss. The rule is written once; how the
//! denominators are formed depends on the data ([`Denominators`]):
//!
//! - every entry observed (M = 1): Wᵀ W H and W H Hᵀ from the small r x r Gram products;
//! - dense X with left-out entries: M⊙WH in an N x p buffer, then its products with W and H;
//! - sparse X with left-out entries: M⊙WH = WH − E⊙WH with E the sparse left-out set, so
//!   Wᵀ(M⊙WH) = (WᵀW)H − Wᵀ(E⊙WH) and (M⊙WH)Hᵀ = W(HHᵀ) − (E⊙WH)Hᵀ, and nothing of size N x p is
//!   formed: O(nnz·r + |E|·r + (N + p)·r²) per iteration.
//!
//! Per iteration without left-out entries: Wᵀ X and X Hᵀ (2Npr flops each for dense X) and small
//! r x r Gram products.

use super::sparse_mu_kl::{dot_r, slice};
use super::{PenaltyGrad, UpdateRule, Weights, scale_by_matrix_ratio};
use crate::linalg::{Real, matmul_into, matmul_nt_into, matmul_tn_into};
use crate::nmf::loss::XView;
use crate::nmf::mask::HeldOut;
use ndarray::Array2;
use std::sync::Arc;

/// How the denominators Wᵀ(M⊙WH) and (M⊙WH)Hᵀ are formed for the data of a fit.
enum Denominators<T> {
    /// Every entry observed: (WᵀW)H and W(HHᵀ).
    All,
    /// Dense X with left-out entries: M⊙WH in `model` (N x p), then its products.
    Dense { heldout: Arc<HeldOut>, model: Array2<T> },
    /// Sparse X with left-out entries: the Gram forms minus the left-out entries' terms.
    Sparse { excluded: Arc<HeldOut> },
}

/// Which half-step a denominator is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Half {
    /// Wᵀ(M⊙WH) (r x p), for H.
    H,
    /// (M⊙WH)Hᵀ (N x r), for W.
    W,
}

impl<T: Real> Denominators<T> {
    /// `den` = Wᵀ(M⊙WH) or (M⊙WH)Hᵀ (`half`); `gram` (r x r) and `pr` (p x r, sparse X only)
    /// are scratch.
    fn form(
        &mut self,
        half: Half,
        (w, h): (&Array2<T>, &Array2<T>),
        den: &mut Array2<T>,
        gram: &mut Array2<T>,
        pr: &mut Array2<T>,
    ) {
        match self {
            Denominators::Dense { heldout, model } => {
                matmul_into(w.view(), h.view(), model.view_mut());
                heldout.zero(model);
                match half {
                    Half::H => matmul_tn_into(w.view(), model.view(), den.view_mut()),
                    Half::W => matmul_nt_into(model.view(), h.view(), den.view_mut()),
                }
            }
            Denominators::All | Denominators::Sparse { .. } if half == Half::H => {
                matmul_tn_into(w.view(), w.view(), gram.view_mut());
                matmul_into(gram.view(), h.view(), den.view_mut());
            }
            Denominators::All | Denominators::Sparse { .. } => {
                matmul_nt_into(h.view(), h.view(), gram.view_mut());
                matmul_into(w.view(), gram.view(), den.view_mut());
            }
        }
        if let Denominators::Sparse { excluded } = self {
            // Minus the left-out terms (E⊙WH)_ij = W_i· (Hᵀ)_j·.
            pr.assign(&h.t());
            for (i, wi) in w.rows().into_iter().enumerate() {
                let wi_s = slice(wi);
                for &j in excluded.row(i) {
                    let hj = pr.row(j as usize);
                    let l = dot_r::<0, T>(wi_s, slice(hj), wi_s.len());
                    match half {
                        Half::H => den.column_mut(j as usize).scaled_add(-l, &wi),
                        Half::W => den.row_mut(i).scaled_add(-l, &hj),
                    }
                }
            }
        }
    }
}

/// Buffers for the Frobenius multiplicative updates at one shape, allocated once per fit.
pub struct MuFrobenius<'a, T> {
    /// X (N x p).
    x: XView<'a, T>,
    /// Scratch (p x r) of the sparse products (empty for dense X); Hᵀ for the sparse left-out
    /// terms.
    pr: Array2<T>,
    /// The penalty gradients of H and W.
    pen: PenaltyGrad<T>,
    /// How the denominators leave out entries.
    den: Denominators<T>,
    /// Wᵀ X and Wᵀ(M⊙WH) (r x p).
    num_h: Array2<T>,
    den_h: Array2<T>,
    /// X Hᵀ and (M⊙WH) Hᵀ (N x r).
    num_w: Array2<T>,
    den_w: Array2<T>,
    /// WᵀW or HHᵀ (r x r).
    gram: Array2<T>,
}

impl<'a, T: Real> MuFrobenius<'a, T> {
    /// Buffers for X of shape (n, p) at rank r, leaving out `excluded` (if any).
    pub(crate) fn new(x: XView<'a, T>, r: usize, excluded: Option<Arc<HeldOut>>, pen: Weights<T>) -> Self {
        let (n, p) = x.dim();
        let den = match (x, excluded) {
            (_, None) => Denominators::All,
            (XView::Dense(_), Some(heldout)) => Denominators::Dense {
                heldout,
                model: Array2::zeros((n, p)),
            },
            (XView::Sparse(_), Some(excluded)) => Denominators::Sparse { excluded },
        };
        MuFrobenius {
            pr: x.product_scratch(r),
            x,
            pen: pen.frobenius(),
            den,
            num_h: Array2::zeros((r, p)),
            den_h: Array2::zeros((r, p)),
            num_w: Array2::zeros((n, r)),
            den_w: Array2::zeros((n, r)),
            gram: Array2::zeros((r, r)),
        }
    }
}

impl<T: Real> UpdateRule<T> for MuFrobenius<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        let x = self.x;
        x.wt_x_into(w, &mut self.num_h, &mut self.pr);
        self.den
            .form(Half::H, (&*w, &*h), &mut self.den_h, &mut self.gram, &mut self.pr);
        scale_by_matrix_ratio(h, &self.num_h, &self.den_h, self.pen.h);

        x.x_ht_into(h, &mut self.num_w, &mut self.pr);
        self.den
            .form(Half::W, (&*w, &*h), &mut self.den_w, &mut self.gram, &mut self.pr);
        scale_by_matrix_ratio(w, &self.num_w, &self.den_w, self.pen.w);
    }
}
