//! The output directory: the one list of the names nnmf-sweep writes there, and the rules that
//! keep everything else safe.
//!
//! - **One owner.** Every process that writes a directory holds its lock ([`crate::fsio::DirLock`]):
//!   exclusive for an unsharded run, `merge`, `compare` and `--force`, shared for the shards of
//!   one sweep. A second writer is refused (exit 4) with the holder's pid, host and start time.
//! - **Only its own files.** The writers take their names from this module (a new output is a
//!   name in `fixed_names!` or a family in `families!`, plus its writer), and `--force`
//!   removes only names on the list ([`is_owned`]), never the lock. Names on the list in a
//!   directory without a sweep manifest were not written by a sweep: the run is refused rather
//!   than overwrite them. An input (data file, config file) that lies in the directory under an
//!   output name is refused before anything is written.

use crate::error::{Error, Result};
use crate::fsio::{DirLock, LOCK_DIR, LockMode};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Declares each fixed name as a constant and lists them all in `FIXED`, so that no name can be
/// written without being on the list `--force` and the ownership checks read.
macro_rules! fixed_names {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        $($(#[$doc])* pub const $name: &str = $value;)*
        /// Every fixed name on the list.
        const FIXED: &[&str] = &[$($name),*];
    };
}

fixed_names! {
    /// The completion marker, written last: its presence means a finished (or, beside
    /// [`PARTIAL_TXT`], a partial) result. Tables left by a failed or interrupted run do not count.
    RESULTS_H5 = "results.h5";
    /// Every fit of the sweep, one row each.
    FITS_TSV = "fits.tsv";
    /// Held-out (cross-validation) fits.
    HELDOUT_TSV = "heldout.tsv";
    /// Fits to permuted data.
    NULL_FITS_TSV = "null_fits.tsv";
    /// One row per rank.
    SUMMARY_TSV = "summary.tsv";
    /// The rank decision and its reasons.
    SELECTION_TXT = "selection.txt";
    /// Written (before results.h5) by `merge --allow-partial` when fits were missing, and removed once
    /// a complete result is written: results.h5 beside it is not a finished sweep, so running the
    /// sweep again resumes it.
    PARTIAL_TXT = "partial.txt";
    /// The shard count recorded by shard runs (for `status`).
    SHARDS_TXT = "shards.txt";
    /// The folder of durable fit records.
    RECORDS = "records";
    /// The sweep manifest.
    MANIFEST = "sweep-manifest.txt";
    /// `compare`'s table.
    COMPARE_TSV = "compare.tsv";
    /// `project`'s results file.
    PROJECTION_H5 = "projection.h5";
    /// `project`'s memberships of new observations (H fixed).
    PROJECTION_MEMBERSHIPS = "memberships.tsv";
    /// `project`'s loadings of new features (W fixed).
    PROJECTION_LOADINGS = "loadings.tsv";
}

/// A family of names: a stem, followed by a rank for per-rank files, and the extensions written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// The name before the rank and extension.
    stem: &'static str,
    /// Whether one file is written per rank (`<stem><r><ext>`) rather than one (`<stem><ext>`).
    per_rank: bool,
    /// The extensions written, with their dot.
    exts: &'static [&'static str],
}

impl Family {
    /// The stem of the file of `rank` (for a per-rank family) or of the one file (`rank` unused),
    /// without extension.
    pub fn stem(&self, rank: usize) -> String {
        if self.per_rank {
            format!("{}{rank}", self.stem)
        } else {
            self.stem.to_string()
        }
    }

    /// The file name of `rank` with the family's first extension.
    pub fn name(&self, rank: usize) -> String {
        format!("{}{}", self.stem(rank), self.exts[0])
    }
}

/// Declares each family as a constant and lists them all in `FAMILIES` (see `fixed_names`).
macro_rules! families {
    ($($(#[$doc:meta])* $name:ident = ($stem:literal, $per_rank:literal, $exts:expr);)*) => {
        $($(#[$doc])* pub const $name: Family = Family { stem: $stem, per_rank: $per_rank, exts: $exts };)*
        /// Every family on the list.
        const FAMILIES: &[Family] = &[$($name),*];
    };
}

families! {
    /// The figure of the rank statistics (PNG and SVG).
    RANK_SELECTION = ("rank_selection", false, &[".png", ".svg"]);
    /// The consensus heatmap of a rank.
    CONSENSUS = ("consensus_rank_", true, &[".png", ".svg"]);
    /// The memberships table of a rank.
    MEMBERSHIPS = ("memberships_rank_", true, &[".tsv"]);
    /// A rank's consensus components (`[selection] solution = "consensus"`): support and mean
    /// cosine per component.
    CONSENSUS_COMPONENTS = ("consensus_components_rank_", true, &[".tsv"]);
    /// A rank's components matched to the reference catalogue (`[report] reference`): the table
    /// and the cosine heatmap.
    REFERENCE = ("reference_rank_", true, &[".tsv", ".png", ".svg"]);
    /// The components of a rank as images (`image_shape`).
    COMPONENTS = ("components_rank_", true, &[".png", ".svg", ".nii.gz"]);
    /// NIfTI input: the components of a rank as three orthogonal slices each, over the mean
    /// image.
    COMPONENT_MAPS = ("component_maps_rank_", true, &[".png", ".svg"]);
    /// NIfTI input with voxels as observations: each voxel's memberships as a 4-D volume, and
    /// their figure.
    MEMBERSHIP_MAPS = ("membership_maps_rank_", true, &[".nii.gz", ".png", ".svg"]);
    /// NIfTI input with voxels as observations: each voxel's component (argmax of W, 1..r).
    LABEL_MAPS = ("labels_rank_", true, &[".nii.gz"]);
    /// `compare`'s figure of every rank.
    COMPARE = ("compare", false, &[".png", ".svg"]);
    /// `compare`'s figure of one rank.
    COMPARE_RANK = ("compare_rank_", true, &[".png", ".svg"]);
}

/// Whether `dir` holds the results of a finished sweep: results.h5 without partial.txt.
pub fn is_finished(dir: &Path) -> bool {
    dir.join(RESULTS_H5).exists() && !dir.join(PARTIAL_TXT).exists()
}

/// `memberships_rank_<r>.tsv`.
pub fn memberships_tsv(rank: usize) -> String {
    MEMBERSHIPS.name(rank)
}

/// Whether `name` is a file (or folder) this program writes into an output directory, or one of
/// its temporary names (`<name>.partial`, `<stem>.partial.png`, `<name>.<pid>.partial`: made by
/// `fsio::partial_path`, `fsio::partial_png` and `fsio::private_partial_path`).
pub fn is_owned(name: &str) -> bool {
    let base = name.strip_suffix(".partial").map_or(name, |stem| {
        // `<name>.<pid>.partial` (manifest and shards.txt written by several processes).
        match stem.rsplit_once('.') {
            Some((head, pid)) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => head,
            _ => stem,
        }
    });
    let base = base
        .replace(".partial.png", ".png")
        .replace(".partial.nii.gz", ".nii.gz");
    FIXED.contains(&base.as_str())
        || FAMILIES.iter().any(|f| {
            base.strip_prefix(f.stem).is_some_and(|rest| {
                f.exts.iter().any(|e| {
                    rest.strip_suffix(e)
                        .is_some_and(|mid| mid.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
                })
            })
        })
}

/// An input of the run (key and path), checked against the output directory.
pub type Input<'a> = (&'a str, &'a Path);

/// An output directory held by this process: created if needed, locked, checked.
#[derive(Debug)]
pub struct OutDir {
    dir: PathBuf,
    created: bool,
    lock: Option<DirLock>,
}

impl OutDir {
    /// Opens `dir` for writing: refuses inputs lying in it under an output name, creates it if
    /// needed, refuses a directory holding files with output names but no sweep manifest (nor
    /// lock folder), and takes its lock in `mode` (refused when another process holds it). `command` is quoted to a
    /// process that is refused because this one holds the lock.
    pub fn open(dir: &Path, mode: LockMode, command: &str, inputs: &[Input]) -> Result<OutDir> {
        check_inputs(dir, inputs)?;
        let created = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|source| Error::OutputUnwritable {
            dir: dir.to_path_buf(),
            source,
        })?;
        let mut out = OutDir {
            dir: dir.to_path_buf(),
            created,
            lock: None,
        };
        // Before the lock folder is made: its presence marks a directory a sweep has written.
        check_foreign(dir)?;
        out.lock = Some(DirLock::acquire(dir, mode, command)?);
        Ok(out)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Refuses a directory that holds finished results (results.h5 without partial.txt) unless
    /// `force`, and checks that it can be written (a probe file is created and removed).
    pub fn check_writable(&self, force: bool) -> Result<()> {
        let dir = &self.dir;
        let unwritable = |source| Error::OutputUnwritable {
            dir: dir.to_path_buf(),
            source,
        };
        if dir.join(RESULTS_H5).exists() && !dir.join(PARTIAL_TXT).exists() && !force {
            return Err(Error::OutputExists {
                dir: dir.to_path_buf(),
                found: RESULTS_H5.to_string(),
            });
        }
        let probe = dir.join(format!(".nnmf-sweep-write-probe.{}", std::process::id()));
        std::fs::File::create(&probe)
            .and_then(|mut f| f.write_all(b"probe"))
            .map_err(unwritable)?;
        std::fs::remove_file(&probe).map_err(unwritable)
    }

    /// Before a `--force` run's first fit (after every check passed): removes the previous run's
    /// results, the completion marker results.h5 first, so that nothing of another run can be
    /// mistaken for part of this one. Only names on the list are touched (never the lock).
    pub fn clear_previous(&self) -> Result<()> {
        let dir = &self.dir;
        let err = |path: &Path, e| Error::io(format!("cannot remove the previous result {}", path.display()), e);
        let marker = dir.join(RESULTS_H5);
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
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                std::fs::remove_dir_all(&path).map_err(|e| err(&path, e))?;
            } else {
                std::fs::remove_file(&path).map_err(|e| err(&path, e))?;
            }
        }
        Ok(())
    }
}

impl Drop for OutDir {
    /// A directory this process created and left with nothing but its lock is removed again: a
    /// run that never started leaves no trace.
    fn drop(&mut self) {
        if !self.created {
            return;
        }
        let only_lock = std::fs::read_dir(&self.dir)
            .map(|es| es.flatten().all(|e| e.file_name() == LOCK_DIR))
            .unwrap_or(false);
        if only_lock {
            let lock_dir = self.dir.join(LOCK_DIR);
            // The lock file goes while still held; a process that opened it meanwhile finds it
            // unlinked after locking and starts again (DirLock::acquire checks the inode).
            let _ = std::fs::remove_file(lock_dir.join("lock"));
            drop(self.lock.take());
            let _ = std::fs::remove_dir(&lock_dir);
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// Refuses an input that lies in `dir` (or its records folder) under a name on the list.
fn check_inputs(dir: &Path, inputs: &[Input]) -> Result<()> {
    let Ok(dir_c) = std::fs::canonicalize(dir) else {
        return Ok(()); // not there yet: nothing can lie in it
    };
    for &(key, path) in inputs {
        let Ok(p) = std::fs::canonicalize(path) else { continue };
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
            continue;
        };
        let name = name.to_string_lossy();
        let inside = parent == dir_c && (is_owned(&name) || name == LOCK_DIR);
        let in_records = p.starts_with(dir_c.join(RECORDS)) || p.starts_with(dir_c.join(LOCK_DIR));
        if inside || in_records {
            return Err(Error::OutputHoldsInput {
                dir: dir_c.clone(),
                key: key.to_string(),
                path: path.to_path_buf(),
                name: p.strip_prefix(&dir_c).unwrap_or(&p).display().to_string(),
            });
        }
    }
    Ok(())
}

/// Refuses a directory with names on the list but neither a sweep manifest nor the lock folder
/// (files a sweep did not write). A directory whose manifest was deleted (the advice for a
/// damaged one) still has its lock folder, so its records are resumed.
fn check_foreign(dir: &Path) -> Result<()> {
    if dir.join(MANIFEST).exists() || dir.join(LOCK_DIR).is_dir() {
        return Ok(());
    }
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map_err(|source| Error::OutputUnwritable {
            dir: dir.to_path_buf(),
            source,
        })?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_owned(n) && !n.ends_with(".partial") && !n.contains(".partial."))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    let shown = found.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    Err(Error::OutputForeignFiles {
        dir: dir.to_path_buf(),
        found: if found.len() > 5 {
            format!("{shown} and {} more", found.len() - 5)
        } else {
            shown
        },
        manifest: MANIFEST.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_list() {
        for n in [
            "results.h5",
            "results.h5.partial",
            "fits.tsv",
            "summary.tsv.partial",
            "records",
            "sweep-manifest.txt.1234.partial",
            "shards.txt.99.partial",
            "rank_selection.png",
            "rank_selection.partial.png",
            "consensus_rank_4.svg",
            "consensus_rank_12.partial.png",
            "memberships_rank_4.tsv",
            "components_rank_3.png",
            "compare.tsv",
            "compare.png",
            "compare_rank_5.svg",
        ] {
            assert!(is_owned(n), "{n}");
        }
        for n in [
            "notes.txt",
            "my_fits.tsv",
            "consensus.csv",
            "data.partial",
            "fits.tsv.bak",
            "memberships_rank_x.tsv",
            "results.h5.old",
            "compare_notes.txt",
            ".nnmf-sweep-lock",
        ] {
            assert!(!is_owned(n), "{n}");
        }
    }

    #[test]
    fn out_dir_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let out = OutDir::open(&dir, LockMode::Exclusive, "test", &[]).unwrap();
        out.check_writable(false).unwrap();
        std::fs::write(dir.join(MANIFEST), "x").unwrap();
        // Tables of a failed or interrupted run are not finished results.
        std::fs::write(dir.join("summary.tsv"), "x").unwrap();
        out.check_writable(false).unwrap();
        std::fs::write(dir.join("results.h5"), "x").unwrap();
        let e = out.check_writable(false).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::OUTPUT);
        assert!(
            e.to_string()
                .contains("already holds results (results.h5); pass --force"),
            "{e}"
        );
        out.check_writable(true).unwrap();
        // A partial merge's results.h5 does not count as finished: the sweep resumes.
        std::fs::write(dir.join(PARTIAL_TXT), "x").unwrap();
        out.check_writable(false).unwrap();
        drop(out);
        // No probe left; the lock folder stays (never removed from a directory in use).
        let left = names(&dir);
        assert_eq!(
            left,
            [".nnmf-sweep-lock", "partial.txt", "results.h5", "summary.tsv", MANIFEST]
        );
    }

    #[test]
    fn a_run_that_never_started_leaves_no_trace() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new");
        drop(OutDir::open(&dir, LockMode::Exclusive, "test", &[]).unwrap());
        assert!(!dir.exists());
    }

    #[test]
    fn foreign_files_and_inputs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("fits.tsv"), "a\tb\n").unwrap();
        std::fs::write(dir.join("data.tsv"), "1\t2\n").unwrap();
        let e = OutDir::open(
            dir,
            LockMode::Exclusive,
            "test",
            &[("[data] path", &dir.join("data.tsv"))],
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::OUTPUT);
        assert!(
            e.to_string()
                .contains("holds fits.tsv, with names nnmf-sweep writes, but no sweep-manifest.txt"),
            "{e}"
        );
        let e = OutDir::open(
            dir,
            LockMode::Exclusive,
            "test",
            &[("[data] path", &dir.join("fits.tsv"))],
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "[data] path {}/fits.tsv lies in the output directory {} under a name nnmf-sweep writes there (fits.tsv)",
                dir.display(),
                dir.display()
            )),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(dir.join("fits.tsv")).unwrap(), "a\tb\n");
    }

    #[test]
    fn clear_previous_removes_only_owned_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join(MANIFEST), "x").unwrap();
        let out = OutDir::open(dir, LockMode::Exclusive, "test", &[]).unwrap();
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
        let kept = ["notes.txt", "my_fits.tsv", "consensus.csv", "data.partial"];
        for f in owned.iter().chain(&kept) {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        std::fs::create_dir(dir.join("records")).unwrap();
        std::fs::write(dir.join("records/fit-r004-00001.rec"), "x").unwrap();
        out.clear_previous().unwrap();
        let left = names(dir);
        assert_eq!(
            left,
            [
                ".nnmf-sweep-lock",
                "consensus.csv",
                "data.partial",
                "my_fits.tsv",
                "notes.txt"
            ]
        );
    }
}
