//! Rank statistics: each statistic computed per rank of a sweep to choose the rank is one value
//! of [`RankStatistic`], which says how it is computed from the collected sweep, what it adds to
//! the evidence of the decision rules, its columns (summary.tsv, the terminal summary and the
//! `rank_<r>` attributes of results.h5) and its panels of the rank-selection figure. The report
//! and the merge iterate [`ALL`]; nothing else names a statistic.
//!
//! Adding a statistic is one file here (a unit struct implementing the trait; its values go in
//! [`RankSummary::extra`] unless it needs a typed field) plus its entry in [`ALL`].
//!
//! Statistics that must see every fit as it arrives (consensus counts, held-out scores, the null
//! baseline) are accumulated by the record's `Collector`; their `collect` turns the accumulated
//! state into the summary, and the others (spread, stability) compute from the records here.

mod consensus;
mod consensus_fit;
mod heldout;
mod null;
mod spread;
mod stability;

pub use heldout::standard_error;

use crate::error::Result;
use crate::nmf::{FitMatrix, Loss, Penalty};
use crate::record::{Collected, RankSummary};
use crate::stats::Evidence;
use std::path::Path;

/// Every statistic, in the order of their columns.
pub const ALL: &[&dyn RankStatistic] = &[
    &spread::Spread,
    &consensus::Consensus,
    &stability::Stability,
    &consensus_fit::ConsensusSolution,
    &heldout::Heldout,
    &null::Null,
];

/// What a statistic may read while it is computed.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The output directory (its stored records can be streamed).
    pub out: &'a Path,
    /// The fingerprint the records were made under.
    pub fingerprint: &'a [u8; 32],
    /// The configured loss.
    pub loss: Loss,
    /// The data as fitted and the penalties, for statistics that fit to it (the consensus
    /// solution); None when they are not computed.
    pub refit: Option<Refit<'a>>,
}

/// The data as fitted (N' x p', without the all-zero rows and columns) and the fits' penalties.
#[derive(Debug, Clone, Copy)]
pub struct Refit<'a> {
    /// X as fitted.
    pub x: &'a FitMatrix,
    /// The penalties of the fits.
    pub penalty: Penalty,
}

/// A value of a statistic's column for one rank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// A float; None (or non-finite) is "NA" in the tables and no attribute in results.h5.
    Float(Option<f64>),
    /// A count; None is "NA" and no attribute.
    Count(Option<usize>),
}

/// One column of a statistic.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its name in summary.tsv and results.h5.
    pub name: &'static str,
    /// Its header in the terminal summary, if it is shown there (with 4 decimals).
    pub terminal: Option<&'static str>,
    /// Its value for a rank.
    pub value: fn(&RankSummary) -> Cell,
}

/// A statistic of the ranks of a sweep.
pub trait RankStatistic: Sync {
    /// Computes the statistic of every rank of `c` (stored in its summaries).
    fn collect(&self, _c: &mut Collected, _ctx: &Context) -> Result<()> {
        Ok(())
    }

    /// Adds what the decision rules use of it to the evidence `e` of rank summary `s` of `c`.
    fn evidence(&self, _s: &RankSummary, _c: &Collected, _e: &mut Evidence) {}

    /// Its columns, in order.
    fn columns(&self) -> &'static [Column] {
        &[]
    }

    /// Whether its columns are in summary.tsv for `ranks` (a statistic computed only on request
    /// leaves them out when it was not, so the table is as without it).
    fn shown(&self, _ranks: &[RankSummary]) -> bool {
        true
    }

    /// Its panels of the rank-selection figure over `ranks` (ascending), each with its position
    /// in the figure (panels are drawn in ascending position).
    fn panels(&self, _ranks: &[RankSummary], _loss: Loss) -> Vec<(u32, Panel)> {
        Vec::new()
    }
}

/// Computes every statistic of every rank of `c`.
pub fn collect_all(c: &mut Collected, ctx: &Context) -> Result<()> {
    for s in ALL {
        s.collect(c, ctx)?;
    }
    Ok(())
}

/// The evidence of every rank of `c`, for the decision rules.
pub fn evidence(c: &Collected) -> Vec<Evidence> {
    c.ranks
        .iter()
        .map(|s| {
            let mut e = Evidence {
                rank: s.rank,
                ..Evidence::default()
            };
            for stat in ALL {
                stat.evidence(s, c, &mut e);
            }
            e
        })
        .collect()
}

/// Every statistic's columns, in order.
pub fn columns() -> impl Iterator<Item = &'static Column> {
    ALL.iter().flat_map(|s| s.columns().iter())
}

/// The columns of summary.tsv for `ranks`: those of every statistic [`RankStatistic::shown`] for them.
pub fn shown_columns(ranks: &[RankSummary]) -> impl Iterator<Item = &'static Column> {
    ALL.iter().filter(|s| s.shown(ranks)).flat_map(|s| s.columns().iter())
}

/// The panels of the rank-selection figure with values, in drawing order.
pub fn panels(ranks: &[RankSummary], loss: Loss) -> Vec<Panel> {
    let mut all: Vec<(u32, Panel)> = ALL.iter().flat_map(|s| s.panels(ranks, loss)).collect();
    all.sort_by_key(|(position, _)| *position);
    all.into_iter().map(|(_, p)| p).filter(Panel::has_values).collect()
}

/// `f` of each rank.
pub(crate) fn per_rank(ranks: &[RankSummary], f: impl Fn(&RankSummary) -> Option<f64>) -> Vec<Option<f64>> {
    ranks.iter().map(f).collect()
}

/// `v` when finite.
pub(crate) fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// One statistic over the ranks, as the rank-selection figure draws it: a line with a marker per
/// rank (a missing value is a gap), optional error bars, hollow markers and a dashed baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// The panel's caption.
    pub caption: String,
    /// Value per rank.
    pub values: Vec<Option<f64>>,
    /// Half-width of an error bar per rank.
    pub errors: Vec<Option<f64>>,
    /// Markers drawn hollow (a fallback value) per rank.
    pub hollow: Vec<bool>,
    /// Null baseline per rank (dashed).
    pub baseline: Vec<Option<f64>>,
}

impl Panel {
    /// A panel of `values` (one per rank) under `caption`, with no error bars, hollow markers or
    /// baseline.
    pub fn new(caption: impl Into<String>, values: Vec<Option<f64>>) -> Self {
        let n = values.len();
        Panel {
            caption: caption.into(),
            values,
            errors: vec![None; n],
            hollow: vec![false; n],
            baseline: vec![None; n],
        }
    }

    /// With an error bar of half-width `errors[i]` at rank i.
    pub fn with_errors(self, errors: Vec<Option<f64>>) -> Self {
        Panel { errors, ..self }
    }

    /// With the marker of rank i hollow where `hollow[i]`.
    pub fn with_hollow(self, hollow: Vec<bool>) -> Self {
        Panel { hollow, ..self }
    }

    /// With a dashed null baseline.
    pub fn with_baseline(self, baseline: Vec<Option<f64>>) -> Self {
        Panel { baseline, ..self }
    }

    /// Whether some rank has a value (a panel without is not drawn).
    pub fn has_values(&self) -> bool {
        self.values.iter().any(Option::is_some)
    }
}

/// `kl` or `frobenius`, whichever names `loss`.
pub(crate) fn by_loss(loss: Loss, kl: &'static str, frobenius: &'static str) -> &'static str {
    match loss {
        Loss::Kl => kl,
        Loss::Frobenius => frobenius,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_distinct_and_panels_keep_the_figure_order() {
        let mut names: Vec<&str> = columns().map(|c| c.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "two statistics name the same column");
        let mut positions: Vec<u32> = ALL
            .iter()
            .flat_map(|s| s.panels(&[], Loss::Kl))
            .map(|(p, _)| p)
            .collect();
        let m = positions.len();
        positions.sort_unstable();
        positions.dedup();
        assert_eq!(positions.len(), m, "two panels share a position");
        // Without ranks no panel has values, so none is drawn.
        assert!(panels(&[], Loss::Kl).is_empty());
    }
}
