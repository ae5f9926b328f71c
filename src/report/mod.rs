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

/// The files a finished sweep writes; any of them present means the directory holds results.
pub const RESULT_FILES: [&str; 3] = ["results.h5", "summary.tsv", "fits.tsv"];

/// Creates `dir` if needed, refuses one that holds results unless `force`, and checks that it can
/// be written (by creating and removing a probe file).
pub fn prepare_out_dir(dir: &Path, force: bool) -> Result<()> {
    let unwritable = |source| Error::OutputUnwritable {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    let found: Vec<&str> = RESULT_FILES.iter().copied().filter(|f| dir.join(f).exists()).collect();
    if !found.is_empty() && !force {
        return Err(Error::OutputExists {
            dir: dir.to_path_buf(),
            found: found.join(", "),
        });
    }
    let probe = dir.join(".nnmf-sweep-write-probe");
    std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(b"probe"))
        .map_err(unwritable)?;
    std::fs::remove_file(&probe).map_err(unwritable)?;
    Ok(())
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
    let dir = &plan.out_dir;
    write_atomic(&dir.join("fits.tsv"), &fits_tsv(records))?;
    write_atomic(&dir.join("summary.tsv"), &summary_tsv(summaries))?;
    write_results_h5(&dir.join("results.h5"), plan, provenance, zero, records, summaries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_dir_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        prepare_out_dir(&dir, false).unwrap();
        std::fs::write(dir.join("summary.tsv"), "x").unwrap();
        let e = prepare_out_dir(&dir, false).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(
            e.to_string()
                .contains("already holds results (summary.tsv); pass --force"),
            "{e}"
        );
        prepare_out_dir(&dir, true).unwrap();
        assert!(!dir.join(".nnmf-sweep-write-probe").exists());
    }
}
