//! One iteration of each update rule on a few NMF-shaped problems (criterion).
//! `cargo bench --bench iteration`; compare solvers and shapes by the reported times.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use nnmf_sweep::nmf::{FitMatrix, Loss, Solver, init};
use nnmf_sweep::simulate::{Planted, draw};

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
        for loss in [Loss::Kl, Loss::Frobenius] {
            let (mut w, mut h) = init::random(&mut nnmf_sweep::rng::fit_rng(1), n, p, r, data.mean());
            let mut rule = Solver::Mu.rule(loss, n, p, r, None, nnmf_sweep::nmf::Penalty::NONE);
            let mut scratch = Array2::zeros((n, p));
            let id = BenchmarkId::new(format!("mu_{}", loss.name()), format!("{n}x{p}_r{r}"));
            group.bench_function(id, |b| b.iter(|| rule.step(data.x(), &mut w, &mut h, &mut scratch)));
        }
    }
    group.finish();
}

criterion_group!(benches, iteration);
criterion_main!(benches);
