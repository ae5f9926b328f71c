//! Planted low-rank count data, for the demo, the tests and the benchmarks (no download needed).
//!
//! X ~ Poisson(W H) with W (N x r): observation i belongs mostly to component i mod r (weight 1)
//! with weight `mix` · U(0,1) on the others, and H (r x p) with i.i.d. exponential entries of mean
//! `mean`. With `dispersion = Some(k)`, counts are overdispersed (gamma–Poisson, i.e. negative
//! binomial with size k: variance λ + λ²/k), as in single-cell and sequencing data. The true W
//! and H are written beside X, so tests can compare a fit with the truth.

use crate::error::{Error, Result};
use ndarray::Array2;
use rand::RngExt;
use rand_distr::{Distribution, Exp1, Gamma, Poisson};
use std::path::Path;

/// What to plant.
#[derive(Debug, Clone, Copy)]
pub struct Planted {
    /// N, observations.
    pub n: usize,
    /// p, features.
    pub p: usize,
    /// True rank.
    pub rank: usize,
    /// Mean of H's entries (sets the counts' scale).
    pub mean: f64,
    /// Weight of the minor memberships.
    pub mix: f64,
    /// Seed.
    pub seed: u64,
    /// Negative-binomial size k (None: Poisson counts).
    pub dispersion: Option<f64>,
}

/// Draws (X, W, H): X (N x p) counts, W (N x r), H (r x p).
pub fn draw(s: &Planted) -> (Array2<f64>, Array2<f64>, Array2<f64>) {
    let mut rng = crate::rng::fit_rng(crate::rng::fit_seed(s.seed, s.rank, usize::MAX));
    let w = Array2::from_shape_fn((s.n, s.rank), |(i, k)| {
        if i % s.rank == k {
            1.0
        } else {
            s.mix * rng.random::<f64>()
        }
    });
    let h = Array2::from_shape_fn((s.rank, s.p), |_| {
        s.mean * <Exp1 as Distribution<f64>>::sample(&Exp1, &mut rng)
    });
    let lambda = w.dot(&h);
    let gamma = s.dispersion.and_then(|k| Gamma::new(k, 1.0 / k).ok());
    let x = lambda.mapv(|l| {
        let l = match &gamma {
            Some(g) => l * g.sample(&mut rng),
            None => l,
        };
        if l > 0.0 {
            Poisson::new(l).map_or(0.0, |d| d.sample(&mut rng))
        } else {
            0.0
        }
    });
    (x, w, h)
}

/// Writes X as int64 counts (dataset `X`), and `W_true`, `H_true` as float64, to a new HDF5 file.
pub fn write(path: &Path, s: &Planted) -> Result<()> {
    let (x, w, h) = draw(s);
    let ctx = || format!("cannot write {}", path.display());
    let go = || -> hdf5::Result<()> {
        let f = hdf5::File::create(path)?;
        f.new_dataset_builder().with_data(&x.mapv(|v| v as i64)).create("X")?;
        f.new_dataset_builder().with_data(&w).create("W_true")?;
        f.new_dataset_builder().with_data(&h).create("H_true")?;
        f.new_attr::<u64>().create("rank")?.write_scalar(&(s.rank as u64))?;
        f.new_attr::<u64>().create("seed")?.write_scalar(&s.seed)?;
        f.new_attr::<f64>()
            .create("dispersion")?
            .write_scalar(&s.dispersion.unwrap_or(f64::INFINITY))?;
        f.close()
    };
    go().map_err(|e| Error::hdf5(ctx(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_counts_have_the_planted_mean() {
        let s = Planted {
            n: 200,
            p: 100,
            rank: 3,
            mean: 10.0,
            mix: 0.1,
            seed: 1,
            dispersion: None,
        };
        let (x, w, h) = draw(&s);
        assert!(x.iter().all(|v| *v >= 0.0 && v.fract() == 0.0));
        let (mx, ml) = (x.mean().unwrap(), w.dot(&h).mean().unwrap());
        assert!((mx - ml).abs() / ml < 0.02, "{mx} vs {ml}");
        assert_eq!(draw(&s).0, x);
    }

    #[test]
    fn overdispersed_counts_have_the_negative_binomial_variance() {
        let s = Planted {
            n: 400,
            p: 300,
            rank: 2,
            mean: 10.0,
            mix: 0.0,
            seed: 3,
            dispersion: Some(2.0),
        };
        let (x, w, h) = draw(&s);
        let l = w.dot(&h);
        // E[(x − λ)² − λ] = λ²/k for the gamma–Poisson mixture.
        let excess: f64 = x.iter().zip(l.iter()).map(|(x, l)| (x - l) * (x - l) - l).sum::<f64>();
        let expected: f64 = l.iter().map(|l| l * l / 2.0).sum();
        assert!((excess / expected - 1.0).abs() < 0.1, "{excess} vs {expected}");
    }
}
