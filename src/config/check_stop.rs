//! `[stop]`: when a fit stops (iteration cap, tolerance, how often and by which rule convergence
//! is checked).

use super::raw::RawStop;
use super::validate::Checker;
use crate::error::Result;
use crate::nmf::StopRule;
use crate::nmf::fit::Convergence;
use std::num::NonZeroUsize;

/// `[stop] tol` when the config leaves it out.
pub(super) const DEFAULT_TOL: f64 = 1e-5;
/// `[stop] max_iter` when the config leaves it out.
const DEFAULT_MAX_ITER: NonZeroUsize = NonZeroUsize::new(2000).expect("2000 is not 0");
/// `[stop] check_every` when the config leaves it out.
const DEFAULT_CHECK_EVERY: NonZeroUsize = NonZeroUsize::new(10).expect("10 is not 0");
/// `[stop] stationary_checks` when the config leaves it out (R NMF's value).
const DEFAULT_STATIONARY_CHECKS: NonZeroUsize = NonZeroUsize::new(40).expect("40 is not 0");

impl Checker<'_> {
    /// Checks `[stop]` (its ceilings are checked by `ceilings`).
    pub(super) fn stop(&self, stop: RawStop) -> Result<StopRule> {
        let max_iter = self.positive(
            "stop.max_iter",
            stop.max_iter.as_ref(),
            DEFAULT_MAX_ITER,
            "a fit needs at least one iteration",
        )?;
        let check_every = self.positive(
            "stop.check_every",
            stop.check_every.as_ref(),
            DEFAULT_CHECK_EVERY,
            "the objective is checked every so many iterations",
        )?;
        let rule = self.choice(
            "stop.rule",
            stop.rule.as_ref(),
            &Convergence::ALL,
            Convergence::Gap,
            " (\"gap\": the objective's remaining decrease is below tol; \"decrease\": its last decrease; \
             \"assignment\": Brunet's rule, clusters unchanged for stationary_checks checks)",
        )?;
        let rule = match (rule, stop.stationary_checks.as_ref()) {
            (Convergence::Assignment { .. }, checks) => Convergence::Assignment {
                checks: self.positive(
                    "stop.stationary_checks",
                    checks,
                    DEFAULT_STATIONARY_CHECKS,
                    "the clusters must hold for at least one check",
                )?,
            },
            (_, Some(at)) => {
                return Err(self.err(
                    "stop.stationary_checks",
                    at,
                    format!(
                        "applies to rule = \"assignment\" only (rule is \"{}\"); add rule = \"assignment\" or \
                         remove stationary_checks",
                        rule.name()
                    ),
                ));
            }
            (rule, None) => rule,
        };
        let tol = self.value(
            "stop.tol",
            stop.tol.as_ref(),
            DEFAULT_TOL,
            |t| (t.is_finite() && t >= 0.0).then_some(t),
            |t| format!("must be a finite number ≥ 0 (got {t})"),
        )?;
        Ok(StopRule {
            max_iter,
            tol,
            check_every,
            rule,
        })
    }
}
