//! One iteration of each solver, in f64 and f32, on a few NMF-shaped problems (criterion).
//! `cargo bench --bench iteration`; compare solvers, precisions and shapes by the reported times.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nnmf_sweep::nmf::{FitMatrix, Loss, Penalty, Scalar, Solver, init};
use nnmf_sweep::simulate::{Planted, draw};

/// Benchmarks one iteration of `solver` for `loss` in precision T.
fn one<T: Scalar>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    data: &FitMatrix,
    r: usize,
    solver: Solver,
    loss: Loss,
) {
    let (n, p) = data.dim();
    let (w0, h0) = init::random(&mut nnmf_sweep::rng::fit_rng(1), n, p, r, data.mean());
    let (mut w, mut h) = (w0.mapv(T::of), h0.mapv(T::of));
    let mut rule = solver.rule::<T>(data, loss, r, Penalty::NONE);
    let storage = if matches!(data.stored(), nnmf_sweep::nmf::loss::Stored::Sparse(_)) {
        "_sparse"
    } else {
        ""
    };
    let name = format!(
        "{}_{}_{}{storage}",
        solver.name(),
        loss.name(),
        std::any::type_name::<T>()
    );
    let id = BenchmarkId::new(name, format!("{n}x{p}_r{r}"));
    c.bench_function(id, |b| b.iter(|| rule.step(&mut w, &mut h)));
}

fn iteration(c: &mut Criterion) {
    nnmf_sweep::linalg::set_blas_threads(1);
    let mut group = c.benchmark_group("iteration");
    group.sample_size(10);
    for &(n, p, r) in &[(300, 200, 4), (5000, 38, 3), (2000, 1000, 10)] {
        let (x, _, _) = draw(&Planted {
            n,
            p,
            rank: r,
            mean: 5.0,
            mix: 0.1,
            seed: 1,
            dispersion: None,
        });
        let data = FitMatrix::new(x);
        for (solver, loss) in [
            (Solver::Mu, Loss::Kl),
            (Solver::Cd, Loss::Kl),
            (Solver::Mu, Loss::Frobenius),
            (Solver::Hals, Loss::Frobenius),
        ] {
            one::<f64>(&mut group, &data, r, solver, loss);
            one::<f32>(&mut group, &data, r, solver, loss);
        }
    }
    group.finish();
}

/// One iteration on a 5%-dense count matrix (4000 x 1000, rank 10), stored sparse and dense:
/// the sparse rules' work is O(nnz·r), the dense ones' O(N·p·r).
fn sparse_iteration(c: &mut Criterion) {
    nnmf_sweep::linalg::set_blas_threads(1);
    let mut group = c.benchmark_group("sparse_iteration");
    group.sample_size(10);
    let (n, p, r) = (4000, 1000, 10);
    let x = ndarray::Array2::from_shape_fn((n, p), |(i, j)| {
        // A fixed pseudo-random pattern (splitmix64's finalizer).
        let mut h = (i * p + j) as u64 ^ 0x9e37_79b9_7f4a_7c15;
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 31;
        if h.is_multiple_of(20) {
            (1 + (h >> 32) % 9) as f64
        } else {
            0.0
        }
    });
    let sparse = FitMatrix::sparse(nnmf_sweep::sparse::Csr::from_dense(x.view()));
    let dense = FitMatrix::new(x);
    for (solver, loss) in [
        (Solver::Mu, Loss::Kl),
        (Solver::Cd, Loss::Kl),
        (Solver::Mu, Loss::Frobenius),
        (Solver::Hals, Loss::Frobenius),
    ] {
        one::<f64>(&mut group, &sparse, r, solver, loss);
        one::<f32>(&mut group, &sparse, r, solver, loss);
        one::<f64>(&mut group, &dense, r, solver, loss);
    }
    group.finish();
}

criterion_group!(benches, iteration, sparse_iteration);
criterion_main!(benches);
