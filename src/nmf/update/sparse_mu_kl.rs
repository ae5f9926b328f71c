//! Multiplicative updates for the KL divergence on sparse X (CSR), touching only its nonzeros.
//!
//! The rule is Lee & Seung's (2001; see `mu_kl`), with weights M (0 on left-out entries) when
//! entries are missing or held out:
//!
//! ```text
//! H_kj ← H_kj · Σ_i W_ik x_ij/λ_ij / Σ_i M_ij W_ik
//! W_ik ← W_ik · Σ_j H_kj x_ij/λ_ij / Σ_j M_ij H_kj
//! ```
//!
//! Terms with x_ij = 0 add nothing to the numerators, so they run over the stored entries only,
//! computing λ_ij = W_i· (Hᵀ)_j· on the fly: O(nnz·r) per half-step, never an N x p (or nnz x r)
//! temporary. The denominators are column sums of W (row sums of H), minus the left-out entries'
//! terms: O((N + p)·r + |left out|·r). Memory: Hᵀ (p x r), the numerators, and one p x r partial
//! sum per row group.
//!
//! The H numerator is a sum over rows; it is split into a fixed number of row groups (depending on
//! the shape and nnz only, never on the thread count) whose partial sums are added in group order,
//! so the groups may run on several threads with the same bits.

use super::{PenaltyGrad, UpdateRule, Weights};
use crate::linalg::Real;
use crate::nmf::loss::SparseView;
use crate::nmf::mask::HeldOut;
use ndarray::{Array1, Array2, ArrayView1, Axis};
use rayon::prelude::*;
use std::sync::Arc;

/// At most this many row groups.
const MAX_GROUPS: usize = 16;

/// Rows [start, end) of X and their buffers.
struct Group<T> {
    start: usize,
    end: usize,
    /// This group's share of (X ⊘ WH)ᵀ W, i.e. the H numerator transposed (p x r).
    partial: Array2<T>,
    /// This group's rows of (X ⊘ WH) Hᵀ ((end − start) x r).
    out: Array2<T>,
    /// The ratios x_ij/λ_ij of one row (longest row).
    q: Vec<T>,
}

/// `y += s·x` over two equal-length slices.
#[inline]
pub(super) fn axpy<T: Real>(s: T, x: &[T], y: &mut [T]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += s * xi;
    }
}

/// A row of a standard-layout matrix as a slice (every matrix the sparse rules take rows of is
/// one: the fit's factors, and the buffers the rules allocate).
#[inline]
pub(super) fn slice<T>(v: ArrayView1<'_, T>) -> &[T] {
    v.to_slice().expect("a row of a standard-layout matrix")
}

/// `a · b` over the first `r` entries, in 4 lanes by index mod 4 (lane l sums indices l, l + 4, ..
/// in order), summed as (0 + 1) + (2 + 3): the one dot product of the sparse rules. With R = r
/// known at compile time (the rank kernels) a plain loop, which the compiler unrolls; with R = 0
/// (rank known at run time only) whole chunks of 4 as fixed-width loops, which vectorize. Both
/// shapes give the same bits; each is the faster one where it is used (measured at 20000 x 5000,
/// r 20: the chunked shape for every R slowed MU-KL's rank kernels from about 0.12 to 0.14 s per
/// iteration; the plain shape for every R slowed KL coordinate descent from 0.70 to 0.78 s).
#[inline(always)]
pub(super) fn dot_r<const R: usize, T: Real>(a: &[T], b: &[T], r: usize) -> T {
    let (a, b) = (&a[..r], &b[..r]);
    let mut acc = [T::zero(); 4];
    if R == 0 {
        let whole = r / 4 * 4;
        for (ac, bc) in a[..whole].chunks_exact(4).zip(b[..whole].chunks_exact(4)) {
            for k in 0..4 {
                acc[k] += ac[k] * bc[k];
            }
        }
        for k in whole..r {
            acc[k & 3] += a[k] * b[k];
        }
    } else {
        for k in 0..r {
            acc[k & 3] += a[k] * b[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// The row kernels of one group at rank `r`. Called with R = r for the common small ranks (the
/// compiler then unrolls every loop over components and keeps a factor row in registers) and with
/// R = 0 otherwise; the arithmetic, and so the bits, are the same either way.
struct Kernels<const R: usize>;

impl<const R: usize> Kernels<R> {
    #[inline(always)]
    fn rank(r: usize) -> usize {
        if R == 0 { r } else { R }
    }

    /// `q_t = x_t / max(W_i· (Hᵀ)_j·, floor)` for the stored entries (j_t, x_t) of one row, with
    /// `hs` = Hᵀ (p x r, row-major).
    #[inline(always)]
    fn ratios<T: Real>(wi: &[T], cols: &[u32], vals: &[T], hs: &[T], q: &mut [T], r: usize) {
        for ((qt, &j), &v) in q.iter_mut().zip(cols).zip(vals) {
            let j = j as usize;
            *qt = v / dot_r::<R, T>(wi, &hs[j * r..(j + 1) * r], r).max(T::MODEL_FLOOR);
        }
    }

    /// `ps_j· += (x_ij/λ_ij) W_i·` for every stored (i, j) of rows [start, end); ps is p x r.
    #[allow(clippy::too_many_arguments)]
    fn h_rows<T: Real>(
        x: &SparseView<'_, T>,
        ws: &[T],
        hs: &[T],
        ps: &mut [T],
        q: &mut [T],
        start: usize,
        end: usize,
        r: usize,
    ) {
        let r = Self::rank(r);
        for i in start..end {
            let wi = &ws[i * r..(i + 1) * r];
            let (cols, vals) = x.row(i);
            // The ratios first (independent dot products), then the scattered sums.
            Self::ratios(wi, cols, vals, hs, q, r);
            for (&j, &qt) in cols.iter().zip(q.iter()) {
                let j = j as usize;
                let pj = &mut ps[j * r..(j + 1) * r];
                for k in 0..r {
                    pj[k] += qt * wi[k];
                }
            }
        }
    }

    /// `out_i· = Σ_j (x_ij/λ_ij) (Hᵀ)_j·` for every row i of [start, end); out is (end − start) x r.
    #[allow(clippy::too_many_arguments)]
    fn w_rows<T: Real>(
        x: &SparseView<'_, T>,
        ws: &[T],
        hs: &[T],
        out: &mut [T],
        q: &mut [T],
        start: usize,
        end: usize,
        r: usize,
    ) {
        let r = Self::rank(r);
        for (i, oi) in (start..end).zip(out.chunks_exact_mut(r.max(1))) {
            let oi = &mut oi[..r];
            oi.fill(T::zero());
            let wi = &ws[i * r..(i + 1) * r];
            let (cols, vals) = x.row(i);
            Self::ratios(wi, cols, vals, hs, q, r);
            for (&j, &qt) in cols.iter().zip(q.iter()) {
                let j = j as usize;
                let hj = &hs[j * r..(j + 1) * r];
                for k in 0..r {
                    oi[k] += qt * hj[k];
                }
            }
        }
    }
}

/// Calls `Kernels::<R>::$f(args.., r)` with R = r for r in 1..=32, else R = 0 (rank known at run
/// time only).
macro_rules! by_rank {
    ($f:ident, $r:expr, $($arg:expr),*) => {
        by_rank!(@ $f, $r, [$($arg),*], 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32)
    };
    (@ $f:ident, $r:expr, $args:tt, $($n:literal)*) => {
        match $r {
            $($n => by_rank!(@call $f, $n, $r, $args),)*
            _ => by_rank!(@call $f, 0, $r, $args),
        }
    };
    (@call $f:ident, $n:literal, $r:expr, [$($arg:expr),*]) => {
        Kernels::<$n>::$f($($arg),*, $r)
    };
}

/// Why W is standard-layout: the fit allocates it so (`fit` maps its start with `mapv`).
const W_STD: &str = "W is standard-layout: allocated by the fit from a standard-layout start";
/// Why Hᵀ is standard-layout.
const HT_STD: &str = "Hᵀ is standard-layout: allocated by SparseMuKl::new";

impl<T: Real> Group<T> {
    /// `partial = Σ_{i in group} (x_ij/λ_ij) W_i·` for every stored (i, j).
    fn h_numerator(&mut self, x: &SparseView<'_, T>, w: &Array2<T>, ht: &Array2<T>) {
        self.partial.fill(T::zero());
        let r = w.ncols();
        let (ws, hs) = (w.as_slice().expect(W_STD), ht.as_slice().expect(HT_STD));
        let ps = self
            .partial
            .as_slice_mut()
            .expect("standard-layout: allocated by SparseMuKl::new");
        by_rank!(h_rows, r, x, ws, hs, ps, &mut self.q, self.start, self.end);
    }

    /// `out_i = Σ_j (x_ij/λ_ij) (Hᵀ)_j·` for every row i of the group.
    fn w_numerator(&mut self, x: &SparseView<'_, T>, w: &Array2<T>, ht: &Array2<T>) {
        let r = w.ncols();
        let (ws, hs) = (w.as_slice().expect(W_STD), ht.as_slice().expect(HT_STD));
        let out = self
            .out
            .as_slice_mut()
            .expect("standard-layout: allocated by SparseMuKl::new");
        by_rank!(w_rows, r, x, ws, hs, out, &mut self.q, self.start, self.end);
    }
}

/// Buffers for the sparse KL multiplicative updates, allocated once per fit.
pub struct SparseMuKl<'a, T> {
    /// X (N x p, CSR).
    x: SparseView<'a, T>,
    /// The penalty gradients of H and W.
    pen: PenaltyGrad<T>,
    /// Entries left out of the fit (missing or held out), if any; X is 0 (not stored) there.
    excluded: Option<Arc<HeldOut>>,
    /// Hᵀ (p x r).
    ht: Array2<T>,
    /// Row groups.
    groups: Vec<Group<T>>,
    /// Denominators of the H update, transposed (p x r), when entries are left out.
    den_h: Array2<T>,
    /// Column sums of W, or row sums of H (r).
    sums: Array1<T>,
    /// Denominators of one row of W (r).
    den_w: Array1<T>,
    parallel: bool,
}

impl<'a, T: Real> SparseMuKl<'a, T> {
    /// Buffers for X at rank r, leaving out `excluded` (if any).
    pub(crate) fn new(x: SparseView<'a, T>, r: usize, excluded: Option<Arc<HeldOut>>, pen: Weights<T>) -> Self {
        let (n, p) = (x.nrows, x.ncols);
        // Enough groups to spread over threads, but their p x r partial sums stay below a quarter
        // of the size of X itself.
        let affordable = (x.nnz() * 12) / (4 * p.max(1) * r.max(1) * std::mem::size_of::<T>()).max(1);
        let count = affordable.clamp(1, MAX_GROUPS).min(n.max(1));
        let per = n.div_ceil(count).max(1);
        let longest = x.indptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        let groups = (0..n.div_ceil(per))
            .map(|g| {
                let (start, end) = (g * per, ((g + 1) * per).min(n));
                Group {
                    start,
                    end,
                    partial: Array2::zeros((p, r)),
                    out: Array2::zeros((end - start, r)),
                    q: vec![T::zero(); longest],
                }
            })
            .collect();
        let den_rows = if excluded.is_some() { p } else { 0 };
        SparseMuKl {
            x,
            pen: pen.kl(),
            excluded,
            ht: Array2::zeros((p, r)),
            groups,
            den_h: Array2::zeros((den_rows, r)),
            sums: Array1::zeros(r),
            den_w: Array1::zeros(r),
            parallel: false,
        }
    }
}

/// Runs `f` on every group: on the rayon pool when `parallel` is set, else in order.
fn each_group<T: Real>(groups: &mut [Group<T>], parallel: bool, f: impl Fn(&mut Group<T>) + Sync + Send) {
    if parallel {
        groups.par_iter_mut().for_each(f);
    } else {
        groups.iter_mut().for_each(f);
    }
}

/// `v ← flush(v · num / max(den + c1 + c2·v, floor))`, the penalized multiplicative step.
#[inline]
fn mu_step<T: Real>(v: &mut T, num: T, den: T, c1: T, c2: T) {
    let new = *v * num / (den + c1 + c2 * *v).max(T::min_positive_value());
    *v = if new < T::min_positive_value() { T::zero() } else { new };
}

impl<T: Real> UpdateRule<T> for SparseMuKl<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        let x = self.x;
        let ((c1h, c2h), (c1w, c2w)) = (self.pen.h, self.pen.w);

        // H half-step.
        self.ht.assign(&h.t());
        {
            let (wr, ht) = (&*w, &self.ht);
            each_group(&mut self.groups, self.parallel, |g| g.h_numerator(&x, wr, ht));
        }
        let (first, rest) = self.groups.split_at_mut(1);
        if let Some(num) = first.first_mut().map(|g| &mut g.partial) {
            for g in rest.iter() {
                *num += &g.partial;
            }
        }
        for (s, wk) in self.sums.iter_mut().zip(w.axis_iter(Axis(1))) {
            *s = wk.sum();
        }
        if let Some(ex) = &self.excluded {
            for mut d in self.den_h.rows_mut() {
                d.assign(&self.sums);
            }
            for (i, wi) in w.rows().into_iter().enumerate() {
                for &j in ex.row(i) {
                    self.den_h.row_mut(j as usize).scaled_add(-T::one(), &wi);
                }
            }
        }
        if let Some(g0) = self.groups.first() {
            for (j, nj) in g0.partial.rows().into_iter().enumerate() {
                for (k, &nk) in nj.iter().enumerate() {
                    let den = if self.excluded.is_some() {
                        self.den_h[[j, k]]
                    } else {
                        self.sums[k]
                    };
                    mu_step(&mut h[[k, j]], nk, den, c1h, c2h);
                }
            }
        }

        // W half-step.
        self.ht.assign(&h.t());
        {
            let (wr, ht) = (&*w, &self.ht);
            each_group(&mut self.groups, self.parallel, |g| g.w_numerator(&x, wr, ht));
        }
        for (s, hk) in self.sums.iter_mut().zip(h.rows()) {
            *s = hk.sum();
        }
        for g in &self.groups {
            for (i, num) in (g.start..g.end).zip(g.out.rows()) {
                self.den_w.assign(&self.sums);
                if let Some(ex) = &self.excluded {
                    for &j in ex.row(i) {
                        self.den_w.scaled_add(-T::one(), &self.ht.row(j as usize));
                    }
                }
                let mut wi = w.row_mut(i);
                for ((v, &nk), &dk) in wi.iter_mut().zip(num.iter()).zip(self.den_w.iter()) {
                    mu_step(v, nk, dk, c1w, c2w);
                }
            }
        }
    }

    fn set_parallel(&mut self, on: bool) {
        self.parallel = on;
    }
}
