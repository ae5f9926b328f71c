//! `[sweep]`: the ranks, the restarts per rank, the master seed and what each restart fits.

use super::checked::{BadRanks, Ranks};
use super::raw::RawSweep;
use super::validate::Checker;
use crate::error::Result;
use crate::nmf::Resample;
use std::num::NonZeroUsize;
use toml::Spanned;

/// `[sweep] restarts` when the config leaves it out.
pub(super) const DEFAULT_RESTARTS: NonZeroUsize = NonZeroUsize::new(20).expect("20 is not 0");

/// The checked `[sweep]`.
pub(super) struct Sweep {
    /// Ranks, ascending, distinct, ≥ 1.
    pub ranks: Ranks,
    /// Line of `sweep.ranks`.
    pub ranks_line: usize,
    /// Restarts per rank.
    pub restarts: NonZeroUsize,
    /// Master seed of every random stream.
    pub seed: u64,
    /// What each restart fits.
    pub resample: Resample,
    /// Line of `sweep.resample` (0 when left out).
    pub resample_line: usize,
}

impl Checker<'_> {
    /// Checks `[sweep]` (its ceilings are checked by `ceilings`).
    pub(super) fn sweep(&self, sweep: Option<Spanned<RawSweep>>) -> Result<Sweep> {
        let (sweep, sweep_line) = self.section(
            sweep,
            "sweep",
            "missing section [sweep]; add [sweep] with ranks = [2, 3, 4]",
        )?;
        let ranks_s = self.required(
            sweep.ranks,
            "sweep.ranks",
            sweep_line,
            "missing key; add ranks = [2, 3, 4] under [sweep]",
        )?;
        let ranks = Ranks::new(ranks_s.get_ref()).map_err(|bad| {
            let message = match bad {
                BadRanks::Empty => "is empty; list at least one rank, e.g. ranks = [2, 3, 4]".to_string(),
                BadRanks::Impossible(r) => format!("rank {r} is impossible; ranks must be at least 1"),
                BadRanks::Twice(r) => format!("rank {r} is listed twice; list each rank once"),
            };
            self.err("sweep.ranks", &ranks_s, message)
        })?;
        let restarts = self.positive(
            "sweep.restarts",
            sweep.restarts.as_ref(),
            DEFAULT_RESTARTS,
            "each rank needs at least one fit",
        )?;
        let seed = self.value(
            "sweep.seed",
            sweep.seed.as_ref(),
            1,
            |s| u64::try_from(s).ok(),
            |s| format!("must be a non-negative integer (got {s})"),
        )?;
        let resample = self.choice(
            "sweep.resample",
            sweep.resample.as_ref(),
            &Resample::ALL,
            Resample::None,
            " (\"poisson\" fits each restart to a Poisson draw of X, \"bootstrap\" to a sample of its rows)",
        )?;
        Ok(Sweep {
            resample,
            resample_line: sweep.resample.as_ref().map_or(0, |s| self.line(s)),
            ranks_line: self.line(&ranks_s),
            ranks,
            restarts,
            seed,
        })
    }
}
