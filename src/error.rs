//! One error type for the whole program, with the context a user needs to fix the problem
//! (file, dataset, key, line), and the documented exit codes.
//!
//! Exit codes (also in the README):
//! - 0: success;
//! - 1: internal error (a bug, or an unexpected I/O or HDF5 failure);
//! - 2: bad command line or configuration (syntax, unknown key, invalid value, a count above its
//!   ceiling, a sweep whose memory estimate is above `[run] memory_limit_mb`, a rank impossible
//!   for the data, a bad `--shard` or Slurm array environment, `--force` with a shard);
//! - 3: bad input data (missing file or dataset, not a regular file, a declared size the file or
//!   the memory limit cannot hold, wrong shape or type, negative/NaN/infinite entries, a bad
//!   `[report] reference` catalogue; at
//!   `merge`, data changed since the sweep ran);
//! - 4: output directory problem (already holds results without `--force`, not writable, locked
//!   by another process or on a file system without locks, holds an input under an output name or
//!   files with output names but no sweep manifest, holds the fit records of another sweep — other
//!   config or data — or, for `merge`/`status`, no sweep or a file; a damaged sweep manifest);
//! - 5: numerical failure (every fit of some rank produced a non-finite objective);
//! - 6: incomplete: the command was stopped by SIGTERM or SIGINT (a Slurm time limit or
//!   `scancel`) in any phase, or `merge` found fits missing; finished fits are kept, and running the
//!   same command again resumes (only the missing fits are computed).

use std::path::PathBuf;

/// The documented exit codes, by name: the code returns them through [`Error::exit_code`], and
/// the tests compare with them.
pub mod exit {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// Internal error: a bug, or an unexpected I/O or HDF5 failure.
    pub const INTERNAL: u8 = 1;
    /// Bad command line or configuration.
    pub const CONFIG: u8 = 2;
    /// Bad input data.
    pub const DATA: u8 = 3;
    /// Output directory problem.
    pub const OUTPUT: u8 = 4;
    /// Numerical failure: every fit of some rank produced a non-finite objective.
    pub const NUMERICAL: u8 = 5;
    /// Incomplete: stopped by a signal, or fits missing at merge ("run the same command again to
    /// resume").
    pub const INCOMPLETE: u8 = 6;
}

/// Shorthand for results carrying [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the program reports to a user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file cannot be read.
    #[error("cannot read config file {path}: {source}; check the path given on the command line")]
    ConfigRead {
        /// The config file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The configuration is not valid TOML or has a value of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    ConfigSyntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, with a hint on how to fix it.
        message: String,
    },
    /// A key the configuration does not know.
    #[error("{path}:{line}: unknown key `{key}`{section}{hint}")]
    UnknownKey {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the key.
        line: usize,
        /// The key as written.
        key: String,
        /// " in [section]" or empty at the top level.
        section: String,
        /// "; did you mean `x`?" plus the valid keys.
        hint: String,
    },
    /// A value that parses but is not allowed (rank 0, unknown loss, ...).
    #[error("{}: {key}: {message}", at(path, *line))]
    ConfigValue {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the key (0: no line, e.g. a missing section).
        line: usize,
        /// Dotted key, e.g. `sweep.ranks`.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The input data file cannot be opened or read.
    #[error("{path}: {message}")]
    DataFile {
        /// The data file.
        path: PathBuf,
        /// What went wrong and how to fix it.
        message: String,
    },
    /// The input dataset is missing, has the wrong shape or type, or holds bad values.
    #[error("{path}, dataset \"{dataset}\": {message}")]
    Data {
        /// The data file.
        path: PathBuf,
        /// The dataset inside the file.
        dataset: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The output directory already holds results.
    #[error(
        "output directory {dir} already holds results ({found}); pass --force to overwrite them, \
         or choose another directory with --out or [output] dir"
    )]
    OutputExists {
        /// The output directory.
        dir: PathBuf,
        /// The files found.
        found: String,
    },
    /// The output directory cannot be created or written.
    #[error("output directory {dir} cannot be written: {source}; choose another with --out or [output] dir")]
    OutputUnwritable {
        /// The output directory.
        dir: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Every fit of a rank failed numerically.
    #[error("rank {rank}: all {fits} fits produced a non-finite objective; {hint}")]
    Numerical {
        /// The rank.
        rank: usize,
        /// How many fits were tried.
        fits: usize,
        /// What to try.
        hint: String,
    },
    /// The output directory belongs to another sweep (other config or data), or its records do.
    #[error(
        "output directory {dir} holds the records of another sweep: {differs}; records are never mixed: \
         use another directory with --out or [output] dir, or pass --force to discard them (not with --shard)"
    )]
    OtherSweep {
        /// The output directory.
        dir: PathBuf,
        /// What differs, e.g. "ranks: this run 2,3 vs 2,3,4 in the directory".
        differs: String,
    },
    /// `merge` or `status` was given a directory that holds no sweep.
    #[error("{dir} holds no sweep (no {manifest}): give the output directory of a sweep (its [output] dir or --out)")]
    NoSweep {
        /// The directory given.
        dir: PathBuf,
        /// The manifest's file name.
        manifest: String,
    },
    /// A bad `--shard` value or Slurm array environment.
    #[error("{source_name}: {message}")]
    Shard {
        /// Where the value came from (`--shard` or the environment variable).
        source_name: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The sweep is not complete: stopped by a signal, or fits are missing at merge.
    #[error("incomplete: {message}")]
    Incomplete {
        /// What is missing and how to resume.
        message: String,
    },
    /// An I/O failure while writing results.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Another process holds the output directory's lock in a mode that excludes this one.
    #[error(
        "output directory {dir} is in use by {holders}; refused {wanted}: one process at a time writes an \
         output directory (the shards of one sweep share it); wait for it to finish, or use another directory \
         with --out or [output] dir"
    )]
    OutputLocked {
        /// The output directory.
        dir: PathBuf,
        /// What this process wanted, e.g. "nnmf-sweep merge (exclusive lock)".
        wanted: String,
        /// The holders' notes (pid, host, start time, command).
        holders: String,
    },
    /// The output directory's file system cannot lock files (some NFS set-ups).
    #[error(
        "output directory {dir} cannot be locked: {source}; nnmf-sweep locks its output directory so that no two \
         processes write it at once, and this file system does not support file locks: put the output directory \
         on a local or lock-capable file system (--out or [output] dir)"
    )]
    OutputLockUnsupported {
        /// The output directory.
        dir: PathBuf,
        /// The error flock returned.
        source: std::io::Error,
    },
    /// An input file (data, mask, config) lies in the output directory under a name the program
    /// writes there: writing the results would overwrite or delete it.
    #[error(
        "{key} {path} lies in the output directory {dir} under a name nnmf-sweep writes there ({name}); the run \
         would overwrite or delete it: move the file, or choose another output directory with --out or [output] dir"
    )]
    OutputHoldsInput {
        /// The output directory.
        dir: PathBuf,
        /// Which input, e.g. "[data] path" or "config file".
        key: String,
        /// The input file.
        path: PathBuf,
        /// Its name inside the output directory.
        name: String,
    },
    /// Files with the program's output names in a directory that holds no sweep: not written by
    /// this program, so they are never overwritten.
    #[error(
        "output directory {dir} holds {found}, with names nnmf-sweep writes, but no {manifest}: they were not \
         written by a sweep and would be overwritten; move them, or choose another output directory with --out \
         or [output] dir"
    )]
    OutputForeignFiles {
        /// The output directory.
        dir: PathBuf,
        /// The files found.
        found: String,
        /// The manifest's file name.
        manifest: String,
    },
    /// An HDF5 failure while writing results.
    #[error("{context}: {source}")]
    Hdf5 {
        /// What was being done, with the path.
        context: String,
        /// The underlying HDF5 error.
        source: hdf5::Error,
    },
    /// The output directory given (to `merge`, `status` or a sweep) is not usable as one, or a
    /// file of the sweep in it is damaged: what is wrong with it and how to fix it.
    #[error("{path}: {message}")]
    OutputDir {
        /// The directory, or the file inside it.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// "file:line", or "file" when the line is unknown (0), e.g. for a missing section.
fn at(path: &std::path::Path, line: usize) -> String {
    if line == 0 {
        path.display().to_string()
    } else {
        format!("{}:{line}", path.display())
    }
}

impl Error {
    /// The process exit code for this error (documented in the module docs and the README).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::ConfigRead { .. }
            | Error::ConfigSyntax { .. }
            | Error::UnknownKey { .. }
            | Error::ConfigValue { .. }
            | Error::Shard { .. } => exit::CONFIG,
            Error::DataFile { .. } | Error::Data { .. } => exit::DATA,
            Error::OutputExists { .. }
            | Error::OutputUnwritable { .. }
            | Error::OtherSweep { .. }
            | Error::NoSweep { .. }
            | Error::OutputLocked { .. }
            | Error::OutputLockUnsupported { .. }
            | Error::OutputHoldsInput { .. }
            | Error::OutputForeignFiles { .. }
            | Error::OutputDir { .. } => exit::OUTPUT,
            Error::Numerical { .. } => exit::NUMERICAL,
            Error::Incomplete { .. } => exit::INCOMPLETE,
            Error::Io { .. } | Error::Hdf5 { .. } => exit::INTERNAL,
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Wraps an HDF5 error with what was being done.
    pub fn hdf5(context: impl Into<String>, source: hdf5::Error) -> Self {
        Error::Hdf5 {
            context: context.into(),
            source,
        }
    }
}
