//! Objective definitions, in one place, used for every solver (so fits compare).
//!
//! With Λ = WH:
//! - generalized KL divergence: `Σ x ln(x/λ) − x + λ`, with 0 ln 0 = 0 (Lee & Seung 2001);
//! - Poisson log-likelihood: `Σ x ln λ − λ − ln Γ(x+1)`; it equals `−KL` plus a constant of X,
//!   so minimizing KL maximizes the likelihood;
//! - squared Frobenius norm: `Σ (x − λ)²`.
//!
//! See tests/data/fixtures/losses.json for the reference values.

use super::mask::HeldOut;
use crate::linalg::Real;
use crate::names::named_enum;
use crate::sparse::Csr;
use ndarray::{Array2, ArrayView1, ArrayView2, s};
use std::sync::{Arc, OnceLock};

named_enum! {
    /// The loss a fit minimizes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Loss {
        /// Generalized KL divergence, i.e. the Poisson likelihood.
        Kl = "kl",
        /// Squared Frobenius norm (Gaussian likelihood).
        Frobenius = "frobenius",
    }
}

/// All three objective values of one (W, H), whatever loss was optimized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objectives {
    /// Generalized KL divergence (≥ 0).
    pub kl: f64,
    /// Poisson log-likelihood (≤ 0 for counts).
    pub poisson_loglik: f64,
    /// Squared Frobenius norm of the residual (≥ 0).
    pub frobenius_sq: f64,
    /// The penalty terms of (W, H) (see [`Penalty`]; 0 without penalties).
    pub penalty: f64,
}

impl Objectives {
    /// The objective a fit of `loss` minimizes (lower is better): the loss plus the penalty.
    pub fn value(&self, loss: Loss) -> f64 {
        self.penalty
            + match loss {
                Loss::Kl => self.kl,
                Loss::Frobenius => self.frobenius_sq,
            }
    }

    /// Whether a fit of `loss` with these objectives succeeded: its own loss is finite and no value
    /// is NaN. (The KL of a Frobenius fit is +∞ where the model is 0 and the data positive: a true
    /// value, not a failure.)
    pub fn usable(&self, loss: Loss) -> bool {
        self.value(loss).is_finite()
            && !(self.kl.is_nan() || self.poisson_loglik.is_nan() || self.frobenius_sq.is_nan())
    }

    /// True when all three values are finite.
    pub fn is_finite(&self) -> bool {
        self.kl.is_finite() && self.poisson_loglik.is_finite() && self.frobenius_sq.is_finite()
    }
}

/// A dense matrix in f64, in f32, or in both: the precision it is held in is set when it is made,
/// the other is made from it on first use (and then shared by every fit that reads it).
#[derive(Debug, Default)]
pub struct Dual {
    d64: OnceLock<Array2<f64>>,
    d32: OnceLock<Array2<f32>>,
}

impl Dual {
    fn of64(x: Array2<f64>) -> Self {
        Dual {
            d64: OnceLock::from(x),
            d32: OnceLock::new(),
        }
    }

    fn of32(x: Array2<f32>) -> Self {
        Dual {
            d64: OnceLock::new(),
            d32: OnceLock::from(x),
        }
    }

    /// The matrix as held: f64 when it was made in f64 (or has been widened since), else f32.
    fn held(&self) -> Stored<'_> {
        match self.d64.get() {
            Some(x) => Stored::Dense(x.view()),
            None => Stored::Dense32(self.d32.get().expect(HELD).view()),
        }
    }

    /// The matrix in precision T, made from the one held on first use.
    fn view<T: Scalar>(&self) -> ArrayView2<'_, T> {
        T::lock(self).get_or_init(|| T::from_other(self)).view()
    }
}

/// Why a [`Dual`] that a [`FitMatrix`] holds X in has one precision set.
const HELD: &str = "X is held in f64 or f32: both constructors set one";

/// Block of rows of the model WH (f64) that the objectives of dense X are evaluated on: about
/// this many bytes, at least one row. It depends on p only (never on the threads), so the sums
/// run in the same order, to the same bits, on every run; data of up to this size (all the
/// small test and demo sets) is one block, as it was when WH was formed whole.
const OBJECTIVE_BLOCK_BYTES: usize = 8 << 20;

/// Rows per block of the objectives for X of shape (n, p) (see [`OBJECTIVE_BLOCK_BYTES`]).
fn objective_block_rows(n: usize, p: usize) -> usize {
    (OBJECTIVE_BLOCK_BYTES / (8 * p.max(1))).clamp(1, n.max(1))
}

/// Bytes of the block of WH that the objectives of dense X (N x p) are evaluated on (the memory
/// estimate).
pub fn objective_block_bytes(n: usize, p: usize) -> u64 {
    (objective_block_rows(n, p) as u64)
        .saturating_mul(p as u64)
        .saturating_mul(8)
}

/// True when every value is the same number in f32 (`v as f32 as f64 == v`): counts below 2^24,
/// and values read from float32 files. X is then held in f32 alone for f32 fits, and read in f64
/// by widening, which gives the same numbers.
pub fn exact_in_f32(values: impl IntoIterator<Item = f64>) -> bool {
    values.into_iter().all(|v| (v as f32) as f64 == v)
}

/// How X is held: a dense array, or CSR with only its nonzeros.
#[derive(Debug)]
enum Store {
    /// X (N x p) in f64 or f32 (the other precision made on first use and shared by every fit),
    /// and Xᵀ (p x N), made on first use by the solvers that sweep rows of Xᵀ and shared by them.
    Dense { x: Dual, xt: Dual },
    /// X in CSR form, its values rounded to f32 (made on first use), and its transpose (CSC of X,
    /// made on first use by the solvers that sweep columns).
    Sparse {
        csr: Csr,
        v32: OnceLock<Vec<f32>>,
        csc: OnceLock<(Csr, OnceLock<Vec<f32>>)>,
    },
}

/// The data matrix X (N x p) of a fit, dense or sparse, with the constants of X that the
/// objectives need and the entries that are left out (missing or held out).
#[derive(Debug)]
pub struct FitMatrix {
    store: Store,
    /// Σ ln Γ(x+1), the constant of the Poisson log-likelihood.
    lgamma_sum: f64,
    /// Σ x ln x − x over x > 0 (links KL and the log-likelihood).
    x_log_x: f64,
    /// Mean of X (for the scale of random starts).
    mean: f64,
    /// Entries left out of the objective and the updates (missing values, plus the held-out
    /// entries of a cross-validation fit); X is 0 there.
    excluded: Option<Arc<HeldOut>>,
    /// The held-out entries a cross-validation fit is scored on (a subset of `excluded`).
    heldout: Option<Arc<HeldOut>>,
}

/// A CSR matrix (N x p) in precision T, borrowed from a [`FitMatrix`].
#[derive(Debug, Clone, Copy)]
pub struct SparseView<'a, T> {
    /// N.
    pub nrows: usize,
    /// p.
    pub ncols: usize,
    /// N + 1 row offsets.
    pub indptr: &'a [usize],
    /// Column of each stored entry.
    pub indices: &'a [u32],
    /// Value of each stored entry.
    pub values: &'a [T],
}

impl<'a, T> SparseView<'a, T> {
    /// Row i's columns and values.
    #[inline]
    pub fn row(&self, i: usize) -> (&'a [u32], &'a [T]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }
}

/// X as a [`FitMatrix`] holds it.
#[derive(Debug, Clone, Copy)]
pub enum Stored<'a> {
    /// A dense N x p array.
    Dense(ArrayView2<'a, f64>),
    /// A dense N x p array held in f32 alone (its values are exact in f32, [`exact_in_f32`]):
    /// read it in f64 by widening each value, which gives X's own numbers.
    Dense32(ArrayView2<'a, f32>),
    /// CSR.
    Sparse(&'a Csr),
}

/// X as an update rule sees it, in precision T.
#[derive(Debug, Clone, Copy)]
pub enum XView<'a, T> {
    /// A dense N x p array.
    Dense(ArrayView2<'a, T>),
    /// CSR.
    Sparse(SparseView<'a, T>),
}

named_enum! {
    /// The floating-point type of a fit's products (`[model] precision`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Precision {
        /// Double precision (the default but for KL coordinate descent).
        F64 = "f64",
        /// Single precision: X, W, H and the products in f32 (sgemm), about twice as fast; the
        /// objectives are still evaluated in f64, and the factors are stored in f64.
        F32 = "f32",
        /// F32 when every stored value of X lies in [1e-15, 1e15] (or is 0), so that the squares
        /// and ratios of the updates stay far inside f32's range; F64 otherwise. The default of KL
        /// coordinate descent.
        Auto = "auto",
    }
}

impl Precision {
    /// The precision the fits run in, for data whose values are `f32_safe`
    /// ([`crate::data::Facts::f32_safe`]).
    pub fn resolve(self, f32_safe: bool) -> Precision {
        match self {
            Precision::Auto if f32_safe => Precision::F32,
            Precision::Auto => Precision::F64,
            p => p,
        }
    }
}

/// A precision a fit can run in: the numerical type of its products, and X's values in that type
/// (X itself in the precision it is held in; else a copy, rounded or widened, made once and
/// shared by every fit).
pub trait Scalar: Real {
    /// The slot of a dense matrix in this precision.
    fn lock(d: &Dual) -> &OnceLock<Array2<Self>>;
    /// The matrix in this precision, made from the other precision (which must be set).
    fn from_other(d: &Dual) -> Array2<Self>;
    /// Sparse values in this precision.
    fn values_in<'a>(v: &'a [f64], v32: &'a OnceLock<Vec<f32>>) -> &'a [Self];
}

impl Scalar for f64 {
    fn lock(d: &Dual) -> &OnceLock<Array2<f64>> {
        &d.d64
    }
    fn from_other(d: &Dual) -> Array2<f64> {
        // Widening is exact: the values are X's own.
        d.d32.get().expect(HELD).mapv(|v| v as f64)
    }
    fn values_in<'a>(v: &'a [f64], _: &'a OnceLock<Vec<f32>>) -> &'a [f64] {
        v
    }
}

impl Scalar for f32 {
    fn lock(d: &Dual) -> &OnceLock<Array2<f32>> {
        &d.d32
    }
    fn from_other(d: &Dual) -> Array2<f32> {
        // Counts below 2^24 are exact in f32.
        d.d64.get().expect(HELD).mapv(|v| v as f32)
    }
    fn values_in<'a>(v: &'a [f64], v32: &'a OnceLock<Vec<f32>>) -> &'a [f32] {
        v32.get_or_init(|| v.iter().map(|&x| x as f32).collect())
    }
}

/// Buffers for evaluating objectives of one (W, H) shape without allocating: one block of rows of
/// WH (b x p, [`OBJECTIVE_BLOCK_BYTES`]) for dense X; Hᵀ (p x r) and two r x r Gram matrices for
/// sparse X (no N x p array).
#[derive(Debug)]
pub struct ObjectiveScratch {
    wh: Array2<f64>,
    ht: Array2<f64>,
    wtw: Array2<f64>,
    hht: Array2<f64>,
}

/// Adds Σ_j x ln(x/λ) − x + λ and Σ_j (x − λ)² of each row of `x` (the model `wh` on the same
/// rows), row by row, to `kl` and `frob` (KL summed per entry: no cancellation when the fit is
/// nearly exact). f32 values are widened, which gives X's own numbers.
fn add_rows<T: Real>(x: ArrayView2<T>, wh: ArrayView2<f64>, kl: &mut f64, frob: &mut f64) {
    for (xr, lr) in x.rows().into_iter().zip(wh.rows()) {
        let (mut k, mut f) = (0.0, 0.0);
        for (&x, &l) in xr.iter().zip(lr.iter()) {
            let x = x.f64();
            k += if x > 0.0 { x * (x / l).ln() - x + l } else { l };
            let d = x - l;
            f += d * d;
        }
        *kl += k;
        *frob += f;
    }
}

/// Σ over one row's stored entries of (x ln(x/λ) − x, (x − λ)² − λ²), with λ = W_i· (Hᵀ)_j·.
fn sparse_row_terms(cols: &[u32], vals: &[f64], wi: ArrayView1<f64>, ht: &Array2<f64>) -> (f64, f64) {
    let (mut k, mut f) = (0.0, 0.0);
    for (&j, &x) in cols.iter().zip(vals) {
        let hj = ht.row(j as usize);
        let l: f64 = wi.iter().zip(hj.iter()).map(|(a, b)| a * b).sum();
        if x > 0.0 {
            k += x * (x / l).ln() - x;
        }
        f += (x - l) * (x - l) - l * l;
    }
    (k, f)
}

impl FitMatrix {
    /// Wraps a dense X (N x p), held in f64; X must be finite and non-negative (checked by `data`).
    pub fn new(x: Array2<f64>) -> Self {
        let stats = Self::constants(x.iter().copied(), x.len());
        Self::build(
            Store::Dense {
                x: Dual::of64(x),
                xt: Dual::default(),
            },
            stats,
        )
    }

    /// Wraps a dense X (N x p) held in f32 alone: X's values are these, widened (the caller's
    /// f64 X was exact in f32, [`exact_in_f32`]). Objectives, [`FitMatrix::stored`] and f64 fits
    /// read the widened values, the same numbers as from the f64 X.
    pub fn new_f32(x: Array2<f32>) -> Self {
        let stats = Self::constants(x.iter().map(|&v| v as f64), x.len());
        Self::build(
            Store::Dense {
                x: Dual::of32(x),
                xt: Dual::default(),
            },
            stats,
        )
    }

    /// Wraps a dense X for fits in `precision` (resolved): held in f32 alone when the fits run
    /// in f32 and every value of X is exact in f32 (the f64 copy would add nothing), else in f64.
    pub fn dense_for(x: Array2<f64>, precision: Precision) -> Self {
        if precision == Precision::F32 && exact_in_f32(x.iter().copied()) {
            FitMatrix::new_f32(x.mapv(|v| v as f32))
        } else {
            FitMatrix::new(x)
        }
    }

    /// Wraps a sparse X (N x p, CSR); its values must be finite and non-negative.
    pub fn sparse(x: Csr) -> Self {
        let (n, p) = x.dim();
        let stats = Self::constants(x.data().iter().copied(), n * p);
        Self::build(
            Store::Sparse {
                csr: x,
                v32: OnceLock::new(),
                csc: OnceLock::new(),
            },
            stats,
        )
    }

    /// Σ ln Γ(x+1), Σ x ln x − x and the mean, over the nonzeros (of `len` entries in all).
    ///
    /// Counts repeat: the two terms of a small whole number are computed once and looked up
    /// after that (the same function, so the same bits), which took this pass from about 15% of
    /// a 1-second run to a few percent.
    fn constants(values: impl Iterator<Item = f64>, len: usize) -> (f64, f64, f64) {
        /// Whole numbers below this have their terms cached.
        const CACHED: usize = 4096;
        let terms = |v: f64| (libm::lgamma(v + 1.0), v * v.ln() - v);
        let mut cache: Vec<Option<(f64, f64)>> = vec![None; CACHED];
        let (mut lgamma_sum, mut x_log_x, mut sum) = (0.0, 0.0, 0.0);
        for v in values {
            if v > 0.0 {
                let (lg, xl) = if v < CACHED as f64 && v.fract() == 0.0 {
                    *cache[v as usize].get_or_insert_with(|| terms(v))
                } else {
                    terms(v)
                };
                lgamma_sum += lg;
                x_log_x += xl;
                sum += v;
            }
        }
        (lgamma_sum, x_log_x, if len == 0 { 0.0 } else { sum / len as f64 })
    }

    fn build(store: Store, (lgamma_sum, x_log_x, mean): (f64, f64, f64)) -> Self {
        FitMatrix {
            store,
            lgamma_sum,
            x_log_x,
            mean,
            excluded: None,
            heldout: None,
        }
    }

    /// A training matrix (held-out entries already 0) whose objectives leave out `heldout`.
    pub fn with_heldout(train: Array2<f64>, heldout: Arc<HeldOut>) -> Self {
        FitMatrix::new(train).excluding(Some(Arc::clone(&heldout)), Some(heldout))
    }

    /// This matrix with `excluded` entries (which must be 0 in X) left out of the objectives and
    /// the updates, and `heldout` (a subset) the entries a cross-validation fit is scored on.
    pub fn excluding(mut self, excluded: Option<Arc<HeldOut>>, heldout: Option<Arc<HeldOut>>) -> Self {
        self.excluded = excluded.filter(|e| !e.is_empty());
        self.heldout = heldout;
        self
    }

    /// The entries left out of the objective and the updates (missing or held out), if any.
    pub fn excluded(&self) -> Option<&Arc<HeldOut>> {
        self.excluded.as_ref()
    }

    /// The held-out entries, for cross-validation fits.
    pub fn heldout(&self) -> Option<&Arc<HeldOut>> {
        self.heldout.as_ref()
    }

    /// X as it is held (f64, or f32 when it is held in f32 alone).
    pub fn stored(&self) -> Stored<'_> {
        match &self.store {
            Store::Dense { x, .. } => x.held(),
            Store::Sparse { csr, .. } => Stored::Sparse(csr),
        }
    }

    /// X (N x p) in precision T, as the update rules read it.
    pub fn view_in<T: Scalar>(&self) -> XView<'_, T> {
        match &self.store {
            Store::Dense { x, .. } => XView::Dense(x.view::<T>()),
            Store::Sparse { csr, v32, .. } => XView::Sparse(sparse_view(csr, T::values_in(csr.data(), v32))),
        }
    }

    /// Xᵀ (p x N) of a dense X in precision T, made on first use and shared by every fit of this
    /// matrix; None for sparse X.
    pub fn transposed_dense_in<T: Scalar>(&self) -> Option<ArrayView2<'_, T>> {
        match &self.store {
            Store::Dense { x, xt } => Some(
                T::lock(xt)
                    .get_or_init(|| x.view::<T>().t().as_standard_layout().into_owned())
                    .view(),
            ),
            Store::Sparse { .. } => None,
        }
    }

    /// Xᵀ (p x N) in CSR form (the CSC form of X) in precision T, made on first use; None for
    /// dense X.
    pub fn transposed_in<T: Scalar>(&self) -> Option<SparseView<'_, T>> {
        match &self.store {
            Store::Dense { .. } => None,
            Store::Sparse { csr, csc, .. } => {
                let (t, v32) = csc.get_or_init(|| (csr.transpose(), OnceLock::new()));
                Some(sparse_view(t, T::values_in(t.data(), v32)))
            }
        }
    }

    /// N, p.
    pub fn dim(&self) -> (usize, usize) {
        match &self.store {
            Store::Dense { x, .. } => match x.held() {
                Stored::Dense(d) => d.dim(),
                Stored::Dense32(d) => d.dim(),
                Stored::Sparse(c) => c.dim(),
            },
            Store::Sparse { csr, .. } => csr.dim(),
        }
    }

    /// Mean entry of X.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Buffers for [`objectives_of`] at rank r.
    pub fn objective_scratch(&self, r: usize) -> ObjectiveScratch {
        let (n, p) = self.dim();
        let sparse = matches!(self.store, Store::Sparse { .. });
        ObjectiveScratch {
            wh: if sparse {
                Array2::zeros((0, 0))
            } else {
                Array2::zeros((objective_block_rows(n, p), p))
            },
            ht: if sparse {
                Array2::zeros((p, r))
            } else {
                Array2::zeros((0, 0))
            },
            wtw: Array2::zeros((r, r)),
            hht: Array2::zeros((r, r)),
        }
    }

    /// All three objectives of the model Λ = `wh` (N x p, already computed), for dense X.
    ///
    /// Sums run row by row in a fixed order, so the result is the same bits on every run.
    pub fn objectives(&self, wh: ArrayView2<f64>) -> Objectives {
        let (mut kl, mut frob) = (0.0, 0.0);
        if !self.add_dense_block(0, wh, &mut kl, &mut frob) {
            // Sparse X: the same values from the factors would need W and H; callers with
            // sparse data use `objectives_of`. NaN marks the misuse instead of a wrong number.
            let nan = f64::NAN;
            return Objectives {
                kl: nan,
                poisson_loglik: nan,
                frobenius_sq: nan,
                penalty: 0.0,
            };
        }
        self.finish(kl, frob)
    }

    /// Adds the KL and Frobenius terms of rows `i0..i0 + wh.nrows()` of a dense X, with `wh`
    /// the model on those rows, to `kl` and `frob`: row by row, then the corrections of the
    /// left-out entries of those rows. False (nothing added) for sparse X.
    fn add_dense_block(&self, i0: usize, wh: ArrayView2<f64>, kl: &mut f64, frob: &mut f64) -> bool {
        let Store::Dense { x, .. } = &self.store else {
            return false;
        };
        let rows = s![i0..i0 + wh.nrows(), ..];
        match x.held() {
            Stored::Dense(x) => add_rows(x.slice(rows), wh, kl, frob),
            Stored::Dense32(x) => add_rows(x.slice(rows), wh, kl, frob),
            Stored::Sparse(_) => return false,
        }
        if let Some(ex) = &self.excluded {
            // Left-out entries are 0 in X; take out what they added (λ to KL, λ² to
            // Frobenius), so the objective is over observed entries only.
            for (b, i) in (i0..i0 + wh.nrows()).enumerate() {
                for &j in ex.row(i) {
                    let l = wh[[b, j as usize]];
                    *kl -= l;
                    *frob -= l * l;
                }
            }
        }
        true
    }

    fn finish(&self, kl: f64, frob: f64) -> Objectives {
        Objectives {
            kl,
            poisson_loglik: self.x_log_x - self.lgamma_sum - kl,
            frobenius_sq: frob,
            penalty: 0.0,
        }
    }

    /// All three objectives of (W, H) for sparse X, in O(nnz·r + (N + p)·r²), without WH:
    /// KL = Σ_nz [x ln(x/λ) − x] + Σ_all λ, with Σ_all λ = Σ_k (Σ_i W_ik)(Σ_j H_kj);
    /// ‖X − WH‖² = Σ_nz [(x − λ)² − λ²] + ‖WH‖², with ‖WH‖² = Σ_kl (WᵀW)_kl (HHᵀ)_kl; left-out
    /// entries then take out their λ and λ².
    fn sparse_objectives(
        &self,
        csr: &Csr,
        w: ArrayView2<f64>,
        h: ArrayView2<f64>,
        s: &mut ObjectiveScratch,
    ) -> Objectives {
        s.ht.assign(&h.t());
        let (mut kl, mut frob) = (0.0, 0.0);
        for (i, wi) in w.rows().into_iter().enumerate() {
            let (cols, vals) = csr.row(i);
            let (k, f) = sparse_row_terms(cols, vals, wi, &s.ht);
            kl += k;
            frob += f;
        }
        let mut total = 0.0;
        for (wk, hk) in w.columns().into_iter().zip(h.rows()) {
            total += wk.sum() * hk.sum();
        }
        crate::linalg::matmul_tn_into(w, w, s.wtw.view_mut());
        crate::linalg::matmul_nt_into(h, h, s.hht.view_mut());
        let sq: f64 = s.wtw.iter().zip(s.hht.iter()).map(|(a, b)| a * b).sum();
        kl += total;
        frob += sq;
        if let Some(ex) = &self.excluded {
            for (i, j, _, _) in ex.entries() {
                let l = w.row(i).dot(&s.ht.row(j));
                kl -= l;
                frob -= l * l;
            }
        }
        self.finish(kl, frob)
    }
}

fn sparse_view<'a, T>(csr: &'a Csr, values: &'a [T]) -> SparseView<'a, T> {
    let (nrows, ncols) = csr.dim();
    SparseView {
        nrows,
        ncols,
        indptr: csr.indptr(),
        indices: csr.indices(),
        values,
    }
}

/// L1 and L2 penalties on W and H (`[model] l1_w, l1_h, l2_w, l2_h`, all ≥ 0). A fit minimizes
/// loss + l1_w Σ W + l1_h Σ H + l2_w Σ W² + l2_h Σ H² (L1 favours sparse factors, L2 small ones;
/// scikit-learn's `alpha_W`/`alpha_H` with `l1_ratio` in other units).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Penalty {
    /// L1 weight on W.
    pub l1_w: f64,
    /// L1 weight on H.
    pub l1_h: f64,
    /// L2 weight on W.
    pub l2_w: f64,
    /// L2 weight on H.
    pub l2_h: f64,
}

impl Penalty {
    /// No penalty.
    pub const NONE: Penalty = Penalty {
        l1_w: 0.0,
        l1_h: 0.0,
        l2_w: 0.0,
        l2_h: 0.0,
    };

    /// The penalty terms of (W, H).
    pub fn value(&self, w: ArrayView2<f64>, h: ArrayView2<f64>) -> f64 {
        let terms = |m: ArrayView2<f64>, l1: f64, l2: f64| {
            if l1 == 0.0 && l2 == 0.0 {
                0.0
            } else {
                m.iter().map(|v| l1 * v + l2 * v * v).sum::<f64>()
            }
        };
        terms(w, self.l1_w, self.l2_w) + terms(h, self.l1_h, self.l2_h)
    }
}

/// The objectives of (W, H) on `data`, through the buffers of [`FitMatrix::objective_scratch`]:
/// for dense X, Λ = WH is computed into the scratch first; sparse X never forms WH.
pub fn objectives_of(data: &FitMatrix, w: ArrayView2<f64>, h: ArrayView2<f64>, s: &mut ObjectiveScratch) -> Objectives {
    match &data.store {
        Store::Dense { .. } => {
            // Λ one block of rows at a time (a fixed block for the shape): the sums run row by
            // row as over the whole WH, without an N x p array.
            let (n, b) = (w.nrows(), s.wh.nrows().max(1));
            let (mut kl, mut frob) = (0.0, 0.0);
            for i0 in (0..n).step_by(b) {
                let i1 = (i0 + b).min(n);
                let mut blk = s.wh.slice_mut(s![..i1 - i0, ..]);
                crate::linalg::matmul_into(w.slice(s![i0..i1, ..]), h, blk.view_mut());
                data.add_dense_block(i0, blk.view(), &mut kl, &mut frob);
            }
            data.finish(kl, frob)
        }
        Store::Sparse { csr, .. } => data.sparse_objectives(csr, w, h, s),
    }
}

/// Straightforward per-entry definitions, for tests of the fused version above.
#[cfg(test)]
pub(crate) fn naive_objectives(x: ArrayView2<f64>, wh: ArrayView2<f64>) -> Objectives {
    let mut o = Objectives {
        kl: 0.0,
        poisson_loglik: 0.0,
        frobenius_sq: 0.0,
        penalty: 0.0,
    };
    ndarray::Zip::from(x).and(wh).for_each(|&x, &l| {
        let xlx = if x > 0.0 { x * (x / l).ln() } else { 0.0 };
        let xll = if x > 0.0 { x * l.ln() } else { 0.0 };
        o.kl += xlx - x + l;
        o.poisson_loglik += xll - l - libm::lgamma(x + 1.0);
        o.frobenius_sq += (x - l) * (x - l);
    });
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::update::tests::{fixture, matrix};

    #[test]
    fn losses_fixture() {
        let f = fixture("losses.json");
        let x = matrix(&f["X"]);
        let w = matrix(&f["W"]);
        let h = matrix(&f["H"]);
        let data = FitMatrix::new(x.clone());
        let mut s = data.objective_scratch(w.ncols());
        let o = objectives_of(&data, w.view(), h.view(), &mut s);
        let wh = w.dot(&h);
        let rel = |a: f64, b: f64| ((a - b) / b).abs();
        let kl = f["kl"].as_f64().unwrap();
        assert!(rel(o.kl, kl) < 1e-12, "kl {} vs {}", o.kl, kl);
        assert!(rel(2.0 * o.kl, f["poisson_deviance"].as_f64().unwrap()) < 1e-12);
        assert!(rel(o.poisson_loglik, f["poisson_loglik"].as_f64().unwrap()) < 1e-12);
        assert!(rel(o.frobenius_sq, f["frobenius_sq"].as_f64().unwrap()) < 1e-12);
        let n = naive_objectives(x.view(), wh.view());
        assert!(rel(o.kl, n.kl) < 1e-12 && rel(o.poisson_loglik, n.poisson_loglik) < 1e-12);
    }

    #[test]
    fn zero_model_where_data_positive_is_infinite_not_nan() {
        let data = FitMatrix::new(ndarray::array![[1.0, 0.0]]);
        let o = data.objectives(ndarray::array![[0.0, 0.0]].view());
        assert_eq!(o.kl, f64::INFINITY);
        assert!(!o.is_finite());
        let o = data.objectives(ndarray::array![[1.0, 0.0]].view());
        assert_eq!(o.kl, 0.0);
    }
}
