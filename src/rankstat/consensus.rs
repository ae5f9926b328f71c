//! Consensus statistics of a rank (Brunet et al. 2004): the cophenetic correlation and the
//! dispersion of the consensus matrix, and the silhouette of its clusters, from the co-clustering
//! counts the collector accumulated; the null baseline's values are drawn dashed beside them.

use super::{Cell, Column, Context, Panel, RankStatistic, finite, per_rank};
use crate::error::Result;
use crate::nmf::Loss;
use crate::record::{Collected, RankSummary};
use crate::stats::Evidence;

/// The consensus statistics.
pub struct Consensus;

/// A consensus statistic with the null baseline dashed (named in the caption when some rank has it).
fn against_null(name: &str, values: Vec<Option<f64>>, baseline: Vec<Option<f64>>) -> Panel {
    let caption = if baseline.iter().any(Option::is_some) {
        format!("{name} (dashed: null)")
    } else {
        name.to_string()
    };
    Panel::new(caption, values).with_baseline(baseline)
}

impl RankStatistic for Consensus {
    fn collect(&self, c: &mut Collected, _: &Context) -> Result<()> {
        for s in &mut c.ranks {
            s.consensus_stats = s.consensus.as_ref().and_then(|a| a.stats(s.rank));
        }
        Ok(())
    }

    fn evidence(&self, s: &RankSummary, _: &Collected, e: &mut Evidence) {
        e.cophenetic = s.consensus_stats.as_ref().and_then(|c| c.cophenetic);
    }

    fn columns(&self) -> &'static [Column] {
        &[
            Column {
                name: "cophenetic",
                terminal: Some("cophenetic"),
                value: |s| Cell::Float(s.consensus_stats.as_ref().and_then(|c| c.cophenetic)),
            },
            Column {
                name: "dispersion",
                terminal: Some("dispersion"),
                value: |s| Cell::Float(s.consensus_stats.as_ref().map(|c| c.dispersion)),
            },
            Column {
                name: "silhouette",
                terminal: None,
                value: |s| Cell::Float(s.consensus_stats.as_ref().and_then(|c| c.silhouette)),
            },
        ]
    }

    fn panels(&self, ranks: &[RankSummary], _: Loss) -> Vec<(u32, Panel)> {
        let cophenetic = against_null(
            "cophenetic correlation",
            per_rank(ranks, |s| {
                s.consensus_stats.as_ref().and_then(|c| c.cophenetic).and_then(finite)
            }),
            per_rank(ranks, |s| s.null.as_ref().and_then(|n| n.cophenetic).and_then(finite)),
        );
        let dispersion = against_null(
            "dispersion",
            per_rank(ranks, |s| s.consensus_stats.as_ref().and_then(|c| finite(c.dispersion))),
            per_rank(ranks, |s| s.null.as_ref().and_then(|n| n.dispersion).and_then(finite)),
        );
        vec![(30, cophenetic), (40, dispersion)]
    }
}
