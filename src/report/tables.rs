//! Tab-separated tables and the terminal summary.
//!
//! Floats in TSV files use Rust's shortest round-trip form, so they read back to the same bits;
//! a missing value (a failed fit's objectives, a statistic that was not computed) is `NA`.

use crate::rankstat::Cell;
use crate::record::{Collected, FitRecord, Job, JobKind, RankSummary};
use crate::stats::Decision;
use ndarray::Array2;
use std::fmt::Write;

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "NA".to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("NA".to_string(), num)
}

/// The held-out deviance of a job, for the extra column of heldout.tsv.
type DevianceOf<'a> = &'a dyn Fn(&Job) -> Option<f64>;

/// One row per job of `kind`, in (rank, index) order; `deviance` adds a held-out deviance column.
fn record_table(records: &[FitRecord], kind: JobKind, index_name: &str, deviance: Option<DevianceOf>) -> String {
    let dev_col = if deviance.is_some() { "\theldout_deviance" } else { "" };
    let mut s = format!(
        "rank\t{index_name}\tseed\tkl\tpoisson_loglik\tfrobenius_sq\tpenalty{dev_col}\titerations\tstop_reason\tseconds\n"
    );
    for r in records.iter().filter(|r| r.job.kind == kind) {
        let o = &r.objectives;
        let dev = deviance.map_or(String::new(), |d| format!("\t{}", opt(d(&r.job))));
        let _ = writeln!(
            s,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}{dev}\t{}\t{}\t{:.3}",
            r.job.rank,
            r.job.index,
            r.job.seed,
            num(o.kl),
            num(o.poisson_loglik),
            num(o.frobenius_sq),
            num(o.penalty),
            r.iterations,
            r.stop.name(),
            r.seconds
        );
    }
    s
}

/// fits.tsv (kind `Fit`) or null_fits.tsv (kind `Null`): one row per fit, in (rank, restart) order.
pub fn fits_tsv(records: &[FitRecord], kind: JobKind) -> String {
    record_table(records, kind, "restart", None)
}

/// heldout.tsv: one row per cross-validation fit; objectives are over the observed entries, the
/// deviance is the mean per held-out entry.
pub fn heldout_tsv(c: &Collected) -> String {
    let deviance = |job: &Job| c.heldout_deviance.iter().find(|(j, _)| j == job).map(|(_, d)| *d);
    record_table(&c.records, JobKind::Heldout, "repeat", Some(&deviance))
}

/// The columns of summary.tsv before the statistics' columns: how the rank's fits ended and the
/// best fit's objectives.
const SUMMARY_FITS: [&str; 13] = [
    "rank",
    "fits",
    "converged",
    "max_iter",
    "failed",
    "best_restart",
    "best_seed",
    "kl",
    "poisson_loglik",
    "frobenius_sq",
    "penalty",
    "iterations",
    "stop_reason",
];

/// The columns of summary.tsv for `ranks`: the fits' columns, every rank statistic's shown for
/// them, and `chosen`.
pub fn summary_header(ranks: &[RankSummary]) -> Vec<&'static str> {
    let stats = crate::rankstat::shown_columns(ranks).map(|c| c.name);
    SUMMARY_FITS.into_iter().chain(stats).chain(["chosen"]).collect()
}

/// A statistic's cell as text: `fmt` renders floats (None or non-finite: `NA` via `fmt`).
fn cell_text(cell: Cell, fmt: &dyn Fn(Option<f64>) -> String) -> String {
    match cell {
        Cell::Float(v) => fmt(v),
        Cell::Count(n) => n.map_or("NA".into(), |n| n.to_string()),
    }
}

/// The summary's cells, one row per rank.
fn summary_rows(ranks: &[RankSummary], decision: &Decision) -> Vec<Vec<String>> {
    ranks
        .iter()
        .map(|s| {
            let mut row = vec![
                s.rank.to_string(),
                s.fits.to_string(),
                s.converged.to_string(),
                s.max_iter.to_string(),
                s.failed.to_string(),
            ];
            match &s.best {
                Some((b, _, _)) => row.extend([
                    b.job.index.to_string(),
                    b.job.seed.to_string(),
                    num(b.objectives.kl),
                    num(b.objectives.poisson_loglik),
                    num(b.objectives.frobenius_sq),
                    num(b.objectives.penalty),
                    b.iterations.to_string(),
                    b.stop.name().to_string(),
                ]),
                None => row.extend(std::iter::repeat_n("NA".to_string(), 8)),
            }
            row.extend(crate::rankstat::shown_columns(ranks).map(|c| cell_text((c.value)(s), &opt)));
            row.push(if decision.chosen == Some(s.rank) {
                "yes".into()
            } else {
                "no".into()
            });
            row
        })
        .collect()
}

/// summary.tsv: one row per rank: how its fits ended, the best fit's objectives, and every
/// statistic behind the rank choice.
pub fn summary_tsv(ranks: &[RankSummary], decision: &Decision) -> String {
    let mut s = summary_header(ranks).join("\t");
    s.push('\n');
    for row in summary_rows(ranks, decision) {
        s.push_str(&row.join("\t"));
        s.push('\n');
    }
    s
}

/// memberships_rank_<r>.tsv: per observation its name (or index), hard label (1-based component
/// of the largest W entry, 0 for an all-zero row), consensus cluster (0 when not computed), and
/// soft memberships (rows of W scaled to sum 1).
pub fn memberships_tsv(
    memberships: &Array2<f64>,
    labels: &[i64],
    consensus: Option<&[u32]>,
    names: Option<&[String]>,
) -> String {
    let r = memberships.ncols();
    let mut s = String::from("observation\tlabel\tconsensus_label");
    for k in 1..=r {
        let _ = write!(s, "\tcomponent_{k}");
    }
    s.push('\n');
    for (i, row) in memberships.rows().into_iter().enumerate() {
        let name = names.map_or(i.to_string(), |n| n[i].clone());
        let cons = consensus.map_or(0, |c| c[i]);
        let _ = write!(s, "{name}\t{}\t{cons}", labels[i] + 1);
        for v in row {
            let _ = write!(s, "\t{}", num(*v));
        }
        s.push('\n');
    }
    s
}

/// consensus_components_rank_<r>.tsv: per consensus component (1-based, in the order of the best
/// fit's components) the restarts contributing, those dropped as outliers, the mean cosine of
/// every restart's matched component to it, and its cosine with the best fit's component.
pub fn consensus_components_tsv(f: &crate::record::ConsensusFit) -> String {
    let mut s = String::from("component\tsupport\toutliers\tmean_cosine\tcosine_to_best\n");
    for k in 0..f.support.len() {
        let _ = writeln!(
            s,
            "{}\t{}\t{}\t{}\t{}",
            k + 1,
            f.support[k],
            f.outliers[k],
            num(f.cosine[k]),
            num(f.cosine_to_best[k])
        );
    }
    s
}

/// The statistics' columns shown in the terminal summary.
fn terminal() -> impl Iterator<Item = &'static crate::rankstat::Column> {
    crate::rankstat::columns().filter(|c| c.terminal.is_some())
}

/// The terminal summary: per rank the fits, best objective and the selection statistics, then
/// the decision with its reasons.
pub fn summary_table(ranks: &[RankSummary], decision: &Decision, loss_name: &str) -> String {
    let header: Vec<String> = ["rank", "converged", "max_iter", "failed", loss_name]
        .into_iter()
        .chain(terminal().map(|c| c.terminal.unwrap_or(c.name)))
        .chain([""])
        .map(|h| h.to_string())
        .collect();
    let f4 = |v: Option<f64>| v.map_or("NA".to_string(), |x| format!("{x:.4}"));
    let rows: Vec<Vec<String>> = ranks
        .iter()
        .map(|s| {
            let best = s.best.as_ref().map(|(b, _, _)| {
                if loss_name == "kl" {
                    b.objectives.kl
                } else {
                    b.objectives.frobenius_sq
                }
            });
            let mut row = vec![
                s.rank.to_string(),
                format!("{}/{}", s.converged, s.fits),
                s.max_iter.to_string(),
                s.failed.to_string(),
                best.map_or("NA".into(), |v| format!("{v:.6e}")),
            ];
            row.extend(terminal().map(|c| cell_text((c.value)(s), &f4)));
            row.push(if decision.chosen == Some(s.rank) {
                "<- chosen".into()
            } else {
                String::new()
            });
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut out: String = std::iter::once(&header).chain(&rows).map(|r| line(r)).collect();
    out.push_str(&decision_text(decision));
    out
}

/// The decision as text (also written to selection.txt).
pub fn decision_text(d: &Decision) -> String {
    let mut s = match d.chosen {
        Some(r) => format!("chosen rank: {r} (rule \"{}\")\n", d.rule.name()),
        None => format!("no rank chosen (rule \"{}\")\n", d.rule.name()),
    };
    for reason in &d.reasons {
        let _ = writeln!(s, "  - {reason}");
    }
    if let Some(r) = d.runner_up {
        let _ = writeln!(s, "runner-up: {r}");
    }
    if !d.others.is_empty() {
        let others: Vec<String> = d
            .others
            .iter()
            .map(|(rule, c)| format!("{} -> {}", rule.name(), c.map_or("none".to_string(), |r| r.to_string())))
            .collect();
        let _ = writeln!(s, "other rules: {}", others.join(", "));
    }
    s
}
