//! The checks across sections, made before any section's own: the ceilings of [`crate::limits`]
//! on every count of the config and on `--threads`, the number of fits of the whole sweep, and
//! `[run] memory_limit_mb` (which the `[data]` spec carries).

use super::check_selection::{DEFAULT_HELDOUT_REPEATS, DEFAULT_NULL_RESTARTS};
use super::check_sweep::DEFAULT_RESTARTS;
use super::raw::{RawConfig, RawRun, RawSelection, RawSweep};
use super::validate::{Checker, Overrides};
use crate::error::{Error, Result};
use crate::limits::{
    MAX_CHECK_EVERY, MAX_FITS, MAX_HELDOUT_REPEATS, MAX_ITER, MAX_NULL_RESTARTS, MAX_RANK, MAX_RANKS, MAX_RESTARTS,
    MAX_THREADS,
};
use std::path::PathBuf;
use toml::Spanned;

impl Checker<'_> {
    /// The ceilings on every count of the config and of `--threads`, and `[run] memory_limit_mb`
    /// (returned; 0: this machine's physical memory). Only the upper bounds are checked here; the
    /// lower ones are checked with each key.
    pub(super) fn ceilings(&self, raw: &RawConfig, ov: &Overrides) -> Result<u64> {
        let sel = &raw.selection;
        for (key, v, max, usual) in [
            (
                "selection.heldout_repeats",
                sel.heldout_repeats.as_ref(),
                MAX_HELDOUT_REPEATS,
                "3 to 10 cross-validation repeats per rank are usual",
            ),
            (
                "selection.null_restarts",
                sel.null_restarts.as_ref(),
                MAX_NULL_RESTARTS,
                "as many as restarts is usual",
            ),
            (
                "stop.max_iter",
                raw.stop.max_iter.as_ref(),
                MAX_ITER,
                "a few thousand iterations are usual",
            ),
            (
                "stop.check_every",
                raw.stop.check_every.as_ref(),
                MAX_CHECK_EVERY,
                "10 is usual",
            ),
            (
                "stop.stationary_checks",
                raw.stop.stationary_checks.as_ref(),
                MAX_CHECK_EVERY,
                "40 is R NMF's value",
            ),
        ] {
            self.at_most(key, v, max, usual)?;
        }
        self.threads_ceiling(&raw.run, ov)?;
        let memory_limit_mb = self.memory_limit_mb(&raw.run)?;
        if let Some(sweep) = raw.sweep.as_ref() {
            self.fits_ceiling(sweep, sel)?;
        }
        Ok(memory_limit_mb)
    }

    /// `v` (when given) is at most `max`; `usual` says what values are usual.
    fn at_most(&self, key: &str, v: Option<&Spanned<i64>>, max: usize, usual: &str) -> Result<()> {
        match v {
            Some(s) if *s.get_ref() > max as i64 => {
                Err(self.err(key, s, format!("must be at most {max} (got {}); {usual}", s.get_ref())))
            }
            _ => Ok(()),
        }
    }

    /// `--threads` (which takes precedence), else `[run] threads`, is at most [`MAX_THREADS`].
    fn threads_ceiling(&self, run: &RawRun, ov: &Overrides) -> Result<()> {
        match ov.threads {
            Some(t) if t > MAX_THREADS => Err(Error::ConfigValue {
                path: PathBuf::from("<command line>"),
                line: 0,
                key: "--threads".into(),
                message: format!(
                    "must be at most {MAX_THREADS} (got {t}); 0 uses all cores, and more threads than cores \
                     are capped to the cores"
                ),
            }),
            Some(_) => Ok(()),
            None => self.at_most(
                "run.threads",
                run.threads.as_ref(),
                MAX_THREADS,
                "0 uses all cores, and more threads than cores are capped to the cores",
            ),
        }
    }

    /// `[run] memory_limit_mb`: ≥ 0; 0 (the default) is this machine's physical memory.
    fn memory_limit_mb(&self, run: &RawRun) -> Result<u64> {
        self.value(
            "run.memory_limit_mb",
            run.memory_limit_mb.as_ref(),
            0,
            |m| u64::try_from(m).ok(),
            |m| format!("must be ≥ 0 (got {m}); 0 (the default) is this machine's physical memory"),
        )
    }

    /// The ceilings of `[sweep]` (restarts, how many ranks and how large) and of the number of
    /// fits of the whole sweep: ranks x (restarts + heldout_repeats + null_restarts).
    fn fits_ceiling(&self, sweep: &Spanned<RawSweep>, sel: &RawSelection) -> Result<()> {
        let sw = sweep.get_ref();
        self.at_most(
            "sweep.restarts",
            sw.restarts.as_ref(),
            MAX_RESTARTS,
            "20 to 200 restarts per rank are usual",
        )?;
        let n_ranks = match sw.ranks.as_ref() {
            None => 0,
            Some(r) => {
                if r.get_ref().len() > MAX_RANKS {
                    return Err(self.err(
                        "sweep.ranks",
                        r,
                        format!("lists {} ranks; at most {MAX_RANKS} are allowed", r.get_ref().len()),
                    ));
                }
                if let Some(big) = r.get_ref().iter().find(|&&v| v > MAX_RANK as i64) {
                    return Err(self.err(
                        "sweep.ranks",
                        r,
                        format!("rank {big} is above the ceiling of {MAX_RANK}; NMF ranks are far smaller"),
                    ));
                }
                r.get_ref().len()
            }
        };
        // A count below 0 is refused later, with its key; here it counts as 0.
        let count = |v: Option<&Spanned<i64>>, default: usize| v.map_or(default, |s| (*s.get_ref()).max(0) as usize);
        let (restarts, repeats, nulls) = (
            count(sw.restarts.as_ref(), DEFAULT_RESTARTS.get()),
            count(sel.heldout_repeats.as_ref(), DEFAULT_HELDOUT_REPEATS),
            count(sel.null_restarts.as_ref(), DEFAULT_NULL_RESTARTS),
        );
        let fits = n_ranks * (restarts + repeats + nulls);
        if fits > MAX_FITS {
            return Err(self.err(
                "sweep",
                sweep,
                format!(
                    "{n_ranks} ranks x ({restarts} restarts + {repeats} heldout_repeats + {nulls} null_restarts) is \
                     {fits} fits; at most {MAX_FITS} fits are allowed in one sweep: list fewer ranks or lower the counts"
                ),
            ));
        }
        Ok(())
    }
}
