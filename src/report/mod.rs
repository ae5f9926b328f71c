//! Results on disk and on the terminal: fits.tsv, summary.tsv, results.h5 and the summary table.
//!
//! Every file is written under a temporary name, synced, then renamed into place; results.h5 is
//! renamed last, so its presence means the run finished. The output directory is checked (and
//! probed for writing) before any fit starts.

mod h5;
mod tables;

pub use h5::write_results_h5;
pub use tables::{fits_tsv, summary_table, summary_tsv};

use crate::config::Plan;
use crate::data::{Provenance, ZeroLines};
use crate::error::{Error, Result};
use crate::sweep::{FitRecord, RankSummary};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file whose presence means the directory holds the results of a finished sweep (it is
/// written last). Tables left by a failed or interrupted run do not count.
pub const RESULT_MARKER: &str = "results.h5";

/// Creates `dir` if needed, refuses one that holds finished results unless `force`, and checks
/// that it can be written (by creating and removing a probe file). Returns whether it created `dir`.
pub fn prepare_out_dir(dir: &Path, force: bool) -> Result<bool> {
    let unwritable = |source| Error::OutputUnwritable {
        dir: dir.to_path_buf(),
        source,
    };
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    if dir.join(RESULT_MARKER).exists() && !force {
        return Err(Error::OutputExists {
            dir: dir.to_path_buf(),
            found: RESULT_MARKER.to_string(),
        });
    }
    let probe = dir.join(".nnmf-sweep-write-probe");
    std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(b"probe"))
        .map_err(unwritable)?;
    std::fs::remove_file(&probe).map_err(unwritable)?;
    Ok(created)
}

/// The temporary name under which `path` is written before it is renamed into place.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Syncs the finished temporary file and renames it to `path`.
pub(crate) fn commit(path: &Path) -> Result<()> {
    let tmp = partial_path(path);
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Error::io(format!("cannot finalize {}", path.display()), e))
}

/// Writes `text` to `path` atomically (temporary file, sync, rename).
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    std::fs::write(partial_path(path), text).map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    commit(path)
}

/// Writes fits.tsv, summary.tsv and (last) results.h5 into the plan's output directory.
pub fn write_results(
    plan: &Plan,
    provenance: &Provenance,
    zero: &ZeroLines,
    records: &[FitRecord],
    summaries: &[RankSummary],
) -> Result<()> {
    write_tables(&plan.out_dir, records, summaries)?;
    write_results_h5(
        &plan.out_dir.join(RESULT_MARKER),
        plan,
        provenance,
        zero,
        records,
        summaries,
    )
}

/// Writes fits.tsv and summary.tsv into `dir`.
pub fn write_tables(dir: &Path, records: &[FitRecord], summaries: &[RankSummary]) -> Result<()> {
    write_atomic(&dir.join("fits.tsv"), &fits_tsv(records))?;
    write_atomic(&dir.join("summary.tsv"), &summary_tsv(summaries))
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
        assert!(!dir.join(".nnmf-sweep-write-probe").exists());
    }
}
