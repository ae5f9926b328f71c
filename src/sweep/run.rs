//! One whole sweep: check the output dir, read and check the data, fit the grid, write the results.
//! Every check runs before the first product is computed.

use super::{FitRecord, FitSettings, RankSummary, Reducer, jobs, run_jobs};
use crate::config::Plan;
use crate::data::{Dataset, ZeroLines, read_hdf5};
use crate::error::{Error, Result};
use crate::nmf::FitMatrix;
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
    report::prepare_out_dir(&plan.out_dir, force)?;
    let dataset: Dataset = read_hdf5(&plan.data)?;
    let (n, p) = dataset.x.dim();
    for w in plan.check_ranks(n, p)? {
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
    report::write_results(plan, &dataset.provenance, &zero, &records, &summaries)?;
    if let Some(s) = summaries.iter().find(|s| s.best.is_none()) {
        return Err(Error::Numerical {
            rank: s.rank,
            fits: s.fits,
            hint: format!(
                "the failed fits are listed in {}; check the data's scale (very large or tiny values) or try loss = \"frobenius\"",
                plan.out_dir.join("fits.tsv").display()
            ),
        });
    }
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
