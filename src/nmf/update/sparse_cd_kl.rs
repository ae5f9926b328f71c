//! Coordinate descent for the KL divergence on sparse X (Hsieh & Dhillon 2011; the dense form
//! and its safeguarded Newton steps are in `cd_kl`), touching only the nonzeros.
//!
//! In f(s) = s·Σ_i a_i − Σ_i x_i ln(1 + s·a_i/λ_i) the data terms with x_i = 0 vanish, so each
//! one-variable problem needs the model λ only where x is stored. For column j of H, the stored
//! entries of column j (a row of the CSC form Xᵀ) are gathered with the rows of W they meet and
//! the model there; for row i of W, likewise along row i of the CSR form. Per iteration
//! O(nnz·r·(Newton passes)) work and O(nnz) extra memory (the CSC copy of X, made once per
//! matrix and shared by every fit), plus gathered buffers of r x (longest line).
//!
//! Left-out entries (cross-validation, missing values) are not stored in the training X; the
//! Σ_i a_i term of each line then runs over its observed entries only: the full sums less the
//! left-out terms, from the sparse list of left-out entries (O(|left out|·r) per half-step).

use super::cd_kl::newton;
use super::sparse_mu_kl::{dot_r, slice};
use super::{PenaltyGrad, UpdateRule, Weights};
use crate::linalg::Real;
use crate::nmf::loss::SparseView;
use crate::nmf::mask::HeldOut;
use ndarray::{Array1, Array2, ArrayView1, ArrayViewMut1, Axis};
use std::sync::Arc;

/// Buffers for sparse KL coordinate descent, allocated once per fit.
pub struct SparseCdKl<'a, T> {
    /// X (N x p, CSR) and Xᵀ (p x N, CSR, i.e. X's CSC form).
    x: SparseView<'a, T>,
    xt: SparseView<'a, T>,
    /// The penalty gradients of H and W.
    pen: PenaltyGrad<T>,
    /// The coefficient vectors gathered along one line: r x (longest line).
    gathered: Array2<T>,
    /// The model along one line (longest line).
    model: Array1<T>,
    /// Column sums of W, or row sums of H (r).
    sums: Array1<T>,
    /// Entries left out of the fit, if any.
    left_out: Option<Arc<HeldOut>>,
    /// Σ_i W_ik over each column's observed entries (r x p), when entries are left out.
    den_h: Array2<T>,
    /// Σ_j H_kj over one row's observed entries (r).
    den_w: Array1<T>,
    /// One factor row (r) for the model products.
    coef: Array1<T>,
    /// Hᵀ (p x r).
    ht: Array2<T>,
}

impl<'a, T: Real> SparseCdKl<'a, T> {
    /// Buffers for X (and its transpose `xt`) at rank r.
    pub(crate) fn new(
        x: SparseView<'a, T>,
        xt: SparseView<'a, T>,
        r: usize,
        left_out: Option<Arc<HeldOut>>,
        pen: Weights<T>,
    ) -> Self {
        let longest = |v: &SparseView<'_, T>| v.indptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        let len = longest(&x).max(longest(&xt));
        SparseCdKl {
            x,
            xt,
            pen: pen.kl(),
            gathered: Array2::zeros((r, len)),
            model: Array1::zeros(len),
            sums: Array1::zeros(r),
            den_h: Array2::zeros(if left_out.is_some() { (r, x.ncols) } else { (0, 0) }),
            den_w: Array1::zeros(r),
            left_out,
            coef: Array1::zeros(r),
            ht: Array2::zeros((x.ncols, r)),
        }
    }
}

/// Steps for every entry of one line (a column of H or a row of W): `var` holds its r
/// entries, `idx`/`vals` the line's stored entries, `factor` the other factor with its rows
/// indexed by `idx` (W for a column of H; Hᵀ for a row of W), `sums` the sums of the factor's
/// columns over the line's observed entries.
#[allow(clippy::too_many_arguments)]
fn line<T: Real>(
    mut var: ArrayViewMut1<T>,
    idx: &[u32],
    vals: &[T],
    factor: &Array2<T>,
    sums: ArrayView1<T>,
    gathered: &mut Array2<T>,
    model: &mut Array1<T>,
    coef: &mut Array1<T>,
    pen: (T, T),
) {
    let m = idx.len();
    if m == 0 {
        // No data on this line: f(s) = s·Σa + penalty is minimized at 0.
        var.fill(T::zero());
        return;
    }
    for (t, &i) in idx.iter().enumerate() {
        for (k, &f) in factor.row(i as usize).iter().enumerate() {
            gathered[[k, t]] = f;
        }
    }
    coef.assign(&var);
    let cf = slice(coef.view());
    for (t, &i) in idx.iter().enumerate() {
        model[t] = dot_r::<0, T>(slice(factor.row(i as usize)), cf, cf.len());
    }
    let x = ArrayView1::from(vals);
    for (k, v) in var.iter_mut().enumerate() {
        let a = gathered.row(k);
        newton(
            v,
            sums[k],
            a.slice(ndarray::s![..m]),
            x,
            model.slice_mut(ndarray::s![..m]),
            pen,
        );
    }
}

impl<T: Real> UpdateRule<T> for SparseCdKl<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        // H half-step: column j of H along column j of X (row j of Xᵀ), with W's rows there.
        for (s, wk) in self.sums.iter_mut().zip(w.axis_iter(Axis(1))) {
            *s = wk.sum();
        }
        if let Some(out) = &self.left_out {
            out.observed_column_sums(w, &mut self.den_h);
        }
        for j in 0..self.xt.nrows {
            let (idx, vals) = self.xt.row(j);
            let sums = if self.left_out.is_some() {
                self.den_h.column(j)
            } else {
                self.sums.view()
            };
            line(
                h.column_mut(j),
                idx,
                vals,
                w,
                sums,
                &mut self.gathered,
                &mut self.model,
                &mut self.coef,
                self.pen.h,
            );
        }
        // W half-step: row i of W along row i of X, with H's columns there (rows of Hᵀ).
        self.ht.assign(&h.t());
        for (s, hk) in self.sums.iter_mut().zip(h.rows()) {
            *s = hk.sum();
        }
        for i in 0..self.x.nrows {
            let (idx, vals) = self.x.row(i);
            if let (Some(out), Some(sums)) = (&self.left_out, self.sums.as_slice()) {
                out.observed_row_sums(i, h, sums, self.den_w.view_mut());
            }
            let sums = if self.left_out.is_some() {
                self.den_w.view()
            } else {
                self.sums.view()
            };
            line(
                w.row_mut(i),
                idx,
                vals,
                &self.ht,
                sums,
                &mut self.gathered,
                &mut self.model,
                &mut self.coef,
                self.pen.w,
            );
        }
    }
}
