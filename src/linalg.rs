//! The only place that calls BLAS, LAPACK or faer: named matrix products into caller-owned buffers,
//! the factorizations the starts and `compare` need (thin SVD, QR, inverse of a symmetric positive
//! definite matrix), and the control of BLAS's own threads.
//!
//! Products go through ndarray's `general_mat_mul`, which calls `cblas_dgemm` (f64) or
//! `cblas_sgemm` (f32) for all but tiny shapes (ndarray's `blas` feature), except the tall-skinny
//! shapes where OpenBLAS is slow (1 thread, measured in docs/DESIGN-NOTES.md, "GEMM backend"),
//! which go to faer's `matmul` with `Par::Seq`:
//!
//! - `c = a b` with a tall a of few columns (W H: N x r x p);
//! - `c = a bᵀ` with a tall a and few rows of b (X Hᵀ: N x p x r);
//! - `c = aᵀ b` with a small c over a long inner dimension (the Gram matrix Wᵀ W: r x N x r).
//!
//! Two builds (Cargo features): by default (`openblas`) the CBLAS symbols and LAPACK come from the
//! system OpenBLAS; with `bundled` (which wins when both are on) no system library is linked:
//! the CBLAS symbols ndarray calls are exported by `linalg/cblas_faer.rs` (faer at `Par::Seq`) and the
//! factorizations are faer's. The two builds' bits may differ; within one build they do not depend
//! on threads.
//!
//! Every backend runs one thread per product and chooses its kernels from the shapes only, so the
//! bits of a product depend on the shapes and the values, never on the number of rayon threads.
//! Operands that are not in standard (row-major, contiguous) layout go to CBLAS. Nothing here
//! allocates but the factorizations.

// Links the CBLAS implementation selected by blas-src (the system OpenBLAS) into every binary,
// tests and benches included. Not in the bundled build, which then links no OpenBLAS at all.
#[cfg(all(feature = "openblas", not(feature = "bundled")))]
extern crate blas_src;

#[cfg(not(all(feature = "openblas", not(feature = "bundled"))))]
mod cblas_faer;

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, LinalgScalar, linalg::general_mat_mul};
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
pub(crate) fn clear_upper_vector_state() {
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

#[cfg(all(feature = "openblas", not(feature = "bundled")))]
#[link(name = "openblas")]
unsafe extern "C" {
    /// OpenBLAS's global thread setting (libopenblas).
    fn openblas_set_num_threads(num_threads: std::ffi::c_int);
}

/// Sets how many threads OpenBLAS may use inside one product. The sweep sets 1: parallelism is
/// across fits (rayon), and nested BLAS threads inside rayon workers ran 2-3x slower here. In the
/// `bundled` build (no OpenBLAS; every product runs at `Par::Seq`) this does nothing.
pub fn set_blas_threads(n: usize) {
    #[cfg(all(feature = "openblas", not(feature = "bundled")))]
    {
        let n = n.clamp(1, i32::MAX as usize) as std::ffi::c_int;
        // SAFETY: plain setter of a global in OpenBLAS, no pointers involved.
        unsafe { openblas_set_num_threads(n) }
    }
    #[cfg(not(all(feature = "openblas", not(feature = "bundled"))))]
    let _ = n;
}

/// A thin singular value decomposition `x = u diag(s) vt`: for x of N x p and m = min(N, p), u is
/// N x m with orthonormal columns, s the m singular values in non-increasing order, vt m x p with
/// orthonormal rows.
#[derive(Debug, Clone)]
pub struct ThinSvd {
    /// The left singular vectors, N x m.
    pub u: Array2<f64>,
    /// The singular values, non-increasing, m of them.
    pub s: Array1<f64>,
    /// The right singular vectors as rows, m x p.
    pub vt: Array2<f64>,
}

/// The thin SVD of x (LAPACK gesdd in the default build, faer's SVD at one thread in the
/// `bundled` build); None when the factorization fails (it did not converge, or x holds a NaN).
/// Singular vectors are unique up to sign (and rotations within repeated singular values); the
/// two builds may choose different signs.
pub fn thin_svd(x: ArrayView2<f64>) -> Option<ThinSvd> {
    #[cfg(all(feature = "openblas", not(feature = "bundled")))]
    {
        use ndarray_linalg::{JobSvd, SVDDC};
        let (u, s, vt) = x.svddc(JobSvd::Some).ok()?;
        Some(ThinSvd { u: u?, s, vt: vt? })
    }
    #[cfg(not(all(feature = "openblas", not(feature = "bundled"))))]
    {
        faer_lapack::thin_svd(x)
    }
}

/// The orthonormal factor Q (N x min(N, k)) of the thin QR decomposition of y (N x k), by
/// Householder reflections (LAPACK geqrf/orgqr in the default build, faer at one thread in the
/// `bundled` build); None when LAPACK reports an error.
pub fn qr_q(y: ArrayView2<f64>) -> Option<Array2<f64>> {
    #[cfg(all(feature = "openblas", not(feature = "bundled")))]
    {
        use ndarray_linalg::QR;
        Some(y.qr().ok()?.0)
    }
    #[cfg(not(all(feature = "openblas", not(feature = "bundled"))))]
    {
        Some(faer_lapack::qr_q(y))
    }
}

/// The inverse of a symmetric positive definite matrix a through its Cholesky factor (LAPACK
/// potrf/potri in the default build, faer at one thread in the `bundled` build); only the lower
/// triangle of a is read. Err with the reason when a is not positive definite.
pub fn spd_inverse(a: ArrayView2<f64>) -> Result<Array2<f64>, String> {
    #[cfg(all(feature = "openblas", not(feature = "bundled")))]
    {
        use ndarray_linalg::InverseC;
        a.invc().map_err(|e| e.to_string())
    }
    #[cfg(not(all(feature = "openblas", not(feature = "bundled"))))]
    {
        faer_lapack::spd_inverse(a)
    }
}

/// The factorizations of the `bundled` build, through faer with `Par::Seq` (so their bits do not
/// depend on the rayon pool), on ndarray views of any strides.
#[cfg(not(all(feature = "openblas", not(feature = "bundled"))))]
mod faer_lapack {
    use super::{ThinSvd, clear_upper_vector_state};
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::{Mat, MatRef, Par};
    use ndarray::{Array1, Array2, ArrayView2};

    /// A faer view of an ndarray view (same memory, same strides).
    fn view<'a>(x: &ArrayView2<'a, f64>) -> MatRef<'a, f64> {
        let (rows, cols) = x.dim();
        let strides = x.strides();
        // SAFETY: the pointer, shape and strides are those of a live ndarray view, which are valid
        // for reads of every element for the view's lifetime, the lifetime of the result.
        unsafe { MatRef::from_raw_parts(x.as_ptr(), rows, cols, strides[0], strides[1]) }
    }

    /// An ndarray copy of a faer matrix.
    fn array(m: MatRef<'_, f64>) -> Array2<f64> {
        Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
    }

    /// See [`super::thin_svd`].
    pub(super) fn thin_svd(x: ArrayView2<f64>) -> Option<ThinSvd> {
        use faer::linalg::svd::{ComputeSvdVectors, svd, svd_scratch};
        if x.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let a = view(&x);
        let (m, n) = a.shape();
        let size = m.min(n);
        let mut u = Mat::<f64>::zeros(m, size);
        let mut v = Mat::<f64>::zeros(n, size);
        let mut s = faer::diag::Diag::<f64>::zeros(size);
        let par = Par::Seq;
        let scratch = svd_scratch::<f64>(
            m,
            n,
            ComputeSvdVectors::Thin,
            ComputeSvdVectors::Thin,
            par,
            Default::default(),
        );
        let mut mem = MemBuffer::new(scratch);
        let done = svd(
            a,
            s.as_mut(),
            Some(u.as_mut()),
            Some(v.as_mut()),
            par,
            MemStack::new(&mut mem),
            Default::default(),
        );
        clear_upper_vector_state();
        done.ok()?;
        let sv = s.column_vector();
        Some(ThinSvd {
            u: array(u.as_ref()),
            s: Array1::from_shape_fn(size, |i| sv[i]),
            vt: array(v.as_ref().transpose()),
        })
    }

    /// See [`super::qr_q`].
    pub(super) fn qr_q(y: ArrayView2<f64>) -> Array2<f64> {
        use faer::linalg::householder::{
            apply_block_householder_sequence_on_the_left_in_place_scratch,
            apply_block_householder_sequence_on_the_left_in_place_with_conj,
        };
        use faer::linalg::qr::no_pivoting::factor::{qr_in_place, qr_in_place_scratch, recommended_block_size};
        let par = Par::Seq;
        let mut qr = view(&y).to_owned();
        let (m, n) = qr.shape();
        let size = m.min(n);
        if size == 0 {
            return Array2::zeros((m, size));
        }
        let block = recommended_block_size::<f64>(m, n);
        let mut coeff = Mat::<f64>::zeros(block, size);
        let mut mem = MemBuffer::new(qr_in_place_scratch::<f64>(m, n, block, par, Default::default()));
        qr_in_place(
            qr.as_mut(),
            coeff.as_mut(),
            par,
            MemStack::new(&mut mem),
            Default::default(),
        );
        // The Householder basis: the unit lower trapezoid of the first `size` columns.
        let mut basis = Mat::<f64>::zeros(m, size);
        for j in 0..size {
            basis[(j, j)] = 1.0;
            for i in j + 1..m {
                basis[(i, j)] = qr[(i, j)];
            }
        }
        let mut q = Mat::<f64>::identity(m, size);
        let mut mem = MemBuffer::new(apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(
            m, block, size,
        ));
        apply_block_householder_sequence_on_the_left_in_place_with_conj(
            basis.as_ref(),
            coeff.as_ref(),
            faer::Conj::No,
            q.as_mut(),
            par,
            MemStack::new(&mut mem),
        );
        clear_upper_vector_state();
        array(q.as_ref())
    }

    /// See [`super::spd_inverse`].
    pub(super) fn spd_inverse(a: ArrayView2<f64>) -> Result<Array2<f64>, String> {
        use faer::linalg::cholesky::llt::{factor, inverse};
        let par = Par::Seq;
        let (n, cols) = a.dim();
        if n != cols {
            return Err(format!("a {n} x {cols} matrix is not square"));
        }
        let mut l = Mat::<f64>::zeros(n, n);
        l.copy_from_triangular_lower(view(&a));
        let mut mem = MemBuffer::new(factor::cholesky_in_place_scratch::<f64>(n, par, Default::default()));
        let factored = factor::cholesky_in_place(
            l.as_mut(),
            Default::default(),
            par,
            MemStack::new(&mut mem),
            Default::default(),
        );
        if let Err(e) = factored {
            clear_upper_vector_state();
            return Err(format!("the matrix is not positive definite ({e:?})"));
        }
        for j in 0..n {
            for i in 0..j {
                l[(i, j)] = 0.0;
            }
        }
        let mut out = Mat::<f64>::zeros(n, n);
        let mut mem = MemBuffer::new(inverse::inverse_scratch::<f64>(n, par));
        inverse::inverse(out.as_mut(), l.as_ref(), par, MemStack::new(&mut mem));
        clear_upper_vector_state();
        // The inverse fills its lower triangle; the upper one is its mirror image.
        Ok(Array2::from_shape_fn((n, n), |(i, j)| {
            if i >= j { out[(i, j)] } else { out[(j, i)] }
        }))
    }
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

    /// `f` run inside a rayon pool of `threads` threads.
    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(f)
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

    /// The thin SVD reconstructs x with orthonormal factors and non-increasing singular values,
    /// for tall and wide x, in both builds (LAPACK or faer).
    #[test]
    fn thin_svd_reconstructs() {
        for (n, p) in [(40, 13), (13, 40)] {
            let x = filled(n, p, 9);
            let ThinSvd { u, s, vt } = thin_svd(x.view()).expect("svd");
            let m = n.min(p);
            assert_eq!((u.dim(), s.len(), vt.dim()), ((n, m), m, (m, p)));
            assert!(s.windows(2).into_iter().all(|w| w[0] >= w[1]) && s[m - 1] >= 0.0);
            let back = (&u * &s).dot(&vt);
            assert!(rel_diff(&back, &x) < 1e-12);
            assert!(rel_diff(&u.t().dot(&u), &Array2::eye(m)) < 1e-12);
            assert!(rel_diff(&vt.dot(&vt.t()), &Array2::eye(m)) < 1e-12);
        }
        assert!(thin_svd(array![[1.0, f64::NAN], [0.0, 1.0]].view()).is_none());
    }

    /// Q of the thin QR has orthonormal columns spanning y's columns: Q Qᵀ y = y.
    #[test]
    fn qr_q_spans_columns() {
        let y = filled(50, 7, 10);
        let q = qr_q(y.view()).expect("qr");
        assert_eq!(q.dim(), (50, 7));
        assert!(rel_diff(&q.t().dot(&q), &Array2::eye(7)) < 1e-12);
        assert!(rel_diff(&q.dot(&q.t().dot(&y)), &y) < 1e-12);
    }

    /// The inverse of a symmetric positive definite matrix, and an error for an indefinite one.
    #[test]
    fn spd_inverse_inverts() {
        let b = filled(30, 6, 11);
        let a = b.t().dot(&b) + Array2::<f64>::eye(6);
        let inv = spd_inverse(a.view()).expect("spd");
        assert!(rel_diff(&inv.dot(&a), &Array2::eye(6)) < 1e-12);
        assert_eq!(inv, inv.t());
        assert!(spd_inverse(array![[1.0, 2.0], [2.0, 1.0]].view()).is_err());
    }

    /// The factorizations give the same bits inside rayon pools of 1 and 3 threads, with
    /// OpenBLAS at one thread of its own as the program sets it before any factorization
    /// (`nmf::init`, the sweep, the command line). Without that, OpenBLAS's thread count here
    /// would be whatever another test running at the same time last set.
    #[test]
    fn factorization_bits_do_not_depend_on_thread_count() {
        set_blas_threads(1);
        let x = filled(300, 120, 12);
        let run = |threads: usize| {
            in_pool(threads, || {
                let svd = thin_svd(x.view()).expect("svd");
                (svd.u, svd.s, svd.vt, qr_q(x.view()).expect("qr"))
            })
        };
        assert_eq!(run(1), run(3));
    }

    /// Products run inside rayon pools of 1, 2 and 3 threads give the same bits.
    #[test]
    fn bits_do_not_depend_on_thread_count() {
        let (n, p, r) = (2000, 200, 9);
        let w = filled(n, r, 6);
        let h = filled(r, p, 7);
        let x = filled(n, p, 8);
        let run = |threads: usize| {
            in_pool(threads, || {
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
