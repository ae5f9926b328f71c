//! The single writer's reduction: every finished job, in any order, updates the per-rank state.
//! Only the best factors of each rank are kept; consensus counts and held-out block sums are
//! accumulated as jobs arrive, so memory does not grow with the number of restarts.

use super::{FitRecord, GridSize, JobKind, StoredFit};
use crate::nmf::{Loss, Objectives, StopReason};
use crate::stats::{
    ConsensusAccumulator, ConsensusStats, HeldoutAccumulator, HeldoutScore, Spread, StabilityStats, hard_labels,
};
use ndarray::Array2;
use std::collections::BTreeMap;

/// The null baseline of one rank (fits on column-permuted data).
#[derive(Debug, Clone, PartialEq)]
pub struct NullStats {
    /// Best value of the configured loss.
    pub best: f64,
    /// Cophenetic correlation of the null consensus.
    pub cophenetic: Option<f64>,
    /// Dispersion of the null consensus.
    pub dispersion: Option<f64>,
}

/// A rank's consensus solution (`[selection] solution = "consensus"`, see
/// `crate::stats::consensus_fit`): the consensus components with W refitted to the data.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsensusFit {
    /// The consensus components (r x p' until the zero columns are restored), row k in the order
    /// of the best fit's component k, each scaled to the median norm of its group's kept members.
    pub h: Array2<f64>,
    /// W (N' x r until the zero rows are restored) minimizing the configured loss and penalty with
    /// `h` fixed.
    pub w: Array2<f64>,
    /// The objectives of (W, H), penalty included, defined as every fit's.
    pub objectives: Objectives,
    /// The configured loss plus the penalty (lower is better).
    pub objective: f64,
    /// Per component, the restarts contributing (outliers left out).
    pub support: Vec<usize>,
    /// Per component, the restarts' components dropped as outliers.
    pub outliers: Vec<usize>,
    /// Per component, the mean cosine of every restart's matched component to the consensus one.
    pub cosine: Vec<f64>,
    /// Per component, the cosine of the consensus component with the best fit's.
    pub cosine_to_best: Vec<f64>,
    /// Rows of W whose refit stopped at the sweep limit before meeting its tolerance.
    pub unconverged: usize,
}

/// Everything known about one rank.
#[derive(Debug, Clone)]
pub struct RankSummary {
    /// Rank r.
    pub rank: usize,
    /// Fits recorded.
    pub fits: usize,
    /// Fits that met the convergence rule (the tolerance, or stationary clusters).
    pub converged: usize,
    /// Fits that hit max_iter.
    pub max_iter: usize,
    /// Fits with a non-finite objective (their factors are not used).
    pub failed: usize,
    /// The best fit (lowest configured loss; ties to the lower restart) with W and H, or None when
    /// every fit failed. W is N' x r and H r x p' until the zero lines are restored.
    pub best: Option<(FitRecord, Array2<f64>, Array2<f64>)>,
    /// Co-clustering counts of the fits (None when the consensus is skipped).
    pub consensus: Option<ConsensusAccumulator>,
    /// Summaries of the consensus.
    pub consensus_stats: Option<ConsensusStats>,
    /// Component stability over the fits.
    pub stability: Option<StabilityStats>,
    /// The consensus solution (computed only with `[selection] solution = "consensus"`).
    pub consensus_fit: Option<ConsensusFit>,
    /// Spread of the configured loss over the fits.
    pub spread: Option<Spread>,
    /// Held-out score.
    pub heldout: Option<HeldoutScore>,
    /// Null baseline.
    pub null: Option<NullStats>,
    /// Values of rank statistics without a field of their own (`crate::rankstat`), by name.
    pub extra: BTreeMap<&'static str, f64>,
}

/// The collected sweep.
#[derive(Debug)]
pub struct Collected {
    /// Every job's record, ordered by (kind, rank, index).
    pub records: Vec<FitRecord>,
    /// Held-out fits' mean deviance per held-out entry, in the order of their records.
    pub heldout_deviance: Vec<(super::Job, f64)>,
    /// Per rank, ascending.
    pub ranks: Vec<RankSummary>,
    /// Jobs of the grid with no record (a `merge --allow-partial` result; 0: complete).
    pub missing_fits: usize,
}

/// Per-rank state that is not reported as is.
#[derive(Debug)]
struct Side {
    heldout: HeldoutAccumulator,
    null_consensus: Option<ConsensusAccumulator>,
    null_best: f64,
}

/// The streaming reduction.
#[derive(Debug)]
pub struct Collector {
    loss: Loss,
    records: Vec<FitRecord>,
    heldout_deviance: Vec<(super::Job, f64)>,
    ranks: Vec<RankSummary>,
    side: Vec<Side>,
}

/// The restarts (`JobKind::Fit`) of `rank` among `records` whose factors are usable (neither
/// failed nor cancelled), in record order: what statistics over a rank's solutions stream.
pub fn usable_fits(records: &[FitRecord], rank: usize) -> Vec<super::Job> {
    records
        .iter()
        .filter(|r| r.job.kind == JobKind::Fit && r.job.rank == rank)
        .filter(|r| !matches!(r.stop, StopReason::NonFinite | StopReason::Cancelled))
        .map(|r| r.job)
        .collect()
}

impl Collector {
    /// An empty reduction for `ranks` (ascending) of data with `n` observations (rows fitted);
    /// consensus counts are kept only when `consensus`.
    pub fn new(loss: Loss, ranks: &[usize], n: usize, size: GridSize, consensus: bool) -> Self {
        let ranks_v = ranks
            .iter()
            .map(|&rank| RankSummary {
                rank,
                fits: 0,
                converged: 0,
                max_iter: 0,
                failed: 0,
                best: None,
                consensus: consensus.then(|| ConsensusAccumulator::new(n)),
                consensus_stats: None,
                stability: None,
                consensus_fit: None,
                spread: None,
                heldout: None,
                null: None,
                extra: BTreeMap::new(),
            })
            .collect();
        let side = ranks
            .iter()
            .map(|_| Side {
                heldout: HeldoutAccumulator::new(size.heldout_repeats),
                null_consensus: (consensus && size.null_restarts > 0).then(|| ConsensusAccumulator::new(n)),
                null_best: f64::INFINITY,
            })
            .collect();
        Collector {
            loss,
            records: Vec::new(),
            heldout_deviance: Vec::new(),
            ranks: ranks_v,
            side,
        }
    }

    /// Adds one finished job.
    pub fn add(&mut self, fit: StoredFit) {
        let StoredFit {
            record: rec,
            w,
            h,
            extra,
        } = fit;
        let Some(at) = self.ranks.iter().position(|s| s.rank == rec.job.rank) else {
            return;
        };
        let ok = !matches!(rec.stop, StopReason::NonFinite | StopReason::Cancelled);
        let (s, side) = (&mut self.ranks[at], &mut self.side[at]);
        match rec.job.kind {
            JobKind::Fit => {
                s.fits += 1;
                match rec.stop {
                    StopReason::Converged | StopReason::Stationary => s.converged += 1,
                    StopReason::MaxIter => s.max_iter += 1,
                    StopReason::NonFinite => s.failed += 1,
                    StopReason::Cancelled => {}
                }
                if ok {
                    if let Some(c) = &mut s.consensus {
                        c.add(&hard_labels(w.view()));
                    }
                    let v = rec.objectives.value(self.loss);
                    let better = s.best.as_ref().is_none_or(|(b, _, _)| {
                        let bv = b.objectives.value(self.loss);
                        v < bv || (v == bv && rec.job.index < b.job.index)
                    });
                    if better {
                        s.best = Some((rec.clone(), w, h));
                    }
                }
            }
            JobKind::Heldout => {
                if ok {
                    side.heldout.add(rec.job.index, &extra);
                    let n: f64 = extra[extra.len() / 2..].iter().sum();
                    let total: f64 = extra[..extra.len() / 2].iter().sum();
                    self.heldout_deviance
                        .push((rec.job, if n > 0.0 { total / n } else { f64::NAN }));
                }
            }
            JobKind::Null => {
                if ok {
                    if let Some(c) = &mut side.null_consensus {
                        c.add(&hard_labels(w.view()));
                    }
                    side.null_best = side.null_best.min(rec.objectives.value(self.loss));
                }
            }
        }
        self.records.push(rec);
    }

    /// The records in (kind, rank, index) order and the per-rank state (held-out scores and null
    /// statistics filled in).
    pub fn finish(mut self) -> Collected {
        self.records.sort_by_key(|r| (r.job.kind, r.job.rank, r.job.index));
        self.heldout_deviance.sort_by_key(|(j, _)| (j.rank, j.index));
        for (s, side) in self.ranks.iter_mut().zip(&self.side) {
            s.heldout = side.heldout.finish();
            if side.null_best.is_finite() {
                let stats = side.null_consensus.as_ref().and_then(|c| c.stats(s.rank));
                s.null = Some(NullStats {
                    best: side.null_best,
                    cophenetic: stats.as_ref().and_then(|c| c.cophenetic),
                    dispersion: stats.map(|c| c.dispersion),
                });
            }
        }
        Collected {
            records: self.records,
            heldout_deviance: self.heldout_deviance,
            ranks: self.ranks,
            missing_fits: 0,
        }
    }
}
