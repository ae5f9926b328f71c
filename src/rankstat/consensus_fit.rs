//! The consensus solution of a rank (`[selection] solution = "consensus"`): the restarts'
//! components grouped by their match to the best fit's, outliers dropped by local density, the
//! group medians as components (`crate::stats::consensus_fit`), and W refitted to the data with
//! those components fixed (`crate::nmf::project::project_w`, exact per row), its objectives
//! computed as every fit's. It reads the records of the rank's usable fits once and holds their
//! components (restarts·r·p values). Computed only when the merge passes the data
//! ([`Context::refit`]), so that a sweep without the setting writes what it did before.

use super::{Cell, Column, Context, RankStatistic};
use crate::error::Result;
use crate::nmf::loss::objectives_of;
use crate::nmf::project::project_w;
use crate::record::{Collected, ConsensusFit, RankSummary, store, usable_fits};
use crate::stats::consensus_fit::ComponentGroups;
use ndarray::Array2;

/// The consensus solution.
pub struct ConsensusSolution;

impl RankStatistic for ConsensusSolution {
    fn collect(&self, c: &mut Collected, ctx: &Context) -> Result<()> {
        let Some(refit) = ctx.refit else {
            return Ok(());
        };
        for s in &mut c.ranks {
            let fits = usable_fits(&c.records, s.rank);
            let Some((_, _, best_h)) = &s.best else { continue };
            if fits.len() < 2 {
                continue;
            }
            let mut groups = ComponentGroups::new(best_h.view());
            for job in &fits {
                groups.add(store::read(ctx.out, ctx.fingerprint, job)?.h.view());
            }
            let Some(found) = groups.finish() else { continue };
            let mut h = Array2::zeros(best_h.dim());
            for (k, g) in found.iter().enumerate() {
                h.row_mut(k).assign(&(&g.centre * g.scale));
            }
            let pen = refit.penalty;
            let projection = project_w(refit.x.stored(), h.view(), ctx.loss, pen.l1_w, pen.l2_w, true);
            let w = projection.factor;
            let mut scratch = refit.x.objective_scratch(s.rank);
            let mut objectives = objectives_of(refit.x, w.view(), h.view(), &mut scratch);
            objectives.penalty = pen.value(w.view(), h.view());
            s.consensus_fit = Some(ConsensusFit {
                objective: objectives.value(ctx.loss),
                objectives,
                support: found.iter().map(|g| g.support).collect(),
                outliers: found.iter().map(|g| g.outliers).collect(),
                cosine: found.iter().map(|g| g.mean_cosine).collect(),
                cosine_to_best: groups.cosine_to_best(&found),
                unconverged: projection.unconverged,
                h,
                w,
            });
        }
        Ok(())
    }

    fn shown(&self, ranks: &[RankSummary]) -> bool {
        ranks.iter().any(|s| s.consensus_fit.is_some())
    }

    fn columns(&self) -> &'static [Column] {
        &[
            Column {
                name: "consensus_objective",
                terminal: None,
                value: |s| Cell::Float(s.consensus_fit.as_ref().map(|f| f.objective)),
            },
            Column {
                name: "consensus_min_support",
                terminal: None,
                value: |s| Cell::Count(s.consensus_fit.as_ref().and_then(|f| f.support.iter().copied().min())),
            },
            Column {
                name: "consensus_min_cosine",
                terminal: None,
                value: |s| {
                    Cell::Float(
                        s.consensus_fit
                            .as_ref()
                            .and_then(|f| f.cosine.iter().copied().min_by(f64::total_cmp)),
                    )
                },
            },
            Column {
                name: "consensus_outliers_total",
                terminal: None,
                value: |s| Cell::Count(s.consensus_fit.as_ref().map(|f| f.outliers.iter().sum())),
            },
        ]
    }
}
