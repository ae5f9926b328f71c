//! One whole sweep: check the output dir, read and check the data, fit the grid, write the results.
//! Every check runs before the first product is computed.

use super::{FitRecord, FitSettings, RankSummary, Reducer, jobs, run_jobs};
use crate::config::Plan;
use crate::data::{Dataset, ZeroLines, read_hdf5};
use crate::error::{Error, Result};
use crate::nmf::{FitMatrix, Loss};
use crate::progress::Observer;
use crate::report;
use std::sync::atomic::AtomicBool;

/// What a finished sweep hands back to the command line (the files are already written).
#[derive(Debug)]
pub struct Outcome {
    /// Every fit, in (rank, restart) order.
    pub records: Vec<FitRecord>,
    /// Per rank: the best fit, with W (N x r) and H (r x p) of the full data (zero lines restored).
    pub summaries: Vec<RankSummary>,
}

/// Runs the sweep of `plan`; `force` allows overwriting results in the output directory.
pub fn execute(plan: &Plan, force: bool, obs: &mut dyn Observer, cancel: &AtomicBool) -> Result<Outcome> {
    let created = report::prepare_out_dir(&plan.out_dir, force)?;
    let checked = read_hdf5(&plan.data).and_then(|d| plan.check_ranks(d.x.nrows(), d.x.ncols()).map(|w| (d, w)));
    let (dataset, warnings): (Dataset, _) = match checked {
        Ok(v) => v,
        Err(e) => {
            if created {
                // Leave no trace of a run that never started (remove_dir only removes it if empty).
                let _ = std::fs::remove_dir(&plan.out_dir);
            }
            return Err(e);
        }
    };
    for w in warnings {
        obs.warn(&w);
    }
    let zero = ZeroLines::find(&dataset.x);
    if let Some(w) = zero.warning() {
        obs.warn(&w);
    }
    let data = FitMatrix::new(zero.reduce(&dataset.x));
    let settings = FitSettings {
        loss: plan.loss,
        solver: plan.solver,
        init: plan.init,
        stop: plan.stop,
    };
    let grid = jobs(&plan.ranks, plan.restarts, plan.seed);

    obs.start(grid.len());
    let mut reducer = Reducer::new(plan.loss, &plan.ranks);
    run_jobs(&data, &settings, &grid, plan.threads, cancel, |rec, out| {
        obs.fit_done(&rec);
        reducer.add(rec, out);
    })
    .map_err(|e| Error::io("cannot start the worker threads", std::io::Error::other(e)))?;
    obs.finish();

    let (records, mut summaries) = reducer.finish();
    for s in &mut summaries {
        if let Some((_, w, h)) = &mut s.best {
            *w = zero.restore_w(w);
            *h = zero.restore_h(h);
        }
    }
    if let Some(s) = summaries.iter().find(|s| s.best.is_none()) {
        // No results.h5 (its presence means a finished sweep); the tables stay for diagnosis.
        report::write_tables(&plan.out_dir, &records, &summaries)?;
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
    report::write_results(plan, &dataset.provenance, &zero, &records, &summaries)?;
    for s in &summaries {
        if s.failed > 0 {
            obs.warn(&format!(
                "rank {}: {} of {} fits had a non-finite objective and were left out",
                s.rank, s.failed, s.fits
            ));
        }
    }
    Ok(Outcome { records, summaries })
}
