//! The spread of the configured loss over a rank's restarts (best, median, restarts near the
//! best), and the best value per rank as the first panel of the rank-selection figure.

use super::{Cell, Column, Context, Panel, RankStatistic, by_loss, finite, per_rank};
use crate::error::Result;
use crate::nmf::Loss;
use crate::record::{Collected, JobKind, RankSummary};

/// The spread of the objective.
pub struct Spread;

impl RankStatistic for Spread {
    fn collect(&self, c: &mut Collected, ctx: &Context) -> Result<()> {
        for s in &mut c.ranks {
            let values: Vec<f64> = c
                .records
                .iter()
                .filter(|r| r.job.kind == JobKind::Fit && r.job.rank == s.rank)
                .map(|r| r.objectives.value(ctx.loss))
                .collect();
            s.spread = crate::stats::spread(&values);
        }
        Ok(())
    }

    fn columns(&self) -> &'static [Column] {
        &[
            Column {
                name: "objective_median",
                terminal: None,
                value: |s| Cell::Float(s.spread.as_ref().map(|x| x.median)),
            },
            Column {
                name: "near_best",
                terminal: None,
                value: |s| Cell::Count(s.spread.as_ref().map(|x| x.near_best)),
            },
        ]
    }

    fn panels(&self, ranks: &[RankSummary], loss: Loss) -> Vec<(u32, Panel)> {
        let best = Panel::new(
            by_loss(loss, "best KL divergence", "best squared Frobenius error"),
            per_rank(ranks, |s| {
                s.best
                    .as_ref()
                    .and_then(|(rec, _, _)| finite(rec.objectives.value(loss)))
            }),
        );
        vec![(10, best)]
    }
}
