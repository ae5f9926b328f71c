//! Update rules: one file per rule. A rule performs one iteration (H update, then W update using
//! the new H) in place, from products it computes through `linalg` into buffers it allocated once.
//! The driver loop (`fit.rs`) decides when to evaluate objectives and when to stop.

mod cd_kl;
mod hals;
mod masked_mu_kl;
mod mu_frobenius;
mod mu_kl;
mod sparse_cd_kl;
mod sparse_mu_kl;

pub use cd_kl::CdKl;
pub use hals::Hals;
pub use masked_mu_kl::MaskedMuKl;
pub use mu_frobenius::MuFrobenius;
pub use mu_kl::MuKl;
pub use sparse_cd_kl::SparseCdKl;
pub use sparse_mu_kl::SparseMuKl;

use super::loss::{FitMatrix, Scalar, XView};
use super::{Loss, Penalty, Precision};
use crate::linalg::{Real, matmul_nt_into, matmul_tn_into};
use crate::names::named_enum;
use ndarray::{Array1, Array2, Zip};

/// One iteration of an NMF algorithm on the X (N x p) it was made for, in precision T (f64 or
/// f32).
pub trait UpdateRule<T: Real>: Send {
    /// Updates H (r x p), then W (N x r) from the new H. Every buffer the rule needs was
    /// allocated when it was made; a step allocates nothing.
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>);

    /// Lets a step spread over the rayon pool (for a fit that has spare threads). The results
    /// are the same bits either way. Rules without a parallel form (all but the KL
    /// multiplicative updates, so far) ignore it.
    fn set_parallel(&mut self, _on: bool) {}
}

/// The penalty weights of [`Penalty`] in the precision of a rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Weights<T> {
    pub(crate) l1_w: T,
    pub(crate) l1_h: T,
    pub(crate) l2_w: T,
    pub(crate) l2_h: T,
}

impl<T: Real> Weights<T> {
    fn of(p: Penalty) -> Self {
        Weights {
            l1_w: T::of(p.l1_w),
            l1_h: T::of(p.l1_h),
            l2_w: T::of(p.l2_w),
            l2_h: T::of(p.l2_h),
        }
    }

    /// The penalty gradients of the KL rules: the gradient of l1·v + l2·v² is l1 + 2·l2·v.
    pub(crate) fn kl(&self) -> PenaltyGrad<T> {
        PenaltyGrad {
            h: (self.l1_h, self.l2_h + self.l2_h),
            w: (self.l1_w, self.l2_w + self.l2_w),
        }
    }

    /// The penalty gradients of the Frobenius rules, in the scale of ½‖X − WH‖² (whose gradient
    /// the rules use): l1/2 + l2·v.
    pub(crate) fn frobenius(&self) -> PenaltyGrad<T> {
        let half = T::of(0.5);
        PenaltyGrad {
            h: (half * self.l1_h, self.l2_h),
            w: (half * self.l1_w, self.l2_w),
        }
    }
}

/// The gradient of the penalties at an entry v of H and of W as (c1, c2): c1 + c2·v, in the scale
/// of the loss's gradient ([`Weights::kl`], [`Weights::frobenius`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PenaltyGrad<T> {
    /// (c1, c2) for H.
    pub(crate) h: (T, T),
    /// (c1, c2) for W.
    pub(crate) w: (T, T),
}

named_enum! {
    /// The algorithm family chosen in the config (`[model] solver`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Solver {
        /// Lee & Seung (2001) multiplicative updates, for either loss.
        Mu = "mu",
        /// Accelerated hierarchical ALS (Cichocki & Phan 2009; Gillis & Glineur 2012), Frobenius only.
        Hals = "hals",
        /// Coordinate descent with safeguarded Newton steps (Hsieh & Dhillon 2011), KL only.
        Cd = "cd",
    }
}

impl Solver {
    /// Whether this solver minimizes `loss`.
    pub fn supports(self, loss: Loss) -> bool {
        !matches!((self, loss), (Solver::Hals, Loss::Kl) | (Solver::Cd, Loss::Frobenius))
    }

    /// The fastest solver for `loss` (the default when the config names none).
    pub fn default_for(loss: Loss) -> Solver {
        match loss {
            Loss::Kl => Solver::Cd,
            Loss::Frobenius => Solver::Hals,
        }
    }

    /// The precision when the config names none: `Auto` (f32 where the data allows) for KL
    /// coordinate descent, whose passes run twice as many lanes per vector in f32 and reach the
    /// same best KL (the Golub survey: best KL per rank within 2e-9 of the f64 run's, in 55% of
    /// the time), f64 otherwise.
    pub fn default_precision(self, loss: Loss) -> Precision {
        match (self, loss) {
            (Solver::Cd, Loss::Kl) => Precision::Auto,
            _ => Precision::F64,
        }
    }

    /// The bytes one fit of this solver holds besides W, H, their numerators and transposes (the
    /// memory estimate, with N x p the shape fitted, at rank r, in a precision of `scalar` bytes):
    /// for dense X, one block of rows of WH for the objectives, and for coordinate descent the
    /// layouts of the model its half-steps read (WH and/or its transpose, N x p each, or for wide
    /// X only panel and line buffers; the transpose of X is shared by the fits of one matrix and
    /// counted with it), for the multiplicative KL updates their blocks of the ratio
    /// matrix; for sparse X with `nnz` stored entries, the values at them, and for coordinate
    /// descent also its transposed copy of X (`x_bytes`, the size of X as held).
    pub fn workspace_bytes(self, (n, p): (u64, u64), r: u64, nnz: Option<u64>, x_bytes: u64, scalar: u64) -> u64 {
        let (nu, pu, ru) = (to_usize(n), to_usize(p), to_usize(r));
        match nnz {
            None => {
                let objective = super::loss::objective_block_bytes(nu, pu);
                let solver = match self {
                    Solver::Cd => {
                        let (rows, transposed) = cd_kl::layouts(nu, pu);
                        n.saturating_mul(p)
                            .saturating_mul(scalar)
                            .saturating_mul(u64::from(rows) + u64::from(transposed))
                            .saturating_add(cd_kl::blocked_bytes(nu, pu, scalar))
                    }
                    Solver::Mu if scalar == 4 => mu_kl::ratio_workspace_bytes::<f32>(nu, pu, ru),
                    Solver::Mu => mu_kl::ratio_workspace_bytes::<f64>(nu, pu, ru),
                    Solver::Hals => 0,
                };
                objective.saturating_add(solver)
            }
            Some(nnz) if self == Solver::Cd => nnz.saturating_mul(8).saturating_add(x_bytes),
            Some(nnz) => nnz.saturating_mul(8),
        }
    }

    /// Whether this solver makes the transpose of a dense X of N x p (once per matrix):
    /// coordinate descent where a half-step reads it (not for wide X, see `cd_kl::layouts`).
    pub fn transposes_dense(self, (n, p): (u64, u64)) -> bool {
        self == Solver::Cd && cd_kl::layouts(to_usize(n), to_usize(p)).1
    }

    /// The solver that fits with left-out entries (cross-validation, missing values) use, dense
    /// or sparse X alike: weighted updates exist for the multiplicative rules and for coordinate
    /// descent; HALS's closed-form block updates are not implemented with weights, and HALS fits
    /// use the multiplicative rule there.
    pub fn for_heldout(self) -> Solver {
        match self {
            Solver::Cd => Solver::Cd,
            _ => Solver::Mu,
        }
    }

    /// The update rule of this solver for `loss` on `data` (dense or sparse) at rank `r`, with
    /// its buffers allocated. When `data` has left-out entries (missing or held out), the
    /// weighted rule of [`Solver::for_heldout`] that leaves them out.
    pub fn rule<'a, T: Scalar>(
        self,
        data: &'a FitMatrix,
        loss: Loss,
        r: usize,
        pen: Penalty,
    ) -> Box<dyn UpdateRule<T> + 'a> {
        let pen = Weights::of(pen);
        let ex = data.excluded().cloned();
        assert!(
            self.supports(loss),
            "solver \"{}\" does not minimize the {} loss: the config check should have refused it",
            self.name(),
            loss.name()
        );
        let solver = if ex.is_some() { self.for_heldout() } else { self };
        match (data.view_in::<T>(), solver, loss, ex) {
            (XView::Dense(x), Solver::Cd, Loss::Kl, ex) => {
                // Xᵀ only where a half-step reads it (not for wide X): made once per matrix.
                let (_, transposed) = cd_kl::layouts(x.nrows(), x.ncols());
                let xt = transposed.then(|| {
                    data.transposed_dense_in::<T>()
                        .expect("dense X has a transposed form: FitMatrix makes it for dense X")
                });
                Box::new(CdKl::new(x, xt, r, ex, pen))
            }
            (XView::Dense(x), _, Loss::Kl, Some(ex)) => Box::new(MaskedMuKl::new(x, r, ex, pen)),
            (XView::Dense(x), _, Loss::Kl, None) => Box::new(MuKl::new(x, r, pen)),
            (XView::Sparse(x), Solver::Cd, Loss::Kl, ex) => {
                let xt = data
                    .transposed_in::<T>()
                    .expect("sparse X has a transposed form: FitMatrix makes it for sparse X");
                Box::new(SparseCdKl::new(x, xt, r, ex, pen))
            }
            (XView::Sparse(x), _, Loss::Kl, ex) => Box::new(SparseMuKl::new(x, r, ex, pen)),
            (x, Solver::Hals, Loss::Frobenius, None) => Box::new(Hals::new(x, r, pen)),
            (x, _, Loss::Frobenius, ex) => Box::new(MuFrobenius::new(x, r, ex, pen)),
        }
    }
}

/// `v` as a usize, saturating (for sizes in the memory estimate).
fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Why W is standard-layout in the sparse products.
const W_STD: &str = "W is standard-layout: allocated by the fit or the rule";
/// Why the sparse products' scratch is standard-layout.
const SCRATCH_STD: &str = "the scratch is standard-layout: allocated by product_scratch";

impl<T: Real> XView<'_, T> {
    /// (N, p).
    pub fn dim(&self) -> (usize, usize) {
        match self {
            XView::Dense(x) => x.dim(),
            XView::Sparse(x) => (x.nrows, x.ncols),
        }
    }

    /// ‖X‖² = Σ x_ij², in f64 (stored entries only for sparse X: the rest are 0).
    pub fn squared_norm(&self) -> f64 {
        let values: &mut dyn Iterator<Item = &T> = match self {
            XView::Dense(x) => &mut x.iter(),
            XView::Sparse(x) => &mut x.values.iter(),
        };
        values.map(|v| v.f64() * v.f64()).sum()
    }

    /// The p x r scratch that [`XView::wt_x_into`] and [`XView::x_ht_into`] need for sparse X
    /// (empty for dense X, whose products go straight through BLAS).
    pub fn product_scratch(&self, r: usize) -> Array2<T> {
        match self {
            XView::Dense(_) => Array2::zeros((0, 0)),
            XView::Sparse(x) => Array2::zeros((x.ncols, r)),
        }
    }

    /// `out = Wᵀ X` (r x p) for W (N x r): BLAS for dense X; for sparse X each stored x_ij adds
    /// x_ij W_i· to row j of the scratch (p x r), O(nnz·r), which is then transposed into `out`.
    pub fn wt_x_into(&self, w: &Array2<T>, out: &mut Array2<T>, pr: &mut Array2<T>) {
        match self {
            XView::Dense(x) => matmul_tn_into(w.view(), *x, out.view_mut()),
            XView::Sparse(x) => {
                pr.fill(T::zero());
                let r = w.ncols();
                let ws = w.as_slice().expect(W_STD);
                let ps = pr.as_slice_mut().expect(SCRATCH_STD);
                for (i, wi) in ws.chunks_exact(r.max(1)).enumerate() {
                    let (cols, vals) = x.row(i);
                    for (&j, &v) in cols.iter().zip(vals) {
                        let j = j as usize;
                        sparse_mu_kl::axpy(v, wi, &mut ps[j * r..(j + 1) * r]);
                    }
                }
                out.assign(&pr.t());
            }
        }
    }

    /// `out = X Hᵀ` (N x r) for H (r x p): BLAS for dense X; for sparse X, row i is
    /// Σ_j x_ij (Hᵀ)_j· over row i's stored entries, O(nnz·r), with Hᵀ in the scratch (p x r).
    pub fn x_ht_into(&self, h: &Array2<T>, out: &mut Array2<T>, pr: &mut Array2<T>) {
        match self {
            XView::Dense(x) => matmul_nt_into(*x, h.view(), out.view_mut()),
            XView::Sparse(x) => {
                pr.assign(&h.t());
                let r = h.nrows();
                let ps = pr.as_slice().expect(SCRATCH_STD);
                let os = out
                    .as_slice_mut()
                    .expect("X Hᵀ is standard-layout: allocated by its rule");
                for (i, oi) in os.chunks_exact_mut(r.max(1)).enumerate() {
                    oi.fill(T::zero());
                    let (cols, vals) = x.row(i);
                    for (&j, &v) in cols.iter().zip(vals) {
                        let j = j as usize;
                        sparse_mu_kl::axpy(v, &ps[j * r..(j + 1) * r], oi);
                    }
                }
            }
        }
    }
}

// Entries below the smallest normal number are set to 0 (`flush`): subnormal factors add nothing
// to a fit and make every later product that touches them very slow. Denominators that can be
// exactly 0 (a component whose W column or H row vanished) are floored at the same value: the
// numerator is then 0 too, and the entry stays 0 instead of becoming 0/0 = NaN.

/// `f ← f ⊙ num / max(den_k + c1 + c2·f, floor)` where `den` is indexed by component k along
/// `axis` (0: rows of f are components, as in H; 1: columns are components, as in W). c1 and c2
/// carry an L1 / L2 penalty's gradient (both 0 without penalties, which leaves the rule unchanged).
fn scale_by_ratio<T: Real>(f: &mut Array2<T>, num: &Array2<T>, den: &Array1<T>, axis: usize, pen: (T, T)) {
    let (c1, c2) = pen;
    let floor = T::min_positive_value();
    if axis == 0 && c1 == T::zero() && c2 == T::zero() {
        for ((mut fr, nr), &d) in f.rows_mut().into_iter().zip(num.rows()).zip(den.iter()) {
            let inv = T::one() / d.max(floor);
            Zip::from(&mut fr).and(&nr).for_each(|v, &n| *v = flush(*v * n * inv));
        }
    } else if axis == 0 {
        for ((mut fr, nr), &d) in f.rows_mut().into_iter().zip(num.rows()).zip(den.iter()) {
            Zip::from(&mut fr)
                .and(&nr)
                .for_each(|v, &n| *v = flush(*v * n / (d + c1 + c2 * *v).max(floor)));
        }
    } else {
        for (mut fr, nr) in f.rows_mut().into_iter().zip(num.rows()) {
            Zip::from(&mut fr)
                .and(&nr)
                .and(den)
                .for_each(|v, &n, &d| *v = flush(*v * n / (d + c1 + c2 * *v).max(floor)));
        }
    }
}

/// `f ← f ⊙ num / max(den + c1 + c2·f, floor)`, entry by entry (same shapes); c1, c2 as above.
///
/// The product f·num is formed before the division: for multiplicative updates den ≥ f·c with
/// c > 0 (e.g. (WᵀWH)_kj ≥ (WᵀW)_kk H_kj), so (f·num)/den stays bounded, whereas num/den alone
/// can overflow to ∞ where f = 0 and den was floored, and 0·∞ = NaN.
fn scale_by_matrix_ratio<T: Real>(f: &mut Array2<T>, num: &Array2<T>, den: &Array2<T>, pen: (T, T)) {
    let (c1, c2) = pen;
    let floor = T::min_positive_value();
    Zip::from(f)
        .and(num)
        .and(den)
        .for_each(|v, &n, &d| *v = flush(*v * n / (d + c1 + c2 * *v).max(floor)));
}

#[inline]
fn flush<T: Real>(v: T) -> T {
    if v < T::min_positive_value() { T::zero() } else { v }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::nmf::loss::{FitMatrix, objectives_of};
    use std::sync::Arc;

    /// Reads a reference fixture of tests/data/fixtures (computed independently; see its README).
    pub(crate) fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/tests/data/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// A JSON array of rows as a matrix.
    pub(crate) fn matrix(v: &serde_json::Value) -> Array2<f64> {
        let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
        let (n, p) = (rows.len(), rows[0].len());
        Array2::from_shape_vec((n, p), rows.into_iter().flatten().collect()).unwrap()
    }

    fn check_fixture(file: &str, loss: Loss) {
        let f = fixture(file);
        let x = matrix(&f["X"]);
        let mut w = matrix(&f["W0"]);
        let mut h = matrix(&f["H0"]);
        let r = w.ncols();
        let data = FitMatrix::new(x.clone());
        let mut rule = Solver::Mu.rule::<f64>(&data, loss, r, Penalty::NONE);
        let mut scratch = data.objective_scratch(r);
        let trace = f["objective_after_each_iteration"].as_array().unwrap();
        let rel = |a: f64, b: f64| ((a - b) / b).abs();
        for it in 1..=100 {
            rule.step(&mut w, &mut h);
            let o = objectives_of(&data, w.view(), h.view(), &mut scratch);
            let want = &trace[it - 1];
            for (got, key) in [
                (o.kl, "kl"),
                (o.poisson_loglik, "poisson_loglik"),
                (o.frobenius_sq, "frobenius_sq"),
            ] {
                let exp = want[key].as_f64().unwrap();
                assert!(rel(got, exp) < 1e-10, "{file} iteration {it} {key}: {got} vs {exp}");
            }
            if let Some(snap) = f["after_iterations"].get(it.to_string()) {
                for (got, key) in [(&w, "W"), (&h, "H")] {
                    let exp = matrix(&snap[key]);
                    for (a, b) in got.iter().zip(exp.iter()) {
                        assert!(rel(*a, *b) < 1e-9, "{file} iteration {it} {key}: {a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn mu_kl_matches_fixture() {
        check_fixture("mu_kl.json", Loss::Kl);
    }

    #[test]
    fn mu_frobenius_matches_fixture() {
        check_fixture("mu_frobenius.json", Loss::Frobenius);
    }

    /// Random-ish dense non-negative test data with zeros, an all-zero row and column.
    pub(crate) fn awkward_data(n: usize, p: usize) -> Array2<f64> {
        Array2::from_shape_fn((n, p), |(i, j)| {
            if i == 1 || j == 2 || (i * 31 + j * 17) % 7 == 0 {
                0.0
            } else {
                ((i * 13 + j * 29) % 23) as f64
            }
        })
    }

    #[test]
    fn objective_never_increases_and_stays_finite() {
        for (solver, loss) in [
            (Solver::Mu, Loss::Kl),
            (Solver::Mu, Loss::Frobenius),
            (Solver::Hals, Loss::Frobenius),
        ] {
            let x = awkward_data(40, 30);
            let data = FitMatrix::new(x.clone());
            let mut rng = crate::rng::fit_rng(7);
            let (mut w, mut h) = crate::nmf::init::random(&mut rng, 40, 30, 5, data.mean());
            let mut rule = solver.rule::<f64>(&data, loss, 5, Penalty::NONE);
            let mut scratch = data.objective_scratch(5);
            let mut prev = objectives_of(&data, w.view(), h.view(), &mut scratch).value(loss);
            for it in 0..500 {
                rule.step(&mut w, &mut h);
                let o = objectives_of(&data, w.view(), h.view(), &mut scratch);
                assert!(o.is_finite(), "{solver:?} {loss:?} iteration {it}: {o:?}");
                let cur = o.value(loss);
                assert!(
                    cur <= prev * (1.0 + 1e-13),
                    "{solver:?} {loss:?} iteration {it}: {prev} -> {cur}"
                );
                assert!(w.iter().chain(h.iter()).all(|v| *v >= 0.0 && v.is_finite()));
                prev = cur;
            }
        }
    }

    /// f32 fits follow the f64 fits from the same start: every solver's objective (evaluated in
    /// f64 from the f32 factors) stays within 1e-4 of the f64 trajectory over 300 iterations, never
    /// rises by more than f32 rounding (2e-6 relative per step, about 16 ulps of f32), and the
    /// factors stay finite and non-negative.
    #[test]
    fn f32_fits_follow_f64_fits() {
        for (solver, loss) in [
            (Solver::Mu, Loss::Kl),
            (Solver::Cd, Loss::Kl),
            (Solver::Mu, Loss::Frobenius),
            (Solver::Hals, Loss::Frobenius),
        ] {
            let x = awkward_data(40, 30);
            let data = FitMatrix::new(x.clone());
            let (mut w, mut h) = crate::nmf::init::random(&mut crate::rng::fit_rng(7), 40, 30, 5, data.mean());
            let (mut w32, mut h32) = (w.mapv(|v| v as f32), h.mapv(|v| v as f32));
            let mut rule = solver.rule::<f64>(&data, loss, 5, Penalty::NONE);
            let mut rule32 = solver.rule::<f32>(&data, loss, 5, Penalty::NONE);
            let mut scratch = data.objective_scratch(5);
            let mut prev = f64::INFINITY;
            let mut worst = 0.0f64;
            for it in 0..300 {
                rule.step(&mut w, &mut h);
                rule32.step(&mut w32, &mut h32);
                assert!(w32.iter().chain(h32.iter()).all(|v| *v >= 0.0 && v.is_finite()));
                let o = objectives_of(&data, w.view(), h.view(), &mut scratch).value(loss);
                let (wu, hu) = (w32.mapv(f64::from), h32.mapv(f64::from));
                let o32 = objectives_of(&data, wu.view(), hu.view(), &mut scratch).value(loss);
                assert!(
                    o32 <= prev * (1.0 + 2e-6),
                    "{solver:?} {loss:?} f32 iteration {it}: {prev} -> {o32}"
                );
                worst = worst.max(((o32 - o) / o).abs());
                prev = o32;
            }
            assert!(
                worst < 1e-4,
                "{solver:?} {loss:?}: f32 and f64 objectives differ by {worst:e}"
            );
        }
    }

    #[test]
    fn vanished_components_and_underflow_stay_finite() {
        for loss in [Loss::Kl, Loss::Frobenius] {
            let x = awkward_data(12, 9);
            let data = FitMatrix::new(x.clone());
            let mut w = Array2::from_elem((12, 3), 1.0);
            let mut h = Array2::from_elem((3, 9), 1.0);
            w.column_mut(0).fill(0.0); // a dead component
            h.row_mut(1).fill(1e-310); // subnormal start
            w[[3, 2]] = 1e-320;
            let mut rule = Solver::Mu.rule::<f64>(&data, loss, 3, Penalty::NONE);
            let mut scratch = data.objective_scratch(3);
            for _ in 0..50 {
                rule.step(&mut w, &mut h);
            }
            let bad: Vec<f64> = w
                .iter()
                .chain(h.iter())
                .copied()
                .filter(|v| !(v.is_finite() && *v >= 0.0 && (*v == 0.0 || v.is_normal())))
                .collect();
            assert!(bad.is_empty(), "{loss:?}: {bad:?}");
            let o = objectives_of(&data, w.view(), h.view(), &mut scratch);
            assert!(o.is_finite(), "{loss:?}: {o:?}");
        }
    }

    #[test]
    fn masked_rules_are_monotone_on_the_observed_entries_objective() {
        use crate::nmf::mask::HeldOut;
        for (solver, loss) in [
            (Solver::Mu, Loss::Kl),
            (Solver::Cd, Loss::Kl),
            (Solver::Mu, Loss::Frobenius),
        ] {
            let x = awkward_data(40, 30);
            let (train, ho) = HeldOut::split(x.view(), 5, 0, 0.1, None);
            let ho = Arc::new(ho);
            let data = FitMatrix::with_heldout(train.clone(), Arc::clone(&ho));
            let (mut w, mut h) = crate::nmf::init::random(&mut crate::rng::fit_rng(2), 40, 30, 4, data.mean());
            let mut rule = solver.rule::<f64>(&data, loss, 4, Penalty::NONE);
            let mut scratch = data.objective_scratch(4);
            let mut prev = objectives_of(&data, w.view(), h.view(), &mut scratch).value(loss);
            for it in 0..300 {
                rule.step(&mut w, &mut h);
                let cur = objectives_of(&data, w.view(), h.view(), &mut scratch).value(loss);
                assert!(
                    cur.is_finite() && cur <= prev * (1.0 + 1e-13),
                    "{solver:?} {loss:?} iteration {it}: {prev} -> {cur}"
                );
                prev = cur;
            }
            // The observed-entry objective equals the full objective on a matrix that agrees with
            // the model at the held-out entries.
            let wh = w.dot(&h);
            let mut filled = train.clone();
            for (i, j, _, _) in ho.entries() {
                filled[[i, j]] = wh[[i, j]];
            }
            let full = FitMatrix::new(filled).objectives(wh.view()).value(loss);
            assert!(
                (full - prev).abs() <= 1e-9 * prev.abs().max(1.0),
                "{loss:?}: {full} vs {prev}"
            );
        }
    }

    #[test]
    fn masked_rule_with_nothing_held_out_equals_the_plain_rule() {
        use crate::nmf::mask::HeldOut;
        for loss in [Loss::Kl, Loss::Frobenius] {
            let x = awkward_data(20, 15);
            let (train, ho) = HeldOut::split(x.view(), 5, 0, 0.0, None);
            assert!(ho.is_empty());
            let ho = Arc::new(ho);
            let (w0, h0) = crate::nmf::init::random(&mut crate::rng::fit_rng(4), 20, 15, 3, 5.0);
            let (mut w1, mut h1, mut w2, mut h2) = (w0.clone(), h0.clone(), w0, h0);
            let data = FitMatrix::new(x.clone());
            let mut plain = Solver::Mu.rule::<f64>(&data, loss, 3, Penalty::NONE);
            let pen = Weights::of(Penalty::NONE);
            let mut masked: Box<dyn UpdateRule<f64>> = match loss {
                Loss::Kl => Box::new(MaskedMuKl::new(train.view(), 3, Arc::clone(&ho), pen)),
                Loss::Frobenius => Box::new(MuFrobenius::new(
                    XView::Dense(train.view()),
                    3,
                    Some(Arc::clone(&ho)),
                    pen,
                )),
            };
            for _ in 0..20 {
                plain.step(&mut w1, &mut h1);
                masked.step(&mut w2, &mut h2);
            }
            for (a, b) in w1.iter().chain(h1.iter()).zip(w2.iter().chain(h2.iter())) {
                assert!((a - b).abs() <= 1e-12 * a.abs().max(1e-300), "{loss:?}: {a} vs {b}");
            }
        }
    }

    fn penalized(
        data: &FitMatrix,
        w: &Array2<f64>,
        h: &Array2<f64>,
        pen: &Penalty,
        loss: Loss,
        s: &mut crate::nmf::loss::ObjectiveScratch,
    ) -> f64 {
        let mut o = objectives_of(data, w.view(), h.view(), s);
        o.penalty = pen.value(w.view(), h.view());
        o.value(loss)
    }

    #[test]
    fn penalized_objective_never_increases_for_every_solver() {
        use crate::nmf::mask::HeldOut;
        let pen = Penalty {
            l1_w: 0.5,
            l1_h: 2.0,
            l2_w: 0.3,
            l2_h: 0.1,
        };
        let x = awkward_data(40, 30);
        let (train, ho) = HeldOut::split(x.view(), 3, 0, 0.1, None);
        let ho = Arc::new(ho);
        let cases = [
            (Solver::Mu, Loss::Kl, false),
            (Solver::Mu, Loss::Frobenius, false),
            (Solver::Hals, Loss::Frobenius, false),
            (Solver::Cd, Loss::Kl, false),
            (Solver::Mu, Loss::Kl, true),
            (Solver::Mu, Loss::Frobenius, true),
        ];
        for (solver, loss, masked) in cases {
            let data = if masked {
                FitMatrix::with_heldout(train.clone(), Arc::clone(&ho))
            } else {
                FitMatrix::new(x.clone())
            };
            let (mut w, mut h) = crate::nmf::init::random(&mut crate::rng::fit_rng(9), 40, 30, 4, data.mean());
            let mut rule = solver.rule::<f64>(&data, loss, 4, pen);
            let mut sc = data.objective_scratch(4);
            let mut prev = penalized(&data, &w, &h, &pen, loss, &mut sc);
            for it in 0..300 {
                rule.step(&mut w, &mut h);
                let cur = penalized(&data, &w, &h, &pen, loss, &mut sc);
                assert!(
                    cur.is_finite() && cur <= prev * (1.0 + 1e-12),
                    "{solver:?} {loss:?} masked={masked} iteration {it}: {prev} -> {cur}"
                );
                prev = cur;
            }
        }
    }

    #[test]
    fn l1_on_h_gives_sparser_components_and_a_lower_penalized_objective() {
        let x = crate::simulate::draw(&crate::simulate::Planted {
            n: 60,
            p: 50,
            rank: 3,
            mean: 5.0,
            mix: 0.2,
            seed: 2,
            dispersion: None,
        })
        .0;
        let data = FitMatrix::new(x.clone());
        let pen = Penalty {
            l1_h: 20.0,
            ..Penalty::NONE
        };
        for (solver, loss) in [(Solver::Mu, Loss::Kl), (Solver::Hals, Loss::Frobenius)] {
            let run = |p: Penalty| {
                let (mut w, mut h) = crate::nmf::init::random(&mut crate::rng::fit_rng(4), 60, 50, 3, data.mean());
                let mut rule = solver.rule::<f64>(&data, loss, 3, p);
                for _ in 0..400 {
                    rule.step(&mut w, &mut h);
                }
                (w, h)
            };
            let (w0, h0) = run(Penalty::NONE);
            let (w1, h1) = run(pen);
            let small = |h: &Array2<f64>| {
                h.iter()
                    .filter(|v| **v < 1e-3 * h.iter().cloned().fold(0.0, f64::max))
                    .count()
            };
            assert!(
                small(&h1) > small(&h0),
                "{solver:?}: {} vs {} near-zero entries",
                small(&h1),
                small(&h0)
            );
            let mut sc = data.objective_scratch(3);
            let (f1, f0) = (
                penalized(&data, &w1, &h1, &pen, loss, &mut sc),
                penalized(&data, &w0, &h0, &pen, loss, &mut sc),
            );
            assert!(
                f1 < f0,
                "{solver:?}: the penalized fit minimizes the penalized objective: {f1} vs {f0}"
            );
        }
    }
}

#[cfg(test)]
mod sparse_tests {
    use super::tests::awkward_data;
    use super::*;
    use crate::nmf::loss::{FitMatrix, objectives_of};
    use crate::nmf::mask::HeldOut;
    use crate::sparse::Csr;
    use std::sync::Arc;

    /// Planted counts with about 70% zeros (sparse enough that the stored pattern matters).
    fn sparse_counts(n: usize, p: usize) -> Array2<f64> {
        let x = crate::simulate::draw(&crate::simulate::Planted {
            n,
            p,
            rank: 4,
            mean: 0.6,
            mix: 0.1,
            seed: 5,
            dispersion: None,
        })
        .0;
        assert!(x.iter().filter(|v| **v == 0.0).count() * 2 > x.len());
        x
    }

    /// Runs `iters` steps of `solver` from the same start on both matrices; returns the largest
    /// difference of W and of H relative to the largest entry, and the objective of the dense fit.
    fn same_fit(a: &FitMatrix, b: &FitMatrix, solver: Solver, loss: Loss, pen: Penalty, iters: usize) -> (f64, f64) {
        let (n, p) = a.dim();
        let (w0, h0) = crate::nmf::init::random(&mut crate::rng::fit_rng(3), n, p, 4, a.mean());
        let (mut w1, mut h1, mut w2, mut h2) = (w0.clone(), h0.clone(), w0, h0);
        let mut ra = solver.rule::<f64>(a, loss, 4, pen);
        let mut rb = solver.rule::<f64>(b, loss, 4, pen);
        for _ in 0..iters {
            ra.step(&mut w1, &mut h1);
            rb.step(&mut w2, &mut h2);
        }
        let rel = |x: &Array2<f64>, y: &Array2<f64>| {
            let top = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            x.iter().zip(y.iter()).fold(0.0f64, |m, (p, q)| m.max((p - q).abs())) / top
        };
        let (mut sa, mut sb) = (a.objective_scratch(4), b.objective_scratch(4));
        let (oa, ob) = (
            objectives_of(a, w1.view(), h1.view(), &mut sa),
            objectives_of(b, w2.view(), h2.view(), &mut sb),
        );
        assert!(
            (oa.value(loss) - ob.value(loss)).abs() <= 1e-9 * oa.value(loss),
            "{solver:?} {loss:?}: {oa:?} vs {ob:?}"
        );
        (rel(&w1, &w2).max(rel(&h1, &h2)), oa.value(loss))
    }

    #[test]
    fn sparse_objectives_equal_dense_objectives() {
        let x = awkward_data(30, 20);
        let (train, ho) = HeldOut::split(x.view(), 1, 0, 0.2, None);
        let ho = Arc::new(ho);
        let (w, h) = crate::nmf::init::random(&mut crate::rng::fit_rng(1), 30, 20, 3, 4.0);
        for (d, s) in [
            (FitMatrix::new(x.clone()), FitMatrix::sparse(Csr::from_dense(x.view()))),
            (
                FitMatrix::with_heldout(train.clone(), Arc::clone(&ho)),
                FitMatrix::sparse(Csr::from_dense(train.view())).excluding(Some(Arc::clone(&ho)), Some(ho.clone())),
            ),
        ] {
            let od = objectives_of(&d, w.view(), h.view(), &mut d.objective_scratch(3));
            let os = objectives_of(&s, w.view(), h.view(), &mut s.objective_scratch(3));
            for (a, b) in [
                (od.kl, os.kl),
                (od.poisson_loglik, os.poisson_loglik),
                (od.frobenius_sq, os.frobenius_sq),
            ] {
                assert!((a - b).abs() <= 1e-12 * a.abs(), "{a} vs {b}");
            }
        }
    }

    /// Sparse and dense input give the same fit: every solver, with and without penalties and
    /// left-out entries, 200 iterations from the same start, factors within 1e-8 of the largest
    /// entry (the bound; sums run in another order, so not the same bits).
    #[test]
    fn sparse_and_dense_input_give_the_same_fit() {
        let x = sparse_counts(60, 45);
        let (train, ho) = HeldOut::split(x.view(), 2, 0, 0.1, None);
        let ho = Arc::new(ho);
        let dense = FitMatrix::new(x.clone());
        let sparse = FitMatrix::sparse(Csr::from_dense(x.view()));
        let dense_ho = FitMatrix::with_heldout(train.clone(), Arc::clone(&ho));
        let sparse_ho =
            FitMatrix::sparse(Csr::from_dense(train.view())).excluding(Some(Arc::clone(&ho)), Some(Arc::clone(&ho)));
        let pen = Penalty {
            l1_w: 0.1,
            l1_h: 0.2,
            l2_w: 0.05,
            l2_h: 0.01,
        };
        for (solver, loss) in [
            (Solver::Mu, Loss::Kl),
            (Solver::Cd, Loss::Kl),
            (Solver::Mu, Loss::Frobenius),
            (Solver::Hals, Loss::Frobenius),
        ] {
            for p in [Penalty::NONE, pen] {
                let (d, _) = same_fit(&dense, &sparse, solver, loss, p, 200);
                assert!(d <= 1e-8, "{solver:?} {loss:?} {p:?}: {d:e}");
                let (e, _) = same_fit(&dense_ho, &sparse_ho, solver, loss, p, 200);
                assert!(e <= 1e-8, "{solver:?} {loss:?} {p:?} left out: {e:e}");
                eprintln!(
                    "{solver:?} {loss:?} penalized={}: sparse vs dense {d:e}, with left-out entries {e:e}",
                    p != Penalty::NONE
                );
            }
        }
    }

    /// The sparse KL rules never increase their objective (observed entries only when some are
    /// left out), and the factors stay finite and non-negative.
    #[test]
    fn sparse_rules_are_monotone() {
        let x = sparse_counts(50, 40);
        let (train, ho) = HeldOut::split(x.view(), 4, 0, 0.1, None);
        let ho = Arc::new(ho);
        let cases = [
            FitMatrix::sparse(Csr::from_dense(x.view())),
            FitMatrix::sparse(Csr::from_dense(train.view())).excluding(Some(Arc::clone(&ho)), Some(ho)),
        ];
        for data in &cases {
            for (solver, loss) in [
                (Solver::Mu, Loss::Kl),
                (Solver::Cd, Loss::Kl),
                (Solver::Mu, Loss::Frobenius),
                (Solver::Hals, Loss::Frobenius),
            ] {
                let (mut w, mut h) = crate::nmf::init::random(&mut crate::rng::fit_rng(8), 50, 40, 3, data.mean());
                let mut rule = solver.rule::<f64>(data, loss, 3, Penalty::NONE);
                let mut sc = data.objective_scratch(3);
                let mut prev = objectives_of(data, w.view(), h.view(), &mut sc).value(loss);
                for it in 0..300 {
                    rule.step(&mut w, &mut h);
                    let cur = objectives_of(data, w.view(), h.view(), &mut sc).value(loss);
                    assert!(
                        cur.is_finite() && cur <= prev * (1.0 + 1e-12),
                        "{solver:?} {loss:?} iteration {it}: {prev} -> {cur}"
                    );
                    assert!(w.iter().chain(h.iter()).all(|v| *v >= 0.0 && v.is_finite()));
                    prev = cur;
                }
            }
        }
    }

    /// The sparse KL multiplicative updates give the same bits with their row groups on the rayon
    /// pool as one after the other.
    #[test]
    fn sparse_mu_kl_parallel_equals_sequential() {
        let x = sparse_counts(400, 30);
        let data = FitMatrix::sparse(Csr::from_dense(x.view()));
        let (w0, h0) = crate::nmf::init::random(&mut crate::rng::fit_rng(1), 400, 30, 3, data.mean());
        let run = |parallel: bool| {
            let (mut w, mut h) = (w0.clone(), h0.clone());
            let mut rule = Solver::Mu.rule::<f64>(&data, Loss::Kl, 3, Penalty::NONE);
            rule.set_parallel(parallel);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
            pool.install(|| {
                for _ in 0..30 {
                    rule.step(&mut w, &mut h);
                }
            });
            (w, h)
        };
        let (a, b) = (run(false), run(true));
        assert!(a.0.iter().zip(b.0.iter()).all(|(p, q)| p.to_bits() == q.to_bits()));
        assert!(a.1.iter().zip(b.1.iter()).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
}
