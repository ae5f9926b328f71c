//! The config file as written (serde). Values that need a line number in error messages are
//! `Spanned`. Unknown keys are errors (`deny_unknown_fields`).

use serde::Deserialize;
use toml::Spanned;

/// The whole config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[data]`: the input matrix.
    pub data: Option<Spanned<RawData>>,
    /// `[model]`: loss, solver, initialization.
    #[serde(default)]
    pub model: RawModel,
    /// `[sweep]`: ranks, restarts, seed.
    pub sweep: Option<Spanned<RawSweep>>,
    /// `[stop]`: when a fit stops.
    #[serde(default)]
    pub stop: RawStop,
    /// `[output]`: where results go.
    #[serde(default)]
    pub output: RawOutput,
    /// `[run]`: threads.
    #[serde(default)]
    pub run: RawRun,
    /// `[selection]`: rank-selection statistics and rule.
    #[serde(default)]
    pub selection: RawSelection,
    /// `[report]`: extra outputs (matching a reference catalogue).
    #[serde(default)]
    pub report: RawReport,
}

/// `[report]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    /// Reference catalogue (TSV: features x signatures), relative to the config file's folder.
    pub reference: Option<Spanned<String>>,
}

/// `[selection]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelection {
    /// "default", "cophenetic" or "heldout".
    pub rule: Option<Spanned<String>>,
    /// Memory limit (MiB) for the N x N consensus statistics.
    pub consensus_max_mb: Option<Spanned<i64>>,
    /// Fraction of entries held out per cross-validation repeat.
    pub heldout_fraction: Option<Spanned<f64>>,
    /// Cross-validation repeats per rank (0: no held-out likelihood).
    pub heldout_repeats: Option<Spanned<i64>>,
    /// Restarts per rank on column-permuted data (0: no null baseline).
    pub null_restarts: Option<Spanned<i64>>,
    /// "best" or "consensus": the solution the memberships tables use.
    pub solution: Option<Spanned<String>>,
}

/// `[data]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    /// Data file, relative to the config file's folder.
    pub path: Option<Spanned<String>>,
    /// "auto" (default), "hdf5", "csr", "csc", "h5ad", "10x", "mtx", "csv", "tsv" or "nifti".
    pub format: Option<Spanned<String>>,
    /// Path of the matrix (2-D dataset or sparse group) inside an HDF5 file.
    pub dataset: Option<Spanned<String>>,
    /// AnnData layer to read instead of X.
    pub layer: Option<Spanned<String>>,
    /// "error" (NaN entries are an error) or "nan" (NaN entries are missing values).
    pub missing: Option<Spanned<String>>,
    /// Dataset of the same shape as the matrix: 0 marks a missing entry.
    pub mask: Option<Spanned<String>>,
    /// True when the file stores observations as columns.
    #[serde(default)]
    pub transpose: bool,
    /// 1-D string dataset with the observations' names (N of them).
    pub obs_names: Option<Spanned<String>>,
    /// 1-D string dataset with the features' names (p of them).
    pub var_names: Option<Spanned<String>>,
    /// `[height, width]`: each observation (row of X) is an image of this shape (row-major).
    pub image_shape: Option<Spanned<Vec<i64>>>,
    /// NIfTI input: a 3-D mask file (relative to the config file's folder) whose non-zero voxels
    /// are the features, or "nonzero" (the default: voxels non-zero in some volume).
    pub voxel_mask: Option<Spanned<String>>,
}

/// `[model]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// "kl" (default) or "frobenius".
    pub loss: Option<Spanned<String>>,
    /// "mu" (default).
    pub solver: Option<Spanned<String>>,
    /// "random" (default).
    pub init: Option<Spanned<String>>,
    /// "f64" (default) or "f32".
    pub precision: Option<Spanned<String>>,
    /// L1 penalty weight on W.
    pub l1_w: Option<Spanned<f64>>,
    /// L1 penalty weight on H.
    pub l1_h: Option<Spanned<f64>>,
    /// L2 penalty weight on W.
    pub l2_w: Option<Spanned<f64>>,
    /// L2 penalty weight on H.
    pub l2_h: Option<Spanned<f64>>,
}

/// `[sweep]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSweep {
    /// Ranks to fit.
    pub ranks: Option<Spanned<Vec<i64>>>,
    /// Random restarts per rank.
    pub restarts: Option<Spanned<i64>>,
    /// Master seed.
    pub seed: Option<Spanned<i64>>,
    /// What each restart fits: "none" (X, default) or "poisson" (a Poisson draw of X).
    pub resample: Option<Spanned<String>>,
}

/// `[stop]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStop {
    /// Iteration cap.
    pub max_iter: Option<Spanned<i64>>,
    /// Relative-decrease tolerance.
    pub tol: Option<Spanned<f64>>,
    /// Objective evaluated every this many iterations.
    pub check_every: Option<Spanned<i64>>,
    /// Convergence rule: "gap", "decrease" or "assignment".
    pub rule: Option<Spanned<String>>,
    /// Checks without a change of assignment that end a fit (rule "assignment").
    pub stationary_checks: Option<Spanned<i64>>,
}

/// `[output]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    /// Output directory, relative to the config file's folder.
    pub dir: Option<Spanned<String>>,
}

/// `[run]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    /// Worker threads; 0 means all cores.
    pub threads: Option<Spanned<i64>>,
    /// Memory limit in MiB for the data and the sweep; 0 means this machine's physical memory.
    pub memory_limit_mb: Option<Spanned<i64>>,
}
