//! `nnmf-sweep project MODEL_DIR DATA`: new samples scored against the components a finished sweep
//! learned, without refitting. With H (r x p) of the chosen rank (or `--rank`) held fixed, W_new ≥ 0
//! is solved under the sweep's loss and W penalties ([`crate::nmf::project`]); the mirror
//! (`--fix w`) holds the sweep's W fixed and solves H for new features of the same observations.
//!
//! Features (or, for the mirror, observations) are matched by name when both sides have names:
//! reordered and intersected, the model's features missing from the data reported with their
//! share of the components' mass Σ_k h_kj / Σ H; below [`MIN_MASS`] the projection is refused.
//! Without names on both sides they are matched by position, and the counts must be equal.
//! Every check runs before anything is written.

use crate::config::Plan;
use crate::data::{self, DataSpec, Dataset, Format, Matrix};
use crate::error::{Error, Result};
use crate::fsio::{DirLock, LockMode};
use crate::nmf::Loss;
use crate::nmf::loss::Stored;
use crate::nmf::project::{Projection, project_w};
use crate::outdir;
pub use crate::report::projection::{Fixed, Matching, Projected};
use crate::stats::select::Solution;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The least share of the components' mass (Σ H over the matched features / Σ H) the data must
/// cover for a projection: below it the new data shares too little with the model.
pub const MIN_MASS: f64 = 0.5;

/// What `project` is asked to do.
#[derive(Debug, Clone)]
pub struct ProjectOptions {
    /// The finished sweep's output directory.
    pub model_dir: PathBuf,
    /// The new data, as a data spec (path, format, dataset, layer, transpose).
    pub data: DataSpec,
    /// The rank (None: the sweep's chosen rank).
    pub rank: Option<usize>,
    /// Which factor is held fixed.
    pub fix: Fixed,
    /// The output directory.
    pub out: PathBuf,
    /// Overwrite a previous projection in `out`.
    pub force: bool,
}

/// The model read back from a finished sweep.
#[derive(Debug)]
pub struct Model {
    /// The sweep's plan (loss and penalties).
    pub plan: Plan,
    /// The rank used.
    pub rank: usize,
    /// Which solution of the rank is used: the consensus one when the sweep chose it (`[selection]
    /// solution = "consensus"`) and computed it, else the best fit.
    pub solution: Solution,
    /// W (N x r) and H (r x p) of that rank's solution.
    pub w: Array2<f64>,
    /// H (r x p).
    pub h: Array2<f64>,
    /// Observation names of the training data, if it had them.
    pub obs_names: Option<Vec<String>>,
    /// Feature names of the training data, if it had them.
    pub var_names: Option<Vec<String>>,
}

fn model_err(dir: &Path, message: String) -> Error {
    Error::OutputDir {
        path: dir.to_path_buf(),
        message,
    }
}

/// Reads the best fit of `rank` (None: the chosen rank) of the finished sweep in `dir`.
pub fn read_model(dir: &Path, rank: Option<usize>) -> Result<Model> {
    if !dir.join(outdir::RESULTS_H5).exists() {
        return Err(model_err(
            dir,
            format!(
                "holds no finished results ({} is missing): give the output directory of a finished sweep, or run \
                 the sweep (or its merge) first",
                outdir::RESULTS_H5
            ),
        ));
    }
    if !outdir::is_finished(dir) {
        return Err(model_err(
            dir,
            format!(
                "holds a partial result ({} is there): run the missing fits and merge before projecting onto it",
                outdir::PARTIAL_TXT
            ),
        ));
    }
    let (plan, _) = super::plan_of_dir(dir)?;
    let path = dir.join(outdir::RESULTS_H5);
    let h5 = |e: hdf5::Error| Error::hdf5(format!("cannot read {}", path.display()), e);
    let file = hdf5::File::open(&path).map_err(h5)?;
    let chosen: u64 = file.attr("chosen_rank").and_then(|a| a.read_scalar()).map_err(h5)?;
    let ranks: Vec<String> = plan.ranks.iter().map(|r| r.to_string()).collect();
    let rank = match rank {
        Some(r) if plan.ranks.contains(&r) => r,
        Some(r) => {
            return Err(Error::Shard {
                source_name: "--rank".into(),
                message: format!(
                    "{r} is not a rank of the sweep in {} (ranks {})",
                    dir.display(),
                    ranks.join(", ")
                ),
            });
        }
        None if chosen > 0 => chosen as usize,
        None => {
            return Err(Error::Shard {
                source_name: "--rank".into(),
                message: format!(
                    "the sweep in {} chose no rank: name one with --rank (ranks {})",
                    dir.display(),
                    ranks.join(", ")
                ),
            });
        }
    };
    let group = file.group(&format!("rank_{rank}")).map_err(h5)?;
    // The solution the sweep's reports use: the consensus one where it was computed.
    let consensus = plan.selection.solution == Solution::Consensus
        && group.dataset("consensus_W").is_ok()
        && group.dataset("consensus_H").is_ok();
    let (w_name, h_name) = if consensus {
        ("consensus_W", "consensus_H")
    } else {
        ("W", "H")
    };
    let (w, h) = match (group.dataset(w_name), group.dataset(h_name)) {
        (Ok(w), Ok(h)) => (w.read_2d::<f64>().map_err(h5)?, h.read_2d::<f64>().map_err(h5)?),
        _ => {
            return Err(model_err(
                &path,
                format!("rank {rank} has no best fit (every fit of it failed): choose another with --rank"),
            ));
        }
    };
    let names = |name: &str| -> Result<Option<Vec<String>>> {
        match file.dataset(name) {
            Ok(d) => {
                let v = d.read_1d::<hdf5::types::VarLenUnicode>().map_err(h5)?;
                Ok(Some(v.iter().map(|s| s.as_str().to_string()).collect()))
            }
            Err(_) => Ok(None),
        }
    };
    Ok(Model {
        solution: if consensus { Solution::Consensus } else { Solution::Best },
        obs_names: names("obs_names")?,
        var_names: names("var_names")?,
        plan,
        rank,
        w,
        h,
    })
}

/// The positions in `data_names` of the model's entries (None where missing), matched by name.
fn by_name(model: &[String], data_names: &[String]) -> Vec<Option<usize>> {
    let index: HashMap<&str, usize> = data_names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    model.iter().map(|n| index.get(n.as_str()).copied()).collect()
}

/// Matches the model's axis (length `m`, names `model_names`, mass per entry `mass`) with the
/// data's (length `d`, names `data_names`); `what` names the axis ("features" or
/// "observations"). Returns the data position of each model entry and the matching's summary.
fn match_axis(
    m: usize,
    d: usize,
    model_names: Option<&[String]>,
    data_names: Option<&[String]>,
    mass: &[f64],
    what: &str,
    data_path: &Path,
) -> Result<(Vec<Option<usize>>, Matching)> {
    let total: f64 = mass.iter().sum();
    match (model_names, data_names) {
        (Some(mn), Some(dn)) => {
            let pos = by_name(mn, dn);
            let missing: Vec<usize> = (0..m).filter(|&j| pos[j].is_none()).collect();
            let missing_mass = if total > 0.0 {
                missing.iter().map(|&j| mass[j]).sum::<f64>() / total
            } else {
                0.0
            };
            let matched = m - missing.len();
            let matching = Matching {
                by: "name",
                matched,
                missing: missing.iter().take(5).map(|&j| mn[j].clone()).collect(),
                missing_count: missing.len(),
                missing_mass,
                extra_count: d - matched.min(d),
            };
            if 1.0 - missing_mass < MIN_MASS || matched == 0 {
                return Err(Error::DataFile {
                    path: data_path.to_path_buf(),
                    message: format!(
                        "shares too little with the model: {matched} of its {m} {what} are found by name, carrying \
                         {:.1}% of the components' mass (at least {:.0}% is needed); missing e.g. {}: check that the \
                         data names its {what} the same way as the training data",
                        100.0 * (1.0 - missing_mass),
                        100.0 * MIN_MASS,
                        matching.missing.join(", ")
                    ),
                });
            }
            Ok((pos, matching))
        }
        _ if m != d => Err(Error::DataFile {
            path: data_path.to_path_buf(),
            message: format!(
                "has {d} {what}, the model {m}, and they cannot be matched by name ({}); give the data the same {m} \
                 {what} in the same order, or names for them on both sides",
                if model_names.is_none() {
                    "the training data had no names"
                } else {
                    "this data has no names"
                }
            ),
        }),
        _ => Ok((
            (0..m).map(Some).collect(),
            Matching {
                by: "position",
                matched: m,
                missing: Vec::new(),
                missing_count: 0,
                missing_mass: 0.0,
                extra_count: 0,
            },
        )),
    }
}

/// The columns `keep` (data positions, in model order) of X as the rows to solve: X itself with
/// its columns selected (no copy when every column is kept in order).
fn select_columns(x: &Matrix, keep: &[usize]) -> Matrix {
    let identity = keep.len() == x.dim().1 && keep.iter().enumerate().all(|(a, &b)| a == b);
    match x {
        _ if identity => x.clone(),
        Matrix::Dense(d) => Matrix::Dense(d.select(Axis(1), keep)),
        Matrix::Sparse(c) => {
            let rows: Vec<usize> = (0..c.dim().0).collect();
            Matrix::Sparse(c.select(&rows, keep))
        }
    }
}

fn stored(x: &Matrix) -> Stored<'_> {
    match x {
        Matrix::Dense(d) => Stored::Dense(d.view()),
        Matrix::Sparse(c) => Stored::Sparse(c),
    }
}

/// Per row of `x` (N x p) fitted by `w h`: the loss and the fraction explained (1 − loss / loss of
/// the row's own mean).
fn row_fit(x: &Matrix, w: ArrayView2<f64>, h: ArrayView2<f64>, loss: Loss) -> (Vec<f64>, Vec<f64>) {
    let n = w.nrows();
    let dense_row = |i: usize| -> Array1<f64> {
        match x {
            Matrix::Dense(d) => d.row(i).to_owned(),
            Matrix::Sparse(c) => {
                let mut r = Array1::zeros(c.dim().1);
                let (j, v) = c.row(i);
                for (&j, &v) in j.iter().zip(v) {
                    r[j as usize] = v;
                }
                r
            }
        }
    };
    let div = |x: &Array1<f64>, l: &Array1<f64>| -> f64 {
        match loss {
            Loss::Frobenius => x.iter().zip(l).map(|(a, b)| (a - b) * (a - b)).sum(),
            Loss::Kl => x
                .iter()
                .zip(l)
                .map(|(&a, &b)| {
                    if a > 0.0 {
                        a * (a / b.max(f64::MIN_POSITIVE)).ln() - a + b
                    } else {
                        b
                    }
                })
                .sum(),
        }
    };
    let mut losses = Vec::with_capacity(n);
    let mut explained = Vec::with_capacity(n);
    for i in 0..n {
        let xi = dense_row(i);
        let li = w.row(i).dot(&h);
        let mean = xi.mean().unwrap_or(0.0);
        let null = div(&xi, &Array1::from_elem(xi.len(), mean));
        let d = div(&xi, &li);
        losses.push(d);
        explained.push(if null > 0.0 { 1.0 - d / null } else { f64::NAN });
    }
    (losses, explained)
}

/// Checks everything and solves; nothing is written.
pub fn project(opts: &ProjectOptions) -> Result<(Model, Dataset, Projected)> {
    let model = read_model(&opts.model_dir, opts.rank)?;
    let dataset = data::read(&opts.data)?;
    let projected = project_onto(&model, &opts.model_dir, dataset, opts.fix, &opts.data.path)?;
    Ok((model, projected.0, projected.1))
}

/// [`project`] of data already read (a file's, or a matrix held in memory, named `label` in
/// messages) onto `model`, read from `model_dir`: the matching of the shared axis and the solve;
/// hands the dataset back with the projection.
pub fn project_onto(
    model: &Model,
    model_dir: &Path,
    mut dataset: Dataset,
    fix: Fixed,
    label: &Path,
) -> Result<(Dataset, Projected)> {
    if dataset.facts.missing > 0 {
        return Err(Error::DataFile {
            path: label.to_path_buf(),
            message: format!(
                "has {} missing entries; project needs every entry observed: impute or drop them first",
                dataset.facts.missing
            ),
        });
    }
    let loss = model.plan.loss;
    let pen = model.plan.penalty;
    let x = std::mem::replace(&mut dataset.x, Matrix::Dense(Array2::zeros((0, 0))));
    let (n, p) = x.dim();
    // The axis shared with the model: features (H fixed) or observations (W fixed).
    let (shared, in_data, model_names, data_names, mass, what) = match fix {
        Fixed::H => (
            model.h.ncols(),
            p,
            model.var_names.as_deref(),
            dataset.var_names.as_deref(),
            model.h.sum_axis(Axis(0)),
            "features",
        ),
        Fixed::W => (
            model.w.nrows(),
            n,
            model.obs_names.as_deref(),
            dataset.obs_names.as_deref(),
            model.w.sum_axis(Axis(1)),
            "observations",
        ),
    };
    let (pos, matching) = match_axis(shared, in_data, model_names, data_names, &mass.to_vec(), what, label)?;
    let kept: Vec<usize> = (0..pos.len()).filter(|&j| pos[j].is_some()).collect();
    let found: Vec<usize> = kept.iter().filter_map(|&j| pos[j]).collect();
    // The rows to solve (new observations, or new features as rows of Xᵀ) against the fixed
    // basis (r x matched), both in the model's order of the shared axis.
    let (basis, rows, l1, l2, names) = match fix {
        Fixed::H => (
            model.h.select(Axis(1), &kept),
            select_columns(&x, &found),
            pen.l1_w,
            pen.l2_w,
            dataset.obs_names.clone(),
        ),
        Fixed::W => (
            model
                .w
                .select(Axis(0), &kept)
                .reversed_axes()
                .as_standard_layout()
                .to_owned(),
            match &x {
                Matrix::Dense(d) => Matrix::Dense(
                    d.select(Axis(0), &found)
                        .reversed_axes()
                        .as_standard_layout()
                        .to_owned(),
                ),
                Matrix::Sparse(c) => Matrix::Sparse(c.select(&found, &(0..p).collect::<Vec<_>>()).transpose()),
            },
            pen.l1_h,
            pen.l2_h,
            dataset.var_names.clone(),
        ),
    };
    let Projection {
        factor,
        sweeps,
        unconverged,
    } = project_w(stored(&rows), basis.view(), loss, l1, l2, true);
    let (row_loss, explained) = row_fit(&rows, factor.view(), basis.view(), loss);
    let (factor, model_factor) = match fix {
        Fixed::H => (factor, basis),
        // Hᵀ (p_new x r) and Wᵀ back to H (r x p_new) and W (N' x r).
        Fixed::W => (
            factor.reversed_axes().as_standard_layout().to_owned(),
            basis.reversed_axes().as_standard_layout().to_owned(),
        ),
    };
    let projected = Projected {
        factor,
        rank: model.rank,
        loss,
        row_loss,
        explained,
        names,
        matching,
        sweeps,
        unconverged,
        model_factor,
        model_dir: model_dir.to_path_buf(),
        solution: model.solution.name(),
    };
    dataset.x = x;
    Ok((dataset, projected))
}

/// Opens (creating it) and locks the projection's output directory; a previous projection there
/// is refused unless `force`.
pub fn open_out(opts: &ProjectOptions) -> Result<DirLock> {
    let dir = &opts.out;
    std::fs::create_dir_all(dir).map_err(|source| Error::OutputUnwritable {
        dir: dir.clone(),
        source,
    })?;
    let lock = DirLock::acquire(dir, LockMode::Exclusive, "nnmf-sweep project")?;
    if dir.join(outdir::PROJECTION_H5).exists() && !opts.force {
        return Err(Error::OutputExists {
            dir: dir.clone(),
            found: outdir::PROJECTION_H5.to_string(),
        });
    }
    Ok(lock)
}

/// The data spec of a file given on the command line (`format` by its config name).
pub fn data_spec(
    path: PathBuf,
    format: Option<&str>,
    dataset: Option<String>,
    layer: Option<String>,
    transpose: bool,
) -> Result<DataSpec> {
    let format = match format {
        None => Format::Auto,
        Some(f) => Format::ALL
            .iter()
            .find(|(n, _)| *n == f)
            .map(|(_, f)| *f)
            .ok_or_else(|| Error::Shard {
                source_name: "--format".into(),
                message: format!(
                    "unknown format \"{f}\"; use one of {}",
                    Format::ALL
                        .iter()
                        .map(|(n, _)| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?,
    };
    Ok(DataSpec {
        path,
        format,
        dataset: dataset.unwrap_or_default(),
        layer,
        nan_is_missing: false,
        mask: None,
        transpose,
        obs_names: None,
        var_names: None,
        image_shape: None,
        voxel_mask: None,
        memory_limit_mb: 0,
    })
}
