//! Cyclic coordinate descent for the generalized KL divergence (Hsieh & Dhillon 2011, "Fast
//! coordinate descent methods with variable selection for non-negative matrix factorization",
//! section 4): each entry of H, then of W, is moved by projected one-variable Newton steps on
//!
//! ```text
//! f(s) = s·Σ_i a_i − Σ_i x_i ln(1 + s·a_i/λ_i)      (a = W_·k for H_kj, λ = (WH)_·j)
//! ```
//!
//! with the model column λ kept up to date after every step, so each step sees all earlier ones.
//! f is convex with f‴ < 0, so an increasing Newton step never overshoots the minimizer; a
//! decreasing one can, and is accepted only where the slope is still ≥ 0 (halved otherwise). Every
//! step therefore lowers the objective, and λ stays positive wherever x is. The H half-step works
//! on Xᵀ and (WH)ᵀ so that every inner loop runs over contiguous memory.

use super::UpdateRule;
use crate::linalg::{matmul_into, matmul_tn_into};
use crate::nmf::Penalty;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1};

/// Newton steps per variable and sweep.
const INNER: usize = 1;
/// Halvings of a decreasing step before it is given up.
const HALVINGS: usize = 30;

/// Buffers for KL coordinate descent, allocated once per fit (Xᵀ on the first step).
pub struct CdKl {
    /// L1/L2 penalty weights.
    pen: Penalty,
    /// Xᵀ (p x N).
    xt: Option<Array2<f64>>,
    /// Wᵀ (r x N).
    wt: Array2<f64>,
    /// (WH)ᵀ (p x N).
    lt: Array2<f64>,
    /// Column sums of W or row sums of H (r).
    sums: Array1<f64>,
}

impl CdKl {
    /// Buffers for X of shape (n, p) at rank r.
    pub fn new(n: usize, p: usize, r: usize, pen: Penalty) -> Self {
        CdKl {
            pen,
            xt: None,
            wt: Array2::zeros((r, n)),
            lt: Array2::zeros((p, n)),
            sums: Array1::zeros(r),
        }
    }
}

/// Moves `v` (one entry of W or H) by safeguarded Newton steps; `a` is its coefficient vector in
/// the model (a column of W or a row of H), `sum_a` its sum, `x` the data and `l` the model along
/// the same index (updated in place).
#[inline]
#[allow(clippy::too_many_arguments)]
fn newton(
    v: &mut f64,
    sum_a: f64,
    a: ArrayView1<f64>,
    x: ArrayView1<f64>,
    mut l: ArrayViewMut1<f64>,
    l1: f64,
    l2: f64,
) {
    for _ in 0..INNER {
        // The penalty l1·v + l2·v² adds l1 + 2·l2·v to the gradient and 2·l2 to the curvature.
        let (mut g, mut hess) = (sum_a + l1 + 2.0 * l2 * *v, 2.0 * l2);
        for ((&ai, &xi), &li) in a.iter().zip(x.iter()).zip(l.iter()) {
            if xi > 0.0 && ai > 0.0 {
                let u = 1.0 / li;
                let t = xi * u;
                g -= ai * t;
                hess += ai * ai * t * u;
            }
        }
        let mut s = if hess > 0.0 {
            (-g / hess).max(-*v)
        } else if sum_a + l1 > 0.0 {
            -*v // f is linear and increasing: go to the bound
        } else {
            0.0
        };
        if s < 0.0 && hess > 0.0 {
            // Accept only while the slope at the new point is ≥ 0 (not past the minimizer).
            let mut ok = false;
            for _ in 0..HALVINGS {
                let mut slope = sum_a + l1 + 2.0 * l2 * (*v + s);
                for ((&ai, &xi), &li) in a.iter().zip(x.iter()).zip(l.iter()) {
                    if xi > 0.0 && ai > 0.0 {
                        let d = li + s * ai;
                        slope -= if d > 0.0 { xi * ai / d } else { f64::INFINITY };
                    }
                }
                if slope >= 0.0 {
                    ok = true;
                    break;
                }
                s *= 0.5;
            }
            if !ok {
                s = 0.0;
            }
        }
        if s == 0.0 {
            return;
        }
        *v += s;
        if *v < f64::MIN_POSITIVE {
            *v = 0.0;
        }
        for (li, &ai) in l.iter_mut().zip(a.iter()) {
            *li += s * ai;
        }
    }
}

impl UpdateRule for CdKl {
    fn step(&mut self, x: ArrayView2<f64>, w: &mut Array2<f64>, h: &mut Array2<f64>, scratch: &mut Array2<f64>) {
        let xt = self.xt.get_or_insert_with(|| x.t().as_standard_layout().into_owned());
        // H half-step: for each column j, the entries H_kj in turn, along Xᵀ_j and (WH)ᵀ_j.
        self.wt.assign(&w.t());
        matmul_tn_into(h.view(), self.wt.view(), self.lt.view_mut());
        for (s, wk) in self.sums.iter_mut().zip(self.wt.rows()) {
            *s = wk.sum();
        }
        for (j, (xj, mut lj)) in xt.rows().into_iter().zip(self.lt.rows_mut()).enumerate() {
            for (k, wk) in self.wt.rows().into_iter().enumerate() {
                newton(
                    &mut h[[k, j]],
                    self.sums[k],
                    wk,
                    xj,
                    lj.view_mut(),
                    self.pen.l1_h,
                    self.pen.l2_h,
                );
            }
        }
        // W half-step: for each row i, the entries W_ik in turn, along X_i and (WH)_i.
        matmul_into(w.view(), h.view(), scratch.view_mut());
        for (s, hk) in self.sums.iter_mut().zip(h.rows()) {
            *s = hk.sum();
        }
        for (i, (xi, mut li)) in x.rows().into_iter().zip(scratch.rows_mut()).enumerate() {
            for (k, hk) in h.rows().into_iter().enumerate() {
                newton(
                    &mut w[[i, k]],
                    self.sums[k],
                    hk,
                    xi,
                    li.view_mut(),
                    self.pen.l1_w,
                    self.pen.l2_w,
                );
            }
        }
    }
}
