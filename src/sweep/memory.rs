//! The sweep's memory estimate, checked once the data is read and before anything else is
//! allocated for the fits (`[run] memory_limit_mb`, default this machine's physical memory): a
//! sweep that would not fit is refused with the estimate instead of aborting on a failed
//! allocation. The estimate is an upper bound of the large allocations: X as read and as fitted
//! (and its column-permuted copy; its f32 copy, unless X is held in f32 alone; the transpose
//! coordinate descent makes once per matrix), and for every fit that runs at once its factors and
//! workspace (a block of WH for the objectives; the model and its transpose of coordinate
//! descent, the ratio blocks of the multiplicative updates for dense X; values at the stored
//! entries for sparse X, the CSC copy of coordinate descent; the training copy and held-out
//! entries of a cross-validation fit, the resampled copy of X a restart fits with `[sweep]
//! resample`), plus the job grid and its records.

use super::{FitRecord, Job};
use crate::config::Plan;
use crate::data::{Dataset, Matrix, ZeroLines};
use crate::error::{Error, Result};
use crate::limits::{bytes, mib};
use crate::nmf::{Precision, Resample, Solver};

/// The parts of the estimate, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Estimate {
    /// X as read, as fitted, and its copies.
    pub data: u64,
    /// The fits running at once: each one's factors and workspace at the largest rank, and the
    /// training copy and held-out entries of those that are cross-validation fits.
    pub fits: u64,
    /// Fits running at once.
    pub fits_at_once: u64,
    /// The job grid and the fit records.
    pub grid: u64,
}

impl Estimate {
    /// Everything together.
    pub fn total(&self) -> u64 {
        self.data.saturating_add(self.fits).saturating_add(self.grid)
    }
}

/// The estimate of `plan`'s sweep on `d` (all-zero lines `zero` left out of the fits).
pub(crate) fn estimate(plan: &Plan, d: &Dataset, zero: &ZeroLines) -> Estimate {
    let (n, p) = d.facts.shape;
    let (nf, pf) = ((n - zero.zero_rows.len()) as u64, (p - zero.zero_cols.len()) as u64);
    let nnz = match &d.x {
        Matrix::Dense(_) => None,
        Matrix::Sparse(c) => Some(c.nnz() as u64),
    };
    let f32_fits = plan.precision.resolve(d.facts.f32_safe) == Precision::F32;
    let scalar = if f32_fits { 4 } else { 8 };
    // A dense X whose values are exact in f32 is held in f32 alone for f32 fits
    // (`FitMatrix::dense_for`; missing entries, NaN here, become 0).
    let f32_alone = f32_fits
        && match &d.x {
            Matrix::Dense(x) => x.iter().all(|&v| v.is_nan() || (v as f32) as f64 == v),
            Matrix::Sparse(_) => false,
        };
    // Bytes of a matrix of `rows` x `cols` held as X is held, dense in f64 (`value` = 8) or f32.
    let held = |rows: u64, cols: u64, value: u64| match nnz {
        None => bytes(&[rows, cols, value]),
        Some(nnz) => bytes(&[nnz, 12]).saturating_add(bytes(&[rows + 1, 8])),
    };
    let fitted = held(nf, pf, if f32_alone { 4 } else { 8 });
    let as_read = if zero.is_empty() {
        0
    } else {
        held(n as u64, p as u64, 8)
    };
    // One matrix the fits run on (X, its column-permuted copy, a training or resampled copy): as
    // held, its f32 copy for f32 fits when it is held in f64, and the transpose that coordinate
    // descent on dense X makes once per matrix where it reads it (not for wide X).
    let matrix = |solver: Solver| {
        let copy = if f32_fits && !f32_alone { fitted / 2 } else { 0 };
        let transpose = if nnz.is_none() && solver.transposes_dense((nf, pf)) {
            bytes(&[nf, pf, scalar])
        } else {
            0
        };
        fitted.saturating_add(copy).saturating_add(transpose)
    };
    let matrices = if plan.selection.null_restarts > 0 { 2 } else { 1 };
    let data = as_read.saturating_add(bytes(&[matrix(plan.solver), matrices]));

    // Every fit: W, H, their numerators and transposes, and its solver's workspace (see
    // `Solver::workspace_bytes`).
    let r = plan.ranks.iter().copied().max().unwrap_or(1) as u64;
    let factors = bytes(&[nf + pf, r, 8, 6]);
    let workspace = |solver: Solver| solver.workspace_bytes((nf, pf), r, nnz, fitted, scalar);
    let per_fit = factors.saturating_add(workspace(plan.solver));
    // With resampling, each restart holds its own copy of X, made inside the job. A sparse copy
    // stores at most X's entries.
    let per_fit = if plan.resample == Resample::None {
        per_fit
    } else {
        per_fit.saturating_add(matrix(plan.solver))
    };
    // A cross-validation fit also holds its repeat's training copy of X (with what its solver
    // makes of it) and its held-out entries, shared by the running fits of that repeat (whatever
    // their rank), and runs the solver of `Solver::for_heldout`.
    let heldout_solver = plan.solver.for_heldout();
    let held_out =
        (plan.selection.heldout_fraction.get() * (nf as f64) * (pf as f64) * 16.0).min(u64::MAX as f64) as u64;
    let per_repeat = matrix(heldout_solver).saturating_add(held_out);
    let per_heldout = workspace(heldout_solver).saturating_sub(workspace(plan.solver));
    let sel = &plan.selection;
    let fits = plan.ranks.len() * (plan.restarts.get() + sel.heldout_repeats + sel.null_restarts);
    let (threads, _) = crate::limits::worker_threads(plan.threads.get());
    let at_once = threads.min(fits).max(1) as u64;
    let heldout_at_once = at_once.min((plan.ranks.len() * sel.heldout_repeats) as u64);
    let repeats_at_once = heldout_at_once.min(sel.heldout_repeats as u64);
    let record = std::mem::size_of::<Job>() + std::mem::size_of::<FitRecord>();
    Estimate {
        data,
        fits: bytes(&[per_fit, at_once])
            .saturating_add(bytes(&[per_heldout, heldout_at_once]))
            .saturating_add(bytes(&[per_repeat, repeats_at_once])),
        fits_at_once: at_once,
        grid: bytes(&[fits as u64, record as u64, 2]),
    }
}

/// Refuses the sweep of `plan` on `d` when its [`estimate`] is above the memory limit.
pub(crate) fn check(plan: &Plan, d: &Dataset, zero: &ZeroLines) -> Result<()> {
    let e = estimate(plan, d, zero);
    let limit = plan.data.memory_limit();
    if e.total() <= limit {
        return Ok(());
    }
    let (n, p) = d.facts.shape;
    let storage = if d.facts.sparse { "sparse" } else { "dense" };
    Err(Error::ConfigValue {
        path: plan.config_path.clone(),
        line: 0,
        key: "run.memory_limit_mb".into(),
        message: format!(
            "the sweep needs about {} MiB: the data ({n} x {p}, {storage}) {} MiB, and {} MiB for the {} fits that run \
             at once (factors and workspace at rank {}, cross-validation copies), above the memory limit of {}; use \
             fewer threads ([run] threads), lower ranks or fewer cross-validation repeats, or raise the limit",
            mib(e.total()),
            mib(e.data),
            mib(e.fits),
            e.fits_at_once,
            plan.ranks.iter().copied().max().unwrap_or(1),
            plan.data.memory_limit_text()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, parse};
    use crate::data::{Facts, Provenance};
    use std::path::{Path, PathBuf};

    fn dataset(n: usize, p: usize) -> Dataset {
        dataset_of(n, p, 1.0)
    }

    fn dataset_of(n: usize, p: usize, value: f64) -> Dataset {
        let x = Matrix::Dense(ndarray::Array2::from_elem((n, p), value));
        Dataset {
            facts: Facts::of(&x),
            x,
            provenance: Provenance {
                path: PathBuf::from("x.h5"),
                dataset: "X".into(),
                format: "hdf5".into(),
                stored_shape: [n, p],
                dtype: "f64".into(),
                transposed: false,
                sha256: String::new(),
            },
            obs_names: None,
            volumes: None,
            var_names: None,
        }
    }

    #[test]
    fn resampling_adds_one_copy_of_x_per_running_fit() {
        let base = "[data]\npath = \"x.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2, 3]\nrestarts = 8\n\
                    [model]\nprecision = \"f64\"\nsolver = \"mu\"\n[run]\nthreads = 3\n";
        let plan = |extra: &str| {
            let text = base.replace("restarts = 8\n", &format!("restarts = 8\n{extra}"));
            parse(&text, Path::new("/tmp/c.toml"), &Overrides::default()).unwrap()
        };
        let d = dataset(400, 300);
        let zero = ZeroLines::find(&d.x);
        let none = estimate(&plan(""), &d, &zero);
        let x_bytes = 400 * 300 * 8;
        for how in ["poisson", "bootstrap"] {
            let on = estimate(&plan(&format!("resample = \"{how}\"\n")), &d, &zero);
            // At most the 3 threads asked for (fewer on a machine with fewer cores).
            assert!((1..=3).contains(&on.fits_at_once));
            assert_eq!(on.fits - none.fits, on.fits_at_once * x_bytes, "{how}");
            assert_eq!((on.data, on.grid), (none.data, none.grid));
        }
        // Coordinate descent makes the transpose of each matrix it fits: of the copy too.
        let cd = |extra: &str| Plan {
            solver: Solver::Cd,
            ..plan(extra)
        };
        let (none, on) = (
            estimate(&cd(""), &d, &zero),
            estimate(&cd("resample = \"poisson\"\n"), &d, &zero),
        );
        assert_eq!(on.fits - none.fits, on.fits_at_once * 2 * x_bytes);
    }

    fn plan_of(text: &str) -> Plan {
        parse(text, Path::new("/tmp/c.toml"), &Overrides::default()).unwrap()
    }

    /// X is held once: in f64 for f64 fits; for f32 fits in f32 alone when its values are exact
    /// in f32, else in f64 with an f32 copy; coordinate descent adds one transpose of it, in the
    /// precision of the fits, and its model and the model's transpose per fit.
    #[test]
    fn x_is_held_in_f32_alone_when_exact() {
        let text = |precision: &str, solver: &str| {
            format!(
                "[data]\npath = \"x.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2]\nrestarts = 2\n\
                 [model]\nprecision = \"{precision}\"\nsolver = \"{solver}\"\n[run]\nthreads = 1\n"
            )
        };
        let (n, p) = (40, 30);
        let x_bytes = (n * p * 8) as u64;
        let exact = dataset_of(n, p, 3.0);
        let inexact = dataset_of(n, p, 0.1);
        let zero = ZeroLines::find(&exact.x);
        let data =
            |precision: &str, solver: &str, d: &Dataset| estimate(&plan_of(&text(precision, solver)), d, &zero).data;
        assert_eq!(data("f64", "mu", &exact), x_bytes);
        assert_eq!(data("f32", "mu", &exact), x_bytes / 2);
        assert_eq!(data("f32", "mu", &inexact), x_bytes + x_bytes / 2);
        assert_eq!(data("f32", "cd", &exact), x_bytes);
        assert_eq!(data("f64", "cd", &exact), 2 * x_bytes);
        let fits = |precision: &str, d: &Dataset| estimate(&plan_of(&text(precision, "cd")), d, &zero).fits;
        // One fit at once: its model and the model's transpose (N x p each), and a cross-validation
        // fit's training copy of X and its transpose, all in the precision of the fits (X exact in
        // f32); the rest (factors, a block of WH for the objectives) is f64 either way.
        assert!(plan_of(&text("f32", "cd")).selection.heldout_repeats > 0);
        assert_eq!(fits("f64", &exact) - fits("f32", &exact), 2 * x_bytes);
        assert!(fits("f32", &exact) > x_bytes);
    }
}
