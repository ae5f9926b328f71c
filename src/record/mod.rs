//! What a sweep is made of and what it keeps: the grid's jobs ([`Job`], [`JobKind`], [`jobs`]), the
//! record of every finished job ([`FitRecord`], stored durably by [`store`]), the manifest that
//! ties an output directory to one sweep ([`manifest`]), and the per-rank reduction of the records
//! ([`Collected`], built by [`Collector`]). The sweep produces these, the report and progress
//! display read them; this module depends on neither.

mod collect;
pub mod manifest;
pub mod store;

pub use collect::{Collected, Collector, ConsensusFit, NullStats, RankSummary, usable_fits};
pub use store::StoredFit;

use crate::nmf::{Objectives, StopReason};
use crate::rng::fit_seed;

/// What a job fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    /// A restart on the data: the fits the best solution and consensus come from.
    Fit,
    /// A fit on the observed entries of a cross-validation repeat, scored on the held-out ones.
    Heldout,
    /// A restart on column-permuted data (null baseline).
    Null,
}

impl JobKind {
    /// The name used in record files.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Fit => "fit",
            JobKind::Heldout => "heldout",
            JobKind::Null => "null",
        }
    }

    /// The code stored in records.
    pub fn code(self) -> u8 {
        match self {
            JobKind::Fit => 0,
            JobKind::Heldout => 1,
            JobKind::Null => 2,
        }
    }

    /// The kind of a stored code.
    pub fn from_code(c: u8) -> Option<Self> {
        [JobKind::Fit, JobKind::Heldout, JobKind::Null]
            .into_iter()
            .find(|k| k.code() == c)
    }

    /// Distinguishes the random streams of the kinds (mixed into the master seed).
    pub fn stream(self) -> u64 {
        match self {
            JobKind::Fit => 0,
            JobKind::Heldout => 0x4845_4C44_4F55_5431, // "HELDOUT1"
            JobKind::Null => 0x4E55_4C4C_4241_5345,    // "NULLBASE"
        }
    }
}

/// One cell of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Job {
    /// What is fitted.
    pub kind: JobKind,
    /// Rank r.
    pub rank: usize,
    /// Restart index (fits, null fits) or repeat index (held-out fits), 0-based.
    pub index: usize,
    /// The job's seed: `fit_seed(master ^ kind stream, rank, index)`.
    pub seed: u64,
}

/// How many jobs of each kind per rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridSize {
    /// Restarts per rank.
    pub restarts: usize,
    /// Cross-validation repeats per rank.
    pub heldout_repeats: usize,
    /// Null restarts per rank.
    pub null_restarts: usize,
}

/// The grid: for each rank ascending, its fits, then held-out fits, then null fits.
pub fn jobs(ranks: &[usize], size: GridSize, master_seed: u64) -> Vec<Job> {
    let mut out = Vec::new();
    for &rank in ranks {
        for (kind, count) in [
            (JobKind::Fit, size.restarts),
            (JobKind::Heldout, size.heldout_repeats),
            (JobKind::Null, size.null_restarts),
        ] {
            out.extend((0..count).map(|index| Job {
                kind,
                rank,
                index,
                seed: fit_seed(master_seed ^ kind.stream(), rank, index),
            }));
        }
    }
    out
}

/// What is recorded of every job.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRecord {
    /// The job.
    pub job: Job,
    /// Objectives of the final factors on the data it was fitted to (observed entries only for a
    /// held-out fit); non-finite only for `StopReason::NonFinite`.
    pub objectives: Objectives,
    /// Iterations run.
    pub iterations: usize,
    /// Why it stopped.
    pub stop: StopReason,
    /// Wall-clock seconds (informational; not part of the reproducibility contract).
    pub seconds: f64,
}
