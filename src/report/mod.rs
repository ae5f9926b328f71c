//! Results on disk and on the terminal: fits.tsv, heldout.tsv, null_fits.tsv, summary.tsv,
//! memberships_rank_<r>.tsv, selection.txt, plots (rank_selection and consensus_rank_<r>, PNG
//! and SVG; components_rank_<r> when observations are images), results.h5, and the summary table.
//!
//! Every file is written under a temporary name, synced, then renamed into place; results.h5 is
//! renamed last, so its presence means the run finished. The output directory is checked (and
//! probed for writing) before any fit starts.

mod h5;
pub mod montage;
pub mod plots;
mod tables;

pub use h5::write_results_h5;
pub use tables::{decision_text, fits_tsv, heldout_tsv, memberships_tsv, summary_table, summary_tsv};

use crate::config::Plan;
use crate::data::{Dataset, ZeroLines};
use crate::error::{Error, Result};
use crate::stats::{Decision, hard_labels};
use crate::sweep::{Collected, JobKind, RankSummary};
use ndarray::Array2;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file whose presence means the directory holds the results of a finished sweep (it is
/// written last). Tables left by a failed or interrupted run do not count.
pub const RESULT_MARKER: &str = "results.h5";

/// Written (before results.h5) by `merge --allow-partial` when fits were missing, and removed
/// once a complete result is written: results.h5 beside it is not a finished sweep, so running
/// the sweep again resumes it.
pub const PARTIAL_MARKER: &str = "partial.txt";

/// Creates `dir` if needed, refuses one that holds finished results unless `force`, and checks
/// that it can be written (by creating and removing a probe file). Returns whether it created `dir`.
pub fn prepare_out_dir(dir: &Path, force: bool) -> Result<bool> {
    let unwritable = |source| Error::OutputUnwritable {
        dir: dir.to_path_buf(),
        source,
    };
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    if dir.join(RESULT_MARKER).exists() && !dir.join(PARTIAL_MARKER).exists() && !force {
        return Err(Error::OutputExists {
            dir: dir.to_path_buf(),
            found: RESULT_MARKER.to_string(),
        });
    }
    // A name of this process's own: shards probing one directory at once must not collide.
    let probe = dir.join(format!(".nnmf-sweep-write-probe.{}", std::process::id()));
    std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(b"probe"))
        .map_err(unwritable)?;
    std::fs::remove_file(&probe).map_err(unwritable)?;
    Ok(created)
}

/// Whether `name` is a file this program writes into an output directory.
fn is_owned(name: &str) -> bool {
    let stem_ext = |prefix: &str, exts: &[&str]| name.starts_with(prefix) && exts.iter().any(|e| name.ends_with(e));
    matches!(
        name,
        "results.h5"
            | "fits.tsv"
            | "heldout.tsv"
            | "null_fits.tsv"
            | "summary.tsv"
            | "selection.txt"
            | "records"
            | "sweep-manifest.txt"
            | "partial.txt"
            | "shards.txt"
    ) || name.ends_with(".partial")
        || stem_ext("rank_selection.", &[".png", ".svg"])
        || stem_ext("consensus_rank_", &[".png", ".svg", ".partial.png"])
        || stem_ext("memberships_rank_", &[".tsv"])
        || stem_ext("components_rank_", &[".png", ".svg", ".partial.png"])
        || stem_ext("compare", &[".png", ".svg", ".tsv", ".partial.png"])
}

/// Before a `--force` run's first fit (after every check passed): removes the previous run's
/// results from `dir`, the completion marker results.h5 first, so that nothing of another run can
/// be mistaken for part of this one. Only files this program writes are touched.
pub fn clear_previous(dir: &Path) -> Result<()> {
    let err = |path: &Path, e| Error::io(format!("cannot remove the previous result {}", path.display()), e);
    let marker = dir.join(RESULT_MARKER);
    if marker.exists() {
        std::fs::remove_file(&marker).map_err(|e| err(&marker, e))?;
    }
    let entries = std::fs::read_dir(dir).map_err(|e| err(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| err(dir, e))?;
        let (path, name) = (entry.path(), entry.file_name().to_string_lossy().into_owned());
        if !is_owned(&name) {
            continue;
        }
        if path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(|e| err(&path, e))?;
        } else {
            std::fs::remove_file(&path).map_err(|e| err(&path, e))?;
        }
    }
    Ok(())
}

/// The temporary name under which `path` is written before it is renamed into place.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Syncs the finished temporary file, renames it to `path`, and syncs the directory so that the
/// rename itself survives a crash.
pub(crate) fn commit(path: &Path) -> Result<()> {
    let tmp = partial_path(path);
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .and_then(|_| sync_parent(path))
        .map_err(|e| Error::io(format!("cannot finalize {}", path.display()), e))
}

/// fsync of the directory holding `path` (makes a rename into it durable).
pub(crate) fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })?
        .sync_all(),
        None => Ok(()),
    }
}

/// Writes `text` to `path` atomically (temporary file, sync, rename).
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    std::fs::write(partial_path(path), text).map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    commit(path)
}

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

/// The outputs of one rank (its best W must already be restored to N rows).
pub fn rank_outputs(s: &RankSummary, zero: &ZeroLines) -> Option<RankOutputs> {
    let (_, w, _) = s.best.as_ref()?;
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
    write_atomic(&dir.join("fits.tsv"), &fits_tsv(&c.records, JobKind::Fit))?;
    if c.records.iter().any(|r| r.job.kind == JobKind::Heldout) {
        write_atomic(&dir.join("heldout.tsv"), &heldout_tsv(c))?;
    }
    if c.records.iter().any(|r| r.job.kind == JobKind::Null) {
        write_atomic(&dir.join("null_fits.tsv"), &fits_tsv(&c.records, JobKind::Null))?;
    }
    write_atomic(&dir.join("summary.tsv"), &summary_tsv(&c.ranks, decision))?;
    write_atomic(&dir.join("selection.txt"), &decision_text(decision))
}

/// Writes every table, the memberships, and (last) results.h5 into the plan's output directory.
pub fn write_results(
    plan: &Plan,
    dataset: &Dataset,
    zero: &ZeroLines,
    c: &Collected,
    decision: &Decision,
) -> Result<()> {
    let dir = &plan.out_dir;
    write_tables(dir, c, decision)?;
    let outputs: Vec<Option<RankOutputs>> = c.ranks.iter().map(|s| rank_outputs(s, zero)).collect();
    for (s, o) in c.ranks.iter().zip(&outputs) {
        if let Some(o) = o {
            let text = memberships_tsv(
                &o.memberships,
                &o.labels,
                o.consensus_labels.as_deref(),
                dataset.obs_names.as_deref(),
            );
            write_atomic(&dir.join(format!("memberships_rank_{}.tsv", s.rank)), &text)?;
        }
    }
    plots::write_plots(dir, &c.ranks, &outputs, decision, plan.loss)?;
    if let Some(shape) = plan.data.image_shape {
        write_components(dir, &c.ranks, (shape.height, shape.width))?;
    }
    write_results_h5(&dir.join(RESULT_MARKER), plan, dataset, zero, c, &outputs, decision)
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
        montage::write_montages(dir, &format!("components_rank_{}", s.rank), &title, &[panel], shape)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_dir_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        assert!(prepare_out_dir(&dir, false).unwrap());
        // Tables of a failed or interrupted run are not finished results.
        std::fs::write(dir.join("summary.tsv"), "x").unwrap();
        assert!(!prepare_out_dir(&dir, false).unwrap());
        std::fs::write(dir.join("results.h5"), "x").unwrap();
        let e = prepare_out_dir(&dir, false).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(
            e.to_string()
                .contains("already holds results (results.h5); pass --force"),
            "{e}"
        );
        prepare_out_dir(&dir, true).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "no probe left");
        // A partial merge's results.h5 does not count as finished: the sweep resumes.
        std::fs::write(dir.join(PARTIAL_MARKER), "x").unwrap();
        prepare_out_dir(&dir, false).unwrap();
    }

    #[test]
    fn clear_previous_removes_only_owned_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let owned = [
            "results.h5",
            "fits.tsv",
            "null_fits.tsv",
            "selection.txt",
            "rank_selection.svg",
            "consensus_rank_4.png",
            "memberships_rank_4.tsv",
            "summary.tsv.partial",
        ];
        let kept = ["notes.txt", "my_fits.tsv", "consensus.csv"];
        for f in owned.iter().chain(&kept) {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        std::fs::create_dir(dir.join("records")).unwrap();
        std::fs::write(dir.join("records/fit-r004-00001.rec"), "x").unwrap();
        clear_previous(dir).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["consensus.csv", "my_fits.tsv", "notes.txt"]);
    }
}
