//! The only place that calls BLAS: named matrix products into caller-owned buffers, and the
//! control of BLAS's own threads.
//!
//! Products go through ndarray's `general_mat_mul`, which calls `cblas_dgemm` (f64) or
//! `cblas_sgemm` (f32) of the system OpenBLAS for all but tiny shapes (ndarray's `blas` feature).
//! Nothing here allocates.

// Links the CBLAS implementation selected by blas-src (the system OpenBLAS) into every binary,
// tests and benches included.
extern crate blas_src;

use ndarray::{ArrayView2, ArrayViewMut2, LinalgScalar, linalg::general_mat_mul};
use num_traits::{Float, NumAssign};

/// The floating-point types a fit can run in (`[model] precision`): f64 (the default) or f32
/// (half the memory traffic and twice the GEMM rate; objectives are still evaluated in f64).
/// Products of either go to the matching BLAS routine (dgemm or sgemm).
pub trait Real: LinalgScalar + Float + NumAssign + Send + Sync + std::fmt::Debug + std::iter::Sum + 'static {
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
    #[inline]
    fn of(v: f64) -> f32 {
        v as f32
    }
    #[inline]
    fn f64(self) -> f64 {
        f64::from(self)
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
    general_mat_mul(T::one(), &a, &b, T::zero(), &mut c);
}

/// `c = aᵀ b`, with a (k x m), b (k x n), c (m x n). `gram(a) = aᵀ a` is the case b = a.
pub fn matmul_tn_into<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    debug_assert_eq!(a.nrows(), b.nrows());
    debug_assert_eq!(c.dim(), (a.ncols(), b.ncols()));
    general_mat_mul(T::one(), &a.t(), &b, T::zero(), &mut c);
}

/// `c += aᵀ b`, with a (k x m), b (k x n), c (m x n): accumulates a product over blocks of k.
pub fn matmul_tn_acc<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    debug_assert_eq!(a.nrows(), b.nrows());
    debug_assert_eq!(c.dim(), (a.ncols(), b.ncols()));
    general_mat_mul(T::one(), &a.t(), &b, T::one(), &mut c);
}

/// `c = a bᵀ`, with a (m x k), b (n x k), c (m x n).
pub fn matmul_nt_into<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    debug_assert_eq!(a.ncols(), b.ncols());
    debug_assert_eq!(c.dim(), (a.nrows(), b.nrows()));
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
}
