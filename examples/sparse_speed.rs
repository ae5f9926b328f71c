//! Time per iteration of the KL and Frobenius rules on one sparse count matrix, stored sparse and
//! dense, in one run (1 BLAS thread): the measurement behind the sparse solvers' speed claims.
//!
//!     cargo run --release --example sparse_speed -- [N P DENSITY RANK ITERS [RULE]]
//!
//! Default 20000 5000 0.05 20 10, every rule (RULE: mu-kl, cd-kl, mu-frobenius, hals-frobenius). The pattern and values are a fixed function of (i, j).

#![allow(clippy::unwrap_used)] // a measurement tool

use nnmf_sweep::nmf::{FitMatrix, Loss, Penalty, Scalar, Solver, init};
use nnmf_sweep::sparse::Csr;
use std::time::Instant;

fn mix(mut h: u64) -> u64 {
    h ^= 0x9e37_79b9_7f4a_7c15;
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn seconds_per_iteration<T: Scalar>(data: &FitMatrix, solver: Solver, loss: Loss, r: usize, iters: usize) -> f64 {
    let (n, p) = data.dim();
    let (w, h) = init::random(&mut nnmf_sweep::rng::fit_rng(1), n, p, r, data.mean());
    let (mut w, mut h) = (w.mapv(T::of), h.mapv(T::of));
    let mut rule = solver.rule::<T>(data, loss, r, Penalty::NONE);
    rule.step(&mut w, &mut h);
    let t = Instant::now();
    for _ in 0..iters {
        rule.step(&mut w, &mut h);
    }
    t.elapsed().as_secs_f64() / iters as f64
}

fn main() {
    nnmf_sweep::linalg::set_blas_threads(1);
    let a: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: f64| a.get(i).map_or(d, |s| s.parse().unwrap());
    let (n, p) = (arg(0, 20000.0) as usize, arg(1, 5000.0) as usize);
    let (density, r, iters) = (arg(2, 0.05), arg(3, 20.0) as usize, arg(4, 10.0) as usize);
    let cut = (density * u64::MAX as f64) as u64;
    let (mut indptr, mut indices, mut values) = (vec![0usize], Vec::new(), Vec::new());
    for i in 0..n {
        for j in 0..p {
            let h = mix((i * p + j) as u64);
            if h < cut {
                indices.push(j as u32);
                values.push((1 + mix(h) % 9) as f64);
            }
        }
        indptr.push(indices.len());
    }
    let csr = Csr::from_parts((n, p), indptr, indices, values, "row").unwrap();
    println!(
        "# {n} x {p}, nnz {} ({:.2}%), rank {r}, {iters} iterations, 1 thread",
        csr.nnz(),
        100.0 * csr.nnz() as f64 / (n * p) as f64
    );
    let dense = FitMatrix::new(csr.to_dense());
    let sparse = FitMatrix::sparse(csr);
    println!("rule\tsparse f64\tsparse f32\tdense f64\tdense f32\tdense f64 / sparse f64\tdense f32 / sparse f32");
    for (solver, loss) in [
        (Solver::Mu, Loss::Kl),
        (Solver::Cd, Loss::Kl),
        (Solver::Mu, Loss::Frobenius),
        (Solver::Hals, Loss::Frobenius),
    ] {
        let s64 = seconds_per_iteration::<f64>(&sparse, solver, loss, r, iters);
        let s32 = seconds_per_iteration::<f32>(&sparse, solver, loss, r, iters);
        let (d64, d32) = if solver == Solver::Cd {
            // Dense CD at this size takes minutes per iteration; one iteration is enough.
            (
                seconds_per_iteration::<f64>(&dense, solver, loss, r, 1),
                seconds_per_iteration::<f32>(&dense, solver, loss, r, 1),
            )
        } else {
            (
                seconds_per_iteration::<f64>(&dense, solver, loss, r, iters),
                seconds_per_iteration::<f32>(&dense, solver, loss, r, iters),
            )
        };
        println!(
            "{}-{}\t{s64:.4}\t{s32:.4}\t{d64:.4}\t{d32:.4}\t{:.1}\t{:.1}",
            solver.name(),
            loss.name(),
            d64 / s64,
            d32 / s32
        );
    }
}
