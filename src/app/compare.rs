//! `nnmf-sweep compare`: NMF beside PCA, vector quantization and ICA, the demonstration of Lee &
//! Seung (1999, "Learning the parts of objects by non-negative matrix factorization") and of ESL
//! (Hastie, Tibshirani & Friedman, 2nd ed., §14.6, Fig. 14.33).
//!
//! At each rank r, four rank-r approximations X̂ = weights · basis of X (N x p), with their bases
//! (r x p) and weights (N x r):
//! - **NMF**: the sweep's best fit, X̂ = W H, basis H.
//! - **PCA**: the truncated SVD of X itself, **not centred** (as ESL does for this comparison, so
//!   that all four methods approximate the same matrix with r basis vectors and no mean term):
//!   X̂ = U_r S_r V_rᵀ, basis V_rᵀ, weights the scores U_r S_r. Each axis's sign is fixed so that
//!   its entries sum to ≥ 0 (its scores flipped with it). By Eckart–Young it has the lowest
//!   Frobenius error of any rank-r approximation.
//! - **VQ**: k-means with k = r (linfa-clustering's `KMeans`, k-means++ starts, 10 runs, seeded
//!   from the config seed), X̂ = each row replaced by its centroid, basis the centroids, weights the
//!   one-hot assignments.
//! - **ICA**: *spatial* FastICA (linfa-ica), as in neuroimaging: the independent components are
//!   maps over the p features, so the p columns of X are the samples and the N observations the
//!   dimensions (FastICA of Xᵀ). As FastICA does, each observation (row of X) is centred over its
//!   features and whitened by its r leading singular vectors U_r; this reduction is computed here
//!   ([`Svd::top`], LAPACK or randomized on large X) and FastICA runs on the p x r matrix Xᵀ U_r,
//!   which whitens to the same r dimensions as FastICA of the whole Xᵀ, at O(p·r²) per iteration.
//!   Contrast logcosh (α = 1), symmetric decorrelation, at most [`ICA_MAX_ITER`] iterations, tol
//!   [`ICA_TOL`] (linfa's criterion: max over components of |1 − |⟨w_new, w_old⟩||), starting
//!   matrix seeded from the config seed through its own stream ([`ica_seed`]); a start that does
//!   not converge is followed by the next, up to [`ICA_STARTS`]. The basis rows are the sources
//!   **without the mean removed** (the unmixing applied to Xᵀ U_r itself): in the ICA
//!   model x = A s the sources' mean is the unmixed data mean, and like PCA above the method then
//!   has no separate mean term (centred sources are orthogonal to the constant image and could
//!   not reconstruct any observation's mean level). Each source has unit variance and its sign
//!   makes its skewness ≥ 0 (its heavy tail positive); the weights are the
//!   mixing matrix A = X Sᵀ (S Sᵀ)⁻¹ (least squares of the uncentred X on the basis S), X̂ = A S,
//!   and the components are ordered by ‖a_k‖·‖s_k‖, largest first. Its span is that of the centred
//!   data's top r directions with the means the unmixing gives them, not X's best r-dimensional
//!   subspace, so its error is at least PCA's. When FastICA converges from none of its starts
//!   within its cap, or r exceeds what the data allow (r > min(N, p), or row-centred X of rank
//!   below r), ICA has no approximation at that rank: its compare.tsv values are NaN and a warning
//!   says why.
//!
//! Per (rank, method): the relative Frobenius error ‖X − X̂‖_F / ‖X‖_F, the mean Hoyer (2004)
//! sparseness of the basis vectors, the fraction of basis entries ≥ 0, and the fraction of weight
//! entries ≥ 0.

use crate::error::{Error, Result};
use crate::nmf::init::Svd;
use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use std::fmt::Write;

/// Mixed into the config seed for the k-means stream (so it differs from the fits' streams).
const VQ_STREAM: u64 = 0x5651_4B4D_4541_4E53; // "VQKMEANS"

/// k-means runs from different k-means++ starts; the lowest within-cluster sum of squares wins.
const VQ_RUNS: usize = 10;

/// Mixed into the config seed for FastICA's starting matrix.
const ICA_STREAM: u64 = 0x4943_4146_4153_5449; // "ICAFASTI"

/// FastICA's iteration cap (scikit-learn's default is 200; spatial ICA of images with few pixels
/// can need more).
pub const ICA_MAX_ITER: usize = 1000;

/// FastICA runs from different random starts, tried in turn until one converges (on small p a
/// start can cycle without converging however many iterations it is given).
pub const ICA_STARTS: usize = 10;

/// FastICA's tolerance on linfa's criterion, the largest |1 − |⟨w_new, w_old⟩|| over components
/// (the cosine between a component's unmixing vectors in two successive iterations).
pub const ICA_TOL: f64 = 1e-6;

/// One of the four methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Non-negative matrix factorization (the sweep's best fit).
    Nmf,
    /// Uncentred truncated SVD.
    Pca,
    /// Vector quantization (k-means).
    Vq,
    /// Spatial independent component analysis (FastICA).
    Ica,
}

impl Method {
    /// The name in compare.tsv.
    pub fn name(self) -> &'static str {
        match self {
            Method::Nmf => "nmf",
            Method::Pca => "pca",
            Method::Vq => "vq",
            Method::Ica => "ica",
        }
    }

    /// The heading in the figure.
    pub fn label(self) -> &'static str {
        match self {
            Method::Nmf => "NMF",
            Method::Pca => "PCA (uncentred SVD)",
            Method::Vq => "VQ (k-means centroids)",
            Method::Ica => "ICA (FastICA, spatial)",
        }
    }
}

/// A rank-r approximation: its basis (r x p), its weights (N x r) and the reconstruction X̂ (N x p),
/// weights · basis.
#[derive(Debug, Clone)]
pub struct Approximation {
    /// The method.
    pub method: Method,
    /// Basis vectors as rows (r x p).
    pub basis: Array2<f64>,
    /// Each observation's weights on the basis vectors (N x r): NMF's W, PCA's scores U_r S_r,
    /// VQ's one-hot assignments, ICA's mixing matrix A.
    pub weights: Array2<f64>,
    /// X̂ (N x p).
    pub reconstruction: Array2<f64>,
}

/// What a method gave at one rank: its approximation, or why it has none.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The method's rank-r approximation.
    Fitted(Approximation),
    /// No approximation (ICA only: FastICA did not converge, or the rank is more than it can do).
    Unfitted {
        /// The method.
        method: Method,
        /// Why, in a sentence.
        reason: String,
    },
}

impl Outcome {
    /// The method.
    pub fn method(&self) -> Method {
        match self {
            Outcome::Fitted(a) => a.method,
            Outcome::Unfitted { method, .. } => *method,
        }
    }
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
    /// Fraction of weight entries ≥ 0.
    pub weights_nonnegative_fraction: f64,
}

impl Row {
    /// The row of a method without an approximation at `rank`: every value NaN.
    pub fn unfitted(rank: usize, method: Method) -> Row {
        Row {
            rank,
            method,
            reconstruction_error: f64::NAN,
            basis_sparseness: f64::NAN,
            nonnegative_fraction: f64::NAN,
            weights_nonnegative_fraction: f64::NAN,
        }
    }
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

/// The fraction of entries of `m` (a basis, or weights) that are ≥ 0 (NaN when it has none).
pub fn nonnegative_fraction(m: ArrayView2<f64>) -> f64 {
    if m.is_empty() {
        return f64::NAN;
    }
    m.iter().filter(|v| **v >= 0.0).count() as f64 / m.len() as f64
}

/// ‖X − X̂‖_F / ‖X‖_F (NaN when X = 0).
pub fn relative_error(x: ArrayView2<f64>, xhat: ArrayView2<f64>) -> f64 {
    let num: f64 = x.iter().zip(xhat.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f64 = x.iter().map(|a| a * a).sum();
    if den > 0.0 { (num / den).sqrt() } else { f64::NAN }
}

/// The NMF approximation W H (W: N x r, H: r x p), basis H, weights W.
pub fn nmf(w: ArrayView2<f64>, h: ArrayView2<f64>) -> Approximation {
    Approximation {
        method: Method::Nmf,
        basis: h.to_owned(),
        weights: w.to_owned(),
        reconstruction: w.dot(&h),
    }
}

/// The rank-`r` truncated SVD of X (uncentred), basis Vᵀ_r with each row's sign chosen so that it
/// sums to ≥ 0, weights the scores U_r S_r (flipped with their axes). Fewer than r rows when X has
/// rank below r. None if the SVD fails.
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
        weights: us,
        reconstruction,
    })
}

/// k-means of the rows of X (N x p) with k = `r` (linfa-clustering; k-means++ starts, the best of
/// 10 runs, Lloyd iterations until the centroids move less than 1e-8 or 1000 iterations), seeded
/// by `seed`. The basis is the centroids (r x p), the weights the one-hot assignments (N x r: 1 in
/// each row's cluster); X̂ replaces each row by its centroid.
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
    let mut weights = Array2::zeros((n, r));
    for (i, mut row) in reconstruction.rows_mut().into_iter().enumerate() {
        row.assign(&basis.row(labels[i]));
        weights[[i, labels[i]]] = 1.0;
    }
    Ok(Approximation {
        method: Method::Vq,
        basis,
        weights,
        reconstruction,
    })
}

/// Spatial FastICA of X (N x p) at rank `r` (see the module doc): the r independent sources over
/// the p features (uncentred, unit variance, skewness ≥ 0, largest contribution first) as the
/// basis, the least-squares mixing matrix A as the weights, X̂ = A S. FastICA starts from a
/// random matrix seeded by `seeds[0]`; a run that does not converge within [`ICA_MAX_ITER`]
/// iterations is left for the next seed's. Err with the reason when r exceeds min(N, p) or the
/// rank of X with its rows centred, when no start converges, or when a linear algebra step fails.
pub fn ica(x: ArrayView2<f64>, r: usize, seeds: &[u64]) -> std::result::Result<Approximation, String> {
    fast_ica(x, r, seeds, ICA_MAX_ITER, ICA_TOL)
}

/// [`ica`] with an iteration cap of `max_iter` and tolerance `tol`.
fn fast_ica(
    x: ArrayView2<f64>,
    r: usize,
    seeds: &[u64],
    max_iter: usize,
    tol: f64,
) -> std::result::Result<Approximation, String> {
    use linfa::prelude::{Fit, Predict};
    use linfa_ica::fast_ica::{FastIca, GFunc};

    let (n, p) = x.dim();
    if r == 0 || r > n.min(p) {
        return Err(format!(
            "FastICA finds 1 to min(N, p) = {} components; rank {r} is out of that range",
            n.min(p)
        ));
    }
    // FastICA of Xᵀ centres each of its N dimensions over the p samples (each row of X over its
    // features) and whitens with their r leading singular vectors; the reduction to them is done
    // here, by the same SVD as PCA's.
    let means = x.mean_axis(Axis(1)).ok_or("X has no features")?;
    let centred = &x - &means.view().insert_axis(Axis(1));
    let svd = Svd::top(centred.view(), r).ok_or("the SVD of X with centred rows failed")?;
    let floor = svd.s.first().copied().unwrap_or(0.0) * 1e-10;
    if svd.s.len() < r || svd.s.iter().any(|s| *s <= floor) {
        return Err(format!(
            "X with each row centred over its features has rank below {r}, so FastICA cannot whiten {r} dimensions"
        ));
    }
    let reduced = x.t().dot(&svd.u); // p x r, uncentred
    // linfa 0.8 is built on ndarray 0.16: the data crosses over as a plain vector (one copy).
    let z = ndarray016::Array2::from_shape_vec((p, r), reduced.iter().copied().collect()).map_err(|e| e.to_string())?;
    let data = linfa::DatasetBase::from(z.clone());
    // The uncentred sources: the fitted model's (affine) transform minus its value at 0, i.e. the
    // unmixing applied to the data with their mean kept.
    let sources = |seed: u64, max_iter: usize| -> std::result::Result<ndarray016::Array2<f64>, String> {
        let model = FastIca::params()
            .ncomponents(r)
            .gfunc(GFunc::Logcosh(1.0))
            .max_iter(max_iter)
            .tol(tol)
            .random_state(seed as usize)
            .fit(&data)
            .map_err(|e| e.to_string())?;
        let origin = model.predict(&ndarray016::Array2::<f64>::zeros((1, r)));
        Ok(model.predict(&z) - &origin)
    };
    // linfa does not report convergence: a run stopped by the tolerance at iteration k <= cap
    // stops there again with one more allowed iteration (same seed, same bits), while a run the
    // cap stopped moves on. So the sources are those of a converged run iff the two agree.
    let mut found = None;
    for &seed in seeds {
        let s = sources(seed, max_iter)?;
        if s == sources(seed, max_iter + 1)? {
            found = Some(s);
            break;
        }
    }
    let Some(s016) = found else {
        return Err(format!(
            "FastICA did not converge within {max_iter} iterations (tol {tol:e}) from any of its {} starts",
            seeds.len()
        ));
    };
    let mut basis = Array2::from_shape_fn((r, p), |(k, j)| s016[[j, k]]);
    if basis.iter().any(|v| !v.is_finite()) {
        return Err("FastICA gave non-finite sources".into());
    }
    // Scale (unit variance over the p features) and sign (skewness ≥ 0) of each source.
    for mut row in basis.rows_mut() {
        let mean = row.mean().unwrap_or(0.0);
        let sd = row.var(0.0).sqrt();
        let third: f64 = row.iter().map(|v| (v - mean).powi(3)).sum();
        let factor = if third < 0.0 { -1.0 } else { 1.0 } / if sd > 0.0 { sd } else { 1.0 };
        row.mapv_inplace(|v| v * factor);
    }
    // A = X Sᵀ (S Sᵀ)⁻¹, the least-squares weights of the uncentred X on the sources.
    let gram_inv = crate::linalg::spd_inverse(basis.dot(&basis.t()).view())
        .map_err(|e| format!("the sources' Gram matrix is singular ({e})"))?;
    let weights = x.dot(&basis.t()).dot(&gram_inv);
    let mut order: Vec<usize> = (0..r).collect();
    let size = |k: usize| {
        let a = weights.column(k).iter().map(|v| v * v).sum::<f64>();
        let s = basis.row(k).iter().map(|v| v * v).sum::<f64>();
        (a * s).sqrt()
    };
    order.sort_by(|&a, &b| size(b).total_cmp(&size(a)));
    let basis = basis.select(Axis(0), &order);
    let weights = weights.select(Axis(1), &order);
    let reconstruction = weights.dot(&basis);
    Ok(Approximation {
        method: Method::Ica,
        basis,
        weights,
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

/// The seed of FastICA's starting matrix number `start` at rank `r` for the config's master seed.
pub fn ica_seed(master: u64, r: usize, start: usize) -> u64 {
    crate::rng::fit_seed(master ^ ICA_STREAM, r, start)
}

/// The compare.tsv row of an approximation of X at rank `rank`.
pub fn row(x: ArrayView2<f64>, rank: usize, a: &Approximation) -> Row {
    Row {
        rank,
        method: a.method,
        reconstruction_error: relative_error(x, a.reconstruction.view()),
        basis_sparseness: mean_sparseness(a.basis.view()),
        nonnegative_fraction: nonnegative_fraction(a.basis.view()),
        weights_nonnegative_fraction: nonnegative_fraction(a.weights.view()),
    }
}

/// The compare.tsv row of a method's outcome at rank `rank` (NaN values when it has none).
pub fn outcome_row(x: ArrayView2<f64>, rank: usize, o: &Outcome) -> Row {
    match o {
        Outcome::Fitted(a) => row(x, rank, a),
        Outcome::Unfitted { method, .. } => Row::unfitted(rank, *method),
    }
}

/// The four methods at rank `r`: NMF (from the sweep's best W and H), PCA, VQ and ICA. A failure of
/// PCA's SVD or of the k-means is an error; ICA that does not converge, or cannot have r
/// components, is [`Outcome::Unfitted`].
pub fn approximations(
    x: ArrayView2<f64>,
    w: ArrayView2<f64>,
    h: ArrayView2<f64>,
    r: usize,
    master_seed: u64,
) -> Result<[Outcome; 4]> {
    let failed = |what: &str, why: String| {
        Error::io(
            format!("compare at rank {r}: {what} failed"),
            std::io::Error::other(why),
        )
    };
    let pca = pca(x, r).ok_or_else(|| failed("the SVD", "it did not converge".into()))?;
    let vq = vq(x, r, vq_seed(master_seed, r)).map_err(|e| failed("k-means", e))?;
    let seeds: Vec<u64> = (0..ICA_STARTS).map(|k| ica_seed(master_seed, r, k)).collect();
    let ica = match ica(x, r, &seeds) {
        Ok(a) => Outcome::Fitted(a),
        Err(reason) => Outcome::Unfitted {
            method: Method::Ica,
            reason,
        },
    };
    Ok([
        Outcome::Fitted(nmf(w, h)),
        Outcome::Fitted(pca),
        Outcome::Fitted(vq),
        ica,
    ])
}

/// compare.tsv's header (its columns in order; new columns are added at the end).
pub const COMPARE_HEADER: &str =
    "rank\tmethod\treconstruction_error\tbasis_sparseness\tnonnegative_fraction\tweights_nonnegative_fraction";

/// compare.tsv: a header and one row per (rank, method).
pub fn compare_tsv(rows: &[Row]) -> String {
    let mut t = format!("{COMPARE_HEADER}\n");
    for r in rows {
        let _ = writeln!(
            t,
            "{}\t{}\t{:.6}\t{:.6}\t{:.6}\t{:.6}",
            r.rank,
            r.method.name(),
            r.reconstruction_error,
            r.basis_sparseness,
            r.nonnegative_fraction,
            r.weights_nonnegative_fraction
        );
    }
    t
}

/// What [`write`] found: the rows of compare.tsv, and a warning for every method without an
/// approximation at some rank.
#[derive(Debug, Clone)]
pub struct Compared {
    /// The rows of compare.tsv, in its order.
    pub rows: Vec<Row>,
    /// One sentence per (rank, method) left without an approximation.
    pub warnings: Vec<String>,
}

/// Runs the comparison on a finished sweep: reads X again, compares at every rank with a best fit,
/// and writes compare.tsv and, when observations are images (`[data] image_shape`), the figures
/// compare_rank_<r>.png / .svg (NMF, PCA, VQ and ICA bases side by side) and compare.png / .svg
/// (the chosen rank, or the highest rank when none was chosen) into the plan's output directory.
/// Returns the rows of compare.tsv and the warnings of methods left without an approximation.
pub fn write(plan: &crate::config::Plan, results: &super::Results) -> Result<Compared> {
    let data = crate::data::read(&plan.data)?;
    if data.facts.missing > 0 {
        return Err(Error::Data {
            path: plan.data.path.clone(),
            dataset: data.provenance.dataset.clone(),
            message: format!(
                "has {} missing values; compare needs complete data (PCA, k-means and ICA have no missing-value form here)",
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
    let mut warnings = Vec::new();
    let none = Array2::<f64>::zeros((0, x.ncols()));
    for s in ranks {
        let Some((_, w, h)) = &s.best else { continue };
        let outcomes = approximations(x.view(), w.view(), h.view(), s.rank, plan.seed)?;
        let these: Vec<Row> = outcomes.iter().map(|o| outcome_row(x.view(), s.rank, o)).collect();
        for o in &outcomes {
            if let Outcome::Unfitted { method, reason } = o {
                warnings.push(format!(
                    "compare at rank {}: no {} approximation ({} values NaN in compare.tsv): {reason}",
                    s.rank,
                    method.label(),
                    method.name()
                ));
            }
        }
        if let Some(shape) = plan.data.image_shape {
            let notes: Vec<String> = outcomes
                .iter()
                .zip(&these)
                .map(|(o, r)| match o {
                    Outcome::Fitted(_) => format!(
                        "error {:.3}, sparseness {:.2}, ≥ 0: basis {:.0}%, weights {:.0}%",
                        r.reconstruction_error,
                        r.basis_sparseness,
                        100.0 * r.nonnegative_fraction,
                        100.0 * r.weights_nonnegative_fraction
                    ),
                    Outcome::Unfitted { .. } => "not fitted (see the warning)".to_string(),
                })
                .collect();
            let panels: Vec<crate::report::montage::Panel> = outcomes
                .iter()
                .zip(&notes)
                .map(|(o, note)| crate::report::montage::Panel {
                    title: o.method().label(),
                    note,
                    basis: match o {
                        Outcome::Fitted(a) => a.basis.view(),
                        Outcome::Unfitted { .. } => none.view(),
                    },
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
        if let Some(v) = data.volumes.as_deref().filter(|v| !v.voxels_are_rows) {
            let stems = [
                (crate::outdir::COMPARE_RANK.stem(s.rank), true),
                (crate::outdir::COMPARE.stem(0), shown == Some(s.rank)),
            ];
            for (stem, wanted) in stems {
                if wanted {
                    compare_volumes(&plan.out_dir, &stem, s.rank, v, &outcomes, &these)?;
                }
            }
        }
        rows.extend(these);
    }
    crate::fsio::write_atomic(&plan.out_dir.join(crate::outdir::COMPARE_TSV), &compare_tsv(&rows))?;
    Ok(Compared { rows, warnings })
}

/// The bases of every method at one rank, each basis vector put back into the voxel mask and
/// drawn as three orthogonal slices through its peak over the mean image (NIfTI input).
fn compare_volumes(
    dir: &std::path::Path,
    stem: &str,
    rank: usize,
    v: &crate::data::Volumes,
    outcomes: &[Outcome],
    rows: &[Row],
) -> Result<()> {
    let mut maps = Vec::new();
    let mut notes = Vec::new();
    for (o, row) in outcomes.iter().zip(rows) {
        let Outcome::Fitted(a) = o else { continue };
        let name = a.method.name().to_uppercase();
        notes.push(format!("{name} {:.0}%", 100.0 * row.weights_nonnegative_fraction));
        for (k, (_, map)) in crate::report::volumes::maps_of(v, a.basis.view(), "")
            .into_iter()
            .enumerate()
        {
            maps.push((format!("{name} {}", k + 1), map));
        }
    }
    let title = format!(
        "Rank {rank}: the bases as volumes; weights ≥ 0: {} (compare.tsv)",
        notes.join(", ")
    );
    crate::report::volumes::draw_maps(dir, stem, &title, &maps, v)
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
        let rows = [
            Row {
                rank: 3,
                method: Method::Pca,
                reconstruction_error: 0.25,
                basis_sparseness: 0.5,
                nonnegative_fraction: 0.75,
                weights_nonnegative_fraction: 0.125,
            },
            Row::unfitted(3, Method::Ica),
        ];
        assert_eq!(
            compare_tsv(&rows),
            "rank\tmethod\treconstruction_error\tbasis_sparseness\tnonnegative_fraction\tweights_nonnegative_fraction\n\
             3\tpca\t0.250000\t0.500000\t0.750000\t0.125000\n\
             3\tica\tNaN\tNaN\tNaN\tNaN\n"
        );
    }

    #[test]
    fn weights_and_their_nonnegative_fraction_on_tiny_matrices() {
        // PCA: singular values 2 and 1, axes e1 and e2 (each summing to 1 ≥ 0, kept); the scores
        // U S are X's columns' images, one of them negative: 3 of 4 entries ≥ 0.
        let x = array![[2.0, 0.0], [0.0, -1.0]];
        let p = pca(x.view(), 2).unwrap();
        assert!(
            p.basis.abs_diff_eq(&array![[1.0, 0.0], [0.0, 1.0]], 1e-12),
            "{:?}",
            p.basis
        );
        assert!(
            p.weights.abs_diff_eq(&array![[2.0, 0.0], [0.0, -1.0]], 1e-12),
            "{:?}",
            p.weights
        );
        assert_eq!(nonnegative_fraction(p.weights.view()), 0.75);
        let r = row(x.view(), 2, &p);
        assert_eq!((r.nonnegative_fraction, r.weights_nonnegative_fraction), (1.0, 0.75));
        assert!(p.weights.dot(&p.basis).abs_diff_eq(&p.reconstruction, 1e-15));
        // NMF: W itself.
        let a = nmf(array![[1.0], [0.5]].view(), array![[3.0, 0.0]].view());
        assert_eq!(a.weights, array![[1.0], [0.5]]);
        assert_eq!(row(x.view(), 1, &a).weights_nonnegative_fraction, 1.0);
        // VQ: one-hot assignments, the two rows of each tight cluster together.
        let x = array![[0.0, 1.0], [0.0, 3.0], [10.0, 0.0], [10.0, 0.0]];
        let v = vq(x.view(), 2, 7).unwrap();
        assert!(
            v.weights
                .rows()
                .into_iter()
                .all(|w| w.sum() == 1.0 && w.iter().all(|e| *e == 0.0 || *e == 1.0))
        );
        assert_eq!(v.weights.row(0), v.weights.row(1));
        assert_eq!(v.weights.row(2), v.weights.row(3));
        assert_ne!(v.weights.row(0), v.weights.row(2));
        assert_eq!(row(x.view(), 2, &v).weights_nonnegative_fraction, 1.0);
        assert!(v.weights.dot(&v.basis).abs_diff_eq(&v.reconstruction, 0.0));
    }

    /// X (8 x 3000) mixing three independent non-Gaussian sources over 3000 features: Laplace,
    /// exponential (skewed) and uniform (sub-Gaussian); returns X and the sources (3 x 3000).
    fn planted_mixture() -> (Array2<f64>, Array2<f64>) {
        use rand::RngExt;
        use rand_distr::{Distribution, Exp};
        let mut rng = crate::rng::fit_rng(42);
        let p = 3000;
        let mut s = Array2::zeros((3, p));
        for j in 0..p {
            let u: f64 = rng.random::<f64>() - 0.5;
            s[[0, j]] = -u.signum() * (1.0 - 2.0 * u.abs()).ln(); // Laplace
            s[[1, j]] = Exp::new(1.0).unwrap().sample(&mut rng);
            s[[2, j]] = rng.random::<f64>();
        }
        let a = Array2::from_shape_fn((8, 3), |_| rng.random::<f64>() * 2.0 - 0.5);
        (a.dot(&s), s)
    }

    fn correlation(a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
        let (ma, mb) = (a.mean().unwrap(), b.mean().unwrap());
        let cov: f64 = a.iter().zip(b.iter()).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma) * (x - ma)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb) * (y - mb)).sum();
        cov / (va * vb).sqrt()
    }

    #[test]
    fn ica_recovers_planted_independent_sources() {
        let (x, s) = planted_mixture();
        let a = ica(x.view(), 3, &[5]).unwrap();
        assert_eq!((a.basis.dim(), a.weights.dim()), ((3, 3000), (8, 3)));
        // Best matching of the 3 found components to the 3 sources (all 6 permutations).
        let c = Array2::from_shape_fn((3, 3), |(i, k)| correlation(s.row(i), a.basis.row(k)));
        let perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
        let best = perms
            .iter()
            .max_by(|p, q| {
                let f = |m: &[usize; 3]| (0..3).map(|i| c[[i, m[i]]].abs()).sum::<f64>();
                f(p).total_cmp(&f(q))
            })
            .unwrap();
        for (i, &k) in best.iter().enumerate() {
            assert!(
                c[[i, k]].abs() >= 0.95,
                "source {i}: |correlation| {} ({c:?})",
                c[[i, k]]
            );
        }
        // The exponential source is skewed: the sign convention makes it positive.
        assert!(c[[1, best[1]]] > 0.95, "{c:?}");
        // Unit variance, and X is rank 3 in the sources' span: reconstructed exactly.
        for row in a.basis.rows() {
            let v = row.var(0.0);
            assert!((v - 1.0).abs() < 1e-6, "variance {v}");
        }
        assert!(relative_error(x.view(), a.reconstruction.view()) < 1e-10);
        assert!(a.weights.dot(&a.basis).abs_diff_eq(&a.reconstruction, 0.0));
        eprintln!(
            "ICA recovery |correlation| per source: {:?}",
            best.iter().enumerate().map(|(i, &k)| c[[i, k]]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn ica_is_reproducible_and_refuses_what_it_cannot_do() {
        let (x, _) = planted_mixture();
        let a = ica(x.view(), 3, &[9]).unwrap();
        let b = ica(x.view(), 3, &[9]).unwrap();
        assert_eq!(a.basis, b.basis, "same seed, same bits");
        assert_eq!(a.weights, b.weights);
        assert_eq!(ica_seed(1, 3, 0), ica_seed(1, 3, 0));
        assert_ne!(ica_seed(1, 3, 0), vq_seed(1, 3), "a stream of its own");
        assert_ne!(ica_seed(1, 3, 0), ica_seed(1, 3, 1));
        // More components than observations (N = 8), or than the centred data's rank (3).
        let e = ica(x.view(), 9, &[9]).unwrap_err();
        assert!(e.contains("min(N, p) = 8") && e.contains("rank 9"), "{e}");
        let e = ica(x.view(), 4, &[9]).unwrap_err();
        assert!(e.contains("rank below 4"), "{e}");
        // One iteration is not enough to converge: reported, not returned.
        let e = fast_ica(x.view(), 3, &[9, 10], 1, ICA_TOL).unwrap_err();
        assert!(
            e.contains("did not converge within 1 iterations (tol 1e-6) from any of its 2 starts"),
            "{e}"
        );
    }
}
