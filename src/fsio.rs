//! File-system safety, below everything that writes: atomic writes (temporary name, fsync,
//! rename, fsync of the directory) and the advisory lock that makes one process the owner of an
//! output directory.
//!
//! The lock is `flock(2)` on `<dir>/.nnmf-sweep-lock/lock` (the standard library's `File::lock`
//! family): an unsharded run, `merge`, `compare` and `--force` hold it exclusively; shards of one
//! sweep hold it shared, so an array keeps running while a second run or merge is refused. The
//! kernel drops the lock when its holder exits, however it exits (SIGKILL included), so a crash
//! never leaves the directory locked. Beside the lock, every holder leaves a note
//! (`holder.<host>.<pid>`: pid, host, start time, command) that a refused process quotes; the
//! notes are only information, the lock alone decides.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The temporary name under which `path` is written before it is renamed into place.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// The temporary name of `path` that only this process writes (`<name>.<pid>.partial`), for
/// files several processes may write at once (the manifest, shards.txt, a fit record).
pub fn private_partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.partial", std::process::id()));
    path.with_file_name(name)
}

/// The temporary name of the PNG `<stem>.png` in `dir` (`<stem>.partial.png`: the plotting
/// library picks the image format from the extension).
pub fn partial_png(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}.partial.png"))
}

/// Syncs the finished temporary file, renames it to `path`, and syncs the directory so that the
/// rename itself survives a crash.
pub fn commit(path: &Path) -> Result<()> {
    commit_from(&partial_path(path), path)
}

/// Syncs the finished temporary file `tmp` (for writers that pick their format from the name,
/// e.g. `<stem>.partial.nii.gz`), renames it to `path`, and syncs the directory.
pub fn commit_from(tmp: &Path, path: &Path) -> Result<()> {
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .and_then(|_| std::fs::rename(tmp, path))
        .and_then(|_| sync_parent(path))
        .map_err(|e| Error::io(format!("cannot finalize {}", path.display()), e))
}

/// fsync of the directory holding `path` (makes a rename into it durable).
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })?
        .sync_all(),
        None => Ok(()),
    }
}

/// Writes `text` to `path` atomically (temporary file, sync, rename).
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    std::fs::write(partial_path(path), text).map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    commit(path)
}

/// The folder inside an output directory that holds the lock file and the holders' notes.
pub const LOCK_DIR: &str = ".nnmf-sweep-lock";

/// How a process holds an output directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// The only process writing there (an unsharded run, merge, compare, `--force`).
    Exclusive,
    /// One of the shards of one sweep (each writes only its own fit records).
    Shared,
}

impl LockMode {
    fn name(self) -> &'static str {
        match self {
            LockMode::Exclusive => "exclusive",
            LockMode::Shared => "shared",
        }
    }
}

/// Proof that this process holds the lock of an output directory; released when dropped (or
/// by the kernel when the process ends, however it ends).
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    mode: LockMode,
    note: PathBuf,
    // Held open: closing it releases the lock.
    _file: File,
}

impl DirLock {
    /// Takes the lock of `dir` (which must exist) in `mode`, without waiting. `command` says what
    /// this process is doing (e.g. "nnmf-sweep run", "nnmf-sweep merge"); it goes into the note
    /// that a refused process quotes. Refused with [`Error::OutputLocked`] (exit 4) naming the
    /// holders when another process holds it in a conflicting mode, and with
    /// [`Error::OutputLockUnsupported`] when the file system has no locks.
    pub fn acquire(dir: &Path, mode: LockMode, command: &str) -> Result<DirLock> {
        let unwritable = |source| Error::OutputUnwritable {
            dir: dir.to_path_buf(),
            source,
        };
        let lock_dir = dir.join(LOCK_DIR);
        match std::fs::create_dir(&lock_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && lock_dir.is_dir() => {}
            Err(e) => return Err(unwritable(e)),
        }
        let path = lock_dir.join("lock");
        let mut tries = 0;
        let file = loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(unwritable)?;
            let taken = match mode {
                LockMode::Exclusive => file.try_lock(),
                LockMode::Shared => file.try_lock_shared(),
            };
            match taken {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::OutputLocked {
                        dir: dir.to_path_buf(),
                        wanted: format!("{command} ({} lock)", mode.name()),
                        holders: describe_holders(&lock_dir),
                    });
                }
                Err(TryLockError::Error(e)) => {
                    return Err(if is_unsupported(&e) {
                        Error::OutputLockUnsupported {
                            dir: dir.to_path_buf(),
                            source: e,
                        }
                    } else {
                        unwritable(e)
                    });
                }
            }
            // The lock file may have been unlinked between our open and our lock (a run that
            // never started removes its new directory again): then the lock taken is on a file
            // nobody else will open, and the path is tried again.
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if same {
                break file;
            }
            tries += 1;
            if tries >= 20 {
                return Err(unwritable(std::io::Error::other(format!(
                    "its lock file {} keeps being replaced",
                    path.display()
                ))));
            }
            if !lock_dir.is_dir() {
                std::fs::create_dir_all(&lock_dir).map_err(unwritable)?;
            }
        };
        if mode == LockMode::Exclusive {
            // Nobody else holds the lock, so every note left beside it is stale (its writer was
            // killed): they are this program's own files.
            if let Ok(entries) = std::fs::read_dir(&lock_dir) {
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with("holder.") {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
        let host = hostname();
        let pid = std::process::id();
        let note = lock_dir.join(format!("holder.{host}.{pid}"));
        let text = format!(
            "pid {pid} on host {host}, since {} UTC: {command} ({} lock)\n",
            utc_now(),
            mode.name()
        );
        std::fs::write(&note, text).map_err(unwritable)?;
        Ok(DirLock {
            dir: dir.to_path_buf(),
            mode,
            note,
            _file: file,
        })
    }

    /// The directory this lock owns.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How it is held.
    pub fn mode(&self) -> LockMode {
        self.mode
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.note);
    }
}

/// Whether a lock error means "this file system cannot lock" (some NFS set-ups).
fn is_unsupported(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOLCK) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
    ) || e.kind() == std::io::ErrorKind::Unsupported
}

/// The notes of the processes that hold (or, on another host, may hold) the lock, one per line;
/// notes of processes of this host that are gone are left out.
fn describe_holders(lock_dir: &Path) -> String {
    let this_host = hostname();
    let mut lines = Vec::new();
    if let Ok(entries) = std::fs::read_dir(lock_dir) {
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("holder."))
            .collect();
        names.sort();
        for name in names {
            let Some((host, pid)) = name["holder.".len()..].rsplit_once('.') else {
                continue;
            };
            let alive = match pid.parse::<i32>() {
                // SAFETY: kill with signal 0 only checks that the process exists.
                Ok(pid) if host == this_host => unsafe { libc::kill(pid, 0) == 0 },
                Ok(_) => true,
                Err(_) => false,
            };
            if alive && let Ok(text) = std::fs::read_to_string(lock_dir.join(&name)) {
                lines.push(text.trim().to_string());
            }
        }
    }
    if lines.is_empty() {
        "another process (it left no note)".into()
    } else {
        lines.join("; ")
    }
}

/// This machine's host name ("unknown-host" if it cannot be read).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name: String = String::from_utf8_lossy(&buf[..end])
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() { "unknown-host".into() } else { name }
}

/// The current time as `YYYY-MM-DD HH:MM:SS` (UTC).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_789), (2026, 12, 2));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn exclusive_refuses_everyone_shared_shares() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let a = DirLock::acquire(dir, LockMode::Exclusive, "nnmf-sweep run").unwrap();
        for mode in [LockMode::Exclusive, LockMode::Shared] {
            let e = DirLock::acquire(dir, mode, "nnmf-sweep merge").unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::OUTPUT);
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("pid {} on host {}", std::process::id(), hostname())),
                "{msg}"
            );
            assert!(msg.contains("nnmf-sweep run (exclusive lock)"), "{msg}");
        }
        drop(a);
        let s1 = DirLock::acquire(dir, LockMode::Shared, "shard 0/2").unwrap();
        let s2 = DirLock::acquire(dir, LockMode::Shared, "shard 1/2").unwrap();
        assert_eq!(s2.mode(), LockMode::Shared);
        let e = DirLock::acquire(dir, LockMode::Exclusive, "merge").unwrap_err();
        assert!(e.to_string().contains("(shared lock)"), "{e}");
        drop((s1, s2));
        let x = DirLock::acquire(dir, LockMode::Exclusive, "merge").unwrap();
        assert_eq!(x.dir(), dir);
        // Only the lock file and this holder's note are left.
        assert_eq!(std::fs::read_dir(dir.join(LOCK_DIR)).unwrap().count(), 2);
    }

    #[test]
    fn unsupported_locks_are_recognized() {
        assert!(is_unsupported(&std::io::Error::from_raw_os_error(libc::ENOLCK)));
        assert!(!is_unsupported(&std::io::Error::from_raw_os_error(libc::EACCES)));
    }
}
