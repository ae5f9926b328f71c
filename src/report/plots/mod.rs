//! Plots of a sweep, as PNG and SVG: the rank-selection figure (rank_selection.png/.svg) and one
//! consensus heatmap per rank with a consensus (consensus_rank_<r>.png/.svg).
//!
//! The same input gives the same bytes. Every file is written under a temporary name, synced,
//! then renamed into place, like the tables.
//!
//! - `figure`: the embedded font, text styles, the `Figure` trait and writing PNG + SVG;
//! - `axes`: ticked axes, tick labels and the common look of the axes;
//! - `selection`: the rank-selection figure and its grid of panels;
//! - `panel`: one panel of it (a statistic over the ranks) and how it is drawn;
//! - the panels themselves come from the rank statistics (`crate::rankstat::panels`);
//! - `heatmap`: the consensus heatmaps;
//! - `reference`: the heatmap of a rank's components against a reference catalogue;
//! - `volume`: maps over a 3-D volume as orthogonal slices (brain images).

mod axes;
mod figure;
mod heatmap;
mod panel;
mod reference;
mod selection;
pub mod volume;

pub(super) use figure::{Figure, de, ensure_font, text, title_band, write_figure};
pub(super) use reference::ReferenceHeatmap;

use super::RankOutputs;
use crate::error::Result;
use crate::nmf::Loss;
use crate::record::RankSummary;
use crate::stats::Decision;
use heatmap::Heatmap;
use selection::Selection;
use std::path::{Path, PathBuf};

/// Writes rank_selection.png and rank_selection.svg, and for every rank with a consensus
/// consensus_rank_<r>.png / .svg, into `dir`. Returns the paths written.
///
/// `outputs[i]` belongs to `ranks[i]` (ascending ranks). The rank-selection figure has one panel
/// per statistic that some rank has: best value of `loss`, held-out deviance per held-out entry
/// (± one standard error over the held-out blocks), cophenetic correlation and dispersion (with
/// the null baseline dashed, when computed), and component stability; a missing value is a gap,
/// and the chosen rank is marked in every panel. Each heatmap shows the consensus matrix in the
/// leaf order of its average-linkage dendrogram, block-averaged down to at most 600 x 600 cells
/// (200 x 200 in the SVG), with the consensus clusters outlined.
pub fn write_plots(
    dir: &Path,
    ranks: &[RankSummary],
    outputs: &[Option<RankOutputs>],
    decision: &Decision,
    loss: Loss,
) -> Result<Vec<PathBuf>> {
    ensure_font()?;
    let mut written = Vec::new();
    let selection = Selection::new(ranks, decision, loss);
    written.extend(write_figure(dir, &crate::outdir::RANK_SELECTION.stem(0), &selection)?);
    for (s, out) in ranks.iter().zip(outputs) {
        let Some(out) = out else { continue };
        let Some(heatmap) = Heatmap::new(s, out) else {
            continue;
        };
        written.extend(write_figure(dir, &crate::outdir::CONSENSUS.stem(s.rank), &heatmap)?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::heatmap::HEATMAP_SIZE;
    use super::selection::SELECTION_SIZE;
    use super::*;
    use crate::nmf::mask::BLOCKS;
    use crate::nmf::{Objectives, StopReason};
    use crate::record::{FitRecord, Job, JobKind, NullStats};
    use crate::stats::{ConsensusStats, HeldoutScore, Rule, StabilityStats};
    use ndarray::Array2;

    fn objectives(v: f64) -> Objectives {
        Objectives {
            penalty: 0.0,
            kl: v,
            poisson_loglik: -v,
            frobenius_sq: 2.0 * v,
        }
    }

    fn heldout(mean: f64, jitter: f64) -> HeldoutScore {
        let mut block_means: Vec<f64> = (0..2 * BLOCKS)
            .map(|b| mean + jitter * ((b * 7 % 11) as f64 / 5.0 - 1.0))
            .collect();
        block_means[3] = f64::NAN; // an empty block
        HeldoutScore {
            mean,
            repeats: 2,
            block_means,
        }
    }

    /// A 30 x 30 consensus with 3 blocks (interleaved observations), and its outputs.
    fn consensus(rank: usize) -> (ConsensusStats, RankOutputs) {
        let n = 30;
        let group = |i: usize| i % 3;
        let mut c = Array2::zeros((n, n));
        for i in 0..n {
            for j in 0..n {
                c[[i, j]] = if i == j {
                    1.0
                } else if group(i) == group(j) {
                    0.9 - 0.01 * ((i + j) % 5) as f64
                } else {
                    0.05 * ((i * j) % 3) as f64
                };
            }
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (group(i), i));
        let labels: Vec<u32> = (0..n).map(|i| group(i) as u32 + 1).collect();
        let stats = ConsensusStats {
            cophenetic: Some(0.97),
            dispersion: 0.81,
            silhouette: Some(0.7),
            labels: labels.clone(),
            order,
        };
        let out = RankOutputs {
            memberships: Array2::zeros((n, rank)),
            labels: vec![0; n],
            consensus_labels: Some(labels),
            consensus: Some(c),
        };
        (stats, out)
    }

    fn summary(rank: usize, objective: f64) -> RankSummary {
        let record = FitRecord {
            job: Job {
                kind: JobKind::Fit,
                rank,
                index: 0,
                seed: 1,
            },
            objectives: objectives(objective),
            iterations: 100,
            stop: StopReason::Converged,
            seconds: 0.1,
        };
        RankSummary {
            rank,
            fits: 10,
            converged: 10,
            max_iter: 0,
            failed: 0,
            best: Some((record, Array2::zeros((30, rank)), Array2::zeros((rank, 8)))),
            consensus: None,
            consensus_stats: None,
            stability: Some(StabilityStats {
                fits: 10,
                corr_mean: 0.9,
                corr_min: 0.8,
                silhouette: Some(1.0 - 0.1 * rank as f64),
            }),
            consensus_fit: None,
            spread: None,
            heldout: Some(heldout(2.0 - 0.1 * rank as f64, 0.02)),
            null: Some(NullStats {
                best: 2.0 * objective,
                cophenetic: Some(0.6 + 0.01 * rank as f64),
                dispersion: Some(0.3),
            }),
            extra: Default::default(),
        }
    }

    /// Ranks 2..=5: rank 3 has a consensus, rank 4 has no held-out score and no consensus, rank 5
    /// falls back to the mean matched correlation.
    fn sweep() -> (Vec<RankSummary>, Vec<Option<RankOutputs>>, Decision) {
        let mut ranks: Vec<RankSummary> = (2..=5).map(|r| summary(r, 1000.0 / r as f64)).collect();
        let mut outputs: Vec<Option<RankOutputs>> = vec![None; 4];
        for (k, s) in ranks.iter_mut().enumerate() {
            let (mut stats, out) = consensus(s.rank);
            stats.cophenetic = Some(0.99 - 0.02 * (s.rank as f64 - 3.0).abs());
            stats.dispersion = 0.9 - 0.05 * s.rank as f64;
            if s.rank != 4 {
                s.consensus_stats = Some(stats);
            }
            if s.rank == 3 {
                outputs[k] = Some(out);
            }
        }
        ranks[2].heldout = None;
        if let Some(st) = ranks[3].stability.as_mut() {
            st.silhouette = None;
        }
        // Built through `decide` so that fields added to Decision need no change here.
        let mut decision = crate::stats::decide(Rule::Default, &[]);
        decision.chosen = Some(3);
        decision.runner_up = Some(2);
        (ranks, outputs, decision)
    }

    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&bytes[12..16], b"IHDR");
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        (be(&bytes[16..20]), be(&bytes[20..24]))
    }

    fn read(p: &Path) -> Vec<u8> {
        std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn writes_pngs_and_svgs() {
        let (ranks, outputs, decision) = sweep();
        let dir = tempfile::tempdir().unwrap();
        let written = write_plots(dir.path(), &ranks, &outputs, &decision, Loss::Kl).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "rank_selection.png",
                "rank_selection.svg",
                "consensus_rank_3.png",
                "consensus_rank_3.svg"
            ]
        );
        assert_eq!(png_size(&read(&written[0])), SELECTION_SIZE);
        assert_eq!(png_size(&read(&written[2])), HEATMAP_SIZE);
        let svg = String::from_utf8(read(&written[1])).unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.contains("chosen r = 3 (rule default"), "title missing");
        assert!(svg.contains("held-out deviance per entry"));
        assert!(svg.contains("hollow: mean matched corr."));
        let svg = String::from_utf8(read(&written[3])).unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.contains("rank 3: cophenetic 0.9900, dispersion 0.7500"));
        // Nothing but the plots is left in the directory.
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files.len(), 4, "{files:?}");
    }

    #[test]
    fn same_input_same_bytes() {
        let (ranks, outputs, decision) = sweep();
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let wa = write_plots(a.path(), &ranks, &outputs, &decision, Loss::Frobenius).unwrap();
        let wb = write_plots(b.path(), &ranks, &outputs, &decision, Loss::Frobenius).unwrap();
        assert_eq!(wa.len(), 4);
        for (pa, pb) in wa.iter().zip(&wb) {
            assert_eq!(read(pa), read(pb), "{}", pa.display());
        }
    }

    #[test]
    fn missing_statistics_and_no_choice() {
        let (mut ranks, _, mut decision) = sweep();
        for s in &mut ranks {
            s.heldout = None;
            s.null = None;
            s.stability = None;
        }
        decision.chosen = None;
        decision.runner_up = None;
        let sel = Selection::new(&ranks, &decision, Loss::Kl);
        let captions: Vec<&str> = sel.panels.iter().map(|p| p.caption.as_str()).collect();
        assert_eq!(captions, ["best KL divergence", "cophenetic correlation", "dispersion"]);
        assert_eq!(sel.title, "Rank selection: no rank chosen (rule default)");
        let dir = tempfile::tempdir().unwrap();
        let none: Vec<Option<RankOutputs>> = vec![None; ranks.len()];
        let written = write_plots(dir.path(), &ranks, &none, &decision, Loss::Kl).unwrap();
        assert_eq!(written.len(), 2);
        let written = write_plots(dir.path(), &[], &[], &decision, Loss::Kl).unwrap();
        assert_eq!(png_size(&read(&written[0])), SELECTION_SIZE);
    }

    #[test]
    fn unwritable_directory_is_an_error() {
        let (ranks, outputs, decision) = sweep();
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir");
        let err = write_plots(&missing, &ranks, &outputs, &decision, Loss::Kl).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("rank_selection.png"), "{msg}");
        assert!(!missing.exists());
    }
}
