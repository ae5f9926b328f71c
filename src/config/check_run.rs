//! `[output]` and `[run]`: where the results go and how many worker threads fit (`--out` and
//! `--threads` take precedence). `[run] memory_limit_mb` is checked with the ceilings.

use super::raw::{RawOutput, RawRun};
use super::validate::{Checker, Overrides};
use crate::error::Result;
use std::num::NonZeroUsize;
use std::path::PathBuf;

impl Checker<'_> {
    /// The output directory: `--out`, else `[output] dir`, else `results` beside the config file.
    pub(super) fn out_dir(&self, output: RawOutput, ov: &Overrides) -> Result<PathBuf> {
        Ok(match (&ov.out, output.dir) {
            (Some(o), _) => o.clone(),
            (None, Some(d)) if d.get_ref().trim().is_empty() => {
                return Err(self.err(
                    "output.dir",
                    &d,
                    "is empty; give a directory, e.g. dir = \"results\"".into(),
                ));
            }
            (None, Some(d)) => self.resolve(d.get_ref()),
            (None, None) => self.resolve("results"),
        })
    }

    /// Worker threads: `--threads`, else `[run] threads`; 0 (the default) is all cores.
    pub(super) fn threads(&self, run: &RawRun, ov: &Overrides) -> Result<NonZeroUsize> {
        let threads = match ov.threads {
            Some(t) => t,
            None => self.value(
                "run.threads",
                run.threads.as_ref(),
                0,
                |t| usize::try_from(t).ok(),
                |t| format!("must be ≥ 0 (0: all cores), got {t}"),
            )?,
        };
        Ok(NonZeroUsize::new(threads)
            .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)))
    }
}
