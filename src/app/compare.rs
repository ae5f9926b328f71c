//! `nnmf-sweep compare`: NMF beside PCA and vector quantization, the demonstration of Lee & Seung
//! (1999, "Learning the parts of objects by non-negative matrix factorization") and of ESL
//! (Hastie, Tibshirani & Friedman, 2nd ed., §14.6, Fig. 14.33).
//!
//! At each rank r, three rank-r approximations of X (N x p) and their bases (r x p):
//! - **NMF**: the sweep's best fit, X̂ = W H, basis H.
//! - **PCA**: the truncated SVD of X itself, **not centred** (as ESL does for this comparison, so
//!   that all three methods approximate the same matrix with r basis vectors and no mean term):
//!   X̂ = U_r S_r V_rᵀ, basis V_rᵀ. Each axis's sign is fixed so that its entries sum to ≥ 0. By
//!   Eckart–Young it has the lowest Frobenius error of any rank-r approximation.
//! - **VQ**: k-means with k = r (linfa-clustering's `KMeans`, k-means++ starts, 10 runs, seeded
//!   from the config seed), X̂ = each row replaced by its centroid, basis the centroids.
//!
//! Per (rank, method): the relative Frobenius error ‖X − X̂‖_F / ‖X‖_F, the mean Hoyer (2004)
//! sparseness of the basis vectors, and the fraction of basis entries ≥ 0.

use crate::error::{Error, Result};
use crate::nmf::init::Svd;
use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use std::fmt::Write;

/// Mixed into the config seed for the k-means stream (so it differs from the fits' streams).
const VQ_STREAM: u64 = 0x5651_4B4D_4541_4E53; // "VQKMEANS"

/// k-means runs from different k-means++ starts; the lowest within-cluster sum of squares wins.
const VQ_RUNS: usize = 10;

/// One of the three methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Non-negative matrix factorization (the sweep's best fit).
    Nmf,
    /// Uncentred truncated SVD.
    Pca,
    /// Vector quantization (k-means).
    Vq,
}

impl Method {
    /// The name in compare.tsv.
    pub fn name(self) -> &'static str {
        match self {
            Method::Nmf => "nmf",
            Method::Pca => "pca",
            Method::Vq => "vq",
        }
    }

    /// The heading in the figure.
    pub fn label(self) -> &'static str {
        match self {
            Method::Nmf => "NMF",
            Method::Pca => "PCA (uncentred SVD)",
            Method::Vq => "VQ (k-means centroids)",
        }
    }
}

/// A rank-r approximation: its basis (r x p) and the reconstruction X̂ (N x p).
#[derive(Debug, Clone)]
pub struct Approximation {
    /// The method.
    pub method: Method,
    /// Basis vectors as rows (r x p).
    pub basis: Array2<f64>,
    /// X̂ (N x p).
    pub reconstruction: Array2<f64>,
}

/// One row of compare.tsv.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Rank r.
    pub rank: usize,
    /// The method.
    pub method: Method,
    /// ‖X − X̂‖_F / ‖X‖_F.
    pub reconstruction_error: f64,
    /// Mean Hoyer sparseness of the basis vectors (NaN when every vector is 0).
    pub basis_sparseness: f64,
    /// Fraction of basis entries ≥ 0.
    pub nonnegative_fraction: f64,
}

/// Hoyer's (2004) sparseness of `v` (n entries): (√n − ‖v‖₁/‖v‖₂) / (√n − 1), 1 for a vector with
/// one nonzero entry, 0 for one whose entries all have the same magnitude. None when it is
/// undefined: v = 0, or n < 2.
pub fn hoyer(v: ArrayView1<f64>) -> Option<f64> {
    let n = v.len();
    let l2 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if n < 2 || l2 <= 0.0 {
        return None;
    }
    let l1 = v.iter().map(|x| x.abs()).sum::<f64>();
    let root = (n as f64).sqrt();
    Some((root - l1 / l2) / (root - 1.0))
}

/// The mean Hoyer sparseness of the rows of `basis` that have one (NaN if none has).
pub fn mean_sparseness(basis: ArrayView2<f64>) -> f64 {
    let values: Vec<f64> = basis.rows().into_iter().filter_map(hoyer).collect();
    if values.is_empty() {
        f64::NAN
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// The fraction of entries of `basis` that are ≥ 0.
pub fn nonnegative_fraction(basis: ArrayView2<f64>) -> f64 {
    if basis.is_empty() {
        return f64::NAN;
    }
    basis.iter().filter(|v| **v >= 0.0).count() as f64 / basis.len() as f64
}

/// ‖X − X̂‖_F / ‖X‖_F (NaN when X = 0).
pub fn relative_error(x: ArrayView2<f64>, xhat: ArrayView2<f64>) -> f64 {
    let num: f64 = x.iter().zip(xhat.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f64 = x.iter().map(|a| a * a).sum();
    if den > 0.0 { (num / den).sqrt() } else { f64::NAN }
}

/// The NMF approximation W H (W: N x r, H: r x p), basis H.
pub fn nmf(w: ArrayView2<f64>, h: ArrayView2<f64>) -> Approximation {
    Approximation {
        method: Method::Nmf,
        basis: h.to_owned(),
        reconstruction: w.dot(&h),
    }
}

/// The rank-`r` truncated SVD of X (uncentred), basis Vᵀ_r with each row's sign chosen so that it
/// sums to ≥ 0. Fewer than r rows when X has rank below r. None if LAPACK fails.
pub fn pca(x: ArrayView2<f64>, r: usize) -> Option<Approximation> {
    let svd = Svd::top(x, r)?;
    let (mut u, mut vt) = (svd.u, svd.vt);
    for (k, mut row) in vt.axis_iter_mut(Axis(0)).enumerate() {
        if row.sum() < 0.0 {
            row.mapv_inplace(|v| -v);
            u.column_mut(k).mapv_inplace(|v| -v);
        }
    }
    let mut us = u;
    for (k, mut col) in us.axis_iter_mut(Axis(1)).enumerate() {
        col.mapv_inplace(|v| v * svd.s[k]);
    }
    let reconstruction = us.dot(&vt);
    Some(Approximation {
        method: Method::Pca,
        basis: vt,
        reconstruction,
    })
}

/// k-means of the rows of X (N x p) with k = `r` (linfa-clustering; k-means++ starts, the best of
/// 10 runs, Lloyd iterations until the centroids move less than 1e-8 or 1000 iterations), seeded
/// by `seed`. The basis is the centroids (r x p); X̂ replaces each row by its centroid.
pub fn vq(x: ArrayView2<f64>, r: usize, seed: u64) -> std::result::Result<Approximation, String> {
    use linfa::prelude::{Fit, Predict};
    use linfa_clustering::KMeans;
    use rand_xoshiro::Xoshiro256Plus;
    use rand_xoshiro::rand_core::SeedableRng;

    let (n, p) = x.dim();
    if r > n {
        return Err(format!("k-means needs at least k = {r} observations; X has {n}"));
    }
    // linfa 0.8 is built on ndarray 0.16: the data crosses over as a plain vector (one copy).
    let records = ndarray016::Array2::from_shape_vec((n, p), x.iter().copied().collect()).map_err(|e| e.to_string())?;
    let data = linfa::DatasetBase::from(records.clone());
    let model = KMeans::params_with_rng(r, Xoshiro256Plus::seed_from_u64(seed))
        .n_runs(VQ_RUNS)
        .tolerance(1e-8)
        .max_n_iterations(1000)
        .fit(&data)
        .map_err(|e| e.to_string())?;
    let labels: ndarray016::Array1<usize> = model.predict(&records);
    let c = model.centroids();
    let basis = Array2::from_shape_fn((r, p), |(k, j)| c[[k, j]]);
    let mut reconstruction = Array2::zeros((n, p));
    for (i, mut row) in reconstruction.rows_mut().into_iter().enumerate() {
        row.assign(&basis.row(labels[i]));
    }
    Ok(Approximation {
        method: Method::Vq,
        basis,
        reconstruction,
    })
}

/// Refuses ranks above N, the observations of X (N x p): vector quantization is k-means of the
/// rows with k = r, which needs r rows at least (the sweep itself allows ranks up to max(N, p)).
/// The error names `sweep.ranks` and its line.
pub fn check_ranks(plan: &crate::config::Plan, n: usize) -> Result<()> {
    match plan.ranks.iter().find(|&&r| r > n) {
        None => Ok(()),
        Some(r) => Err(Error::ConfigValue {
            path: plan.config_path.clone(),
            line: plan.ranks_line,
            key: "sweep.ranks".into(),
            message: format!(
                "rank {r} is larger than the {n} observations (rows of X); compare's vector quantization is k-means \
                 with k = r, which needs at least r observations: use ranks of at most {n} with compare"
            ),
        }),
    }
}

/// The seed of the k-means at rank `r` for the config's master seed.
pub fn vq_seed(master: u64, r: usize) -> u64 {
    crate::rng::fit_seed(master ^ VQ_STREAM, r, 0)
}

/// The compare.tsv row of an approximation of X at rank `rank`.
pub fn row(x: ArrayView2<f64>, rank: usize, a: &Approximation) -> Row {
    Row {
        rank,
        method: a.method,
        reconstruction_error: relative_error(x, a.reconstruction.view()),
        basis_sparseness: mean_sparseness(a.basis.view()),
        nonnegative_fraction: nonnegative_fraction(a.basis.view()),
    }
}

/// The three approximations of X at rank `r`: NMF (from the sweep's best W and H), PCA, VQ.
pub fn approximations(
    x: ArrayView2<f64>,
    w: ArrayView2<f64>,
    h: ArrayView2<f64>,
    r: usize,
    master_seed: u64,
) -> Result<[Approximation; 3]> {
    let failed = |what: &str, why: String| {
        Error::io(
            format!("compare at rank {r}: {what} failed"),
            std::io::Error::other(why),
        )
    };
    let pca = pca(x, r).ok_or_else(|| failed("the SVD", "LAPACK gesdd did not converge".into()))?;
    let vq = vq(x, r, vq_seed(master_seed, r)).map_err(|e| failed("k-means", e))?;
    Ok([nmf(w, h), pca, vq])
}

/// compare.tsv: a header and one row per (rank, method).
pub fn compare_tsv(rows: &[Row]) -> String {
    let mut t = String::from("rank\tmethod\treconstruction_error\tbasis_sparseness\tnonnegative_fraction\n");
    for r in rows {
        let _ = writeln!(
            t,
            "{}\t{}\t{:.6}\t{:.6}\t{:.6}",
            r.rank,
            r.method.name(),
            r.reconstruction_error,
            r.basis_sparseness,
            r.nonnegative_fraction
        );
    }
    t
}

/// Runs the comparison on a finished sweep: reads X again, compares at every rank with a best fit,
/// and writes compare.tsv and, when observations are images (`[data] image_shape`), the figures
/// compare_rank_<r>.png / .svg (NMF, PCA and VQ bases side by side) and compare.png / .svg (the
/// chosen rank, or the highest rank when none was chosen) into the plan's output directory.
/// Returns the rows of compare.tsv.
pub fn write(plan: &crate::config::Plan, results: &super::Results) -> Result<Vec<Row>> {
    let data = crate::data::read(&plan.data)?;
    if data.facts.missing > 0 {
        return Err(Error::Data {
            path: plan.data.path.clone(),
            dataset: data.provenance.dataset.clone(),
            message: format!(
                "has {} missing values; compare needs complete data (PCA and k-means have no missing-value form here)",
                data.facts.missing
            ),
        });
    }
    check_ranks(plan, data.facts.shape.0)?;
    let x = data.x.to_dense();
    let ranks = &results.collected.ranks;
    let shown = results
        .decision
        .chosen
        .or_else(|| ranks.iter().filter(|s| s.best.is_some()).map(|s| s.rank).max());
    let mut rows = Vec::new();
    for s in ranks {
        let Some((_, w, h)) = &s.best else { continue };
        let approx = approximations(x.view(), w.view(), h.view(), s.rank, plan.seed)?;
        let these: Vec<Row> = approx.iter().map(|a| row(x.view(), s.rank, a)).collect();
        if let Some(shape) = plan.data.image_shape {
            let notes: Vec<String> = these
                .iter()
                .map(|r| {
                    format!(
                        "error {:.3}, sparseness {:.2}, ≥ 0: {:.0}%",
                        r.reconstruction_error,
                        r.basis_sparseness,
                        100.0 * r.nonnegative_fraction
                    )
                })
                .collect();
            let panels: Vec<crate::report::montage::Panel> = approx
                .iter()
                .zip(&notes)
                .map(|(a, note)| crate::report::montage::Panel {
                    title: a.method.label(),
                    note,
                    basis: a.basis.view(),
                })
                .collect();
            let title = format!(
                "Rank {}: bases as images (white 0, black positive, red negative; each tile scaled to its largest |value|)",
                s.rank
            );
            let dims = (shape.height, shape.width);
            let dir = &plan.out_dir;
            crate::report::montage::write_montages(
                dir,
                &crate::outdir::COMPARE_RANK.stem(s.rank),
                &title,
                &panels,
                dims,
            )?;
            if shown == Some(s.rank) {
                crate::report::montage::write_montages(dir, &crate::outdir::COMPARE.stem(0), &title, &panels, dims)?;
            }
        }
        rows.extend(these);
    }
    crate::fsio::write_atomic(&plan.out_dir.join(crate::outdir::COMPARE_TSV), &compare_tsv(&rows))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ndarray::{Array1, array};

    #[test]
    fn hoyer_sparseness_values() {
        // One nonzero entry: 1; all entries of one magnitude: 0, whatever their signs.
        assert_eq!(hoyer(array![0.0, 0.0, 3.0, 0.0].view()), Some(1.0));
        assert!(hoyer(array![1.0, -1.0, 1.0, -1.0].view()).unwrap().abs() < 1e-15);
        // n = 4, v = (1, 1, 0, 0): (2 − 2/√2)/(2 − 1) = 2 − √2.
        let v = hoyer(array![1.0, 1.0, 0.0, 0.0].view()).unwrap();
        assert!((v - (2.0 - 2f64.sqrt())).abs() < 1e-15, "{v}");
        // Scale-invariant.
        assert_eq!(
            hoyer(array![3.0, 1.0, 0.5].view()),
            hoyer(array![30.0, 10.0, 5.0].view())
        );
        assert_eq!(hoyer(Array1::<f64>::zeros(5).view()), None);
        assert_eq!(hoyer(array![2.0].view()), None);
        let b = array![[0.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]];
        let m = mean_sparseness(b.view());
        assert!((m - (1.0 + 2.0 - 2f64.sqrt()) / 2.0).abs() < 1e-15, "{m}");
        assert_eq!(nonnegative_fraction(array![[1.0, -1.0], [0.0, -0.5]].view()), 0.5);
    }

    #[test]
    fn reconstruction_errors_on_tiny_matrices() {
        let x = array![[3.0, 0.0], [0.0, 4.0]];
        assert_eq!(relative_error(x.view(), x.view()), 0.0);
        assert_eq!(relative_error(x.view(), Array2::zeros((2, 2)).view()), 1.0);
        // Rank 1 keeps the larger singular value: error 3/5.
        let p = pca(x.view(), 1).unwrap();
        assert!((relative_error(x.view(), p.reconstruction.view()) - 0.6).abs() < 1e-12);
        assert!(p.basis.iter().all(|v| *v >= 0.0), "sign fixed: {:?}", p.basis);
        // Rank 2 is exact.
        let p = pca(x.view(), 2).unwrap();
        assert!(relative_error(x.view(), p.reconstruction.view()) < 1e-12);
        // NMF: W H.
        let a = nmf(array![[1.0], [0.0]].view(), array![[3.0, 0.0]].view());
        assert!((relative_error(x.view(), a.reconstruction.view()) - 0.8).abs() < 1e-15);
        // VQ: two tight clusters; each row replaced by its cluster's mean.
        let x = array![[0.0, 1.0], [0.0, 3.0], [10.0, 0.0], [10.0, 0.0]];
        let v = vq(x.view(), 2, 7).unwrap();
        let expect = array![[0.0, 2.0], [0.0, 2.0], [10.0, 0.0], [10.0, 0.0]];
        // (linfa updates centroids as running means: equal to about 1e-9, not to the bit)
        assert!(v.reconstruction.abs_diff_eq(&expect, 1e-6), "{:?}", v.reconstruction);
        let err = relative_error(x.view(), v.reconstruction.view());
        assert!((err - (2.0 / 210.0f64).sqrt()).abs() < 1e-6, "{err}");
        assert!(vq(x.view(), 5, 7).is_err());
        assert_eq!(vq(x.view(), 2, 7).unwrap().basis, v.basis, "seeded: same result");
    }

    #[test]
    fn tsv_has_one_row_per_rank_and_method() {
        let rows = [Row {
            rank: 3,
            method: Method::Pca,
            reconstruction_error: 0.25,
            basis_sparseness: 0.5,
            nonnegative_fraction: 0.75,
        }];
        assert_eq!(
            compare_tsv(&rows),
            "rank\tmethod\treconstruction_error\tbasis_sparseness\tnonnegative_fraction\n\
             3\tpca\t0.250000\t0.500000\t0.750000\n"
        );
    }
}
