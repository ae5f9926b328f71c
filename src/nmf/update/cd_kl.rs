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

use super::{UpdateRule, Weights};
use crate::linalg::{Real, matmul_into, matmul_tn_into};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1};

/// Newton steps per variable and sweep.
const INNER: usize = 1;
/// Shortenings (secant or halving) of a decreasing step before it is given up.
const HALVINGS: usize = 30;

/// Buffers for KL coordinate descent, allocated once per fit (Xᵀ on the first step).
pub struct CdKl<'a, T> {
    /// X (N x p).
    x: ArrayView2<'a, T>,
    /// L1/L2 penalty weights.
    pen: Weights<T>,
    /// Xᵀ (p x N).
    xt: Option<Array2<T>>,
    /// Wᵀ (r x N).
    wt: Array2<T>,
    /// (WH)ᵀ (p x N).
    lt: Array2<T>,
    /// WH (N x p).
    l: Array2<T>,
    /// Column sums of W or row sums of H (r).
    sums: Array1<T>,
}

impl<'a, T: Real> CdKl<'a, T> {
    /// Buffers for X of shape (n, p) at rank r.
    pub(crate) fn new(x: ArrayView2<'a, T>, r: usize, pen: Weights<T>) -> Self {
        let (n, p) = x.dim();
        CdKl {
            x,
            pen,
            xt: None,
            wt: Array2::zeros((r, n)),
            lt: Array2::zeros((p, n)),
            l: Array2::zeros((n, p)),
            sums: Array1::zeros(r),
        }
    }
}

/// Independent partial sums in [`slope_terms`]: floating-point sums are not reassociated by the
/// compiler, so one running sum is a chain of dependent additions; 8 of them vectorize.
const LANES: usize = 8;

/// Calls `term(lane, a_i, x_i, λ_i)` for every i, with lane = i mod [`LANES`] (the chunks of
/// contiguous rows run as fixed-width loops that vectorize). Each lane's sum therefore has a fixed
/// order, the same bits on every run.
#[inline]
fn for_each_lane<T: Real>(a: ArrayView1<T>, x: ArrayView1<T>, l: ArrayView1<T>, mut term: impl FnMut(usize, T, T, T)) {
    match (a.as_slice(), x.as_slice(), l.as_slice()) {
        (Some(a), Some(x), Some(l)) => {
            let whole = a.len() / LANES * LANES;
            for ((ac, xc), lc) in a[..whole]
                .chunks_exact(LANES)
                .zip(x[..whole].chunks_exact(LANES))
                .zip(l[..whole].chunks_exact(LANES))
            {
                for k in 0..LANES {
                    term(k, ac[k], xc[k], lc[k]);
                }
            }
            for (k, ((&ai, &xi), &li)) in a[whole..].iter().zip(&x[whole..]).zip(&l[whole..]).enumerate() {
                term(k, ai, xi, li);
            }
        }
        _ => {
            for (i, ((&ai, &xi), &li)) in a.iter().zip(x.iter()).zip(l.iter()).enumerate() {
                term(i % LANES, ai, xi, li);
            }
        }
    }
}

/// The sum of the lanes, in lane order.
#[inline]
fn lanes_sum<T: Real>(v: [T; LANES]) -> T {
    v.iter().fold(T::zero(), |s, &t| s + t)
}

/// `(Σ_i a_i x_i/λ_i, Σ_i a_i² x_i/λ_i²)` in a fixed order. Terms with x = 0 or a = 0 are exactly
/// 0 without a branch (the floored λ keeps 1/λ finite); a branch mispredicted on sparse counts.
#[inline]
fn slope_terms<T: Real>(a: ArrayView1<T>, x: ArrayView1<T>, l: ArrayView1<T>) -> (T, T) {
    let (mut g, mut h) = ([T::zero(); LANES], [T::zero(); LANES]);
    for_each_lane(a, x, l, |k, ai, xi, li| {
        let u = T::one() / li.max(T::MODEL_FLOOR);
        let q = ai * (xi * u);
        g[k] += q;
        h[k] += q * ai * u;
    });
    (lanes_sum(g), lanes_sum(h))
}

/// `Σ_i a_i x_i / (λ_i + s·a_i)`, the data part of f'(s), in a fixed order. A term whose shifted
/// model is ≤ 0 where x > 0 and a > 0 becomes huge (divided by the floor), so f'(s) < 0 there and
/// the step is refused, as it must be.
#[inline]
fn shifted_terms<T: Real>(a: ArrayView1<T>, x: ArrayView1<T>, l: ArrayView1<T>, s: T) -> T {
    let mut acc = [T::zero(); LANES];
    for_each_lane(a, x, l, |k, ai, xi, li| {
        acc[k] += ai * xi / (li + s * ai).max(T::MODEL_FLOOR);
    });
    lanes_sum(acc)
}

/// Moves `v` (one entry of W or H) by safeguarded Newton steps; `a` is its coefficient vector in
/// the model (a column of W or a row of H), `sum_a` its sum, `x` the data and `l` the model along
/// the same index (updated in place).
#[inline]
#[allow(clippy::too_many_arguments)]
pub(super) fn newton<T: Real>(
    v: &mut T,
    sum_a: T,
    a: ArrayView1<T>,
    x: ArrayView1<T>,
    mut l: ArrayViewMut1<T>,
    l1: T,
    l2: T,
) {
    let (zero, two, half) = (T::zero(), T::of(2.0), T::of(0.5));
    for _ in 0..INNER {
        // The penalty l1·v + l2·v² adds l1 + 2·l2·v to the gradient and 2·l2 to the curvature.
        let (mut g, mut hess) = (sum_a + l1 + two * l2 * *v, two * l2);
        let (dg, dh) = slope_terms(a, x, l.view());
        g -= dg;
        hess += dh;
        let mut s = if hess > zero {
            (-g / hess).max(-*v)
        } else if sum_a + l1 > zero {
            -*v // f is linear and increasing: go to the bound
        } else {
            zero
        };
        if s < zero && hess > zero {
            // A decreasing Newton step overshoots the minimizer whenever f'(s) < 0 (the tangent of
            // the concave f' lies above it). The step is halved once; if f' is still < 0 there,
            // the secant through (s, f'(s)) and (0, f'(0)) has its root between the minimizer and
            // 0 (a chord of a concave function lies below it), so the next pass is accepted in
            // exact arithmetic. Halving is the fallback when f'(s) is not finite. (Halving alone
            // took up to 30 passes over the column; measured: 2x faster per iteration at
            // 2000 x 1000, r = 10, with the same progress per iteration.)
            let slope0 = g;
            let mut ok = false;
            for round in 0..HALVINGS {
                let slope = sum_a + l1 + two * l2 * (*v + s) - shifted_terms(a, x, l.view(), s);
                if slope >= zero {
                    ok = true;
                    break;
                }
                s = if round > 0 && slope.is_finite() && slope0 - slope > zero {
                    s * slope0 / (slope0 - slope)
                } else {
                    s * half
                };
            }
            if !ok {
                s = zero;
            }
        }
        if s == zero {
            return;
        }
        *v += s;
        if *v < T::min_positive_value() {
            *v = zero;
        }
        for (li, &ai) in l.iter_mut().zip(a.iter()) {
            *li += s * ai;
        }
    }
}

impl<T: Real> UpdateRule<T> for CdKl<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        let x = self.x;
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
        matmul_into(w.view(), h.view(), self.l.view_mut());
        for (s, hk) in self.sums.iter_mut().zip(h.rows()) {
            *s = hk.sum();
        }
        for (i, (xi, mut li)) in x.rows().into_iter().zip(self.l.rows_mut()).enumerate() {
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
