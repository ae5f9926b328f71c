//! The sweep's memory estimate, checked once the data is read and before anything else is
//! allocated for the fits (`[run] memory_limit_mb`, default this machine's physical memory): a
//! sweep that would not fit is refused with the estimate instead of aborting on a failed
//! allocation. The estimate is an upper bound of the large allocations: X as read and as fitted
//! (and its column-permuted copy, its f32 copy), and for every fit that runs at once its factors
//! and workspace (WH and the ratio matrix for dense X, values at the stored entries for sparse X,
//! the CSC copy of coordinate descent, the training copy and held-out entries of a
//! cross-validation fit), plus the job grid and its records.

use super::{FitRecord, Job};
use crate::config::Plan;
use crate::data::{Dataset, Matrix, ZeroLines};
use crate::error::{Error, Result};
use crate::limits::{bytes, mib};
use crate::nmf::{Precision, Solver};

/// The parts of the estimate, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Estimate {
    /// X as read, as fitted, and its copies.
    pub data: u64,
    /// One fit's factors and workspace at the largest rank.
    pub per_fit: u64,
    /// Fits running at once.
    pub fits_at_once: u64,
    /// The job grid and the fit records.
    pub grid: u64,
}

impl Estimate {
    /// Everything together.
    pub fn total(&self) -> u64 {
        self.data
            .saturating_add(self.per_fit.saturating_mul(self.fits_at_once))
            .saturating_add(self.grid)
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
        (if plan.selection.null_restarts > 0 { 2 } else { 1 }) * (if plan.precision == Precision::F32 { 3 } else { 2 });
    let data = as_read.saturating_add(bytes(&[fitted, copies]) / 2);

    let r = plan.ranks.iter().copied().max().unwrap_or(1) as u64;
    let mut per_fit = bytes(&[nf + pf, r, 8, 6]);
    per_fit = per_fit.saturating_add(match nnz {
        None => bytes(&[nf, pf, 8, 2]),
        Some(nnz) if plan.solver == Solver::Cd => bytes(&[nnz, 8]).saturating_add(fitted),
        Some(nnz) => bytes(&[nnz, 8]),
    });
    if plan.selection.heldout_repeats > 0 {
        let held_out = (plan.selection.heldout_fraction * (nf as f64) * (pf as f64) * 16.0).min(u64::MAX as f64) as u64;
        per_fit = per_fit.saturating_add(fitted).saturating_add(held_out);
    }
    let sel = &plan.selection;
    let fits = plan.ranks.len() * (plan.restarts + sel.heldout_repeats + sel.null_restarts);
    let (threads, _) = crate::limits::worker_threads(plan.threads);
    let record = std::mem::size_of::<Job>() + std::mem::size_of::<FitRecord>();
    Estimate {
        data,
        per_fit,
        fits_at_once: threads.min(fits).max(1) as u64,
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
            "the sweep needs about {} MiB: the data ({n} x {p}, {storage}) {} MiB, and {} fits at once of about {} MiB \
             each (rank {}, factors and workspace), above the memory limit of {}; use fewer threads ([run] threads), \
             lower ranks or fewer cross-validation repeats, or raise the limit",
            mib(e.total()),
            mib(e.data),
            e.fits_at_once,
            mib(e.per_fit),
            plan.ranks.iter().copied().max().unwrap_or(1),
            plan.data.memory_limit_text()
        ),
    })
}
