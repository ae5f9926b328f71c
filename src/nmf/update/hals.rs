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
//!
//! On top of that, extrapolation as in Ang & Gillis (2019, "Accelerating nonnegative matrix
//! factorization algorithms using extrapolation", Neural Computation 31): each half-step starts
//! from the extrapolated factors Ŵ, Ĥ, and after it
//!
//! ```text
//! Ĥ ← max(ε, H_new + β (H_new − H_old)),   Ŵ ← max(ε, W_new + β (W_new − W_old))
//! ```
//!
//! with β adapted from the objective e of (W_new, Ĥ), which the products of the W half-step give
//! almost for free: e = ‖X‖² − 2⟨W, XĤᵀ⟩ + ⟨WᵀW, ĤĤᵀ⟩ + penalties. When e rises, the
//! extrapolation restarts from (W_new, H_new) and β shrinks (÷ η); otherwise β grows (× γ) up to a
//! ceiling β̄ that itself grows (× γ̄) to 1 and falls back to the β that failed. The fit's factors
//! (what the driver sees) are the best pair so far, so its objective never increases.

use super::{PenaltyGrad, UpdateRule, Weights};
use crate::linalg::{Real, matmul_nt_into, matmul_tn_into};
use crate::nmf::loss::XView;
use ndarray::{Array1, Array2, Zip};

/// Share of the first sweep's change below which the inner sweeps stop (Gillis & Glineur's δ).
const DELTA: f64 = 0.1;
/// Weight of the cost ratio in the inner sweep cap (Gillis & Glineur's α).
const ALPHA: f64 = 0.5;
/// Lower bound of every entry (Gillis & Glineur's reference code uses 1e-16): projecting onto
/// exactly 0 can empty a component for good and leaves model entries λ_ij = 0 where x_ij > 0,
/// whose KL divergence (reported for every fit) is infinite.
const FLOOR: f64 = 1e-16;

/// Ang & Gillis's extrapolation parameters: the first β, its decrease on a rise of the objective,
/// its growth otherwise, and the growth of its ceiling.
const BETA0: f64 = 0.5;
const ETA: f64 = 1.5;
const GAMMA: f64 = 1.01;
const GAMMA_BAR: f64 = 1.005;

/// Buffers for HALS at one shape, allocated once per fit.
pub struct Hals<'a, T> {
    /// X (N x p).
    x: XView<'a, T>,
    /// Scratch (p x r) of the sparse products (empty for dense X).
    pr: Array2<T>,
    /// L1/L2 penalty weights (for the objective).
    pen: Weights<T>,
    /// The penalty gradients of H and W (for the sweeps).
    grad: PenaltyGrad<T>,
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
    /// The extrapolation's state.
    ex: Extrapolation<T>,
}

/// The state of Ang & Gillis's extrapolation (see the module doc).
struct Extrapolation<T> {
    /// Whether the first step took the fit's start.
    started: bool,
    /// Ŵ (N x r) and Ĥ (r x p): where the next half-steps start.
    w_hat: Array2<T>,
    h_hat: Array2<T>,
    /// The last updates W_new, H_new before extrapolation.
    w_old: Array2<T>,
    h_old: Array2<T>,
    /// W_newᵀ W_new (r x r), for the objective.
    gram_w: Array2<T>,
    /// ‖X‖² in f64.
    x_sq: f64,
    /// β and its ceiling β̄.
    beta: f64,
    beta_max: f64,
    /// The objective of the last pair, and of the best pair (the one the fit holds).
    last: f64,
    best: f64,
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
            grad: pen.frobenius(),
            gram: Array2::zeros((r, r)),
            wtx: Array2::zeros((r, p)),
            xht: Array2::zeros((n, r)),
            row: Array1::zeros(p),
            delta2: T::of(DELTA * DELTA),
            max_inner_h: 1 + (ALPHA * rho_h).floor() as usize,
            max_inner_w: 1 + (ALPHA * rho_w).floor() as usize,
            ex: Extrapolation {
                started: false,
                w_hat: Array2::zeros((n, r)),
                h_hat: Array2::zeros((r, p)),
                w_old: Array2::zeros((n, r)),
                h_old: Array2::zeros((r, p)),
                gram_w: Array2::zeros((r, r)),
                x_sq: x.squared_norm(),
                beta: BETA0,
                beta_max: 1.0,
                last: f64::INFINITY,
                best: f64::INFINITY,
            },
        }
    }
}

/// `hat ← max(ε, new + β (new − old))` with new the current `hat`, and `old ← new`.
fn extrapolate<T: Real>(hat: &mut Array2<T>, old: &mut Array2<T>, beta: T) {
    let floor = T::of(FLOOR);
    Zip::from(hat).and(old).for_each(|h, o| {
        let new = *h;
        *h = (new + beta * (new - *o)).max(floor);
        *o = new;
    });
}

/// Σ l1 v + l2 v² over m, in f64.
fn penalty_of<T: Real>(m: &Array2<T>, l1: T, l2: T) -> f64 {
    if l1 == T::zero() && l2 == T::zero() {
        return 0.0;
    }
    let (l1, l2) = (l1.f64(), l2.f64());
    m.iter()
        .map(|v| {
            let v = v.f64();
            l1 * v + l2 * v * v
        })
        .sum()
}

/// ⟨a, b⟩ = Σ a_ij b_ij, in f64.
fn dot<T: Real>(a: &Array2<T>, b: &Array2<T>) -> f64 {
    let mut s = 0.0;
    Zip::from(a).and(b).for_each(|&x, &y| s += x.f64() * y.f64());
    s
}

/// One sweep over the rows of H with penalty gradient c1 + c2·v; returns the squared change.
fn sweep_h<T: Real>(h: &mut Array2<T>, gram: &Array2<T>, wtx: &Array2<T>, row: &mut Array1<T>, (c1, c2): (T, T)) -> T {
    let r = h.nrows();
    let floor = T::of(FLOOR);
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
        let inv = T::one() / (akk + c2);
        let mut hk = h.row_mut(k);
        for ((v, &b), &ah) in hk.iter_mut().zip(wtx.row(k)).zip(row.iter()) {
            let new = ((akk * *v + b - ah - c1) * inv).max(floor);
            change += (new - *v) * (new - *v);
            *v = new;
        }
    }
    change
}

/// One sweep over the entries of every row of W; returns the squared change. Works on slices
/// (W, XHᵀ and the Gram matrix are in standard layout, made so by this rule): ndarray's indexed
/// access cost a bounds check per product and kept the dot product from vectorizing (this loop
/// was about 19% of a 20000 x 2000, r 20 run). The sums run in the same order either way.
fn sweep_w<T: Real>(w: &mut Array2<T>, gram: &Array2<T>, xht: &Array2<T>, (c1, c2): (T, T)) -> T {
    let r = w.ncols();
    let floor = T::of(FLOOR);
    let mut change = T::zero();
    let std = "standard-layout: allocated by Hals::new";
    let (ws, gs, bs) = (
        w.as_slice_mut().expect(std),
        gram.as_slice().expect(std),
        xht.as_slice().expect(std),
    );
    if r == 0 {
        return change;
    }
    for (wi, bi) in ws.chunks_exact_mut(r).zip(bs.chunks_exact(r)) {
        for (k, (ak, &bk)) in gs.chunks_exact(r).zip(bi).enumerate() {
            let akk = ak[k];
            if akk <= T::zero() {
                continue;
            }
            let mut aw = T::zero();
            for (&a, &v) in ak.iter().zip(wi.iter()) {
                aw += a * v;
            }
            let old = wi[k];
            let new = ((akk * old + bk - aw - c1) / (akk + c2)).max(floor);
            change += (new - old) * (new - old);
            wi[k] = new;
        }
    }
    change
}

/// Runs `sweep` (which returns its squared change) once, then again while a sweep still changes
/// the factor by more than `delta2` times the first one did, `max` sweeps at most.
fn sweeps<T: Real>(max: usize, delta2: T, mut sweep: impl FnMut() -> T) {
    let first = sweep();
    for _ in 1..max {
        if sweep() <= delta2 * first {
            break;
        }
    }
}

impl<T: Real> Hals<'_, T> {
    /// The H half-step from (Ŵ, Ĥ): products, then the sweeps over Ĥ in place.
    fn half_step_h(&mut self) {
        let x = self.x;
        let ex = &mut self.ex;
        matmul_tn_into(ex.w_hat.view(), ex.w_hat.view(), self.gram.view_mut());
        x.wt_x_into(&ex.w_hat, &mut self.wtx, &mut self.pr);
        let (gram, wtx, row, pen) = (&self.gram, &self.wtx, &mut self.row, self.grad.h);
        sweeps(self.max_inner_h, self.delta2, || {
            sweep_h(&mut ex.h_hat, gram, wtx, row, pen)
        });
    }

    /// The W half-step from (Ŵ, Ĥ): products, then the sweeps over Ŵ in place. Leaves ĤĤᵀ in
    /// `gram` and XĤᵀ in `xht`.
    fn half_step_w(&mut self) {
        let x = self.x;
        let ex = &mut self.ex;
        matmul_nt_into(ex.h_hat.view(), ex.h_hat.view(), self.gram.view_mut());
        x.x_ht_into(&ex.h_hat, &mut self.xht, &mut self.pr);
        let (gram, xht, pen) = (&self.gram, &self.xht, self.grad.w);
        sweeps(self.max_inner_w, self.delta2, || sweep_w(&mut ex.w_hat, gram, xht, pen));
    }

    /// The objective of (W, Ĥ) with W = Ŵ just after the W half-step, from the products that
    /// half-step left: ‖X‖² − 2⟨W, XĤᵀ⟩ + ⟨WᵀW, ĤĤᵀ⟩ + the penalties.
    fn objective(&mut self) -> f64 {
        let ex = &mut self.ex;
        matmul_tn_into(ex.w_hat.view(), ex.w_hat.view(), ex.gram_w.view_mut());
        let frob = ex.x_sq - 2.0 * dot(&ex.w_hat, &self.xht) + dot(&ex.gram_w, &self.gram);
        frob + penalty_of(&ex.w_hat, self.pen.l1_w, self.pen.l2_w) + penalty_of(&ex.h_hat, self.pen.l1_h, self.pen.l2_h)
    }
}

impl<T: Real> UpdateRule<T> for Hals<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        if !self.ex.started {
            let ex = &mut self.ex;
            ex.w_hat.assign(w);
            ex.h_hat.assign(h);
            ex.w_old.assign(w);
            ex.h_old.assign(h);
            ex.started = true;
        }
        let beta = T::of(self.ex.beta);
        self.half_step_h();
        extrapolate(&mut self.ex.h_hat, &mut self.ex.h_old, beta);
        self.half_step_w();
        let e = self.objective();
        let ex = &mut self.ex;
        if e <= ex.best {
            // (W_new, Ĥ) is the best pair so far: the fit takes it.
            w.assign(&ex.w_hat);
            h.assign(&ex.h_hat);
            ex.best = e;
        }
        if e > ex.last {
            // The objective rose: restart from (W_new, H_new), with a smaller β whose ceiling is
            // the β that failed.
            ex.h_hat.assign(&ex.h_old);
            ex.w_old.assign(&ex.w_hat);
            ex.beta_max = ex.beta;
            ex.beta /= ETA;
        } else {
            extrapolate(&mut ex.w_hat, &mut ex.w_old, beta);
            ex.beta = (ex.beta * GAMMA).min(ex.beta_max);
            ex.beta_max = (ex.beta_max * GAMMA_BAR).min(1.0);
        }
        ex.last = e;
    }
}
