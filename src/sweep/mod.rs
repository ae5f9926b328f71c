//! The sweep: the grid of jobs (rank x restart fits, held-out fits, null fits), fanned out over a
//! rayon pool, each finished job handed to one writer thread that stores its record durably and
//! then feeds the streaming statistics.
//!
//! Cluster runs: [`shard`] splits the grid among processes, [`store`] keeps one durable record
//! per finished job (resume skips them), [`manifest`] ties an output directory to one sweep, and
//! `merge` builds every output from the records.
//!
//! Determinism: a job depends only on (data, config, kind, rank, index); its start comes from
//! `rng::fit_seed`; each fit runs single-threaded BLAS; every reduction is independent of the
//! order in which jobs finish. So results are the same bits with 1 thread or many.

pub mod memory;
pub mod shard;

pub use shard::Shard;

use crate::data::Matrix;
use crate::nmf::init::{self, Init, Svd};
use crate::nmf::loss::Stored;
use crate::nmf::loss::objectives_of;
use crate::nmf::mask::HeldOut;
use crate::nmf::project::project_w;
use crate::nmf::resample::{self, RESAMPLE_STREAM};
use crate::nmf::{
    FitMatrix, FitOptions, FitOutcome, Loss, Penalty, Precision, Resample, Scalar, Solver, StopReason, StopRule, fit,
};
use crate::record::{FitRecord, Job, JobKind, StoredFit};
use crate::rng::{fit_rng, fit_seed};
use crate::sparse::Csr;
use ndarray::{Array2, Axis};
use rayon::prelude::*;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

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
    /// L1/L2 penalties.
    pub penalty: Penalty,
    /// Floating-point type of the products.
    pub precision: Precision,
    /// What each restart (and null restart) fits: X, or a resampled copy of its own.
    pub resample: Resample,
}

/// The matrices the jobs run on, and the SVDs that NNDSVD starts need.
#[derive(Debug)]
pub struct SweepData {
    /// X as fitted (N' x p', all-zero lines removed): missing entries 0 and left out.
    pub main: FitMatrix,
    /// Column-permuted X for null fits.
    pub null: Option<FitMatrix>,
    /// Master seed (held-out masks depend on it and the repeat only, so all ranks share them).
    pub seed: u64,
    /// Fraction of entries held out per repeat.
    pub heldout_fraction: f64,
    /// Leading singular triplets (as many as the largest rank) of X, of the null data, and of each
    /// repeat's training matrix (so no held-out value leaks into a start); empty for random starts.
    svd: Vec<(JobKind, usize, Svd)>,
    /// The training matrices of the cross-validation repeats that running jobs hold, weakly: a
    /// repeat's matrix (the same for every rank) lives while some job fits it, and the held-out
    /// jobs of several ranks that run at once share one copy (and its Xᵀ) instead of one each.
    heldout_live: Mutex<Vec<(usize, Weak<FitMatrix>)>>,
}

/// The fit matrix of `x`, which it takes over (NaN entries are missing: 0 in the fit matrix and
/// left out of it), for fits in `precision` (resolved): a dense X whose values are all exact in
/// f32 is held in f32 alone for f32 fits ([`FitMatrix::dense_for`]).
pub fn fit_matrix(x: Matrix, precision: Precision) -> FitMatrix {
    match x {
        Matrix::Dense(mut d) => match HeldOut::missing_dense(d.view()) {
            None => FitMatrix::dense_for(d, precision),
            Some(miss) => {
                d.mapv_inplace(|v| if v.is_nan() { 0.0 } else { v });
                FitMatrix::dense_for(d, precision).excluding(Some(Arc::new(miss)), None)
            }
        },
        Matrix::Sparse(mut c) => match HeldOut::missing_sparse(&c) {
            None => FitMatrix::sparse(c),
            Some(miss) => {
                c.retain(|_, _, v| !v.is_nan());
                FitMatrix::sparse(c).excluding(Some(Arc::new(miss)), None)
            }
        },
    }
}

/// `x` with each column's entries shuffled independently (R NMF's `randomize`), NaN (missing)
/// entries moving with their column like any value. Sparse X: each column's stored entries move
/// to rows drawn without replacement, the same distribution as a random permutation of the
/// column, in O(nnz) instead of O(N·p).
fn permuted_columns(x: &Matrix, rng: &mut impl rand::Rng) -> Result<Matrix, String> {
    use rand::seq::SliceRandom;
    match x {
        Matrix::Dense(d) => {
            let mut x = d.clone();
            for mut col in x.columns_mut() {
                let mut v = col.to_vec();
                v.shuffle(rng);
                col.assign(&ndarray::ArrayView1::from(&v));
            }
            Ok(Matrix::Dense(x))
        }
        Matrix::Sparse(c) => {
            let (n, p) = c.dim();
            let t = c.transpose();
            let (mut indptr, mut indices, mut data) =
                (vec![0], Vec::with_capacity(t.nnz()), Vec::with_capacity(t.nnz()));
            for j in 0..p {
                let (_, vals) = t.row(j);
                let mut rows = rand::seq::index::sample(rng, n, vals.len()).into_vec();
                rows.sort_unstable();
                let mut v = vals.to_vec();
                v.shuffle(rng);
                indices.extend(rows.iter().map(|&i| i as u32));
                data.extend(v);
                indptr.push(indices.len());
            }
            // Built in CSC form (rows ascending and distinct per column), checked all the same.
            let t = Csr::from_parts((p, n), indptr, indices, data, "column")
                .map_err(|e| format!("the column-permuted (null) data is malformed: {e}"))?;
            Ok(Matrix::Sparse(t.transpose()))
        }
    }
}

impl SweepData {
    /// The data of `source` (NaN entries are missing; taken over, so X is held once, in f32 alone
    /// when the fits run in `precision` f32 and its values are exact in f32) and, when
    /// `null` is set, a column-permuted copy drawn from the master seed. With `svd_rank` > 0, the SVDs for NNDSVD starts; an error
    /// names the matrix whose SVD failed.
    pub fn new(
        source: Matrix,
        precision: Precision,
        seed: u64,
        heldout_fraction: f64,
        null: bool,
        svd_rank: usize,
        heldout_repeats: usize,
    ) -> Result<Self, String> {
        let null = if null {
            let mut rng = fit_rng(fit_seed(seed ^ JobKind::Null.stream(), 0, usize::MAX));
            Some(fit_matrix(permuted_columns(&source, &mut rng)?, precision))
        } else {
            None
        };
        let main = fit_matrix(source, precision);
        let mut data = SweepData {
            main,
            null,
            seed,
            heldout_fraction,
            svd: Vec::new(),
            heldout_live: Mutex::new(Vec::new()),
        };
        if svd_rank > 0 {
            // Multi-threaded BLAS/LAPACK gives other bits than single-threaded (seen with the
            // randomized SVD's products and QR): the SVDs, like the fits, run on one BLAS thread,
            // so a start does not depend on the machine's core count.
            crate::linalg::set_blas_threads(1);
            let top = |x: &FitMatrix, what: &str| {
                Svd::top_of(x, svd_rank).ok_or_else(|| format!("the SVD of {what} failed; use init = \"random\""))
            };
            let mut svd = vec![(JobKind::Fit, 0, top(&data.main, "the data")?)];
            if let Some(nm) = &data.null {
                svd.push((JobKind::Null, 0, top(nm, "the permuted data")?));
            }
            for repeat in 0..heldout_repeats {
                let train = data.heldout_matrix(repeat);
                svd.push((
                    JobKind::Heldout,
                    repeat,
                    top(&train, "a cross-validation training matrix")?,
                ));
            }
            data.svd = svd;
        }
        Ok(data)
    }

    /// The training matrix of cross-validation repeat `repeat`: held-out and missing entries 0 and
    /// left out, scored on the held-out ones.
    pub fn heldout_matrix(&self, repeat: usize) -> FitMatrix {
        let (seed, f) = (self.seed, self.heldout_fraction);
        let miss = self.main.excluded().map(|m| &**m);
        let (train, ho) = match self.main.stored() {
            Stored::Dense(x) => {
                let (train, ho) = HeldOut::split(x, seed, repeat, f, miss);
                (FitMatrix::new(train), ho)
            }
            // X held in f32 alone: so is its training copy (a subset of its values, and zeros).
            Stored::Dense32(x) => {
                let (train, ho) = HeldOut::split(x, seed, repeat, f, miss);
                (FitMatrix::new_f32(train), ho)
            }
            Stored::Sparse(x) => {
                let (train, ho) = HeldOut::split_sparse(x, seed, repeat, f, miss);
                (FitMatrix::sparse(train), ho)
            }
        };
        let ho = Arc::new(ho);
        let excluded = match self.main.excluded() {
            Some(miss) => Arc::new(ho.union(miss)),
            None => Arc::clone(&ho),
        };
        train.excluding(Some(excluded), Some(ho))
    }

    /// The training matrix of repeat `repeat`, shared with the running jobs that hold it already
    /// (made here otherwise). The matrix depends on (seed, repeat) only, so sharing it changes
    /// no bit of any fit.
    pub fn shared_heldout_matrix(&self, repeat: usize) -> Arc<FitMatrix> {
        let mut live = self.heldout_live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|(_, w)| w.strong_count() > 0);
        if let Some(m) = live.iter().find(|(r, _)| *r == repeat).and_then(|(_, w)| w.upgrade()) {
            return m;
        }
        let m = Arc::new(self.heldout_matrix(repeat));
        live.push((repeat, Arc::downgrade(&m)));
        m
    }

    /// The SVD a job's NNDSVD start comes from.
    fn svd_for(&self, job: &Job) -> Option<&Svd> {
        let index = if job.kind == JobKind::Heldout { job.index } else { 0 };
        self.svd
            .iter()
            .find(|(k, i, _)| *k == job.kind && *i == index)
            .map(|(_, _, s)| s)
    }
}

/// The seed of the resampled copy job `job` fits (`[sweep] resample`): a stream of its own,
/// `fit_seed(master ^ kind stream ^ RESAMPLE_STREAM, rank, index)`, so the copy depends on
/// (seed, kind, rank, restart) only, never on threads, shards or the order jobs run in.
pub fn resample_seed(master: u64, job: &Job) -> u64 {
    fit_seed(master ^ job.kind.stream() ^ RESAMPLE_STREAM, job.rank, job.index)
}

/// The resampled copy of X a job fits.
struct Copy {
    /// The copy.
    x: FitMatrix,
    /// For a bootstrap sample, the row of X each of its rows is.
    rows: Option<Vec<usize>>,
}

/// The resampled copy of `x` that `job` fits, or None when it fits `x` itself. Restarts and null
/// restarts resample (the null baseline then measures the same thing, start and noise, on data
/// without structure); cross-validation fits never do: their score is about the held-out entries
/// of the original X.
fn resampled_for(data: &SweepData, s: &FitSettings, job: &Job, x: &FitMatrix) -> Option<Copy> {
    let mut rng = fit_rng(resample_seed(data.seed, job));
    match (s.resample, job.kind) {
        (Resample::None, _) | (_, JobKind::Heldout) => None,
        (Resample::Poisson, JobKind::Fit | JobKind::Null) => Some(Copy {
            x: resample::poisson(x, &mut rng),
            rows: None,
        }),
        (Resample::Bootstrap, JobKind::Fit | JobKind::Null) => {
            let rows = resample::bootstrap_rows(x.dim().0, &mut rng);
            Some(Copy {
                x: resample::rows_of(x, &rows),
                rows: Some(rows),
            })
        }
    }
}

/// Runs one job: random start from the job's own stream, then the driver loop; a held-out fit is
/// then scored on its held-out entries (`extra`: per-block deviance sums, then counts). With
/// `inner_parallel` (fewer fits than threads) the fit spreads its steps over the rayon pool; the
/// bits are the same either way.
///
/// With `[sweep] resample`, a restart fits its own resampled copy of X (made here, so one extra
/// X per running fit), from the same start as without resampling (for a bootstrap sample, the
/// start's rows of the observations drawn). A bootstrap fit's W is then solved for X's own
/// observations with its H fixed (`nmf::project::project_w`). Its objectives are then those
/// of its (W, H) on the original X, so the best fit is chosen on the data, not on a copy (the
/// factors floored first, [`resample::floor_factors`], so that a line which drew all zeros in
/// the copy does not make that objective infinite).
pub fn run_job(data: &SweepData, s: &FitSettings, job: Job, inner_parallel: bool, cancel: &AtomicBool) -> StoredFit {
    let t0 = Instant::now();
    let heldout_data;
    let matrix = match job.kind {
        JobKind::Fit => &data.main,
        JobKind::Null => data.null.as_ref().unwrap_or(&data.main),
        JobKind::Heldout => {
            heldout_data = data.shared_heldout_matrix(job.index);
            &*heldout_data
        }
    };
    let (n, p) = matrix.dim();
    let mut rng = fit_rng(job.seed);
    let (w, h) = match (s.init, data.svd_for(&job)) {
        (Init::Nndsvd | Init::Nndsvda | Init::Nndsvdar, Some(svd)) => {
            init::nndsvd(svd, job.rank, s.init, matrix.mean(), &mut rng)
        }
        // SweepData::new computes the SVDs whenever the init needs them.
        _ => init::random(&mut rng, n, p, job.rank, matrix.mean()),
    };
    let copy = resampled_for(data, s, &job, matrix);
    let fitted = copy.as_ref().map_or(matrix, |c| &c.x);
    // A bootstrap sample starts from the start's rows of the observations it drew.
    let w = match copy.as_ref().and_then(|c| c.rows.as_ref()) {
        Some(rows) => w.select(Axis(0), rows),
        None => w,
    };
    let mut out = match s.precision {
        // `Auto` was resolved against the data when the settings were made (run.rs); f64 here
        // is only the safe answer for settings made without data.
        Precision::F64 | Precision::Auto => fit_in::<f64>(fitted, s, job.rank, w, h, inner_parallel, cancel),
        Precision::F32 => fit_in::<f32>(fitted, s, job.rank, w, h, inner_parallel, cancel),
    };
    if let Some(Copy { x, rows }) = copy {
        drop(x);
        if !matches!(out.stop, StopReason::NonFinite | StopReason::Cancelled) {
            if rows.is_some() {
                // H was fitted to the sample; W for X's own observations is the convex
                // fixed-H problem (with the same penalty on W).
                let (l1, l2) = (s.penalty.l1_w, s.penalty.l2_w);
                out.w = project_w(matrix.stored(), out.h.view(), s.loss, l1, l2, inner_parallel).factor;
            }
            resample::floor_factors(&mut out.w, &mut out.h);
            let mut scratch = matrix.objective_scratch(job.rank);
            let mut o = objectives_of(matrix, out.w.view(), out.h.view(), &mut scratch);
            o.penalty = s.penalty.value(out.w.view(), out.h.view());
            out.objectives = o;
        }
    }
    let extra = match matrix.heldout() {
        Some(ho) if out.stop != StopReason::NonFinite => {
            crate::stats::heldout::score(ho, out.w.view(), out.h.view(), s.loss)
        }
        _ => Vec::new(),
    };
    let record = FitRecord {
        job,
        objectives: out.objectives,
        iterations: out.iterations,
        stop: out.stop,
        seconds: t0.elapsed().as_secs_f64(),
    };
    StoredFit {
        record,
        w: out.w,
        h: out.h,
        extra,
    }
}

/// One fit of `matrix` at `rank` from (w, h), in precision T (`inner_parallel` as in [`run_job`]).
fn fit_in<T: Scalar>(
    matrix: &FitMatrix,
    s: &FitSettings,
    rank: usize,
    w: Array2<f64>,
    h: Array2<f64>,
    inner_parallel: bool,
    cancel: &AtomicBool,
) -> FitOutcome {
    let mut rule = s.solver.rule::<T>(matrix, s.loss, rank, s.penalty);
    rule.set_parallel(inner_parallel);
    let opts = FitOptions {
        loss: s.loss,
        stop: &s.stop,
        penalty: &s.penalty,
        cancel,
    };
    fit(matrix, rule.as_mut(), (w, h), &opts, None)
}

/// Runs every job on a pool of `threads` workers and hands each result, as it finishes, to
/// `on_done` on the calling thread (the single writer). Stops early when `on_done` fails; once
/// `cancel` is set, no further job starts (those in flight stop at their next iteration).
pub fn run_jobs<E>(
    data: &SweepData,
    settings: &FitSettings,
    jobs: &[Job],
    threads: usize,
    cancel: &AtomicBool,
    mut on_done: impl FnMut(StoredFit) -> Result<(), E>,
) -> Result<Result<(), E>, rayon::ThreadPoolBuildError> {
    // One level of parallelism: rayon across fits, single-threaded BLAS inside them (nested BLAS
    // threads inside rayon workers ran 2-3x slower here, and multi-threaded BLAS does not promise
    // the same bits: OpenBLAS's sgemm gave different ones with 4 threads than with 1). With fewer
    // fits than threads, the fits spread their own steps over the idle workers (rules with a
    // parallel form, which gives the same bits).
    crate::linalg::set_blas_threads(1);
    let threads = threads.max(1);
    let inner_parallel = jobs.len() < threads;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    // Costly jobs (high ranks) first, so the last jobs to run are short ones.
    let mut order: Vec<Job> = jobs.to_vec();
    order.sort_by_key(|j| (std::cmp::Reverse(j.rank), j.kind, j.index));
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = AtomicBool::new(false);
    let mut result = Ok(());
    std::thread::scope(|s| {
        s.spawn(|| {
            pool.install(|| {
                order.par_iter().with_max_len(1).for_each_with(tx, |tx, &job| {
                    if stop.load(std::sync::atomic::Ordering::Relaxed)
                        || cancel.load(std::sync::atomic::Ordering::Relaxed)
                    {
                        return;
                    }
                    // A send fails only if the receiver is gone (the writer stopped).
                    let _ = tx.send(run_job(data, settings, job, inner_parallel, cancel));
                });
            });
        });
        for done in rx {
            if result.is_ok() {
                result = on_done(done);
                if result.is_err() {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    });
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::update::tests::awkward_data;
    use crate::record::{Collected, Collector, GridSize, jobs};

    fn settings() -> FitSettings {
        FitSettings {
            loss: Loss::Kl,
            solver: Solver::Mu,
            init: Init::Random,
            penalty: Penalty::NONE,
            precision: Precision::F64,
            resample: Resample::None,
            stop: StopRule {
                max_iter: std::num::NonZeroUsize::new(200).unwrap(),
                tol: 1e-7,
                check_every: std::num::NonZeroUsize::new(10).unwrap(),
                rule: crate::nmf::fit::Convergence::Decrease,
            },
        }
    }

    const SIZE: GridSize = GridSize {
        restarts: 4,
        heldout_repeats: 2,
        null_restarts: 2,
    };

    fn sweep(threads: usize) -> Collected {
        let data = SweepData::new(Matrix::Dense(awkward_data(30, 25)), Precision::F64, 5, 0.1, true, 0, 0).unwrap();
        let grid = jobs(&[2, 3], SIZE, 5);
        let mut c = Collector::new(Loss::Kl, &[2, 3], 30, SIZE, true);
        run_jobs(&data, &settings(), &grid, threads, &AtomicBool::new(false), |f| {
            c.add(f);
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
        c.finish()
    }

    #[test]
    fn grid_order_and_seeds() {
        let g = jobs(
            &[2, 5],
            GridSize {
                restarts: 3,
                heldout_repeats: 1,
                null_restarts: 0,
            },
            1,
        );
        assert_eq!(g.len(), 8);
        assert_eq!((g[0].rank, g[0].index, g[0].kind), (2, 0, JobKind::Fit));
        assert_eq!((g[3].kind, g[3].index), (JobKind::Heldout, 0));
        assert_eq!(g[5].seed, fit_seed(1, 5, 1));
        assert_ne!(g[3].seed, fit_seed(1, 2, 0), "kinds draw from different streams");
    }

    #[test]
    fn one_thread_equals_two_threads_bitwise() {
        let a = sweep(1);
        let b = sweep(2);
        assert_eq!(a.records.len(), 16);
        let key = |r: &FitRecord| {
            (
                r.job,
                r.objectives.kl.to_bits(),
                r.objectives.frobenius_sq.to_bits(),
                r.iterations,
                r.stop,
            )
        };
        assert_eq!(
            a.records.iter().map(key).collect::<Vec<_>>(),
            b.records.iter().map(key).collect::<Vec<_>>()
        );
        assert_eq!(a.heldout_deviance, b.heldout_deviance);
        for (x, y) in a.ranks.iter().zip(&b.ranks) {
            let (bx, by) = (x.best.as_ref().unwrap(), y.best.as_ref().unwrap());
            assert_eq!(bx.0.job, by.0.job);
            assert!(bx.1.iter().zip(by.1.iter()).all(|(p, q)| p.to_bits() == q.to_bits()));
            assert!(bx.2.iter().zip(by.2.iter()).all(|(p, q)| p.to_bits() == q.to_bits()));
            assert_eq!(x.consensus, y.consensus);
            let bits = |h: &Option<crate::stats::HeldoutScore>| {
                let h = h.as_ref().unwrap();
                (
                    h.mean.to_bits(),
                    h.block_means.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                )
            };
            assert_eq!(bits(&x.heldout), bits(&y.heldout));
            assert!(x.heldout.as_ref().unwrap().mean.is_finite());
        }
    }

    #[test]
    fn best_is_the_lowest_loss() {
        let c = sweep(2);
        for s in c.ranks {
            let best = s.best.unwrap().0;
            let fits = c
                .records
                .iter()
                .filter(|r| r.job.rank == s.rank && r.job.kind == JobKind::Fit);
            let min = fits.map(|r| r.objectives.kl).fold(f64::INFINITY, f64::min);
            assert_eq!(best.objectives.kl, min);
            assert_eq!((s.fits, s.converged + s.max_iter + s.failed), (4, 4));
        }
    }
}
