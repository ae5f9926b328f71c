//! `[selection]`: the rank-selection rule and the statistics it needs (consensus, held-out
//! likelihood, null baseline).

use super::checked::HeldoutFraction;
use super::raw::RawSelection;
use super::validate::{Checker, SelectionSpec};
use crate::error::Result;
use crate::stats::select::{Rule, Solution};
use toml::Spanned;

/// `[selection] heldout_repeats` when the config leaves it out.
pub(super) const DEFAULT_HELDOUT_REPEATS: usize = 3;
/// `[selection] null_restarts` when the config leaves it out.
pub(super) const DEFAULT_NULL_RESTARTS: usize = 0;

impl Checker<'_> {
    /// A count ≥ 0 (0 is allowed: none).
    fn count(&self, key: &str, v: Option<&Spanned<i64>>, default: usize) -> Result<usize> {
        self.value(
            key,
            v,
            default,
            |n| usize::try_from(n).ok(),
            |n| format!("must be ≥ 0 (got {n})"),
        )
    }

    /// Checks `[selection]` (its ceilings are checked by `ceilings`).
    pub(super) fn selection(&self, raw: RawSelection) -> Result<SelectionSpec> {
        let rule = self.choice("selection.rule", raw.rule.as_ref(), &Rule::ALL, Rule::Default, "")?;
        let consensus_max_mb = self.count("selection.consensus_max_mb", raw.consensus_max_mb.as_ref(), 2048)?;
        let heldout_repeats = self.count(
            "selection.heldout_repeats",
            raw.heldout_repeats.as_ref(),
            DEFAULT_HELDOUT_REPEATS,
        )?;
        let null_restarts = self.count(
            "selection.null_restarts",
            raw.null_restarts.as_ref(),
            DEFAULT_NULL_RESTARTS,
        )?;
        let heldout_fraction = self.value(
            "selection.heldout_fraction",
            raw.heldout_fraction.as_ref(),
            HeldoutFraction::DEFAULT,
            HeldoutFraction::new,
            |f| format!("must be in (0, 0.5] (got {f}); 0.05 holds out 5% of the entries"),
        )?;
        let solution = self.choice(
            "selection.solution",
            raw.solution.as_ref(),
            &Solution::ALL,
            Solution::Best,
            "",
        )?;
        if heldout_repeats == 0 && matches!(rule, Rule::Default | Rule::Heldout) {
            // heldout_repeats defaults to 3, so it was set to 0 explicitly.
            let message = format!(
                "rule \"{}\" needs the held-out likelihood: set heldout_repeats to 1 or more, or choose rule = \"cophenetic\"",
                rule.name()
            );
            return Err(match raw.heldout_repeats.as_ref() {
                Some(s) => self.err("selection.heldout_repeats", s, message),
                None => self.missing("selection.heldout_repeats", 0, &message),
            });
        }
        Ok(SelectionSpec {
            rule,
            consensus_max_mb,
            heldout_fraction,
            heldout_repeats,
            null_restarts,
            solution,
        })
    }
}
