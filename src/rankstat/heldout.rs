//! The held-out score of a rank (cross-validation: mean deviance per held-out entry, RcppML's
//! criterion), accumulated by the collector as the held-out fits arrive.

use super::{Cell, Column, Panel, RankStatistic, by_loss, finite, per_rank};
use crate::nmf::{Loss, StopReason};
use crate::record::{Collected, JobKind, RankSummary};
use crate::stats::{Evidence, HeldoutScore};

/// The held-out score.
pub struct Heldout;

/// Standard error of a held-out mean: the spread of the finite block means, sd / sqrt(n).
pub fn standard_error(h: &HeldoutScore) -> Option<f64> {
    let v: Vec<f64> = h.block_means.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    finite((var / n).sqrt())
}

impl RankStatistic for Heldout {
    fn evidence(&self, s: &RankSummary, c: &Collected, e: &mut Evidence) {
        e.heldout = s.heldout.clone();
        e.heldout_failed = c
            .records
            .iter()
            .filter(|r| r.job.kind == JobKind::Heldout && r.job.rank == s.rank && r.stop == StopReason::NonFinite)
            .count();
    }

    fn columns(&self) -> &'static [Column] {
        &[Column {
            name: "heldout_deviance",
            terminal: Some("heldout_dev"),
            value: |s| Cell::Float(s.heldout.as_ref().map(|h| h.mean)),
        }]
    }

    fn panels(&self, ranks: &[RankSummary], loss: Loss) -> Vec<(u32, Panel)> {
        let caption = by_loss(
            loss,
            "held-out deviance per entry (± 1 SE)",
            "held-out squared error per entry (± 1 SE)",
        );
        let panel = Panel::new(
            caption,
            per_rank(ranks, |s| s.heldout.as_ref().and_then(|h| finite(h.mean))),
        )
        .with_errors(per_rank(ranks, |s| s.heldout.as_ref().and_then(standard_error)));
        vec![(20, panel)]
    }
}
