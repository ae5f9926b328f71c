//! The sweep: the (rank, restart) grid, fanned out over a rayon pool, each fit reported back to one
//! thread that keeps the per-fit records and the best fit of each rank.
//!
//! Determinism: a fit depends only on (data, config, rank, restart); its start comes from
//! `rng::fit_seed(seed, rank, restart)`; each fit runs single-threaded BLAS; the reducer breaks
//! ties by restart index. So W and H are the same bits with 1 thread or many.

mod run;

pub use run::{Outcome, execute};

use crate::nmf::init::{self, Init};
use crate::nmf::{FitMatrix, FitOutcome, Loss, Objectives, Solver, StopReason, StopRule, fit};
use crate::rng::{fit_rng, fit_seed};
use ndarray::Array2;
use rayon::prelude::*;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// One cell of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Rank r.
    pub rank: usize,
    /// Restart index (0-based).
    pub restart: usize,
    /// The fit's seed, `fit_seed(master, rank, restart)`.
    pub seed: u64,
}

/// The grid of a plan: ranks ascending, restarts ascending.
pub fn jobs(ranks: &[usize], restarts: usize, master_seed: u64) -> Vec<Job> {
    ranks
        .iter()
        .flat_map(|&rank| {
            (0..restarts).map(move |restart| Job {
                rank,
                restart,
                seed: fit_seed(master_seed, rank, restart),
            })
        })
        .collect()
}

/// What is recorded of every fit.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRecord {
    /// The job.
    pub job: Job,
    /// Objectives of the final factors (non-finite only for `StopReason::NonFinite`).
    pub objectives: Objectives,
    /// Iterations run.
    pub iterations: usize,
    /// Why it stopped.
    pub stop: StopReason,
    /// Wall-clock seconds (informational; not part of the reproducibility contract).
    pub seconds: f64,
}

/// The settings every fit of a sweep shares.
#[derive(Debug, Clone, Copy)]
pub struct FitSettings {
    /// Loss minimized.
    pub loss: Loss,
    /// Algorithm.
    pub solver: Solver,
    /// Starting points.
    pub init: Init,
    /// Stop rule.
    pub stop: StopRule,
}

/// Runs one job: random start from the job's own stream, then the driver loop.
pub fn run_job(data: &FitMatrix, s: &FitSettings, job: Job, cancel: &AtomicBool) -> (FitRecord, FitOutcome) {
    let t0 = Instant::now();
    let (n, p) = data.dim();
    let (w, h) = match s.init {
        Init::Random => init::random(&mut fit_rng(job.seed), n, p, job.rank, data.mean()),
    };
    let mut rule = s.solver.rule(s.loss, n, p, job.rank, data.heldout());
    let out = fit(data, s.loss, rule.as_mut(), w, h, &s.stop, cancel, None);
    let rec = FitRecord {
        job,
        objectives: out.objectives,
        iterations: out.iterations,
        stop: out.stop,
        seconds: t0.elapsed().as_secs_f64(),
    };
    (rec, out)
}

/// The best fit of one rank and the counts of how its fits ended.
#[derive(Debug, Clone)]
pub struct RankSummary {
    /// Rank r.
    pub rank: usize,
    /// Fits recorded.
    pub fits: usize,
    /// Fits that met the tolerance.
    pub converged: usize,
    /// Fits that hit max_iter.
    pub max_iter: usize,
    /// Fits with a non-finite objective (their factors are not used).
    pub failed: usize,
    /// The best fit (lowest configured loss; ties to the lower restart) with W (N' x r), H (r x p'),
    /// or None when every fit failed.
    pub best: Option<(FitRecord, Array2<f64>, Array2<f64>)>,
}

/// Streaming reduction of fits, in any arrival order, to the same result.
#[derive(Debug)]
pub struct Reducer {
    loss: Loss,
    records: Vec<FitRecord>,
    ranks: Vec<RankSummary>,
}

impl Reducer {
    /// An empty reduction for `ranks` (ascending).
    pub fn new(loss: Loss, ranks: &[usize]) -> Self {
        let ranks = ranks
            .iter()
            .map(|&rank| RankSummary {
                rank,
                fits: 0,
                converged: 0,
                max_iter: 0,
                failed: 0,
                best: None,
            })
            .collect();
        Reducer {
            loss,
            records: Vec::new(),
            ranks,
        }
    }

    /// Adds one finished fit (its factors are kept only if it is the best of its rank so far).
    pub fn add(&mut self, rec: FitRecord, out: FitOutcome) {
        let loss = self.loss;
        if let Some(s) = self.ranks.iter_mut().find(|s| s.rank == rec.job.rank) {
            s.fits += 1;
            match rec.stop {
                StopReason::Converged => s.converged += 1,
                StopReason::MaxIter => s.max_iter += 1,
                StopReason::NonFinite => s.failed += 1,
                StopReason::Cancelled => {}
            }
            if rec.stop != StopReason::NonFinite && rec.stop != StopReason::Cancelled {
                let key = (rec.objectives.value(loss), rec.job.restart);
                let better = match &s.best {
                    None => true,
                    Some((b, _, _)) => {
                        key.0 < b.objectives.value(loss) || (key.0 == b.objectives.value(loss) && key.1 < b.job.restart)
                    }
                };
                if better {
                    s.best = Some((rec.clone(), out.w, out.h));
                }
            }
        }
        self.records.push(rec);
    }

    /// The records in (rank, restart) order and the per-rank summaries.
    pub fn finish(mut self) -> (Vec<FitRecord>, Vec<RankSummary>) {
        self.records.sort_by_key(|r| (r.job.rank, r.job.restart));
        (self.records, self.ranks)
    }
}

/// Fits every job on a pool of `threads` workers and feeds each result, as it finishes, to
/// `on_fit` on the calling thread (the single writer).
pub fn run_jobs(
    data: &FitMatrix,
    settings: &FitSettings,
    jobs: &[Job],
    threads: usize,
    cancel: &AtomicBool,
    mut on_fit: impl FnMut(FitRecord, FitOutcome),
) -> std::result::Result<(), rayon::ThreadPoolBuildError> {
    crate::linalg::set_blas_threads(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
    // Costly jobs (high ranks) first, so the last jobs to run are short ones.
    let mut order: Vec<Job> = jobs.to_vec();
    order.sort_by_key(|j| (std::cmp::Reverse(j.rank), j.restart));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            pool.install(|| {
                order.par_iter().with_max_len(1).for_each_with(tx, |tx, &job| {
                    // A send fails only if the receiver is gone, i.e. the main thread panicked.
                    let _ = tx.send(run_job(data, settings, job, cancel));
                });
            });
        });
        for (rec, out) in rx {
            on_fit(rec, out);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::update::tests::awkward_data;

    fn settings() -> FitSettings {
        FitSettings {
            loss: Loss::Kl,
            solver: Solver::Mu,
            init: Init::Random,
            stop: StopRule {
                max_iter: 200,
                tol: 1e-7,
                check_every: 10,
            },
        }
    }

    fn sweep(threads: usize) -> (Vec<FitRecord>, Vec<RankSummary>) {
        let data = FitMatrix::new(awkward_data(30, 25));
        let grid = jobs(&[2, 3], 4, 5);
        let mut red = Reducer::new(Loss::Kl, &[2, 3]);
        run_jobs(&data, &settings(), &grid, threads, &AtomicBool::new(false), |r, o| {
            red.add(r, o)
        })
        .unwrap();
        red.finish()
    }

    #[test]
    fn grid_order_and_seeds() {
        let g = jobs(&[2, 5], 3, 1);
        assert_eq!(g.len(), 6);
        assert_eq!((g[0].rank, g[0].restart, g[5].rank, g[5].restart), (2, 0, 5, 2));
        assert_eq!(g[4].seed, fit_seed(1, 5, 1));
    }

    #[test]
    fn one_thread_equals_two_threads_bitwise() {
        let (ra, sa) = sweep(1);
        let (rb, sb) = sweep(2);
        assert_eq!(ra.len(), 8);
        for (a, b) in ra.iter().zip(&rb) {
            assert_eq!(a.job, b.job);
            assert_eq!(a.objectives.kl.to_bits(), b.objectives.kl.to_bits());
            assert_eq!(a.iterations, b.iterations);
        }
        for (a, b) in sa.iter().zip(&sb) {
            let (ba, bb) = (a.best.as_ref().unwrap(), b.best.as_ref().unwrap());
            assert_eq!(ba.0.job, bb.0.job);
            assert!(ba.1.iter().zip(bb.1.iter()).all(|(x, y)| x.to_bits() == y.to_bits()));
            assert!(ba.2.iter().zip(bb.2.iter()).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }

    #[test]
    fn best_is_the_lowest_loss() {
        let (records, summaries) = sweep(2);
        for s in summaries {
            let best = s.best.unwrap().0;
            let min = records
                .iter()
                .filter(|r| r.job.rank == s.rank)
                .map(|r| r.objectives.kl)
                .fold(f64::INFINITY, f64::min);
            assert_eq!(best.objectives.kl, min);
            assert_eq!(s.fits, 4);
            assert_eq!(s.converged + s.max_iter + s.failed, 4);
        }
    }
}
