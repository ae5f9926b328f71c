//! Planted low-rank count data, for the demo, the tests and the benchmarks (no download needed).
//!
//! X ~ Poisson(W H) with W (N x r): observation i belongs mostly to component i mod r (weight 1)
//! with weight `mix` · U(0,1) on the others, and H (r x p) with i.i.d. exponential entries of mean
//! `mean`. With `dispersion = Some(k)`, counts are overdispersed (gamma–Poisson, i.e. negative
//! binomial with size k: variance λ + λ²/k), as in single-cell and sequencing data. The true W
//! and H are written beside X, so tests can compare a fit with the truth.
//!
//! Also Hoyer's bars images ([`Bars`]) and planted spatial components in 3-D volumes written as
//! NIfTI ([`volumes`]).

use crate::error::{Error, Result};
use ndarray::Array2;
use rand::RngExt;
use rand_distr::{Distribution, Exp1, Gamma, Poisson};
use std::path::Path;

pub mod volumes;

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

/// The largest count [`write`] stores: 2^53. X is written as int64 and read back as float64, and
/// above 2^53 float64 no longer holds every integer, so a larger count would not be stored (or
/// drawn: the Poisson draw is a float64) exactly.
pub const MAX_COUNT: f64 = 9_007_199_254_740_992.0;

/// Draws (X, W, H): X (N x p) counts, W (N x r), H (r x p). A Poisson mean too large to draw from
/// gives an infinite count (see [`MAX_COUNT`]; [`write`] refuses such data).
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
            Poisson::new(l).map_or(f64::INFINITY, |d| d.sample(&mut rng))
        } else {
            0.0
        }
    });
    (x, w, h)
}

/// Writes X as int64 counts (dataset `X`), and `W_true`, `H_true` as float64, to a new HDF5 file.
/// Refused (a command-line error) when a count would exceed [`MAX_COUNT`]: the message gives the
/// limit and a `--mean` that stays below it.
pub fn write(path: &Path, s: &Planted) -> Result<()> {
    let (x, w, h) = draw(s);
    check_counts(s, &x, &w, &h)?;
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

/// Refuses counts above [`MAX_COUNT`] (which int64 and float64 cannot both hold exactly), naming
/// the limit and a `--mean` that stays below it for this shape, rank and seed.
fn check_counts(s: &Planted, x: &Array2<f64>, w: &Array2<f64>, h: &Array2<f64>) -> Result<()> {
    let top = x.iter().fold(0.0_f64, |m, &v| m.max(v));
    if top <= MAX_COUNT {
        return Ok(());
    }
    // The counts scale with the mean (no other draw depends on it): aim at half the limit.
    let (drawn, scale) = if top.is_finite() {
        (format!("counts up to {top:.3e}"), 2.0 * top)
    } else {
        let lambda = w.dot(h).iter().fold(0.0_f64, |m, &v| m.max(v));
        (
            format!("Poisson means up to {lambda:.3e}, too large to draw counts from"),
            4.0 * lambda,
        )
    };
    let hint = if scale.is_finite() && scale > 0.0 {
        format!("; use --mean {:.1e} or less", s.mean / scale * MAX_COUNT)
    } else {
        String::new()
    };
    Err(Error::ConfigValue {
        path: std::path::PathBuf::from("<command line>"),
        line: 0,
        key: "simulate --mean".into(),
        message: format!(
            "--mean {:e} gives {drawn}; counts must be at most 2^53 = 9007199254740992, the largest count stored \
             exactly (X is written as int64 and read as float64){hint}",
            s.mean
        ),
    })
}

/// Hoyer's "bars" images (Hoyer 2004, §4): each observation is a `side` x `side` image, stored
/// row by row, made of a few of the 2·side bars (every pixel row and every pixel column is one
/// bar, a part) plus a little noise. The parts-based demonstration: NMF at rank 2·side recovers
/// the bars, one per component.
#[derive(Debug, Clone, Copy)]
pub struct Bars {
    /// N, images.
    pub n: usize,
    /// Pixels per image side (p = side²; 2·side bars).
    pub side: usize,
    /// Probability that a bar is present in an image (independently per bar).
    pub prob: f64,
    /// Mean of the exponential noise added to every pixel.
    pub noise: f64,
    /// Seed.
    pub seed: u64,
}

/// Draws (X, W, H) of bars images: H (2·side x side²) holds the bars, horizontal ones first
/// (bar k < side is pixel row k), W (N x 2·side) says which bars each image holds (0 or a weight
/// in [0.5, 1.5]), and X = W H + noise (N x side², exponential noise of mean `noise`, so every
/// entry stays non-negative). An image that drew no bar gets one at random, so no row is noise
/// only.
pub fn draw_bars(b: &Bars) -> (Array2<f64>, Array2<f64>, Array2<f64>) {
    let (side, k) = (b.side, 2 * b.side);
    let mut rng = crate::rng::fit_rng(crate::rng::fit_seed(b.seed, k, usize::MAX - 1));
    let h = Array2::from_shape_fn((k, side * side), |(bar, pixel)| {
        let (row, col) = (pixel / side, pixel % side);
        if (bar < side && row == bar) || (bar >= side && col == bar - side) {
            1.0
        } else {
            0.0
        }
    });
    let mut w = Array2::<f64>::zeros((b.n, k));
    for mut row in w.rows_mut() {
        for v in row.iter_mut() {
            if rng.random::<f64>() < b.prob {
                *v = 0.5 + rng.random::<f64>();
            }
        }
        if row.iter().all(|v| *v == 0.0) {
            let bar = rng.random_range(0..k);
            row[bar] = 0.5 + rng.random::<f64>();
        }
    }
    let mut x = w.dot(&h);
    if b.noise > 0.0 {
        x.mapv_inplace(|v| v + b.noise * <Exp1 as Distribution<f64>>::sample(&Exp1, &mut rng));
    }
    (x, w, h)
}

/// Writes bars images to a new HDF5 file: `X` (N x side², float64), `W_true`, `H_true`, and the
/// attributes `image_height`, `image_width`, `rank` (2·side) and `seed`.
pub fn write_bars(path: &Path, b: &Bars) -> Result<()> {
    let (x, w, h) = draw_bars(b);
    let ctx = || format!("cannot write {}", path.display());
    let go = || -> hdf5::Result<()> {
        let f = hdf5::File::create(path)?;
        f.new_dataset_builder().with_data(&x).create("X")?;
        f.new_dataset_builder().with_data(&w).create("W_true")?;
        f.new_dataset_builder().with_data(&h).create("H_true")?;
        for (name, v) in [
            ("image_height", b.side as u64),
            ("image_width", b.side as u64),
            ("rank", 2 * b.side as u64),
            ("seed", b.seed),
        ] {
            f.new_attr::<u64>().create(name)?.write_scalar(&v)?;
        }
        f.close()
    };
    go().map_err(|e| Error::hdf5(ctx(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_rows_and_columns_of_the_image() {
        let b = Bars {
            n: 50,
            side: 4,
            prob: 0.2,
            noise: 0.0,
            seed: 2,
        };
        let (x, w, h) = draw_bars(&b);
        assert_eq!((x.dim(), w.dim(), h.dim()), ((50, 16), (50, 8), (8, 16)));
        // Bar 1 is pixel row 1; bar 4 + 2 is pixel column 2.
        assert_eq!(h.row(1).to_vec()[4..8], [1.0; 4]);
        assert_eq!(h.row(1).sum(), 4.0);
        assert!((0..4).all(|r| h[[6, r * 4 + 2]] == 1.0));
        assert!(w.rows().into_iter().all(|r| r.iter().any(|v| *v > 0.0)));
        assert_eq!(x, w.dot(&h));
        assert_eq!(draw_bars(&b).0, x);
    }

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
