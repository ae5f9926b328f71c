//! The sweep's memory estimate, checked once the data is read and before anything else is
//! allocated for the fits (`[run] memory_limit_mb`, default this machine's physical memory): a
//! sweep that would not fit is refused with the estimate instead of aborting on a failed
//! allocation. The estimate is an upper bound of the large allocations: X as read and as fitted
//! (and its column-permuted copy, its f32 copy), and for every fit that runs at once its factors
//! and workspace (WH and the ratio matrix for dense X, values at the stored entries for sparse X,
//! the CSC copy of coordinate descent, the training copy and held-out entries of a
//! cross-validation fit, the resampled copy of X a restart fits with `[sweep] resample`), plus
//! the job grid and its records.

use super::{FitRecord, Job};
use crate::config::Plan;
use crate::data::{Dataset, Matrix, ZeroLines};
use crate::error::{Error, Result};
use crate::limits::{bytes, mib};
use crate::nmf::{Precision, Resample};

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
    // Bytes of a matrix of `rows` x `cols` held as X is held.
    let held = |rows: u64, cols: u64| match nnz {
        None => bytes(&[rows, cols, 8]),
        Some(nnz) => bytes(&[nnz, 12]).saturating_add(bytes(&[rows + 1, 8])),
    };
    let fitted = held(nf, pf);
    let as_read = if zero.is_empty() { 0 } else { held(n as u64, p as u64) };
    let copies =
        (if plan.selection.null_restarts > 0 { 2 } else { 1 }) * (if plan.precision == Precision::F64 { 2 } else { 3 });
    let data = as_read.saturating_add(bytes(&[fitted, copies]) / 2);

    // Every fit: W, H, their numerators and transposes; the ratio (or product) matrix of dense X,
    // or the values at the stored entries of sparse X (and coordinate descent's CSC copy).
    let r = plan.ranks.iter().copied().max().unwrap_or(1) as u64;
    let per_fit = bytes(&[nf + pf, r, 8, 6]).saturating_add(plan.solver.workspace_bytes((nf, pf), nnz, fitted));
    // With resampling, each restart holds its own copy of X (and its f32 copy in f32), made
    // inside the job. A sparse copy stores at most X's entries.
    let per_fit = if plan.resample == Resample::None {
        per_fit
    } else {
        let f32_copy = if plan.precision == Precision::F64 {
            0
        } else {
            fitted / 2
        };
        per_fit.saturating_add(fitted).saturating_add(f32_copy)
    };
    // A cross-validation fit also holds its training copy of X and its held-out entries.
    let held_out =
        (plan.selection.heldout_fraction.get() * (nf as f64) * (pf as f64) * 16.0).min(u64::MAX as f64) as u64;
    let per_heldout = fitted.saturating_add(held_out);
    let sel = &plan.selection;
    let fits = plan.ranks.len() * (plan.restarts.get() + sel.heldout_repeats + sel.null_restarts);
    let (threads, _) = crate::limits::worker_threads(plan.threads.get());
    let at_once = threads.min(fits).max(1) as u64;
    let heldout_at_once = at_once.min((plan.ranks.len() * sel.heldout_repeats) as u64);
    let record = std::mem::size_of::<Job>() + std::mem::size_of::<FitRecord>();
    Estimate {
        data,
        fits: bytes(&[per_fit, at_once]).saturating_add(bytes(&[per_heldout, heldout_at_once])),
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
        let x = Matrix::Dense(ndarray::Array2::from_elem((n, p), 1.0));
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
                    [model]\nprecision = \"f64\"\n[run]\nthreads = 3\n";
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
    }
}
