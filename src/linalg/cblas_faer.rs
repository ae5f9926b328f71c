//! The CBLAS routines ndarray calls, implemented with faer, for the `bundled` build (no system
//! BLAS). ndarray's `blas` feature stays on in every build (so ndarray and the crates above it are
//! built once); with it, ndarray 0.17's `dot`, `general_mat_mul` and `general_mat_vec_mul` call
//! `cblas_{s,d,c,z}gemm` (row- or column-major, each operand plain or transposed, any leading
//! dimension, any alpha and beta), `cblas_{s,d}gemv` (no transposition, either layout, vector
//! increments of either sign) and `cblas_{s,d}dot` (increments of either sign). This module
//! exports exactly those symbols (the complex gemms only so that unoptimized builds, which keep
//! ndarray's dead complex branches, link), with the reference BLAS semantics: beta = 0 ignores the
//! output's old contents (it may be uninitialized), alpha = 0 or k = 0 reads neither operand.
//!
//! Every routine runs faer's `matmul` at `Par::Seq`, so its bits depend on the shapes, strides and
//! values only, never on the rayon pool, and clears the upper vector state afterwards (see
//! `clear_upper_vector_state`). Panics cannot unwind out of these functions: an `extern "C"`
//! function aborts on a panic.

use super::clear_upper_vector_state;
use faer::traits::ComplexField;
use faer::{Accum, Conj, MatMut, MatRef, Par, c32, c64};
use std::ffi::c_int;

/// `CblasRowMajor`.
const ROW_MAJOR: c_int = 101;
/// `CblasNoTrans`.
const NO_TRANS: c_int = 111;
/// `CblasConjTrans`.
const CONJ_TRANS: c_int = 113;

/// The element types of the exported routines.
trait Elem: ComplexField + Copy + PartialEq {
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// `a * b`.
    fn times(a: Self, b: Self) -> Self;
}

/// `impl Elem` for each (type, zero, one).
macro_rules! elem {
    ($($t:ty: $zero:expr, $one:expr;)*) => {$(
        impl Elem for $t {
            const ZERO: $t = $zero;
            const ONE: $t = $one;
            fn times(a: $t, b: $t) -> $t {
                a * b
            }
        }
    )*};
}

elem! {
    f32: 0.0, 1.0;
    f64: 0.0, 1.0;
    c32: c32::new(0.0, 0.0), c32::new(1.0, 0.0);
    c64: c64::new(0.0, 0.0), c64::new(1.0, 0.0);
}

/// (row stride, column stride) of a matrix stored in `layout` with leading dimension `ld`.
fn strides(layout: c_int, ld: c_int) -> (isize, isize) {
    if layout == ROW_MAJOR {
        (ld as isize, 1)
    } else {
        (1, ld as isize)
    }
}

/// op(A) for A stored as `rows` x `cols` in `layout` with leading dimension `ld`, and whether op
/// conjugates.
///
/// # Safety
/// `ptr` must be valid for reads of the stored matrix for `'a`.
unsafe fn op_view<'a, T: Elem>(
    ptr: *const T,
    layout: c_int,
    trans: c_int,
    rows: usize,
    cols: usize,
    ld: c_int,
) -> (MatRef<'a, T>, Conj) {
    let (rs, cs) = strides(layout, ld);
    // SAFETY: the caller's contract.
    let stored = unsafe { MatRef::from_raw_parts(ptr, rows, cols, rs, cs) };
    if trans == NO_TRANS {
        (stored, Conj::No)
    } else {
        let conj = if trans == CONJ_TRANS { Conj::Yes } else { Conj::No };
        (stored.transpose(), conj)
    }
}

/// A BLAS vector of `len` elements with increment `inc` (BLAS convention: `ptr` is the lowest
/// address; a negative increment runs from the highest one down) as a `len` x 1 matrix.
///
/// # Safety
/// `ptr` must be valid for reads of the vector for `'a`.
unsafe fn vector<'a, T: Elem>(ptr: *const T, len: usize, inc: c_int) -> MatRef<'a, T> {
    // SAFETY: the caller's contract; the first logical element lies within the vector.
    unsafe { MatRef::from_raw_parts(ptr.offset(first_offset(len, inc)), len, 1, inc as isize, 1) }
}

/// Where a BLAS vector's first logical element lies, in elements from its lowest address: 0 for
/// a positive increment, the last slot for a negative one.
fn first_offset(len: usize, inc: c_int) -> isize {
    if inc < 0 {
        (len as isize - 1) * -(inc as isize)
    } else {
        0
    }
}

/// [`vector`], writable.
///
/// # Safety
/// `ptr` must be valid for reads and writes of the vector for `'a`, and not aliased.
unsafe fn vector_mut<'a, T: Elem>(ptr: *mut T, len: usize, inc: c_int) -> MatMut<'a, T> {
    // SAFETY: the caller's contract; the first logical element lies within the vector.
    unsafe { MatMut::from_raw_parts_mut(ptr.offset(first_offset(len, inc)), len, 1, inc as isize, 1) }
}

/// `c = alpha op(a) op(b) + beta c` with op(a) m x k, op(b) k x n, c m x n (all views), by faer
/// at `Par::Seq`; beta = 0 ignores c's old values, alpha = 0 or k = 0 leaves the product out.
fn product<T: Elem>(mut c: MatMut<'_, T>, alpha: T, a: (MatRef<'_, T>, Conj), b: (MatRef<'_, T>, Conj), beta: T) {
    let accum = if beta == T::ZERO {
        Accum::Replace
    } else {
        if beta != T::ONE {
            for j in 0..c.ncols() {
                for i in 0..c.nrows() {
                    let v = c[(i, j)];
                    c[(i, j)] = T::times(beta, v);
                }
            }
        }
        Accum::Add
    };
    if alpha == T::ZERO || a.0.ncols() == 0 {
        if accum == Accum::Replace {
            c.fill(T::ZERO);
        }
        return;
    }
    faer::linalg::matmul::matmul_with_conj(c, accum, a.0, a.1, b.0, b.1, alpha, Par::Seq);
    clear_upper_vector_state();
}

/// The body of the `cblas_?gemm` exports.
///
/// # Safety
/// The reference CBLAS contract of gemm.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm<T: Elem>(
    layout: c_int,
    transa: c_int,
    transb: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: T,
    a: *const T,
    lda: c_int,
    b: *const T,
    ldb: c_int,
    beta: T,
    c: *mut T,
    ldc: c_int,
) {
    if m <= 0 || n <= 0 {
        return;
    }
    let (m, n, k) = (m as usize, n as usize, k.max(0) as usize);
    let (ar, ac) = if transa == NO_TRANS { (m, k) } else { (k, m) };
    let (br, bc) = if transb == NO_TRANS { (k, n) } else { (n, k) };
    let (rs, cs) = strides(layout, ldc);
    // SAFETY: the gemm contract: a, b and c hold matrices of these shapes and leading dimensions,
    // c writable and not overlapping a or b.
    unsafe {
        let av = op_view(a, layout, transa, ar, ac, lda);
        let bv = op_view(b, layout, transb, br, bc, ldb);
        let cv = MatMut::from_raw_parts_mut(c, m, n, rs, cs);
        product(cv, alpha, av, bv, beta);
    }
}

/// The body of the `cblas_?gemv` exports: `y = alpha op(A) x + beta y`, A m x n.
///
/// # Safety
/// The reference CBLAS contract of gemv.
#[allow(clippy::too_many_arguments)]
unsafe fn gemv<T: Elem>(
    layout: c_int,
    trans: c_int,
    m: c_int,
    n: c_int,
    alpha: T,
    a: *const T,
    lda: c_int,
    x: *const T,
    incx: c_int,
    beta: T,
    y: *mut T,
    incy: c_int,
) {
    if m <= 0 || n <= 0 {
        return;
    }
    let (m, n) = (m as usize, n as usize);
    let (rows, cols) = if trans == NO_TRANS { (m, n) } else { (n, m) };
    // SAFETY: the gemv contract: a holds the m x n matrix, x and y vectors of op(A)'s columns
    // and rows with these increments, y writable and not overlapping a or x.
    unsafe {
        let av = op_view(a, layout, trans, m, n, lda);
        let xv = vector(x, cols, incx);
        let yv = vector_mut(y, rows, incy);
        product(yv, alpha, av, (xv, Conj::No), beta);
    }
}

/// The body of the `cblas_?dot` exports: `Σ x_i y_i`.
///
/// # Safety
/// The reference CBLAS contract of dot.
unsafe fn dot<T: Elem>(n: c_int, x: *const T, incx: c_int, y: *const T, incy: c_int) -> T {
    if n <= 0 {
        return T::ZERO;
    }
    let n = n as usize;
    let mut out = [T::ZERO];
    // SAFETY: the dot contract: x and y hold n elements with these increments; `out` is a local
    // 1 x 1 matrix.
    unsafe {
        let xv = vector(x, n, incx).transpose();
        let yv = vector(y, n, incy);
        let ov = MatMut::from_raw_parts_mut(out.as_mut_ptr(), 1, 1, 1, 1);
        product(ov, T::ONE, (xv, Conj::No), (yv, Conj::No), T::ZERO);
    }
    out[0]
}

/// CBLAS `sgemm` (f32): `c = alpha op(a) op(b) + beta c`.
///
/// # Safety
/// The reference CBLAS contract: valid pointers, shapes and leading dimensions; c not overlapping
/// a or b.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_sgemm(
    layout: c_int,
    transa: c_int,
    transb: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: f32,
    a: *const f32,
    lda: c_int,
    b: *const f32,
    ldb: c_int,
    beta: f32,
    c: *mut f32,
    ldc: c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { gemm(layout, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) }
}

/// CBLAS `dgemm` (f64): `c = alpha op(a) op(b) + beta c`.
///
/// # Safety
/// As [`cblas_sgemm`].
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_dgemm(
    layout: c_int,
    transa: c_int,
    transb: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: f64,
    a: *const f64,
    lda: c_int,
    b: *const f64,
    ldb: c_int,
    beta: f64,
    c: *mut f64,
    ldc: c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { gemm(layout, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) }
}

/// CBLAS `cgemm` (complex f32; alpha and beta by pointer).
///
/// # Safety
/// As [`cblas_sgemm`]; alpha and beta point to valid complex numbers.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_cgemm(
    layout: c_int,
    transa: c_int,
    transb: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: *const c32,
    a: *const c32,
    lda: c_int,
    b: *const c32,
    ldb: c_int,
    beta: *const c32,
    c: *mut c32,
    ldc: c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { gemm(layout, transa, transb, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc) }
}

/// CBLAS `zgemm` (complex f64; alpha and beta by pointer).
///
/// # Safety
/// As [`cblas_cgemm`].
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_zgemm(
    layout: c_int,
    transa: c_int,
    transb: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: *const c64,
    a: *const c64,
    lda: c_int,
    b: *const c64,
    ldb: c_int,
    beta: *const c64,
    c: *mut c64,
    ldc: c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { gemm(layout, transa, transb, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc) }
}

/// CBLAS `sgemv` (f32): `y = alpha op(a) x + beta y`.
///
/// # Safety
/// The reference CBLAS contract: valid pointers, shape, leading dimension and increments; y not
/// overlapping a or x.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_sgemv(
    layout: c_int,
    trans: c_int,
    m: c_int,
    n: c_int,
    alpha: f32,
    a: *const f32,
    lda: c_int,
    x: *const f32,
    incx: c_int,
    beta: f32,
    y: *mut f32,
    incy: c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { gemv(layout, trans, m, n, alpha, a, lda, x, incx, beta, y, incy) }
}

/// CBLAS `dgemv` (f64): `y = alpha op(a) x + beta y`.
///
/// # Safety
/// As [`cblas_sgemv`].
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cblas_dgemv(
    layout: c_int,
    trans: c_int,
    m: c_int,
    n: c_int,
    alpha: f64,
    a: *const f64,
    lda: c_int,
    x: *const f64,
    incx: c_int,
    beta: f64,
    y: *mut f64,
    incy: c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { gemv(layout, trans, m, n, alpha, a, lda, x, incx, beta, y, incy) }
}

/// CBLAS `sdot` (f32): `Σ x_i y_i`.
///
/// # Safety
/// The reference CBLAS contract: x and y valid for n elements at their increments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cblas_sdot(n: c_int, x: *const f32, incx: c_int, y: *const f32, incy: c_int) -> f32 {
    // SAFETY: forwarded contract.
    unsafe { dot(n, x, incx, y, incy) }
}

/// CBLAS `ddot` (f64): `Σ x_i y_i`.
///
/// # Safety
/// As [`cblas_sdot`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cblas_ddot(n: c_int, x: *const f64, incx: c_int, y: *const f64, incy: c_int) -> f64 {
    // SAFETY: forwarded contract.
    unsafe { dot(n, x, incx, y, incy) }
}

#[cfg(test)]
mod tests {
    use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
    use ndarray::{Array1, Array2, ShapeBuilder, s};

    fn filled(rows: usize, cols: usize, seed: usize) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            0.5 + ((i * 31 + j * 17 + seed) % 97) as f64 / 97.0
        })
    }

    fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).map(|k| a[[i, k]] * b[[k, j]]).sum()
        })
    }

    fn close(a: &Array2<f64>, b: &Array2<f64>) -> bool {
        a.dim() == b.dim() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-12 * y.abs().max(1.0))
    }

    /// Every layout and transposition ndarray sends (C and F orders, transposed views, sliced
    /// leading dimensions), alpha and beta values, through `general_mat_mul` (above ndarray's
    /// BLAS cutoff), against a naive product.
    #[test]
    fn gemm_layouts_and_scalars() {
        let (m, k, n) = (37, 29, 41);
        let a = filled(m, k, 1);
        let b = filled(k, n, 2);
        let c0 = filled(m, n, 3);
        let want = naive(&a, &b);
        let a_f = {
            let mut f = Array2::zeros((m, k).f());
            f.assign(&a);
            f
        };
        let b_t = b.t().to_owned();
        let wide = filled(m, k + 5, 4);
        let mut a_sliced = wide.clone();
        a_sliced.slice_mut(s![.., ..k]).assign(&a);
        for (alpha, beta) in [(1.0, 0.0), (2.0, 0.0), (1.0, 1.0), (0.5, -1.5), (0.0, 2.0)] {
            let expect = &want * alpha + &c0 * beta;
            for av in [a.view(), a_f.view(), a_sliced.slice(s![.., ..k])] {
                for bv in [b.view(), b_t.t()] {
                    let mut c = c0.clone();
                    general_mat_mul(alpha, &av, &bv, beta, &mut c);
                    assert!(close(&c, &expect), "alpha {alpha} beta {beta}");
                    let mut cf = Array2::zeros((m, n).f());
                    cf.assign(&c0);
                    general_mat_mul(alpha, &av, &bv, beta, &mut cf);
                    assert!(close(&cf.as_standard_layout().to_owned(), &expect), "F-order c");
                }
            }
        }
        // beta = 0 ignores C's old contents, NaN included.
        let mut c = Array2::from_elem((m, n), f64::NAN);
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        assert!(close(&c, &want));
        // f32.
        let (a32, b32) = (a.mapv(|v| v as f32), b.mapv(|v| v as f32));
        let c32 = a32.dot(&b32).mapv(f64::from);
        assert!(c32.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-4 * y.abs()));
    }

    /// `gemv` in both layouts, with positive and negative vector increments, and `dot`.
    #[test]
    fn gemv_and_dot() {
        let (m, n) = (45, 38);
        let a = filled(m, n, 5);
        let x = Array1::from_shape_fn(n, |i| 1.0 + i as f64 / 7.0);
        let want = Array1::from_shape_fn(m, |i| (0..n).map(|j| a[[i, j]] * x[j]).sum::<f64>());
        let y0 = Array1::from_shape_fn(m, |i| i as f64);
        let x_rev = x.slice(s![..;-1]).to_owned();
        for av in [a.view(), a.t().to_owned().reversed_axes().view()] {
            for (alpha, beta) in [(1.0, 0.0), (3.0, 0.5)] {
                let expect = &want * alpha + &y0 * beta;
                let mut y = y0.clone();
                general_mat_vec_mul(alpha, &av, &x, beta, &mut y);
                assert!(
                    y.iter()
                        .zip(&expect)
                        .all(|(p, q)| (p - q).abs() <= 1e-12 * q.abs().max(1.0))
                );
                let mut y_rev = y0.slice(s![..;-1]).to_owned();
                let mut y_view = y_rev.slice_mut(s![..;-1]);
                general_mat_vec_mul(alpha, &av, &x_rev.slice(s![..;-1]), beta, &mut y_view);
                assert!(
                    y_view
                        .iter()
                        .zip(&expect)
                        .all(|(p, q)| (p - q).abs() <= 1e-12 * q.abs().max(1.0))
                );
            }
        }
        let long = Array1::from_shape_fn(200, |i| (i % 13) as f64 - 4.0);
        let other = Array1::from_shape_fn(200, |i| (i % 7) as f64 * 0.25);
        let want: f64 = long.iter().zip(&other).map(|(p, q)| p * q).sum();
        assert!((long.dot(&other) - want).abs() < 1e-10);
        assert!((long.slice(s![..;-1]).dot(&other.slice(s![..;-1])) - want).abs() < 1e-10);
        let step: f64 = long
            .iter()
            .step_by(2)
            .zip(other.iter().step_by(2))
            .map(|(p, q)| p * q)
            .sum();
        assert!((long.slice(s![..;2]).dot(&other.slice(s![..;2])) - step).abs() < 1e-10);
    }
}
