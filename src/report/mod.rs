//! Results on disk and on the terminal: fits.tsv, heldout.tsv, null_fits.tsv, summary.tsv,
//! memberships_rank_<r>.tsv, consensus_components_rank_<r>.tsv (with `[selection] solution =
//! "consensus"`), selection.txt, plots (rank_selection and consensus_rank_<r>, PNG
//! and SVG; components_rank_<r> when observations are images), reference_rank_<r>.tsv/.png/.svg
//! with `[report] reference`, the NIfTI volumes of NIfTI input ([`volumes`]), results.h5, and the
//! summary table.
//!
//! Every file is written under a temporary name, synced, then renamed into place; results.h5 is
//! renamed last, so its presence means the run finished. The output directory is checked (and
//! probed for writing) before any fit starts.

mod h5;
pub mod montage;
pub mod plots;
pub mod projection;
mod reference;
mod tables;
pub mod volumes;

pub use h5::write_results_h5;
pub use reference::{matches, reference_tsv, write_reference};
pub use tables::{
    consensus_components_tsv, decision_text, fits_tsv, heldout_tsv, memberships_tsv, summary_table, summary_tsv,
};

use crate::config::Plan;
use crate::data::{AlignedReference, Dataset, ZeroLines};
use crate::error::Result;
use crate::record::{Collected, JobKind, RankSummary};
use crate::stats::{Decision, Solution, hard_labels};
use ndarray::Array2;
use std::path::Path;

pub(crate) use crate::fsio::{commit, partial_path, write_atomic};

/// Per-rank outputs derived from the best fit and the consensus, for all N observations.
#[derive(Debug, Clone)]
pub struct RankOutputs {
    /// Rows of W scaled to sum 1 (N x r); all-zero rows stay 0.
    pub memberships: Array2<f64>,
    /// 0-based component of each row's largest W entry; -1 for an all-zero row.
    pub labels: Vec<i64>,
    /// Consensus clusters 1..r (0 for an all-zero row of X), when the consensus was computed.
    pub consensus_labels: Option<Vec<u32>>,
    /// The consensus matrix (N x N), when computed.
    pub consensus: Option<Array2<f64>>,
}

/// The outputs of one rank (its W must already be restored to N rows): memberships and labels
/// from the best fit's W, or from the consensus solution's with [`Solution::Consensus`] where it
/// was computed.
pub fn rank_outputs(s: &RankSummary, zero: &ZeroLines, solution: Solution) -> Option<RankOutputs> {
    let (_, best_w, _) = s.best.as_ref()?;
    let w = match (solution, &s.consensus_fit) {
        (Solution::Consensus, Some(f)) => &f.w,
        _ => best_w,
    };
    let mut memberships = w.clone();
    for mut row in memberships.rows_mut() {
        let total = row.sum();
        if total > 0.0 {
            row.mapv_inplace(|v| v / total);
        }
    }
    let labels = hard_labels(w.view())
        .into_iter()
        .map(|l| l.map_or(-1, i64::from))
        .collect();
    let kept = zero.kept_rows();
    let consensus_labels = s.consensus_stats.as_ref().map(|c| {
        let mut full = vec![0u32; zero.n];
        for (k, &i) in kept.iter().enumerate() {
            full[i] = c.labels[k];
        }
        full
    });
    let consensus = s.consensus.as_ref().map(|acc| {
        let mut full = Array2::zeros((zero.n, zero.n));
        for i in 0..zero.n {
            full[[i, i]] = 1.0;
        }
        for (a, &i) in kept.iter().enumerate() {
            for (b, &j) in kept.iter().enumerate() {
                full[[i, j]] = acc.value(a, b);
            }
        }
        full
    });
    Some(RankOutputs {
        memberships,
        labels,
        consensus_labels,
        consensus,
    })
}

/// Writes the tables (fits.tsv, heldout.tsv, null_fits.tsv, summary.tsv, selection.txt) into `dir`.
pub fn write_tables(dir: &Path, c: &Collected, decision: &Decision) -> Result<()> {
    use crate::outdir::{FITS_TSV, HELDOUT_TSV, NULL_FITS_TSV, SELECTION_TXT, SUMMARY_TSV};
    write_atomic(&dir.join(FITS_TSV), &fits_tsv(&c.records, JobKind::Fit))?;
    if c.records.iter().any(|r| r.job.kind == JobKind::Heldout) {
        write_atomic(&dir.join(HELDOUT_TSV), &heldout_tsv(c))?;
    }
    if c.records.iter().any(|r| r.job.kind == JobKind::Null) {
        write_atomic(&dir.join(NULL_FITS_TSV), &fits_tsv(&c.records, JobKind::Null))?;
    }
    write_atomic(&dir.join(SUMMARY_TSV), &summary_tsv(&c.ranks, decision))?;
    write_atomic(&dir.join(SELECTION_TXT), &decision_text(decision))
}

/// What a sweep's result files are written from.
#[derive(Debug, Clone, Copy)]
pub struct Merged<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The data as read (facts, names and provenance; X itself is not used).
    pub dataset: &'a Dataset,
    /// Its all-zero rows and columns, restored as zeros in the outputs.
    pub zero: &'a ZeroLines,
    /// The reference catalogue the components are matched to (`[report] reference`).
    pub reference: Option<&'a AlignedReference>,
    /// The records and per-rank results.
    pub collected: &'a Collected,
    /// The rank decision.
    pub decision: &'a Decision,
}

/// Writes every table, the memberships, and (last) results.h5 into the plan's output directory.
pub fn write_results(merged: &Merged) -> Result<()> {
    let (plan, c) = (merged.plan, merged.collected);
    let dir = &plan.out_dir;
    write_tables(dir, c, merged.decision)?;
    let outputs: Vec<Option<RankOutputs>> = c
        .ranks
        .iter()
        .map(|s| rank_outputs(s, merged.zero, plan.selection.solution))
        .collect();
    for (s, o) in c.ranks.iter().zip(&outputs) {
        if let Some(o) = o {
            let text = memberships_tsv(
                &o.memberships,
                &o.labels,
                o.consensus_labels.as_deref(),
                merged.dataset.obs_names.as_deref(),
            );
            write_atomic(&dir.join(crate::outdir::memberships_tsv(s.rank)), &text)?;
        }
        if let Some(f) = &s.consensus_fit {
            let name = crate::outdir::CONSENSUS_COMPONENTS.name(s.rank);
            write_atomic(&dir.join(name), &consensus_components_tsv(f))?;
        }
    }
    plots::write_plots(dir, &c.ranks, &outputs, merged.decision, plan.loss)?;
    if let Some(shape) = plan.data.image_shape {
        write_components(dir, &c.ranks, (shape.height, shape.width))?;
    }
    if let Some(v) = &merged.dataset.volumes {
        volumes::write_volume_outputs(dir, v, &c.ranks, &outputs, plan.selection.solution)?;
    }
    let matched = match merged.reference {
        Some(reference) => {
            let m = matches(&c.ranks, reference);
            write_reference(dir, &c.ranks, &m, reference)?;
            m
        }
        None => Vec::new(),
    };
    write_results_h5(&dir.join(crate::outdir::RESULTS_H5), merged, &outputs, &matched)
}

/// Writes components_rank_<r>.png / .svg for every rank with a best fit: the rows of its H drawn
/// as `height` x `width` images (see [`montage`]).
pub fn write_components(dir: &Path, ranks: &[RankSummary], shape: (usize, usize)) -> Result<()> {
    for s in ranks {
        let Some((_, _, h)) = &s.best else { continue };
        if h.ncols() != shape.0 * shape.1 {
            continue;
        }
        let title = format!("NMF components at rank {}", s.rank);
        let panel = montage::Panel {
            title: "rows of H as images",
            note: "white 0, black the component's largest value",
            basis: h.view(),
        };
        montage::write_montages(dir, &crate::outdir::COMPONENTS.stem(s.rank), &title, &[panel], shape)?;
    }
    Ok(())
}
