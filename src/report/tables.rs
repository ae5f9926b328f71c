//! Tab-separated tables and the terminal summary.
//!
//! Floats in TSV files use Rust's shortest round-trip form, so they read back to the same bits;
//! a failed fit's objectives are written as `NA`.

use crate::sweep::{FitRecord, RankSummary};
use std::fmt::Write;

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "NA".to_string()
    }
}

/// fits.tsv: one row per fit, in (rank, restart) order.
pub fn fits_tsv(records: &[FitRecord]) -> String {
    let mut s =
        String::from("rank\trestart\tseed\tkl\tpoisson_loglik\tfrobenius_sq\titerations\tstop_reason\tseconds\n");
    for r in records {
        let o = &r.objectives;
        let _ = writeln!(
            s,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.3}",
            r.job.rank,
            r.job.restart,
            r.job.seed,
            num(o.kl),
            num(o.poisson_loglik),
            num(o.frobenius_sq),
            r.iterations,
            r.stop.name(),
            r.seconds
        );
    }
    s
}

const SUMMARY_HEADER: [&str; 12] = [
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
    "iterations",
    "stop_reason",
];

/// The summary's cells, one row per rank; `fmt` renders the objective values.
fn summary_rows(summaries: &[RankSummary], fmt: impl Fn(f64) -> String) -> Vec<Vec<String>> {
    summaries
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
                    b.job.restart.to_string(),
                    b.job.seed.to_string(),
                    fmt(b.objectives.kl),
                    fmt(b.objectives.poisson_loglik),
                    fmt(b.objectives.frobenius_sq),
                    b.iterations.to_string(),
                    b.stop.name().to_string(),
                ]),
                None => row.extend(std::iter::repeat_n("NA".to_string(), 7)),
            }
            row
        })
        .collect()
}

/// summary.tsv: one row per rank with the counts of how fits ended and the best fit's objectives.
pub fn summary_tsv(summaries: &[RankSummary]) -> String {
    let mut s = SUMMARY_HEADER.join("\t");
    s.push('\n');
    for row in summary_rows(summaries, num) {
        s.push_str(&row.join("\t"));
        s.push('\n');
    }
    s
}

/// The same table for the terminal: aligned columns, objectives with 6 significant digits, and
/// without the seed column (it is in summary.tsv).
pub fn summary_table(summaries: &[RankSummary]) -> String {
    const SEED: usize = 6;
    let drop_seed = |row: Vec<String>| -> Vec<String> {
        row.into_iter()
            .enumerate()
            .filter(|(i, _)| *i != SEED)
            .map(|(_, c)| c)
            .collect()
    };
    let header = drop_seed(SUMMARY_HEADER.iter().map(|h| h.to_string()).collect());
    let rows: Vec<Vec<String>> = summary_rows(
        summaries,
        |v| if v.is_finite() { format!("{v:.6e}") } else { "NA".into() },
    )
    .into_iter()
    .map(drop_seed)
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
    std::iter::once(&header).chain(&rows).map(|r| line(r)).collect()
}
