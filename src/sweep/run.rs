//! One whole sweep: check the output dir, read and check the data, fit the grid (each finished
//! job stored durably before it counts), compute the statistics, choose the rank, write results.
//! Every check runs before the first product is computed.

use super::store::{self, StoredFit};
use super::{Collected, Collector, FitRecord, FitSettings, GridSize, Job, JobKind, SweepData, jobs, run_jobs};
use crate::config::Plan;
use crate::data::{Dataset, ZeroLines, read_hdf5};
use crate::error::{Error, Result};
use crate::nmf::{FitMatrix, Loss, StopReason};
use crate::progress::Observer;
use crate::report;
use crate::stats::{ConsensusAccumulator, Decision, Evidence, StabilityAccumulator, decide_all, spread};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// What a finished sweep hands back to the command line (the files are already written).
#[derive(Debug)]
pub struct Outcome {
    /// Records and per-rank results; W (N x r) and H (r x p) of the full data.
    pub collected: Collected,
    /// The rank decision.
    pub decision: Decision,
}

/// The fingerprint of everything a job's result depends on: program version, the data's
/// checksum, and every setting that changes a fit. Records made under another fingerprint are
/// never used.
pub fn fingerprint(plan: &Plan, data_sha256: &str) -> [u8; 32] {
    let text = format!(
        "nnmf-sweep {}\ndata {data_sha256}\nloss {}\nsolver {}\ninit {}\nseed {}\nmax_iter {}\ntol {:e}\ncheck_every {}\nheldout_fraction {:e}\npenalty {:?}\nprecision {}\n",
        env!("CARGO_PKG_VERSION"),
        plan.loss.name(),
        plan.solver.name(),
        plan.init.name(),
        plan.seed,
        plan.stop.max_iter,
        plan.stop.tol,
        plan.stop.check_every,
        plan.selection.heldout_fraction,
        plan.penalty,
        plan.precision.name(),
    );
    Sha256::digest(text.as_bytes()).into()
}

/// Runs the sweep of `plan`; `force` allows overwriting results in the output directory.
pub fn execute(plan: &Plan, force: bool, obs: &mut dyn Observer, cancel: &AtomicBool) -> Result<Outcome> {
    let created = report::prepare_out_dir(&plan.out_dir, force)?;
    // Ranks are checked against the matrix as fitted, without its all-zero rows and columns.
    let checked = read_hdf5(&plan.data).and_then(|d| {
        let zero = ZeroLines::find(&d.x);
        let (n_fit, p_fit) = (d.x.nrows() - zero.zero_rows.len(), d.x.ncols() - zero.zero_cols.len());
        plan.check_ranks(n_fit, p_fit, !zero.is_empty()).map(|w| (d, zero, w))
    });
    let (dataset, zero, warnings): (Dataset, ZeroLines, _) = match checked {
        Ok(v) => v,
        Err(e) => {
            if created {
                // Leave no trace of a run that never started (remove_dir only removes it if empty).
                let _ = std::fs::remove_dir(&plan.out_dir);
            }
            return Err(e);
        }
    };
    if force {
        // Every check passed: the previous run's results go now, marker first, so nothing of it
        // can be taken for part of this run (or for a finished run if this one is interrupted).
        report::clear_previous(&plan.out_dir)?;
    }
    for w in warnings {
        obs.warn(&w);
    }
    if let Some(w) = zero.warning() {
        obs.warn(&w);
    }
    let fitted = zero.reduce(&dataset.x);
    let n_fit = fitted.nrows();
    let sel = &plan.selection;
    let size = GridSize {
        restarts: plan.restarts,
        heldout_repeats: sel.heldout_repeats,
        null_restarts: sel.null_restarts,
    };

    let consensus = consensus_allowed(plan, n_fit, obs);
    if plan.init.is_deterministic() && plan.restarts > 1 {
        obs.warn(&format!(
            "init = \"{}\" is deterministic: all {} restarts of a rank start from the same point and give the same fit; \
             use init = \"nndsvdar\" or \"random\" for restarts that differ",
            plan.init.name(),
            plan.restarts
        ));
    }
    let svd_rank = if plan.init.needs_svd() {
        plan.ranks.iter().copied().max().unwrap_or(1)
    } else {
        0
    };
    let data = SweepData::new(
        FitMatrix::new(fitted),
        plan.seed,
        sel.heldout_fraction,
        sel.null_restarts > 0,
        svd_rank,
        sel.heldout_repeats,
    )
    .map_err(|message| Error::Data {
        path: plan.data.path.clone(),
        dataset: plan.data.dataset.clone(),
        message,
    })?;
    let settings = FitSettings {
        loss: plan.loss,
        solver: plan.solver,
        init: plan.init,
        penalty: plan.penalty,
        precision: plan.precision,
        inner_parallel: false,
        stop: plan.stop,
    };
    let grid = jobs(&plan.ranks, size, plan.seed);
    let fp = fingerprint(plan, &dataset.provenance.sha256);
    let records_dir = store::records_dir(&plan.out_dir);
    std::fs::create_dir_all(&records_dir)
        .map_err(|e| Error::io(format!("cannot create {}", records_dir.display()), e))?;

    obs.start(grid.len());
    let mut collector = Collector::new(plan.loss, &plan.ranks, n_fit, size, consensus);
    run_jobs(
        &data,
        &settings,
        &grid,
        plan.threads,
        cancel,
        |fit: StoredFit| -> Result<()> {
            // Durable before it counts.
            store::write(&plan.out_dir, &fp, &fit)?;
            obs.fit_done(&fit.record);
            collector.add(fit);
            Ok(())
        },
    )
    .map_err(|e| Error::io("cannot start the worker threads", std::io::Error::other(e)))??;
    obs.finish();

    let mut collected = collector.finish();
    rank_statistics(&mut collected, &plan.out_dir, &fp, plan.loss)?;
    let evidence: Vec<Evidence> = collected
        .ranks
        .iter()
        .map(|s| Evidence {
            rank: s.rank,
            cophenetic: s.consensus_stats.as_ref().and_then(|c| c.cophenetic),
            stability: s.stability.as_ref().and_then(|st| st.silhouette),
            heldout: s.heldout.clone(),
        })
        .collect();
    let decision = decide_all(sel.rule, &evidence);

    if let Some(s) = collected.ranks.iter().find(|s| s.best.is_none()) {
        // No results.h5 (its presence means a finished sweep); the tables stay for diagnosis.
        report::write_tables(&plan.out_dir, &collected, &decision)?;
        let other = match plan.loss {
            Loss::Kl => "loss = \"frobenius\"",
            Loss::Frobenius => "loss = \"kl\" (for counts)",
        };
        return Err(Error::Numerical {
            rank: s.rank,
            fits: s.fits,
            hint: format!(
                "no results.h5 was written; the failed fits are listed in {}; check the data's scale \
                 (very large or tiny values: rescale it) or try {other}",
                plan.out_dir.join("fits.tsv").display()
            ),
        });
    }
    for s in &mut collected.ranks {
        if let Some((_, w, h)) = &mut s.best {
            *w = zero.restore_w(w);
            *h = zero.restore_h(h);
        }
    }
    report::write_results(plan, &dataset, &zero, &collected, &decision)?;
    for s in &collected.ranks {
        if s.failed > 0 {
            obs.warn(&format!(
                "rank {}: {} of {} fits had a non-finite objective and were left out",
                s.rank, s.failed, s.fits
            ));
        }
    }
    Ok(Outcome { collected, decision })
}

/// Whether the N x N consensus statistics fit in `[selection] consensus_max_mb`; warns why not.
fn consensus_allowed(plan: &Plan, n: usize, obs: &mut dyn Observer) -> bool {
    if plan.restarts < 2 {
        obs.warn("consensus and stability statistics need at least 2 restarts per rank; they are skipped");
        return false;
    }
    let accumulators = plan.ranks.len() * if plan.selection.null_restarts > 0 { 2 } else { 1 };
    let mib = ConsensusAccumulator::bytes_needed(n, accumulators).div_ceil(1 << 20);
    if mib > plan.selection.consensus_max_mb {
        obs.warn(&format!(
            "consensus statistics (cophenetic, dispersion, consensus clusters) skipped: {n} observations need about \
             {mib} MiB for the N x N consensus of {accumulators} ranks, above [selection] consensus_max_mb = {}; \
             raise it to at least {mib} to compute them",
            plan.selection.consensus_max_mb
        ));
        return false;
    }
    true
}

/// Consensus summaries, objective spread and component stability of every rank. Stability
/// streams twice over the stored records of the rank's fits (memory O(r·p)).
fn rank_statistics(c: &mut Collected, out: &Path, fp: &[u8; 32], loss: Loss) -> Result<()> {
    for s in &mut c.ranks {
        s.consensus_stats = s.consensus.as_ref().and_then(|a| a.stats(s.rank));
        let records: Vec<&FitRecord> = c
            .records
            .iter()
            .filter(|r| r.job.kind == JobKind::Fit && r.job.rank == s.rank)
            .collect();
        let values: Vec<f64> = records.iter().map(|r| r.objectives.value(loss)).collect();
        s.spread = spread(&values);
        let fits: Vec<Job> = records
            .iter()
            .filter(|r| !matches!(r.stop, StopReason::NonFinite | StopReason::Cancelled))
            .map(|r| r.job)
            .collect();
        if let Some((_, _, h)) = &s.best
            && fits.len() >= 2
        {
            let mut acc = StabilityAccumulator::new(h.view());
            for job in &fits {
                acc.add(store::read(out, fp, job)?.h.view());
            }
            for job in &fits {
                acc.add_silhouette(store::read(out, fp, job)?.h.view());
            }
            s.stability = acc.finish();
        }
    }
    Ok(())
}
