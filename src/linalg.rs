//! The only place that calls BLAS or faer: named matrix products into caller-owned buffers, and
//! the control of BLAS's own threads.
//!
//! Products go through ndarray's `general_mat_mul`, which calls `cblas_dgemm` (f64) or
//! `cblas_sgemm` (f32) of the system OpenBLAS for all but tiny shapes (ndarray's `blas` feature),
//! except the tall-skinny shapes where OpenBLAS is slow (1 thread, measured in
//! docs/DESIGN-NOTES.md, "GEMM backend"), which go to faer's `matmul` with `Par::Seq`:
//!
//! - `c = a b` with a tall a of few columns (W H: N x r x p);
//! - `c = a bᵀ` with a tall a and few rows of b (X Hᵀ: N x p x r);
//! - `c = aᵀ b` with a small c over a long inner dimension (the Gram matrix Wᵀ W: r x N x r).
//!
//! Both backends run one thread per product and choose their kernels from the shapes only, so the
//! bits of a product depend on the shapes and the values, never on the number of rayon threads.
//! Operands that are not in standard (row-major, contiguous) layout go to OpenBLAS. Nothing here
//! allocates.

// Links the CBLAS implementation selected by blas-src (the system OpenBLAS) into every binary,
// tests and benches included.
extern crate blas_src;

use ndarray::{ArrayView2, ArrayViewMut2, LinalgScalar, linalg::general_mat_mul};
use num_traits::{Float, NumAssign};

/// The floating-point types a fit can run in (`[model] precision`): f64 (the default) or f32
/// (half the memory traffic and twice the GEMM rate; objectives are still evaluated in f64).
/// Products of either go to the matching BLAS routine (dgemm or sgemm).
pub trait Real: LinalgScalar + Float + NumAssign + Send + Sync + std::fmt::Debug + std::iter::Sum + 'static {
    /// `c = op(a) op(b)` (or `c += …` with `accumulate`) through faer on one thread, where op
    /// transposes when `ta` / `tb` is set. Returns false, and leaves c alone, when an operand is
    /// not in standard layout (the caller then uses BLAS).
    fn faer_product(
        a: ArrayView2<Self>,
        ta: bool,
        b: ArrayView2<Self>,
        tb: bool,
        c: ArrayViewMut2<Self>,
        accumulate: bool,
    ) -> bool;
    /// Floor on a model entry (WH)_ij in the KL updates, so that x/λ stays finite when every term
    /// of λ underflowed: 1e-150 in f64, 1e-20 in f32 (x/λ then stays finite for x below 1e18).
    const MODEL_FLOOR: Self;
    /// The value `v`, rounded to this type.
    fn of(v: f64) -> Self;
    /// This value as an f64 (exact).
    fn f64(self) -> f64;
}

impl Real for f64 {
    const MODEL_FLOOR: f64 = 1e-150;
    fn faer_product(
        a: ArrayView2<f64>,
        ta: bool,
        b: ArrayView2<f64>,
        tb: bool,
        c: ArrayViewMut2<f64>,
        accumulate: bool,
    ) -> bool {
        faer_product_impl(a, ta, b, tb, c, accumulate, 1.0)
    }
    #[inline]
    fn of(v: f64) -> f64 {
        v
    }
    #[inline]
    fn f64(self) -> f64 {
        self
    }
}

impl Real for f32 {
    const MODEL_FLOOR: f32 = 1e-20;
    fn faer_product(
        a: ArrayView2<f32>,
        ta: bool,
        b: ArrayView2<f32>,
        tb: bool,
        c: ArrayViewMut2<f32>,
        accumulate: bool,
    ) -> bool {
        faer_product_impl(a, ta, b, tb, c, accumulate, 1.0)
    }
    #[inline]
    fn of(v: f64) -> f32 {
        v as f32
    }
    #[inline]
    fn f64(self) -> f64 {
        f64::from(self)
    }
}

/// The body of [`Real::faer_product`] for a concrete type (faer's `RealField`: f64, f32).
fn faer_product_impl<T: faer::traits::RealField>(
    a: ArrayView2<T>,
    ta: bool,
    b: ArrayView2<T>,
    tb: bool,
    mut c: ArrayViewMut2<T>,
    accumulate: bool,
    one: T,
) -> bool {
    let (ar, ac) = a.dim();
    let (br, bc) = b.dim();
    let (cr, cc) = c.dim();
    let (Some(sa), Some(sb), Some(sc)) = (a.as_slice(), b.as_slice(), c.as_slice_mut()) else {
        return false;
    };
    let fa = faer::MatRef::from_row_major_slice(sa, ar, ac);
    let fb = faer::MatRef::from_row_major_slice(sb, br, bc);
    let lhs = if ta { fa.transpose() } else { fa };
    let rhs = if tb { fb.transpose() } else { fb };
    let dst = faer::MatMut::from_row_major_slice_mut(sc, cr, cc);
    let accum = if accumulate {
        faer::Accum::Add
    } else {
        faer::Accum::Replace
    };
    faer::linalg::matmul::matmul(dst, accum, lhs, rhs, one, faer::Par::Seq);
    clear_upper_vector_state();
    true
}

/// Clears the upper halves of the vector registers (`vzeroupper`) after faer's AVX/AVX-512
/// kernels. faer's kernels return with them dirty; the SSE-encoded code that follows (this crate
/// is built for baseline x86-64, and libm's `log`) then pays a state-transition penalty on every
/// instruction: measured here, the objective evaluation after a faer product ran 4-5x slower.
#[inline]
fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: AVX is present (checked above), which is all `vzeroupper` needs.
            unsafe { zero_upper() }
        }
    }
}

/// `vzeroupper`; the caller checks that the CPU has AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn zero_upper() {
    std::arch::x86_64::_mm256_zeroupper();
}

/// Rows (or inner length) from which a dimension counts as "tall" for the faer dispatch.
const TALL: usize = 512;
/// Columns up to which a dimension counts as "skinny" (the rank, or a small block).
const SKINNY: usize = 64;

/// How a product's operands enter it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `a b`.
    Nn,
    /// `aᵀ b`.
    Tn,
    /// `a bᵀ`.
    Nt,
}

/// Whether the product of `kind` with c (m x n) and inner dimension k goes to faer: the shapes
/// where faer measured faster than OpenBLAS at one thread (docs/DESIGN-NOTES.md, "GEMM backend").
/// Everything else (the row blocks of the KL updates, Wᵀ X, the SVD start's products) stays on
/// OpenBLAS, which measured faster there or as fast.
fn use_faer(kind: Kind, m: usize, k: usize, n: usize) -> bool {
    match kind {
        // W H (N x r x p).
        Kind::Nn => m >= TALL && k <= SKINNY && n >= SKINNY,
        // X Hᵀ (N x p x r).
        Kind::Nt => m >= TALL && n <= SKINNY && k >= SKINNY,
        // Wᵀ W (r x N x r).
        Kind::Tn => m <= SKINNY && n <= SKINNY && k >= TALL,
    }
}

#[link(name = "openblas")]
unsafe extern "C" {
    /// OpenBLAS's global thread setting (libopenblas, all builds).
    fn openblas_set_num_threads(num_threads: std::ffi::c_int);
}

/// Sets how many threads OpenBLAS may use inside one product. The sweep sets 1: parallelism is
/// across fits (rayon), and nested BLAS threads inside rayon workers ran 2-3x slower here.
pub fn set_blas_threads(n: usize) {
    let n = n.clamp(1, i32::MAX as usize) as std::ffi::c_int;
    // SAFETY: plain setter of a global in OpenBLAS, no pointers involved.
    unsafe { openblas_set_num_threads(n) }
}

/// `c = a b`, with a (m x k), b (k x n), c (m x n).
pub fn matmul_into<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    debug_assert_eq!(a.ncols(), b.nrows());
    debug_assert_eq!(c.dim(), (a.nrows(), b.ncols()));
    if use_faer(Kind::Nn, a.nrows(), a.ncols(), b.ncols()) && T::faer_product(a, false, b, false, c.view_mut(), false) {
        return;
    }
    general_mat_mul(T::one(), &a, &b, T::zero(), &mut c);
}

/// `c = aᵀ b`, with a (k x m), b (k x n), c (m x n). `gram(a) = aᵀ a` is the case b = a.
pub fn matmul_tn_into<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    debug_assert_eq!(a.nrows(), b.nrows());
    debug_assert_eq!(c.dim(), (a.ncols(), b.ncols()));
    if use_faer(Kind::Tn, a.ncols(), a.nrows(), b.ncols()) && T::faer_product(a, true, b, false, c.view_mut(), false) {
        return;
    }
    general_mat_mul(T::one(), &a.t(), &b, T::zero(), &mut c);
}

/// `c += aᵀ b`, with a (k x m), b (k x n), c (m x n): accumulates a product over blocks of k.
pub fn matmul_tn_acc<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    debug_assert_eq!(a.nrows(), b.nrows());
    debug_assert_eq!(c.dim(), (a.ncols(), b.ncols()));
    if use_faer(Kind::Tn, a.ncols(), a.nrows(), b.ncols()) && T::faer_product(a, true, b, false, c.view_mut(), true) {
        return;
    }
    general_mat_mul(T::one(), &a.t(), &b, T::one(), &mut c);
}

/// `c = a bᵀ`, with a (m x k), b (n x k), c (m x n).
pub fn matmul_nt_into<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    debug_assert_eq!(a.ncols(), b.ncols());
    debug_assert_eq!(c.dim(), (a.nrows(), b.nrows()));
    if use_faer(Kind::Nt, a.nrows(), a.ncols(), b.nrows()) && T::faer_product(a, false, b, true, c.view_mut(), false) {
        return;
    }
    general_mat_mul(T::one(), &a, &b.t(), T::zero(), &mut c);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn products_match_naive() {
        let a = Array2::from_shape_fn((13, 9), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 3.0);
        let b = Array2::from_shape_fn((9, 17), |(i, j)| ((i * 5 + j) % 13) as f64 / 7.0);
        let mut c = Array2::zeros((13, 17));
        matmul_into(a.view(), b.view(), c.view_mut());
        let naive = Array2::from_shape_fn((13, 17), |(i, j)| (0..9).map(|k| a[[i, k]] * b[[k, j]]).sum::<f64>());
        assert!((&c - &naive).iter().all(|d| d.abs() < 1e-12));

        let mut g = Array2::zeros((9, 9));
        matmul_tn_into(a.view(), a.view(), g.view_mut());
        let naive_g = a.t().dot(&a);
        assert!((&g - &naive_g).iter().all(|d| d.abs() < 1e-10));

        let mut n = Array2::zeros((9, 9));
        matmul_nt_into(b.view(), b.view(), n.view_mut());
        assert!((&n - &b.dot(&b.t())).iter().all(|d| d.abs() < 1e-10));
        let small = array![[1.0, 2.0], [3.0, 4.0]];
        let mut s = Array2::zeros((2, 2));
        matmul_into(small.view(), small.view(), s.view_mut());
        assert_eq!(s, array![[7.0, 10.0], [15.0, 22.0]]);
    }

    fn filled(rows: usize, cols: usize, seed: usize) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            0.5 + ((i * 31 + j * 17 + seed) % 97) as f64 / 97.0
        })
    }

    /// Largest |c − reference| relative to the largest |reference|.
    fn rel_diff(c: &Array2<f64>, reference: &Array2<f64>) -> f64 {
        let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let diff = c.iter().zip(reference).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        diff / scale
    }

    /// The three products, each at a shape that goes to faer (checked) and through BLAS
    /// (`general_mat_mul` directly): the same values to 1e-12 relative.
    #[test]
    fn faer_routes_agree_with_blas() {
        let (n, p, r) = (1200, 300, 7);
        let w = filled(n, r, 1);
        let h = filled(r, p, 2);
        let x = filled(n, p, 3);
        assert!(use_faer(Kind::Nn, n, r, p) && use_faer(Kind::Nt, n, p, r) && use_faer(Kind::Tn, r, n, r));

        let mut wh = Array2::zeros((n, p));
        matmul_into(w.view(), h.view(), wh.view_mut());
        let mut blas = Array2::zeros((n, p));
        general_mat_mul(1.0, &w, &h, 0.0, &mut blas);
        assert!(rel_diff(&wh, &blas) < 1e-12);

        let mut xht = Array2::zeros((n, r));
        matmul_nt_into(x.view(), h.view(), xht.view_mut());
        let mut blas = Array2::zeros((n, r));
        general_mat_mul(1.0, &x, &h.t(), 0.0, &mut blas);
        assert!(rel_diff(&xht, &blas) < 1e-12);

        let mut wtw = Array2::zeros((r, r));
        matmul_tn_into(w.view(), w.view(), wtw.view_mut());
        let mut blas = Array2::zeros((r, r));
        general_mat_mul(1.0, &w.t(), &w, 0.0, &mut blas);
        assert!(rel_diff(&wtw, &blas) < 1e-12);

        let mut acc = wtw.clone();
        matmul_tn_acc(w.view(), w.view(), acc.view_mut());
        assert!(rel_diff(&acc, &(&blas * 2.0)) < 1e-12);

        // f32 goes the same way.
        let (w32, h32) = (w.mapv(|v| v as f32), h.mapv(|v| v as f32));
        let mut wh32 = Array2::<f32>::zeros((n, p));
        matmul_into(w32.view(), h32.view(), wh32.view_mut());
        assert!(rel_diff(&wh32.mapv(f64::from), &wh) < 1e-5);
    }

    /// A view that is not in standard layout falls back to BLAS with the same values.
    #[test]
    fn non_standard_layout_falls_back() {
        let (n, p, r) = (700, 90, 5);
        let wt = filled(r, n, 4);
        let h = filled(r, p, 5);
        let mut wh = Array2::zeros((n, p));
        matmul_into(wt.t(), h.view(), wh.view_mut());
        let naive = Array2::from_shape_fn((n, p), |(i, j)| (0..r).map(|k| wt[[k, i]] * h[[k, j]]).sum::<f64>());
        assert!(rel_diff(&wh, &naive) < 1e-12);
    }

    /// Products run inside rayon pools of 1, 2 and 3 threads give the same bits.
    #[test]
    fn bits_do_not_depend_on_thread_count() {
        let (n, p, r) = (2000, 200, 9);
        let w = filled(n, r, 6);
        let h = filled(r, p, 7);
        let x = filled(n, p, 8);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let mut wh = Array2::zeros((n, p));
                let mut xht = Array2::zeros((n, r));
                let mut wtw = Array2::zeros((r, r));
                matmul_into(w.view(), h.view(), wh.view_mut());
                matmul_nt_into(x.view(), h.view(), xht.view_mut());
                matmul_tn_into(w.view(), w.view(), wtw.view_mut());
                (wh, xht, wtw)
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }
}
