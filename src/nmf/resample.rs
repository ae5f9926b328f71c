//! Resampled copies of X (`[sweep] resample`): each restart fits its own noisy copy of the data,
//! so that the restarts' agreement (consensus, stability) measures robustness to noise in the
//! data as well as to the start (as SigProfilerExtractor, MuSiCal and NMFk do).
//!
//! A copy is a pure function of X and the generator it is given; the sweep seeds that generator
//! from (seed, rank, restart) alone, so a copy does not depend on threads or shards. A bootstrap
//! sample's rows are not X's observations: the sweep solves W for them afterwards
//! (`nmf::project::project_w`).

use super::loss::{FitMatrix, Stored};
use crate::names::named_enum;
use ndarray::{Array2, Axis};
use rand::Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

named_enum! {
    /// What each restart fits (`[sweep] resample`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Resample {
        /// X itself: restarts differ only by their start.
        None = "none",
        /// A Poisson draw of every entry: x'ᵢⱼ ~ Poisson(xᵢⱼ).
        Poisson = "poisson",
        /// N observations (rows of X) drawn with replacement; W then solved for X's own rows.
        Bootstrap = "bootstrap",
    }
}

/// The random stream of the resampled copies, mixed into the master seed (with the job kind's
/// own stream): `fit_seed(master ^ kind stream ^ RESAMPLE_STREAM, rank, index)`.
pub const RESAMPLE_STREAM: u64 = 0x5245_5341_4D50_4C45; // "RESAMPLE"

/// The least value of a factor entry fitted to a resampled copy (HALS's floor): see
/// [`floor_factors`].
pub const FACTOR_FLOOR: f64 = 1e-16;

/// Raises every entry of W and H below [`FACTOR_FLOOR`] to it. A line of X with small values can
/// draw all zeros in a copy; the fit then gives it zero factors (its best value there), a model
/// of 0 where the original X is positive, and an infinite KL on the original X for a fit that
/// is otherwise good. Floored, the model stays positive and the restart is judged on the
/// original X with a finite (and, for such lines, large) objective.
pub fn floor_factors(w: &mut Array2<f64>, h: &mut Array2<f64>) {
    w.mapv_inplace(|v| v.max(FACTOR_FLOOR));
    h.mapv_inplace(|v| v.max(FACTOR_FLOOR));
}

/// One Poisson draw with mean `x` ≥ 0 (0 for x = 0). Above rand_distr's largest mean
/// (`Poisson::MAX_LAMBDA`, about 1.8e19) the normal approximation N(x, x) is drawn instead: at
/// such means the two agree to far below the resolution of an f64.
fn poisson_draw(x: f64, rng: &mut impl Rng) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    match Poisson::new(x) {
        Ok(d) => d.sample(rng),
        Err(_) => {
            let z: f64 = StandardNormal.sample(rng);
            (x + x.sqrt() * z).max(0.0)
        }
    }
}

/// A Poisson-resampled copy of `x`: every entry replaced by a draw from Poisson(x), in row-major
/// order of the stored entries (so the copy is a function of X and `rng` only).
///
/// Non-integer X is accepted: Poisson(x) is still a noise model with mean x and variance x (in
/// the units of X), so the noise is relatively larger for small values. Entries left out of the
/// fit (missing values, stored as 0) draw 0 and stay left out. For sparse X only the stored
/// entries are drawn (an unstored 0 draws 0 anyway); the stored entries that draw 0 are dropped,
/// so the copy stores only positive values, as a sparse X read from a file may.
pub fn poisson(x: &FitMatrix, rng: &mut impl Rng) -> FitMatrix {
    let copy = match x.stored() {
        Stored::Dense(d) => {
            let mut c = Array2::zeros(d.dim());
            // Row-major whatever the layout of `d`, so the draws land on the same entries.
            for (i, row) in d.rows().into_iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    c[[i, j]] = poisson_draw(v, rng);
                }
            }
            FitMatrix::new(c)
        }
        Stored::Dense32(d) => {
            // The draws are whole numbers (exact in f32 below 2^24, which a copy of counts held
            // in f32 stays below almost surely): held in f32 alone like X, when exact.
            let mut c = Array2::zeros(d.dim());
            for (i, row) in d.rows().into_iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    c[[i, j]] = poisson_draw(v as f64, rng);
                }
            }
            FitMatrix::dense_for(c, crate::nmf::Precision::F32)
        }
        Stored::Sparse(s) => {
            let mut c = s.clone();
            c.map_values(|v| poisson_draw(v, rng));
            c.retain(|_, _, v| v > 0.0);
            FitMatrix::sparse(c)
        }
    };
    copy.excluding(x.excluded().cloned(), None)
}

/// The rows of a bootstrap sample of `n` observations: `n` indices drawn uniformly from 0..n with
/// replacement, in draw order.
pub fn bootstrap_rows(n: usize, rng: &mut impl Rng) -> Vec<usize> {
    use rand::RngExt;
    (0..n).map(|_| rng.random_range(0..n)).collect()
}

/// The matrix whose row k is row `rows[k]` of `x` (a bootstrap sample with [`bootstrap_rows`]).
/// X must have no left-out entries (the config refuses "bootstrap" with missing values). A sparse
/// X stays sparse.
pub fn rows_of(x: &FitMatrix, rows: &[usize]) -> FitMatrix {
    match x.stored() {
        Stored::Dense(d) => FitMatrix::new(d.select(Axis(0), rows)),
        Stored::Dense32(d) => FitMatrix::new_f32(d.select(Axis(0), rows)),
        Stored::Sparse(s) => FitMatrix::sparse(s.take_rows(rows)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::fit_rng;
    use crate::sparse::Csr;
    use ndarray::array;

    #[test]
    fn names_round_trip() {
        for (n, v) in Resample::ALL {
            assert_eq!(Resample::from_name(n), Some(v));
            assert_eq!(v.name(), n);
        }
        assert_eq!(Resample::from_name("jackknife"), None);
    }

    #[test]
    fn poisson_copy_is_counts_with_the_data_as_mean() {
        // Non-integer values: the draws are whole numbers whose mean follows X.
        let x = Array2::from_shape_fn((200, 50), |(i, j)| 0.25 + ((i * 7 + j) % 11) as f64 * 1.5);
        let fx = FitMatrix::new(x.clone());
        let c = poisson(&fx, &mut fit_rng(3));
        let Stored::Dense(c) = c.stored() else {
            panic!("dense in, dense out")
        };
        assert!(c.iter().all(|&v| v >= 0.0 && v.fract() == 0.0));
        let (sx, sc) = (x.sum(), c.sum());
        // Sum of 10 000 Poisson draws: sd = sqrt(sum) ≈ 250 on ≈ 76 000.
        assert!((sc - sx).abs() < 6.0 * sx.sqrt(), "{sc} vs {sx}");
        assert!(c.iter().zip(x.iter()).any(|(a, b)| a != b));
        // A pure function of X and the generator.
        let again = poisson(&fx, &mut fit_rng(3));
        let Stored::Dense(again) = again.stored() else {
            panic!("dense")
        };
        assert_eq!(c, again);
        let other = poisson(&fx, &mut fit_rng(4));
        let Stored::Dense(other) = other.stored() else {
            panic!("dense")
        };
        assert_ne!(c, other);
    }

    #[test]
    fn zeros_stay_zero_and_huge_values_stay_finite() {
        let x = array![[0.0, 1e300], [0.0, 2.0]];
        let c = poisson(&FitMatrix::new(x), &mut fit_rng(1));
        let Stored::Dense(c) = c.stored() else { panic!("dense") };
        assert_eq!(c[[0, 0]], 0.0);
        assert_eq!(c[[1, 0]], 0.0);
        assert!(c[[0, 1]].is_finite() && (c[[0, 1]] / 1e300 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn sparse_copy_stays_sparse_and_matches_the_dense_draws() {
        let x = array![[0.0, 0.4, 3.0], [7.0, 0.0, 0.0], [0.1, 0.2, 50.0]];
        let fs = FitMatrix::sparse(Csr::from_dense(x.view()));
        let c = poisson(&fs, &mut fit_rng(9));
        let Stored::Sparse(c) = c.stored() else {
            panic!("sparse in, sparse out")
        };
        assert!(c.nnz() <= 6);
        assert!(c.data().iter().all(|&v| v > 0.0 && v.fract() == 0.0));
        // The draws follow the stored entries in row-major order, as the dense copy's do for
        // its nonzeros (zeros draw nothing): the same generator gives the same copy either way.
        let dense = poisson(&FitMatrix::new(x), &mut fit_rng(9));
        let Stored::Dense(dense) = dense.stored() else {
            panic!("dense")
        };
        assert_eq!(c.to_dense(), dense);
    }

    #[test]
    fn floored_factors_give_a_positive_model() {
        let mut w = array![[0.0, 2.0], [0.0, 0.0]];
        let mut h = array![[0.0, 1.0, 1e-20], [3.0, 0.0, 0.5]];
        floor_factors(&mut w, &mut h);
        assert!(w.dot(&h).iter().all(|&v| v > 0.0));
        assert_eq!(
            (w[[0, 1]], h[[1, 0]], h[[1, 2]]),
            (2.0, 3.0, 0.5),
            "larger entries keep their value"
        );
        assert_eq!(h[[0, 2]], FACTOR_FLOOR);
    }

    #[test]
    fn bootstrap_rows_are_a_sample_with_replacement() {
        let rows = bootstrap_rows(1000, &mut fit_rng(5));
        assert_eq!(rows.len(), 1000);
        assert!(rows.iter().all(|&i| i < 1000));
        let mut distinct = rows.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // About 1 − 1/e ≈ 63.2% of the observations appear in a bootstrap sample.
        assert!((580..680).contains(&distinct.len()), "{}", distinct.len());
        assert_eq!(rows, bootstrap_rows(1000, &mut fit_rng(5)));
    }

    #[test]
    fn rows_of_dense_and_sparse_agree() {
        let x = array![[0.0, 1.0], [2.0, 0.0], [3.0, 4.0]];
        let rows = [2, 0, 2];
        let d = rows_of(&FitMatrix::new(x.clone()), &rows);
        let s = rows_of(&FitMatrix::sparse(Csr::from_dense(x.view())), &rows);
        let (Stored::Dense(d), Stored::Sparse(s)) = (d.stored(), s.stored()) else {
            panic!("kinds kept")
        };
        assert_eq!(d, array![[3.0, 4.0], [0.0, 1.0], [3.0, 4.0]]);
        assert_eq!(s.to_dense(), d);
    }
}
