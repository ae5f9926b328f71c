//! `[sweep]`: the ranks, the restarts per rank and the master seed.

use super::raw::RawSweep;
use super::validate::Checker;
use crate::error::Result;
use toml::Spanned;

/// `[sweep] restarts` when the config leaves it out.
pub(super) const DEFAULT_RESTARTS: usize = 20;

/// The checked `[sweep]`.
pub(super) struct Sweep {
    /// Ranks, ascending, distinct, ≥ 1.
    pub ranks: Vec<usize>,
    /// Line of `sweep.ranks`.
    pub ranks_line: usize,
    /// Restarts per rank.
    pub restarts: usize,
    /// Master seed of every random stream.
    pub seed: u64,
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
        if ranks_s.get_ref().is_empty() {
            return Err(self.err(
                "sweep.ranks",
                &ranks_s,
                "is empty; list at least one rank, e.g. ranks = [2, 3, 4]".into(),
            ));
        }
        let mut ranks = Vec::new();
        for &r in ranks_s.get_ref() {
            if r < 1 {
                return Err(self.err(
                    "sweep.ranks",
                    &ranks_s,
                    format!("rank {r} is impossible; ranks must be at least 1"),
                ));
            }
            if ranks.contains(&(r as usize)) {
                return Err(self.err(
                    "sweep.ranks",
                    &ranks_s,
                    format!("rank {r} is listed twice; list each rank once"),
                ));
            }
            ranks.push(r as usize);
        }
        ranks.sort_unstable();
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
        Ok(Sweep {
            ranks_line: self.line(&ranks_s),
            ranks,
            restarts,
            seed,
        })
    }
}
