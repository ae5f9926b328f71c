//! The sweep manifest, `<out>/sweep-manifest.txt`: what a sweep in this output directory is (the
//! settings every record and the merged result depend on, the data's checksum, the fingerprint of
//! the records) plus a copy of the config text and its path. `merge` and `status` need nothing
//! else (and the data file, which merge reads again and checks against the stored checksum).
//!
//! The first process to reach the directory writes it atomically: the text goes to a temporary
//! file of its own, which is hard-linked to the final name (the link fails if another process got
//! there first, so two shards never race). Every later process compares its own manifest with the
//! stored one, key by key, and is refused when one differs.
//!
//! Layout: `key = value` lines, then a line `--- config ---` and the config text verbatim.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest's file name inside an output directory.
pub const FILE: &str = crate::outdir::MANIFEST;

/// The line between the keys and the config text.
const CONFIG_MARK: &str = "--- config ---";

/// Keys that describe where things were, not what the sweep is: stored, not compared.
const INFORMATIONAL: [&str; 2] = ["config_path", "data_path"];

/// A sweep's identity, as stored in the output directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `key = value` pairs (sorted by key).
    pub keys: BTreeMap<String, String>,
    /// The config text.
    pub config_text: String,
}

impl Manifest {
    /// The config file's path when the sweep was started (absolute).
    pub fn config_path(&self) -> PathBuf {
        PathBuf::from(self.keys.get("config_path").cloned().unwrap_or_default())
    }

    /// The text stored on disk.
    pub fn to_text(&self) -> String {
        let mut s =
            String::from("# nnmf-sweep sweep manifest: every process writing into this directory must agree with it\n");
        for (k, v) in &self.keys {
            s.push_str(&format!("{k} = {v}\n"));
        }
        s.push_str(CONFIG_MARK);
        s.push('\n');
        s.push_str(&self.config_text);
        s
    }

    /// Parses a stored manifest; None when it is not one.
    pub fn from_text(text: &str) -> Option<Manifest> {
        let (head, config) = text.split_once(&format!("\n{CONFIG_MARK}\n"))?;
        let mut keys = BTreeMap::new();
        for line in head.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let (k, v) = line.split_once(" = ")?;
            keys.insert(k.to_string(), v.to_string());
        }
        keys.contains_key("fingerprint").then(|| Manifest {
            keys,
            config_text: config.to_string(),
        })
    }

    /// The compared keys whose values differ, as "key: this run X, the directory's Y".
    pub fn differences(&self, stored: &Manifest) -> Vec<String> {
        let names: std::collections::BTreeSet<&String> = self.keys.keys().chain(stored.keys.keys()).collect();
        names
            .into_iter()
            .filter(|k| !INFORMATIONAL.contains(&k.as_str()) && k.as_str() != "fingerprint")
            .filter_map(|k| {
                let (a, b) = (self.keys.get(k), stored.keys.get(k));
                (a != b).then(|| {
                    format!(
                        "{k}: {} for this run, {} in the directory",
                        a.map_or("(none)", |s| s.as_str()),
                        b.map_or("(none)", |s| s.as_str())
                    )
                })
            })
            .collect()
    }
}

/// Reads the manifest of `out`; None when there is none. `out` must be a directory (or not exist);
/// a damaged manifest is an error that says how to keep the fit records (delete the manifest
/// alone: the next run writes it again and resumes every intact record).
pub fn read(out: &Path) -> Result<Option<Manifest>> {
    if let Some(what) = not_a_directory(out) {
        return Err(Error::OutputDir {
            path: out.to_path_buf(),
            message: format!(
                "{what}, not a directory; give the output directory of a sweep (the [output] dir or --out it ran with)"
            ),
        });
    }
    let path = out.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Manifest::from_text(&text).map(Some).ok_or_else(|| damaged(out, &path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

/// What `path` is when it exists but is not a directory ("is a file", ...); None otherwise.
fn not_a_directory(path: &Path) -> Option<&'static str> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_dir() {
        None
    } else if meta.is_file() {
        Some("is a file")
    } else {
        Some("is not a regular file")
    }
}

/// The error of a damaged manifest at `path` in `out`. Deleting the manifest alone keeps every
/// record: a record carries the fingerprint of the settings and data it was made from, and the
/// next run (which writes the manifest again) resumes each one whose fingerprint matches.
fn damaged(out: &Path, path: &Path) -> Error {
    let also = if crate::outdir::is_finished(out) {
        format!(" and {}", out.join(crate::outdir::RESULTS_H5).display())
    } else {
        String::new()
    };
    Error::OutputDir {
        path: path.to_path_buf(),
        message: format!(
            "is damaged (not a sweep manifest); delete it{also}, then run the sweep's command again (the same \
             config and --out): the manifest is written again and every intact fit record in {} is resumed, \
             not recomputed (--force would discard them all)",
            super::store::records_dir(out).display()
        ),
    }
}

/// Stores `m` as the manifest of `out` if there is none yet, else checks that the stored one is
/// the same sweep (refused with every difference listed).
pub fn write_or_check(out: &Path, m: &Manifest) -> Result<()> {
    let path = out.join(FILE);
    let err = |e| Error::io(format!("cannot write the sweep manifest {}", path.display()), e);
    if read(out)?.is_none() {
        let tmp = crate::fsio::private_partial_path(&out.join(FILE));
        std::fs::write(&tmp, m.to_text())
            .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
            .map_err(err)?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => return crate::fsio::sync_parent(&path).map_err(err),
            // Another process stored its manifest first: compare with it below.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err(e)),
        }
    }
    let stored = read(out)?.ok_or_else(|| err(std::io::Error::other("vanished while being checked")))?;
    let diff = m.differences(&stored);
    if diff.is_empty() && m.keys.get("fingerprint") == stored.keys.get("fingerprint") {
        return Ok(());
    }
    Err(Error::OtherSweep {
        dir: out.to_path_buf(),
        differs: if diff.is_empty() {
            "the records' fingerprint differs".into()
        } else {
            diff.join("; ")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ranks: &str) -> Manifest {
        let mut keys = BTreeMap::new();
        for (k, v) in [
            ("fingerprint", "ab"),
            ("ranks", ranks),
            ("config_path", "/a/c.toml"),
            ("restarts", "4"),
        ] {
            keys.insert(k.to_string(), v.to_string());
        }
        Manifest {
            keys,
            config_text: "[sweep]\nranks = [2]\n".into(),
        }
    }

    #[test]
    fn round_trip_first_writer_wins_and_differences_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let m = sample("2,3");
        assert_eq!(Manifest::from_text(&m.to_text()).unwrap(), m);
        write_or_check(tmp.path(), &m).unwrap();
        write_or_check(tmp.path(), &m).unwrap();
        let mut moved = m.clone();
        moved.keys.insert("config_path".into(), "/elsewhere/c.toml".into());
        write_or_check(tmp.path(), &moved).unwrap();
        let e = write_or_check(tmp.path(), &sample("2,3,4")).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::OUTPUT);
        assert!(
            e.to_string()
                .contains("ranks: 2,3,4 for this run, 2,3 in the directory"),
            "{e}"
        );
        assert_eq!(read(tmp.path()).unwrap().unwrap(), m);
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "no temporary left");
    }
}
