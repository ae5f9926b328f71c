//! GEMM backend choice: OpenBLAS (through ndarray's `general_mat_mul`, as `linalg` calls it) vs
//! faer (`faer::linalg::matmul::matmul`, `Par::Seq`), one thread each, f64 and f32, on the
//! products an NMF iteration takes, at the three measured shapes (N x p, rank r):
//!
//! - `wh`  : W H,   N x r x p (m x k x n), the model (KL rules);
//! - `wtr` : Wᵀ R,  r x N x p, also Wᵀ X;
//! - `rht` : R Hᵀ,  N x p x r, also X Hᵀ;
//! - `wtw` : Wᵀ W,  r x N x r;
//! - `hht` : H Hᵀ,  r x p x r.
//!
//! Matrices are row-major ndarray arrays, as in the crate; faer gets row-major views of the same
//! memory (no copies). For each product the two backends run one after the other, so load from
//! other processes shifts both alike as far as possible; compare the pair, not across groups.
//!
//! `cargo bench --bench gemm_backend` (about 4 minutes); `-- 5000x1000` filters a shape.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{Array2, linalg::general_mat_mul};
use std::time::Duration;

/// c (m x n) = op(a) op(b), inner dimension k.
#[derive(Clone, Copy)]
enum Op {
    /// a b.
    Nn,
    /// aᵀ b.
    Tn,
    /// a bᵀ.
    Nt,
}

const SHAPES: [(usize, usize, usize); 3] = [(5000, 38, 3), (5000, 1000, 10), (20000, 2000, 20)];

macro_rules! bench_type {
    ($fn_name:ident, $t:ty, $tag:literal) => {
        fn $fn_name(c: &mut Criterion, (n, p, r): (usize, usize, usize)) {
            let products: [(&str, Op, usize, usize, usize); 5] = [
                ("wh", Op::Nn, n, r, p),
                ("wtr", Op::Tn, r, n, p),
                ("rht", Op::Nt, n, p, r),
                ("wtw", Op::Tn, r, n, r),
                ("hht", Op::Nt, r, p, r),
            ];
            let mut group = c.benchmark_group(format!("gemm/{n}x{p}_r{r}"));
            group.sample_size(10);
            group.warm_up_time(Duration::from_millis(300));
            group.measurement_time(Duration::from_millis(1500));
            for (name, op, m, k, nn) in products {
                let fill = |rows: usize, cols: usize, s: usize| {
                    Array2::<$t>::from_shape_fn((rows, cols), |(i, j)| {
                        (0.5 + ((i * 31 + j * 17 + s) % 97) as f64 / 97.0) as $t
                    })
                };
                let (a, b) = match op {
                    Op::Nn => (fill(m, k, 1), fill(k, nn, 2)),
                    Op::Tn => (fill(k, m, 1), fill(k, nn, 2)),
                    Op::Nt => (fill(m, k, 1), fill(nn, k, 2)),
                };
                let mut cm = Array2::<$t>::zeros((m, nn));
                group.throughput(Throughput::Elements((2 * m * k * nn) as u64));
                let id = format!("{name}_{m}x{k}x{nn}_{}", $tag);
                group.bench_function(BenchmarkId::new(id.clone(), "openblas"), |bch| {
                    bch.iter(|| match op {
                        Op::Nn => general_mat_mul(1.0, &a, &b, 0.0, &mut cm),
                        Op::Tn => general_mat_mul(1.0, &a.t(), &b, 0.0, &mut cm),
                        Op::Nt => general_mat_mul(1.0, &a, &b.t(), 0.0, &mut cm),
                    })
                });
                let sa = a.as_slice().expect("standard layout");
                let sb = b.as_slice().expect("standard layout");
                let fa = MatRef::from_row_major_slice(sa, a.nrows(), a.ncols());
                let fb = MatRef::from_row_major_slice(sb, b.nrows(), b.ncols());
                let (lhs, rhs) = match op {
                    Op::Nn => (fa, fb),
                    Op::Tn => (fa.transpose(), fb),
                    Op::Nt => (fa, fb.transpose()),
                };
                let mut fc = Array2::<$t>::zeros((m, nn));
                group.bench_function(BenchmarkId::new(id, "faer"), |bch| {
                    bch.iter(|| {
                        let dst = MatMut::from_row_major_slice_mut(fc.as_slice_mut().expect("standard layout"), m, nn);
                        faer::linalg::matmul::matmul(dst, Accum::Replace, lhs, rhs, 1.0 as $t, Par::Seq)
                    })
                });
                // Same result from both backends (guards against a wrong transpose above).
                let scale = cm.iter().fold(0.0 as $t, |s, v| s.max(v.abs())).max(1.0 as $t);
                let diff = cm
                    .iter()
                    .zip(fc.iter())
                    .fold(0.0 as $t, |s, (x, y)| s.max((x - y).abs()));
                assert!(
                    diff <= 1e-3 as $t * scale,
                    "{name}: openblas and faer differ by {diff}"
                );
            }
            group.finish();
        }
    };
}

bench_type!(bench_f64, f64, "f64");
bench_type!(bench_f32, f32, "f32");

fn gemm_backend(c: &mut Criterion) {
    nnmf_sweep::linalg::set_blas_threads(1);
    for shape in SHAPES {
        bench_f64(c, shape);
        bench_f32(c, shape);
    }
}

criterion_group!(benches, gemm_backend);
criterion_main!(benches);
