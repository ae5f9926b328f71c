//! Cyclic coordinate descent for the generalized KL divergence (Hsieh & Dhillon 2011, "Fast
//! coordinate descent methods with variable selection for non-negative matrix factorization",
//! section 4), with a step that needs no line search: each entry of H, then of W, moves by one
//! step on its one-variable problem
//!
//! ```text
//! f(s) = s·Σ_i a_i − Σ_i x_i ln(1 + s·a_i/λ_i)      (a = W_·k for H_kj, λ = (WH)_·j)
//! ```
//!
//! with the model λ kept up to date after every step, so each step sees all earlier ones.
//!
//! The step ([`safe_step`]). f is convex and f' concave (f‴ < 0), so an increasing Newton step
//! (f'(0) < 0) never passes the minimizer and always lowers f. A decreasing Newton step always
//! passes it; instead of searching back along the line (a pass over the data per trial, which was
//! most of the old solver's time), the step minimizes an upper bound of f that costs nothing to
//! evaluate: with q = −s ≤ v (v the current value) and a_i·v ≤ λ_i (v's own share of the model),
//! λ_i − q·a_i ≥ λ_i·(1 − q/v), and −ln(1 + t) ≤ −t + t²/(2(1 + t)) for t ∈ (−1, 0] give
//!
//! ```text
//! f(−q) − f(0) ≤ −q·g + q²·c / (2·(1 − q/v)),   g = f'(0) > 0,  c = f''(0),
//! ```
//!
//! minimized at q = v·(1 − 1/√(1 + 2g/(c·v))): the Newton step when it is short against v, and
//! never reaching the bound 0 (so λ stays positive wherever x is). Every step therefore lowers the
//! objective (penalties included: their curvature 2·l2 is added to c), with one pass over the
//! line per step and no second one.
//!
//! Layout ([`half_step`]). The lines of one half-step (columns of H, rows of W) are independent,
//! so a panel of neighbouring lines is updated together, coordinate by coordinate: the inner
//! loops run across the panel (contiguous memory, vectorized), and the panel of X and of the model
//! stays in cache for all r coordinates. The H half-step runs on X and WH (N x p), the W half-step
//! on Xᵀ and (WH)ᵀ (p x N; Xᵀ is made once per data matrix and shared by its fits); lines of any length, even the 38
//! samples of a gene survey, fill the vector units.
//!
//! Left-out entries (cross-validation, missing values) are 0 in the training X, so they add
//! nothing to g and c; the Σ_i a_i term then runs over the observed entries only, a per-line sum
//! taken from the sparse list of left-out entries (O(|left out|·r) per half-step).

use super::{PenaltyGrad, UpdateRule, Weights};
use crate::linalg::{Real, matmul_into};
use crate::nmf::mask::HeldOut;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, s};
use std::sync::Arc;

/// Target size of one panel of X and of the model (both): it stays in a core's L2 cache while
/// the r coordinates of its lines are updated.
const PANEL_BYTES: usize = 512 * 1024;
/// Lines per panel: a multiple of this, at most `MAX_PANEL`.
const PANEL_STEP: usize = 8;
const MAX_PANEL: usize = 512;

/// The step s ≥ −v for one variable of value v, from g = f'(0) and c = f''(0) (penalties
/// included), that never increases f (see the module notes): the Newton step −g/c when it
/// increases v, the minimizer of the bound when it decreases v.
#[inline(always)]
pub(super) fn safe_step<T: Real>(v: T, g: T, c: T) -> T {
    let zero = T::zero();
    // Both candidates are computed and one is selected, so that a loop over lines vectorizes.
    // Increasing: the Newton step (c > 0 whenever g < 0: the data terms that make g negative
    // also make c positive).
    let up = -g / c;
    // Decreasing: u = 1 − 1/√(1 + κ), written without cancellation for small κ. Without data
    // terms (c = 0) f is linear and increasing: κ = ∞, u is NaN, and min(NaN, 1) = 1 takes the
    // step to the bound.
    let kappa = (g + g) / (c * v);
    let root = (T::one() + kappa).sqrt();
    let down = -v * (kappa / (root * (root + T::one()))).min(T::one());
    if g < zero && c > zero {
        up
    } else if g > zero && v > zero {
        down
    } else {
        zero
    }
}

/// Moves `v` (one entry of W or H) by one [`safe_step`]; `a` is its coefficient vector in the
/// model (a column of W or a row of H), `sum_a` its sum over the observed entries, `x` the data
/// and `l` the model along the same index (updated in place). Used by the sparse solver, which
/// gathers each line's stored entries first.
#[inline]
pub(super) fn newton<T: Real>(
    v: &mut T,
    sum_a: T,
    a: ArrayView1<T>,
    x: ArrayView1<T>,
    mut l: ArrayViewMut1<T>,
    (c1, c2): (T, T),
) {
    let (mut g, mut c) = (T::zero(), T::zero());
    for ((&ai, &xi), &li) in a.iter().zip(x.iter()).zip(l.iter()) {
        let u = T::one() / li.max(T::MODEL_FLOOR);
        let q = ai * (xi * u);
        g += q;
        c += q * ai * u;
    }
    let s = settle(v, safe_step(*v, sum_a + c1 + c2 * *v - g, c + c2));
    if s != T::zero() {
        for (li, &ai) in l.iter_mut().zip(a.iter()) {
            *li += s * ai;
        }
    }
}

/// Applies step `s` to `v`, flushing a result below the smallest normal number to 0 (subnormal
/// factors slow every later product); returns the step taken.
#[inline(always)]
fn settle<T: Real>(v: &mut T, s: T) -> T {
    let old = *v;
    let mut new = old + s;
    if new < T::min_positive_value() {
        new = T::zero();
    }
    *v = new;
    new - old
}

/// Per-panel accumulators (longest panel).
struct Panel<T> {
    /// Σ_i a_i x_i/λ_i per line.
    g: Vec<T>,
    /// Σ_i a_i² x_i/λ_i² per line.
    c: Vec<T>,
    /// The step of each line for the coordinate last updated (applied to the model lazily).
    s: Vec<T>,
}

/// Lines per panel for lines of length n: about [`PANEL_BYTES`] of X and model together.
fn panel_width<T>(n: usize, lines: usize) -> usize {
    let per_line = 2 * n.max(1) * std::mem::size_of::<T>();
    let w = (PANEL_BYTES / per_line).clamp(PANEL_STEP, MAX_PANEL) / PANEL_STEP * PANEL_STEP;
    w.min(lines).max(1)
}

/// One coordinate of one panel: the lines `start..end` of the data D and the model L (n x m,
/// row-major), coefficients a_·k of A (n x r, row-major).
struct Pass<'s, T> {
    a: &'s [T],
    r: usize,
    /// The coordinate whose Σ terms are accumulated.
    k: usize,
    /// The coordinate whose steps `s` are still to be added to the model, first (fused with
    /// this pass, so the model of the panel is read once per coordinate).
    pending: Option<usize>,
    d: &'s [T],
    lam: &'s mut [T],
    m: usize,
    start: usize,
    end: usize,
    s: &'s [T],
    /// Σ_i a_ik x_i/λ_i and Σ_i a_ik² x_i/λ_i² per line (written, not added to).
    g: &'s mut [T],
    c: &'s mut [T],
}

/// [`Pass`] in portable code (vectorized by the compiler across the panel).
#[inline(always)]
fn pass_portable<T: Real>(p: Pass<'_, T>) {
    let (a, r, k, m, start, end) = (p.a, p.r, p.k, p.m, p.start, p.end);
    let (lam, g, c) = (p.lam, p.g, p.c);
    g.fill(T::zero());
    c.fill(T::zero());
    for i in 0..a.len() / r.max(1) {
        let row = i * m;
        let lr = &mut lam[row + start..row + end];
        if let Some(kp) = p.pending {
            let ap = a[i * r + kp];
            if ap != T::zero() {
                for (l, &st) in lr.iter_mut().zip(p.s.iter()) {
                    *l += st * ap;
                }
            }
        }
        let ai = a[i * r + k];
        if ai == T::zero() {
            continue;
        }
        let dr = &p.d[row + start..row + end];
        for (((gl, cl), &x), &l) in g.iter_mut().zip(c.iter_mut()).zip(dr).zip(lr.iter()) {
            let u = T::one() / l.max(T::MODEL_FLOOR);
            let q = ai * (x * u);
            *gl += q;
            *cl += q * ai * u;
        }
    }
}

/// [`pass_portable`] compiled for AVX2 with FMA.
///
/// # Safety
/// The CPU must have these features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pass_avx2<T: Real>(p: Pass<'_, T>) {
    pass_portable(p)
}

/// One [`Pass`] in the fastest form this CPU and T have: AVX-512 kernels for f64 and f32
/// (reciprocals by `vrcp14` and Newton–Raphson instead of divisions, which bound the portable
/// loop), else the portable loop compiled for AVX2 with FMA, else for baseline x86-64. The
/// release build targets every x86-64 CPU, and this kernel, unlike the products, has no BLAS to
/// choose for it.
fn pass<T: Real>(p: Pass<'_, T>) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::any::TypeId;
        if avx512::available() {
            if TypeId::of::<T>() == TypeId::of::<f64>() {
                // SAFETY: T is f64 (same type, so same layout), and the CPU has AVX-512F.
                return unsafe { avx512::pass_f64(p.cast()) };
            }
            if TypeId::of::<T>() == TypeId::of::<f32>() {
                // SAFETY: as above, for f32.
                return unsafe { avx512::pass_f32(p.cast()) };
            }
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the features were detected on this CPU.
            return unsafe { pass_avx2(p) };
        }
    }
    pass_portable(p)
}

/// `v` with its element type named U.
///
/// # Safety
/// U must be T.
#[cfg(target_arch = "x86_64")]
unsafe fn retype<T, U>(v: &[T]) -> &[U] {
    // SAFETY: U is T, so the layout is the same.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<U>(), v.len()) }
}

/// [`retype`] for a mutable slice.
///
/// # Safety
/// U must be T.
#[cfg(target_arch = "x86_64")]
unsafe fn retype_mut<T, U>(v: &mut [T]) -> &mut [U] {
    // SAFETY: as in `retype`.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<U>(), v.len()) }
}

impl<'s, T: 'static> Pass<'s, T> {
    /// The same pass with T named as U.
    ///
    /// # Safety
    /// U must be T.
    #[cfg(target_arch = "x86_64")]
    unsafe fn cast<U: 'static>(self) -> Pass<'s, U> {
        debug_assert_eq!(std::any::TypeId::of::<T>(), std::any::TypeId::of::<U>());
        // SAFETY (every call): the caller guarantees U is T.
        let (cast, cast_mut) = (|v| unsafe { retype(v) }, |v| unsafe { retype_mut(v) });
        Pass {
            a: cast(self.a),
            r: self.r,
            k: self.k,
            pending: self.pending,
            d: cast(self.d),
            lam: cast_mut(self.lam),
            m: self.m,
            start: self.start,
            end: self.end,
            s: cast(self.s),
            g: cast_mut(self.g),
            c: cast_mut(self.c),
        }
    }
}

/// The AVX-512 passes. Lines go in chunks of one vector (8 f64 or 16 f32; the last chunk
/// masked), and each chunk runs down all n rows with its sums g and c in registers. 1/λ is
/// `vrcp14` (relative error < 2^-14) refined by Newton–Raphson y ← y + y·(1 − λ·y), twice for
/// f64 and once for f32 (error at the type's rounding), at a fraction of a division's cost.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Pass;
    use crate::linalg::Real;
    use std::arch::x86_64::*;

    /// Whether the CPU has AVX-512F.
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
    }

    /// The AVX-512 [`Pass`] and [`LinePass`](super::LinePass) of one type: the function names,
    /// the type, its lanes per vector and mask type, the Newton–Raphson refinements of `vrcp14`,
    /// then the intrinsics of that type (masked load and store, broadcast, zero, max,
    /// reciprocal, fused multiply-add and negated multiply-add, multiply, add, horizontal sum).
    macro_rules! kernels {
        ($name:ident, $line:ident, $t:ty, $lanes:expr, $mask:ty, $refine:expr; $loadu:ident, $storeu:ident,
         $set1:ident, $zero:ident, $max:ident, $rcp:ident, $fmadd:ident, $fnmadd:ident, $mul:ident, $add:ident,
         $reduce:ident) => {
            /// [`Pass`] for this type.
            ///
            /// # Safety
            /// The CPU must have AVX-512F.
            #[target_feature(enable = "avx512f")]
            pub(super) unsafe fn $name(p: Pass<'_, $t>) {
                let Pass {
                    a,
                    r,
                    k,
                    pending,
                    d,
                    lam,
                    m,
                    start,
                    end,
                    s,
                    g,
                    c,
                } = p;
                let n = a.len() / r.max(1);
                debug_assert!(n == 0 || ((n - 1) * m + end <= d.len() && (n - 1) * m + end <= lam.len()));
                let (floor, one) = ($set1(<$t>::MODEL_FLOOR), $set1(1.0));
                let wd = end - start;
                for t in (0..wd).step_by($lanes) {
                    let len = (wd - t).min($lanes);
                    let mask: $mask = <$mask>::MAX >> ($lanes - len);
                    // SAFETY: every load and store is masked to the len lanes at offset t < wd of
                    // the panel: s, g and c hold wd entries, and rows i < n of d and lam (n x m,
                    // row-major) hold the panel's lines start..end ≤ m.
                    unsafe {
                        let sv = $loadu(mask, s.as_ptr().add(t));
                        let (mut gv, mut cv) = ($zero(), $zero());
                        for i in 0..n {
                            let at = start + t + i * m;
                            let lp = lam.as_mut_ptr().add(at);
                            let mut l = $loadu(mask, lp);
                            if let Some(kp) = pending {
                                let ap = *a.get_unchecked(i * r + kp);
                                if ap != 0.0 {
                                    l = $fmadd(sv, $set1(ap), l);
                                    $storeu(lp, mask, l);
                                }
                            }
                            let ai = *a.get_unchecked(i * r + k);
                            if ai == 0.0 {
                                continue;
                            }
                            let va = $set1(ai);
                            let lm = $max(l, floor);
                            let mut y = $rcp(lm);
                            for _ in 0..$refine {
                                y = $fmadd(y, $fnmadd(lm, y, one), y);
                            }
                            let x = $loadu(mask, d.as_ptr().add(at));
                            let q = $mul(va, $mul(x, y));
                            gv = $add(gv, q);
                            cv = $fmadd($mul(q, va), y, cv);
                        }
                        $storeu(g.as_mut_ptr().add(t), mask, gv);
                        $storeu(c.as_mut_ptr().add(t), mask, cv);
                    }
                }
            }
            /// [`LinePass`](super::LinePass) for this type: two pairs of vector partial sums,
            /// reduced in a fixed order.
            ///
            /// # Safety
            /// The CPU must have AVX-512F.
            #[target_feature(enable = "avx512f")]
            pub(super) unsafe fn $line(p: super::LinePass<'_, $t>) -> ($t, $t) {
                let super::LinePass { a, prev, x, lam } = p;
                let n = a.len().min(x.len()).min(lam.len());
                let mask_of = |i: usize| -> $mask {
                    let len = (n - i).min($lanes);
                    <$mask>::MAX >> ($lanes - len)
                };
                // SAFETY: every load and store is masked to the lanes below n of offset i < n.
                unsafe {
                    if let Some((ap, sp)) = prev {
                        let vs = $set1(sp);
                        for i in (0..n).step_by($lanes) {
                            let m = mask_of(i);
                            let lp = lam.as_mut_ptr().add(i);
                            let l = $fmadd(vs, $loadu(m, ap.as_ptr().add(i)), $loadu(m, lp));
                            $storeu(lp, m, l);
                        }
                    }
                    let (floor, one) = ($set1(<$t>::MODEL_FLOOR), $set1(1.0));
                    let mut g = [$zero(), $zero()];
                    let mut c = [$zero(), $zero()];
                    for (j, i) in (0..n).step_by($lanes).enumerate() {
                        let m = mask_of(i);
                        let l = $max($loadu(m, lam.as_ptr().add(i)), floor);
                        let mut y = $rcp(l);
                        for _ in 0..$refine {
                            y = $fmadd(y, $fnmadd(l, y, one), y);
                        }
                        let av = $loadu(m, a.as_ptr().add(i));
                        let q = $mul(av, $mul($loadu(m, x.as_ptr().add(i)), y));
                        g[j & 1] = $add(g[j & 1], q);
                        c[j & 1] = $fmadd($mul(q, av), y, c[j & 1]);
                    }
                    ($reduce($add(g[0], g[1])), $reduce($add(c[0], c[1])))
                }
            }
        };
    }

    kernels! { pass_f64, line_f64, f64, 8, __mmask8, 2; _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd,
    _mm512_set1_pd, _mm512_setzero_pd, _mm512_max_pd, _mm512_rcp14_pd, _mm512_fmadd_pd, _mm512_fnmadd_pd,
    _mm512_mul_pd, _mm512_add_pd, _mm512_reduce_add_pd }
    kernels! { pass_f32, line_f32, f32, 16, __mmask16, 1; _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps,
    _mm512_set1_ps, _mm512_setzero_ps, _mm512_max_ps, _mm512_rcp14_ps, _mm512_fmadd_ps, _mm512_fnmadd_ps,
    _mm512_mul_ps, _mm512_add_ps, _mm512_reduce_add_ps }
}

/// Line length from which a half-step runs line by line ([`line_half_step`]) instead of in
/// panels ([`half_step`]): a line of this length fills the vector units on its own, and it is
/// read contiguously, where a panel reads each row of its lines from a different place.
/// Measured: at 5000 x 1000, r 10, lines of 5000 and 1000 ran several times faster line by line.
const LINE_MIN: usize = 256;

/// Which layouts of X and of the model the two half-steps of an N x p fit read: (row-major X
/// and WH, the transposes Xᵀ and (WH)ᵀ). The H half-step runs on the transposes when its lines
/// (columns of X, N long) are long enough to go line by line, else in panels on X and WH; the W
/// half-step runs line by line on X and WH when its lines (rows of X, p long) are long, else in
/// panels on the transposes. Only the layouts used are made: a wide X (N < 256 ≤ p, e.g. 100
/// brain volumes of 200 000 voxels) needs neither transpose, a tall one (p < 256 ≤ N) no WH.
pub(crate) fn layouts(n: usize, p: usize) -> (bool, bool) {
    let rows = !blocked(n, p) && (n < LINE_MIN || p >= LINE_MIN);
    let transposed = n >= LINE_MIN || p < LINE_MIN;
    (rows, transposed)
}

/// Wide X (N < 256 ≤ p): the H half-step runs in panels of columns and the W half-step line by
/// line along rows, so neither needs the whole model WH at once. Each panel's model (N x panel
/// width) and each line's (1 x p) is computed when the panel or line starts, from the same
/// factors as the whole product would be, into small buffers; X's panel is copied beside it
/// (the kernels read data and model with one stride). No N x p buffer is held.
pub(crate) fn blocked(n: usize, p: usize) -> bool {
    n < LINE_MIN && p >= LINE_MIN
}

/// Bytes of the panel and line buffers of wide X ([`blocked`]; 0 otherwise), in a precision of
/// `scalar` bytes: a panel of X and of the model (N x at most `MAX_PANEL`) and `LINE_ROWS` lines
/// of the model.
pub(crate) fn blocked_bytes(n: usize, p: usize, scalar: u64) -> u64 {
    if !blocked(n, p) {
        return 0;
    }
    let entries = 2 * n * MAX_PANEL + LINE_ROWS.min(n) * p;
    (entries as u64).saturating_mul(scalar)
}

/// Lines of the model computed together in the W half-step of wide X (one product of
/// `LINE_ROWS` x r by r x p instead of `LINE_ROWS` products of one row, which ran at a fraction
/// of the speed).
const LINE_ROWS: usize = 8;

/// Why the transposes of a CD fit exist when a half-step reads them.
const TRANSPOSED: &str = "CdKl::new is given Xᵀ whenever `layouts` says a half-step reads it";

/// Why the arrays of the CD half-steps are standard-layout.
const STD: &str = "standard-layout: CdKl::step makes W and H so and allocates the rest";

/// One coordinate of one line: `a` the coefficients of the coordinate along the line, `prev`
/// the previous coordinate's coefficients and step, still to be added to the model `lam`
/// first; `x` the data. Returns (Σ_i a_i x_i/λ_i, Σ_i a_i² x_i/λ_i²).
struct LinePass<'s, T> {
    a: &'s [T],
    prev: Option<(&'s [T], T)>,
    x: &'s [T],
    lam: &'s mut [T],
}

/// [`LinePass`] in portable code: [`LANES`] independent partial sums (so the loop vectorizes),
/// added in lane order (the same bits on every run).
#[inline(always)]
fn line_portable<T: Real>(p: LinePass<'_, T>) -> (T, T) {
    let LinePass { a, prev, x, lam } = p;
    if let Some((ap, sp)) = prev {
        for (l, &v) in lam.iter_mut().zip(ap) {
            *l += sp * v;
        }
    }
    let (mut g, mut c) = ([T::zero(); LANES], [T::zero(); LANES]);
    for (i, ((&ai, &xi), &li)) in a.iter().zip(x).zip(lam.iter()).enumerate() {
        let u = T::one() / li.max(T::MODEL_FLOOR);
        let q = ai * (xi * u);
        g[i % LANES] += q;
        c[i % LANES] += q * ai * u;
    }
    let sum = |v: [T; LANES]| v.iter().fold(T::zero(), |s, &t| s + t);
    (sum(g), sum(c))
}

/// Partial sums of [`line_portable`].
const LANES: usize = 8;

/// [`line_portable`] compiled for AVX2 with FMA.
///
/// # Safety
/// The CPU must have these features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn line_avx2<T: Real>(p: LinePass<'_, T>) -> (T, T) {
    line_portable(p)
}

/// One [`LinePass`] in the fastest form this CPU and T have (as [`pass`]).
fn line_pass<T: Real>(p: LinePass<'_, T>) -> (T, T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::any::TypeId;
        if avx512::available() {
            if TypeId::of::<T>() == TypeId::of::<f64>() {
                // SAFETY: T is f64 (same type, so same layout), and the CPU has AVX-512F.
                let (g, c) = unsafe { avx512::line_f64(p.cast()) };
                return (T::of(g), T::of(c));
            }
            if TypeId::of::<T>() == TypeId::of::<f32>() {
                // SAFETY: as above, for f32.
                let (g, c) = unsafe { avx512::line_f32(p.cast()) };
                return (T::of(f64::from(g)), T::of(f64::from(c)));
            }
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the features were detected on this CPU.
            return unsafe { line_avx2(p) };
        }
    }
    line_portable(p)
}

impl<'s, T: 'static> LinePass<'s, T> {
    /// The same pass with T named as U.
    ///
    /// # Safety
    /// U must be T.
    #[cfg(target_arch = "x86_64")]
    unsafe fn cast<U: 'static>(self) -> LinePass<'s, U> {
        debug_assert_eq!(std::any::TypeId::of::<T>(), std::any::TypeId::of::<U>());
        // SAFETY (every call): the caller guarantees U is T (the step is a plain float, copied).
        unsafe {
            LinePass {
                a: retype(self.a),
                prev: self.prev.map(|(ap, sp)| (retype(ap), std::mem::transmute_copy(&sp))),
                x: retype(self.x),
                lam: retype_mut(self.lam),
            }
        }
    }
}

/// One half-step line by line: every entry of F (r x m) by one [`safe_step`] per coordinate,
/// given Aᵀ (r x n: row k holds coordinate k's coefficients along every line), the data D and
/// the model L = (A F)ᵀ (m x n, row ℓ is line ℓ), which is kept up to date until each line's
/// last coordinate (the caller recomputes the model before it is used again). `den` (r x m) as in
/// [`half_step`].
fn line_half_step<T: Real>(
    at: ArrayView2<T>,
    mut f: ArrayViewMut2<T>,
    d: ArrayView2<T>,
    mut lam: ArrayViewMut2<T>,
    den: ArrayView2<T>,
    (c1, c2): (T, T),
) {
    for (line, (xl, mut ll)) in d.rows().into_iter().zip(lam.rows_mut()).enumerate() {
        let (x, lam) = (xl.to_slice().expect(STD), ll.as_slice_mut().expect(STD));
        let mut prev: Option<(usize, T)> = None;
        for (k, ak) in at.rows().into_iter().enumerate() {
            let a = ak.to_slice().expect(STD);
            let prev_row = prev.map(|(kp, sp)| (at.row(kp).to_slice().expect(STD), sp));
            let (g, c) = line_pass(LinePass {
                a,
                prev: prev_row,
                x,
                lam: &mut *lam,
            });
            let v = &mut f[[k, line]];
            let grad = den[[k, line]] + c1 + c2 * *v - g;
            let s = settle(v, safe_step(*v, grad, c + c2));
            prev = (s != T::zero()).then_some((k, s));
        }
    }
}

/// One half-step: every entry of F (r x m) by one [`safe_step`] per sweep over k, line by line
/// (a line is a column of F), given A (n x r), the data D (n x m) and the model L = A F (n x m),
/// which is kept up to date until the last coordinate (its steps are left out: the caller
/// recomputes the model before it is used again). `den` (r x m) holds Σ_i a_ik over each line's observed entries.
#[allow(clippy::too_many_arguments)]
fn half_step<T: Real>(
    a: ArrayView2<T>,
    mut f: ArrayViewMut2<T>,
    d: ArrayView2<T>,
    mut lam: ArrayViewMut2<T>,
    den: ArrayView2<T>,
    (c1, c2): (T, T),
    width: usize,
    p: &mut Panel<T>,
) {
    let r = a.ncols();
    let m = f.ncols();
    let (a, d) = (a.as_slice().expect(STD), d.as_slice().expect(STD));
    let lam = lam.as_slice_mut().expect(STD);
    if r == 0 {
        return;
    }
    for start in (0..m).step_by(width.max(1)) {
        let end = (start + width).min(m);
        let wd = end - start;
        let (g, c, s) = (&mut p.g[..wd], &mut p.c[..wd], &mut p.s[..wd]);
        // The coordinate whose steps are still to be added to the model.
        let mut pending: Option<usize> = None;
        for k in 0..r {
            pass(Pass {
                a,
                r,
                k,
                pending,
                d,
                lam: &mut *lam,
                m,
                start,
                end,
                s: &*s,
                g: &mut *g,
                c: &mut *c,
            });
            let (fk, dk) = (f.row_mut(k).into_slice().expect(STD), den.row(k).to_slice().expect(STD));
            for ((((v, st), &gl), &cl), &dl) in fk[start..end]
                .iter_mut()
                .zip(s.iter_mut())
                .zip(g.iter())
                .zip(c.iter())
                .zip(&dk[start..end])
            {
                let grad = dl + c1 + c2 * *v - gl;
                *st = settle(v, safe_step(*v, grad, cl + c2));
            }
            pending = s.iter().any(|&st| st != T::zero()).then_some(k);
        }
        // The last coordinate's steps are not added to the model: the next half-step computes
        // its model afresh from the new factors.
    }
}

/// Buffers for KL coordinate descent, allocated once per fit.
pub struct CdKl<'a, T> {
    /// X (N x p).
    x: ArrayView2<'a, T>,
    /// X in row-major order when the caller's is not (the kernels read rows as slices).
    x_rows: Option<Array2<T>>,
    /// Xᵀ (p x N), made once per data matrix and shared by its fits
    /// ([`crate::nmf::FitMatrix::transposed_dense_in`]); None where no half-step reads it
    /// ([`layouts`]).
    xt: Option<ArrayView2<'a, T>>,
    /// The penalty gradients of H and W.
    pen: PenaltyGrad<T>,
    /// Entries left out of the fit (0 in X), if any.
    left_out: Option<Arc<HeldOut>>,
    /// Wᵀ (r x N) and Hᵀ (p x r) for the W half-step.
    wt: Array2<T>,
    ht: Array2<T>,
    /// WH (N x p) and (WH)ᵀ (p x N), each 0 x 0 where no half-step reads it ([`layouts`]).
    l: Array2<T>,
    lt: Array2<T>,
    /// Σ_i W_ik over each column's observed entries (r x p); Σ_j H_kj over each row's (r x N).
    den_h: Array2<T>,
    den_w: Array2<T>,
    /// Wide X ([`blocked`]): a panel of X and of the model (N x panel width each, row-major),
    /// and [`LINE_ROWS`] lines of the model (p each); empty otherwise.
    x_panel: Vec<T>,
    l_panel: Vec<T>,
    l_line: Array2<T>,
    /// Lines per panel in the H and the W half-step.
    width_h: usize,
    width_w: usize,
    panel: Panel<T>,
    /// Row sums of H (r).
    sums: Vec<T>,
}

impl<'a, T: Real> CdKl<'a, T> {
    /// Buffers for X of shape (n, p) and its transpose `xt` (p x N, row-major; needed only where
    /// [`layouts`] says so) at rank r, leaving out `left_out` (entries that are 0 in X).
    pub(crate) fn new(
        x: ArrayView2<'a, T>,
        xt: Option<ArrayView2<'a, T>>,
        r: usize,
        left_out: Option<Arc<HeldOut>>,
        pen: Weights<T>,
    ) -> Self {
        let (n, p) = x.dim();
        let (rows, transposed) = layouts(n, p);
        debug_assert!(xt.is_none_or(|xt| xt.dim() == (p, n) && xt.is_standard_layout()));
        debug_assert!(!transposed || xt.is_some(), "{TRANSPOSED}");
        let (ln, lp) = if rows { (n, p) } else { (0, 0) };
        let (tp, tn) = if transposed { (p, n) } else { (0, 0) };
        let (width_h, width_w) = (panel_width::<T>(n, p), panel_width::<T>(p, n));
        let longest = width_h.max(width_w);
        CdKl {
            x,
            x_rows: (!x.is_standard_layout()).then(|| x.as_standard_layout().into_owned()),
            xt,
            pen: pen.kl(),
            left_out,
            wt: Array2::zeros((r, n)),
            ht: Array2::zeros((p, r)),
            l: Array2::zeros((ln, lp)),
            lt: Array2::zeros((tp, tn)),
            x_panel: vec![T::zero(); if blocked(n, p) { n * width_h } else { 0 }],
            l_panel: vec![T::zero(); if blocked(n, p) { n * width_h } else { 0 }],
            l_line: Array2::zeros(if blocked(n, p) { (LINE_ROWS.min(n), p) } else { (0, 0) }),
            den_h: Array2::zeros((r, p)),
            den_w: Array2::zeros((r, n)),
            width_h,
            width_w,
            panel: Panel {
                g: vec![T::zero(); longest],
                c: vec![T::zero(); longest],
                s: vec![T::zero(); longest],
            },
            sums: vec![T::zero(); r],
        }
    }
}

impl<T: Real> UpdateRule<T> for CdKl<'_, T> {
    fn step(&mut self, w: &mut Array2<T>, h: &mut Array2<T>) {
        // The kernels read rows as slices. The driver's factors are row-major; others are
        // copied once, here, and stay row-major after.
        for f in [&mut *w, &mut *h] {
            if !f.is_standard_layout() {
                *f = f.as_standard_layout().into_owned();
            }
        }
        let x = self.x_rows.as_ref().map_or(self.x, |a| a.view());
        let wide = blocked(x.nrows(), x.ncols());
        // H half-step: lines are the columns of X, coefficients the columns of W.
        if x.nrows() < LINE_MIN && !wide {
            matmul_into(w.view(), h.view(), self.l.view_mut());
        }
        match &self.left_out {
            Some(out) => out.observed_column_sums(w, &mut self.den_h),
            None => {
                for (mut den, wk) in self.den_h.rows_mut().into_iter().zip(w.axis_iter(Axis(1))) {
                    den.fill(wk.sum());
                }
            }
        }
        // Wᵀ serves the H half-step by lines and the W half-step (W does not change before it).
        self.wt.assign(&w.t());
        let (n, p) = x.dim();
        if wide {
            // One panel of columns at a time, with its own model.
            for start in (0..p).step_by(self.width_h.max(1)) {
                let end = (start + self.width_h).min(p);
                let size = n * (end - start);
                let mut xp = ArrayViewMut2::from_shape((n, end - start), &mut self.x_panel[..size]).expect(STD);
                xp.assign(&x.slice(s![.., start..end]));
                let mut lp = ArrayViewMut2::from_shape((n, end - start), &mut self.l_panel[..size]).expect(STD);
                matmul_into(w.view(), h.slice(s![.., start..end]), lp.view_mut());
                half_step(
                    w.view(),
                    h.slice_mut(s![.., start..end]),
                    xp.view(),
                    lp,
                    self.den_h.slice(s![.., start..end]),
                    self.pen.h,
                    self.width_h,
                    &mut self.panel,
                );
            }
        } else if n >= LINE_MIN {
            // Line by line along the columns of X: the rows of Xᵀ and (WH)ᵀ.
            self.ht.assign(&h.t());
            matmul_into(self.ht.view(), self.wt.view(), self.lt.view_mut());
            line_half_step(
                self.wt.view(),
                h.view_mut(),
                self.xt.expect(TRANSPOSED),
                self.lt.view_mut(),
                self.den_h.view(),
                self.pen.h,
            );
        } else {
            half_step(
                w.view(),
                h.view_mut(),
                x,
                self.l.view_mut(),
                self.den_h.view(),
                self.pen.h,
                self.width_h,
                &mut self.panel,
            );
        }
        // W half-step: lines are the rows of X (columns of Xᵀ), coefficients the rows of H.
        for (t, hk) in self.sums.iter_mut().zip(h.rows()) {
            *t = hk.sum();
        }
        for (i, mut den) in self.den_w.columns_mut().into_iter().enumerate() {
            match &self.left_out {
                Some(out) => out.observed_row_sums(i, h, &self.sums, den),
                None => den.assign(&ArrayView1::from(&self.sums[..])),
            }
        }
        if wide {
            // Line by line along the rows of X, each with its own model row.
            for i0 in (0..n).step_by(LINE_ROWS) {
                let i1 = (i0 + LINE_ROWS).min(n);
                let mut lines = self.l_line.slice_mut(s![..i1 - i0, ..]);
                matmul_into(w.slice(s![i0..i1, ..]), h.view(), lines.view_mut());
                line_half_step(
                    h.view(),
                    self.wt.slice_mut(s![.., i0..i1]),
                    x.slice(s![i0..i1, ..]),
                    lines,
                    self.den_w.slice(s![.., i0..i1]),
                    self.pen.w,
                );
            }
        } else if p >= LINE_MIN {
            // Line by line along the rows of X and WH.
            matmul_into(w.view(), h.view(), self.l.view_mut());
            line_half_step(
                h.view(),
                self.wt.view_mut(),
                x,
                self.l.view_mut(),
                self.den_w.view(),
                self.pen.w,
            );
        } else {
            self.ht.assign(&h.t());
            matmul_into(self.ht.view(), self.wt.view(), self.lt.view_mut());
            half_step(
                self.ht.view(),
                self.wt.view_mut(),
                self.xt.expect(TRANSPOSED),
                self.lt.view_mut(),
                self.den_w.view(),
                self.pen.w,
                self.width_w,
                &mut self.panel,
            );
        }
        w.assign(&self.wt.t());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::update::tests::awkward_data;

    /// The pass this CPU runs (AVX-512 where it has it) gives the sums and the model of the
    /// portable loop, to rounding (the AVX-512 form uses refined reciprocals and FMA), for f64
    /// and f32, panels that are not a multiple of the vector width, a pending coordinate, and
    /// zero coefficients.
    #[test]
    fn every_pass_form_agrees_with_the_portable_loop() {
        fn check<T: Real>(tol: f64) {
            let (n, m, r) = (23, 37, 3);
            let d = awkward_data(n, m).mapv(T::of);
            let mut rng = crate::rng::fit_rng(5);
            let (a, f) = crate::nmf::init::random(&mut rng, n, m, r, 1.0);
            let mut a = a.mapv(T::of);
            a[[4, 1]] = T::zero();
            a[[7, 0]] = T::zero();
            let lam0 = a.dot(&f.mapv(T::of));
            let s: Vec<T> = (0..m).map(|j| T::of(0.01 * (j as f64 - 15.0))).collect();
            for (start, end) in [(0, m), (3, 20), (5, 6)] {
                let run = |portable: bool| {
                    let mut lam = lam0.clone();
                    let (mut g, mut c) = (vec![T::zero(); end - start], vec![T::zero(); end - start]);
                    let p = Pass {
                        a: a.as_slice().unwrap(),
                        r,
                        k: 1,
                        pending: Some(0),
                        d: d.as_slice().unwrap(),
                        lam: lam.as_slice_mut().unwrap(),
                        m,
                        start,
                        end,
                        s: &s[start..end],
                        g: &mut g,
                        c: &mut c,
                    };
                    if portable {
                        pass_portable(p)
                    } else {
                        pass(p)
                    }
                    (lam, g, c)
                };
                let (l1, g1, c1) = run(true);
                let (l2, g2, c2) = run(false);
                let close = |x: &[T], y: &[T]| {
                    x.iter()
                        .zip(y)
                        .all(|(a, b)| (a.f64() - b.f64()).abs() <= tol * a.f64().abs().max(1e-300))
                };
                assert!(close(l1.as_slice().unwrap(), l2.as_slice().unwrap()));
                assert!(close(&g1, &g2), "{g1:?} vs {g2:?}");
                assert!(close(&c1, &c2), "{c1:?} vs {c2:?}");
                // Lines outside the panel are untouched.
                assert!(
                    l2.rows()
                        .into_iter()
                        .zip(lam0.rows())
                        .all(|(x, y)| { (0..m).filter(|j| *j < start || *j >= end).all(|j| x[j] == y[j]) })
                );
            }
        }
        check::<f64>(1e-13);
        check::<f32>(1e-5);
    }

    /// The line pass this CPU runs gives the sums and the model of the portable loop, to
    /// rounding, for f64 and f32, with and without a pending step, at lengths that are not a
    /// multiple of the vector width.
    #[test]
    fn every_line_pass_form_agrees_with_the_portable_loop() {
        fn check<T: Real>(tol: f64) {
            for n in [1, 7, 37, 300] {
                let x = awkward_data(1, n).mapv(T::of);
                let a: Vec<T> = (0..n).map(|i| T::of(0.5 + (i % 7) as f64 * 0.3)).collect();
                let ap: Vec<T> = (0..n).map(|i| T::of(0.2 + (i % 5) as f64 * 0.1)).collect();
                let lam0: Vec<T> = (0..n).map(|i| T::of(1.0 + (i % 11) as f64)).collect();
                for prev in [None, Some(T::of(-0.3))] {
                    let run = |portable: bool| {
                        let mut lam = lam0.clone();
                        let p = LinePass {
                            a: &a,
                            prev: prev.map(|s| (&ap[..], s)),
                            x: x.as_slice().unwrap(),
                            lam: &mut lam,
                        };
                        let gc = if portable { line_portable(p) } else { line_pass(p) };
                        (lam, gc)
                    };
                    let (l1, (g1, c1)) = run(true);
                    let (l2, (g2, c2)) = run(false);
                    let close = |a: T, b: T| (a.f64() - b.f64()).abs() <= tol * a.f64().abs().max(1e-300);
                    assert!(l1.iter().zip(&l2).all(|(a, b)| close(*a, *b)));
                    assert!(close(g1, g2) && close(c1, c2), "n {n}: {g1:?} {c1:?} vs {g2:?} {c2:?}");
                }
            }
        }
        check::<f64>(1e-13);
        check::<f32>(1e-5);
    }

    /// Long lines run line by line, short ones in panels: on a tall and a wide matrix (each
    /// half-step in each layout), with and without left-out entries, the fit never increases its
    /// objective and follows the sparse solver (separate code, one line at a time) from the same
    /// start to 1e-9; factors in column-major order are accepted too.
    #[test]
    fn line_and_panel_half_steps_are_monotone_and_match_the_sparse_solver() {
        use crate::nmf::loss::{FitMatrix, Loss, objectives_of};
        use crate::nmf::mask::HeldOut;
        use crate::nmf::{Penalty, Solver};
        use crate::sparse::Csr;
        use std::sync::Arc;
        for (n, p) in [(300, 40), (40, 300)] {
            let x = awkward_data(n, p);
            let (train, ho) = HeldOut::split(x.view(), 3, 0, 0.1, None);
            let ho = Arc::new(ho);
            let pairs = [
                (FitMatrix::new(x.clone()), FitMatrix::sparse(Csr::from_dense(x.view()))),
                (
                    FitMatrix::with_heldout(train.clone(), Arc::clone(&ho)),
                    FitMatrix::sparse(Csr::from_dense(train.view())).excluding(Some(Arc::clone(&ho)), None),
                ),
            ];
            for (dense, sparse) in pairs {
                let (w0, h0) = crate::nmf::init::random(&mut crate::rng::fit_rng(4), n, p, 3, dense.mean());
                // Column-major copies for the dense rule.
                use ndarray::ShapeBuilder;
                let (mut w, mut h) = (Array2::zeros(w0.dim().f()), Array2::zeros(h0.dim().f()));
                w.assign(&w0);
                h.assign(&h0);
                assert!(!w.is_standard_layout());
                let (mut ws, mut hs) = (w0, h0);
                let mut rule = Solver::Cd.rule::<f64>(&dense, Loss::Kl, 3, Penalty::NONE);
                let mut sparse_rule = Solver::Cd.rule::<f64>(&sparse, Loss::Kl, 3, Penalty::NONE);
                let mut scratch = dense.objective_scratch(3);
                let mut prev = f64::INFINITY;
                for it in 0..60 {
                    rule.step(&mut w, &mut h);
                    sparse_rule.step(&mut ws, &mut hs);
                    let o = objectives_of(&dense, w.view(), h.view(), &mut scratch).kl;
                    let os = objectives_of(&sparse, ws.view(), hs.view(), &mut sparse.objective_scratch(3)).kl;
                    assert!(o <= prev * (1.0 + 1e-13), "{n} x {p} iteration {it}: {prev} -> {o}");
                    assert!(
                        (o - os).abs() <= 1e-9 * o,
                        "{n} x {p} iteration {it}: dense {o} sparse {os}"
                    );
                    prev = o;
                }
            }
        }
    }

    /// The step never increases f, whatever the sign of f'(0) and the size of the Newton step
    /// against v, and never crosses the bound: f evaluated directly on one-variable problems.
    #[test]
    fn safe_step_never_increases_the_objective() {
        let f = |s: f64, a: &[f64], x: &[f64], l: &[f64]| {
            let sa: f64 = a.iter().sum();
            s * sa
                - a.iter()
                    .zip(x)
                    .zip(l)
                    .map(|((a, x), l)| x * (1.0 + s * a / l).ln())
                    .sum::<f64>()
        };
        let mut rng = crate::rng::fit_rng(9);
        use rand::RngExt;
        for _ in 0..2000 {
            let n = rng.random_range(1..20);
            let v: f64 = rng.random_range(0.0..3.0);
            let a: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..2.0)).collect();
            let x: Vec<f64> = (0..n)
                .map(|_| {
                    if rng.random::<f64>() < 0.3 {
                        0.0
                    } else {
                        rng.random_range(0.0..50.0)
                    }
                })
                .collect();
            // λ holds v's share a·v plus the other components' part.
            let l: Vec<f64> = a.iter().map(|ai| ai * v + rng.random_range(1e-3..5.0)).collect();
            let g = a.iter().sum::<f64>() - a.iter().zip(&x).zip(&l).map(|((a, x), l)| a * x / l).sum::<f64>();
            let c: f64 = a.iter().zip(&x).zip(&l).map(|((a, x), l)| a * a * x / (l * l)).sum();
            let s = safe_step(v, g, c);
            assert!(v + s >= 0.0, "v {v} step {s}");
            assert!(
                f(s, &a, &x, &l) <= 1e-12 * f(0.0, &a, &x, &l).abs().max(1.0),
                "v {v} g {g} c {c} s {s}"
            );
        }
    }
}
