//! The statistics of the rank-selection figure, one panel each, in the order they are drawn:
//! best value of the loss, held-out score (± 1 SE), cophenetic correlation and dispersion (with
//! the null baseline), and component stability.
//!
//! To add a statistic, write a `Statistic` here that builds its `Panel` and list it in
//! `STATISTICS`; the figure lays out however many panels have values.

use super::panel::Panel;
use crate::nmf::Loss;
use crate::stats::HeldoutScore;
use crate::record::RankSummary;

/// Builds the panel of one statistic from the ranks of a sweep (ascending) and its loss.
pub(super) type Statistic = fn(&[RankSummary], Loss) -> Panel;

/// The panels of the rank-selection figure, in drawing order (those without values are left out).
pub(super) const STATISTICS: &[Statistic] = &[objective, heldout, cophenetic, dispersion, stability];

/// `f` of each rank.
fn per_rank(ranks: &[RankSummary], f: impl Fn(&RankSummary) -> Option<f64>) -> Vec<Option<f64>> {
    ranks.iter().map(f).collect()
}

/// `v` when finite.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Standard error of a held-out mean: the spread of the finite block means, sd / sqrt(n).
pub(super) fn standard_error(h: &HeldoutScore) -> Option<f64> {
    let v: Vec<f64> = h.block_means.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    finite((var / n).sqrt())
}

/// `kl` or `frobenius`, whichever names `loss`.
fn by_loss(loss: Loss, kl: &'static str, frobenius: &'static str) -> &'static str {
    match loss {
        Loss::Kl => kl,
        Loss::Frobenius => frobenius,
    }
}

/// The best value of the loss per rank.
fn objective(ranks: &[RankSummary], loss: Loss) -> Panel {
    Panel::new(
        by_loss(loss, "best KL divergence", "best squared Frobenius error"),
        per_rank(ranks, |s| {
            s.best
                .as_ref()
                .and_then(|(rec, _, _)| finite(rec.objectives.value(loss)))
        }),
    )
}

/// The held-out score per held-out entry, ± one standard error over the held-out blocks.
fn heldout(ranks: &[RankSummary], loss: Loss) -> Panel {
    let caption = by_loss(
        loss,
        "held-out deviance per entry (± 1 SE)",
        "held-out squared error per entry (± 1 SE)",
    );
    Panel::new(
        caption,
        per_rank(ranks, |s| s.heldout.as_ref().and_then(|h| finite(h.mean))),
    )
    .with_errors(per_rank(ranks, |s| s.heldout.as_ref().and_then(standard_error)))
}

/// A consensus statistic with the null baseline dashed (named in the caption when some rank has it).
fn against_null(name: &str, values: Vec<Option<f64>>, baseline: Vec<Option<f64>>) -> Panel {
    let caption = if baseline.iter().any(Option::is_some) {
        format!("{name} (dashed: null)")
    } else {
        name.to_string()
    };
    Panel::new(caption, values).with_baseline(baseline)
}

/// The cophenetic correlation of the consensus per rank, against the null's.
fn cophenetic(ranks: &[RankSummary], _: Loss) -> Panel {
    against_null(
        "cophenetic correlation",
        per_rank(ranks, |s| {
            s.consensus_stats.as_ref().and_then(|c| c.cophenetic).and_then(finite)
        }),
        per_rank(ranks, |s| s.null.as_ref().and_then(|n| n.cophenetic).and_then(finite)),
    )
}

/// The dispersion of the consensus per rank, against the null's.
fn dispersion(ranks: &[RankSummary], _: Loss) -> Panel {
    against_null(
        "dispersion",
        per_rank(ranks, |s| s.consensus_stats.as_ref().and_then(|c| finite(c.dispersion))),
        per_rank(ranks, |s| s.null.as_ref().and_then(|n| n.dispersion).and_then(finite)),
    )
}

/// The stability the default rule uses: the silhouette, else (hollow) the mean matched correlation.
fn stability(ranks: &[RankSummary], _: Loss) -> Panel {
    let stability = per_rank(ranks, |s| {
        s.stability
            .as_ref()
            .and_then(|st| st.silhouette.or(Some(st.corr_mean)))
            .and_then(finite)
    });
    let fallback: Vec<bool> = ranks
        .iter()
        .zip(&stability)
        .map(|(s, v)| v.is_some() && s.stability.as_ref().is_some_and(|st| st.silhouette.is_none()))
        .collect();
    let present = stability.iter().filter(|v| v.is_some()).count();
    let fell_back = fallback.iter().filter(|&&b| b).count();
    let caption = if fell_back == 0 {
        "component stability (silhouette)"
    } else if fell_back == present {
        "component stability (mean matched corr.)"
    } else {
        "component stability (hollow: mean matched corr.)"
    };
    Panel::new(caption, stability).with_hollow(fallback)
}
