//! Hierarchical alternating least squares for the squared Frobenius loss (Cichocki & Phan 2009,
//! "Fast local algorithms for large scale nonnegative matrix and tensor factorizations"), with the
//! acceleration of Gillis & Glineur (2012, "Accelerated multiplicative updates and hierarchical ALS
//! algorithms for nonnegative matrix factorization"): the expensive products (WᵀX, WᵀW or XHᵀ,
//! HHᵀ) are computed once per half-step and the cheap coordinate sweeps over them are repeated while
//! each sweep still changes the factor by more than 10% of what the first one did.
//!
//! Each coordinate update is the exact minimizer over that block (a row of H, an entry of W's row),
//! so the objective never increases. With A = WᵀW and B = WᵀX:
//!
//! ```text
//! H_k· ← max(ε, (A_kk H_k· + B_k· − A_k· H − l1/2) / (A_kk + l2)),   ε = 1e-16
//! ```
//!
//! and symmetrically for W with A = HHᵀ, B = XHᵀ, one row of W at a time (rows are independent
//! subproblems, so a row-wise sweep equals the column-wise one).

use super::{UpdateRule, Weights};
use crate::linalg::{Real, matmul_nt_into, matmul_tn_into};
use crate::nmf::loss::XView;
use ndarray::{Array1, Array2};

/// Share of the first sweep's change below which the inner sweeps stop (Gillis & Glineur's δ).
const DELTA: f64 = 0.1;
/// Weight of the cost ratio in the inner sweep cap (Gillis & Glineur's α).
const ALPHA: f64 = 0.5;
/// Lower bound of every entry (Gillis & Glineur's reference code uses 1e-16): projecting onto
/// exactly 0 can empty a component for good and leaves model entries λ_ij = 0 where x_ij > 0,
/// whose KL divergence (reported for every fit) is infinite.
const FLOOR: f64 = 1e-16;

/// Buffers for HALS at one shape, allocated once per fit.
pub struct Hals<'a, T> {
    /// X (N x p).
    x: XView<'a, T>,
    /// Scratch (p x r) of the sparse products (empty for dense X).
    pr: Array2<T>,
    /// L1/L2 penalty weights.
    pen: Weights<T>,
    /// WᵀW or HHᵀ (r x r).
    gram: Array2<T>,
    /// WᵀX (r x p).
    wtx: Array2<T>,
    /// XHᵀ (N x r).
    xht: Array2<T>,
    /// One row of H (p), for A_k· H.
    row: Array1<T>,
    /// Squared changes of a sweep are compared in this precision too.
    delta2: T,
    /// Inner sweep caps for H and W, from the cost ratio of products to sweeps.
    max_inner_h: usize,
    max_inner_w: usize,
}

impl<'a, T: Real> Hals<'a, T> {
    /// Buffers for X of shape (n, p) at rank r.
    pub(crate) fn new(x: XView<'a, T>, r: usize, pen: Weights<T>) -> Self {
        let (n, p) = x.dim();
        let (nf, pf, rf) = (n as f64, p as f64, r as f64);
        // ρ = cost of the products / cost of one sweep (Gillis & Glineur, section 3), counted
        // for dense X also when X is sparse: the number of inner sweeps then depends on the data
        // only, not on how it is stored, so sparse and dense input give the same fit.
        let rho_h = 1.0 + nf * (pf + rf) / (pf * (rf + 1.0));
        let rho_w = 1.0 + pf * (nf + rf) / (nf * (rf + 1.0));
        Hals {
            pr: x.product_scratch(r),
            x,
            pen,
            gram: Array2::zeros((r, r)),
            wtx: Array2::zeros((r, p)),
            xht: Array2::zeros((n, r)),
            row: Array1::zeros(p),
            delta2: T::of(DELTA * DELTA),
            max_inner_h: 1 + (ALPHA * rho_h).floor() as usize,
            max_inner_w: 1 + (ALPHA * rho_w).floor() as usize,
        }
    }
}

/// One sweep over the rows of H; returns the squared change.
fn sweep_h<T: Real>(h: &mut Array2<T>, gram: &Array2<T>, wtx: &Array2<T>, row: &mut Array1<T>, l1: T, l2: T) -> T {
    let r = h.nrows();
    let (floor, half) = (T::of(FLOOR), T::of(0.5));
    let mut change = T::zero();
    for k in 0..r {
        let akk = gram[[k, k]];
        if akk <= T::zero() {
            continue; // a vanished component: its row of H does not enter the loss
        }
        // row = A_k· H
        row.fill(T::zero());
        for l in 0..r {
            let a = gram[[k, l]];
            if a != T::zero() {
                row.scaled_add(a, &h.row(l));
            }
        }
        let inv = T::one() / (akk + l2);
        let mut hk = h.row_mut(k);
        for ((v, &b), &ah) in hk.iter_mut().zip(wtx.row(k)).zip(row.iter()) {
            let new = ((akk * *v + b - ah - half * l1) * inv).max(floor);
            change += (new - *v) * (new - *v);
            *v = new;
        }
    }
    change
}

/// One sweep over the entries of every row of W; returns the squared change.
fn sweep_w<T: Real>(w: &mut Array2<T>, gram: &Array2<T>, xht: &Array2<T>, l1: T, l2: T) -> T {
    let r = w.ncols();
    let (floor, half) = (T::of(FLOOR), T::of(0.5));
    let mut change = T::zero();
    for (mut wi, bi) in w.rows_mut().into_iter().zip(xht.rows()) {
        for k in 0..r {
            let akk = gram[[k, k]];
            if akk <= T::zero() {
                continue;
            }
            let mut aw = T::zero();
            for l in 0..r {
                aw += gram[[k, l]] * wi[l];
            }
            let new = ((akk * wi[k] + bi[k] - aw - half * l1) / (akk + l2)).max(floor);
            change += (new - wi[k]) * (new - wi[k]);
            wi[k] = new;
        }
    }
    change
}

impl<T: Real> UpdateRule<T> for Hals<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        let x = self.x;
        matmul_tn_into(w.view(), w.view(), self.gram.view_mut());
        x.wt_x_into(w, &mut self.wtx, &mut self.pr);
        let first = sweep_h(h, &self.gram, &self.wtx, &mut self.row, self.pen.l1_h, self.pen.l2_h);
        for _ in 1..self.max_inner_h {
            if sweep_h(h, &self.gram, &self.wtx, &mut self.row, self.pen.l1_h, self.pen.l2_h) <= self.delta2 * first {
                break;
            }
        }
        matmul_nt_into(h.view(), h.view(), self.gram.view_mut());
        x.x_ht_into(h, &mut self.xht, &mut self.pr);
        let first = sweep_w(w, &self.gram, &self.xht, self.pen.l1_w, self.pen.l2_w);
        for _ in 1..self.max_inner_w {
            if sweep_w(w, &self.gram, &self.xht, self.pen.l1_w, self.pen.l2_w) <= self.delta2 * first {
                break;
            }
        }
    }
}
