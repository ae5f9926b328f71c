//! The driver loop of one fit: run an update rule, evaluate the objectives every `check_every`
//! iterations, stop on convergence, `max_iter`, a non-finite objective, or cancellation.
//! The reason is a value stored with the fit ([`StopReason`]), never hidden.

use super::loss::{FitMatrix, Loss, ObjectiveScratch, Objectives, Penalty, Scalar, objectives_of};
use super::update::UpdateRule;
use ndarray::{Array2, Zip};
use std::sync::atomic::{AtomicBool, Ordering};

/// When a fit stops (`[stop]` in the config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StopRule {
    /// Iteration cap (≥ 1).
    pub max_iter: usize,
    /// Converged when the relative decrease of the objective over `check_every` iterations is
    /// below `tol` (≥ 0).
    pub tol: f64,
    /// Objectives are evaluated every `check_every` iterations (≥ 1), and at the last one.
    pub check_every: usize,
}

/// Why a fit stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The relative decrease over `check_every` iterations fell below `tol`.
    Converged,
    /// `max_iter` iterations ran without converging.
    MaxIter,
    /// The objective became NaN or infinite: the fit failed and its factors are not used.
    NonFinite,
    /// The driver's cancel flag was set while this fit was in flight (SIGTERM or SIGINT). A
    /// cancelled fit is never stored: a resumed run computes it again, to the same bits.
    Cancelled,
}

impl StopReason {
    /// The name written to fits.tsv and results.h5.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Converged => "converged",
            StopReason::MaxIter => "max_iter",
            StopReason::NonFinite => "non_finite",
            StopReason::Cancelled => "cancelled",
        }
    }
}

/// The end state of one fit.
#[derive(Debug, Clone)]
pub struct FitOutcome {
    /// W (N x r).
    pub w: Array2<f64>,
    /// H (r x p).
    pub h: Array2<f64>,
    /// Objectives of the final (W, H); non-finite only when `stop` is `NonFinite`.
    pub objectives: Objectives,
    /// Iterations run.
    pub iterations: usize,
    /// Why the fit stopped.
    pub stop: StopReason,
}

/// The objectives of (W, H) in precision T, always evaluated in f64 from the factors rounded up
/// to f64, so fits of either precision and of every solver are compared by one computation.
struct Evaluator<'a> {
    data: &'a FitMatrix,
    penalty: &'a Penalty,
    /// W and H in f64 (N x r, r x p).
    w64: Array2<f64>,
    h64: Array2<f64>,
    /// Buffers of the objective evaluation.
    scratch: ObjectiveScratch,
}

impl Evaluator<'_> {
    fn eval<T: Scalar>(&mut self, w: &Array2<T>, h: &Array2<T>) -> Objectives {
        Zip::from(&mut self.w64).and(w).for_each(|a, &b| *a = b.f64());
        Zip::from(&mut self.h64).and(h).for_each(|a, &b| *a = b.f64());
        let mut o = objectives_of(self.data, self.w64.view(), self.h64.view(), &mut self.scratch);
        o.penalty = self.penalty.value(self.w64.view(), self.h64.view());
        o
    }
}

/// Runs `rule` from (w, h) on `data` under `loss` until `stop` says so, in precision T (the
/// factors are rounded to T at the start and returned in f64).
///
/// When `trace` is given, objectives are evaluated after every iteration and pushed there (tests,
/// diagnostics); the stop rule still looks only every `check_every` iterations, so a trace does
/// not change a fit.
#[allow(clippy::too_many_arguments)]
pub fn fit<T: Scalar>(
    data: &FitMatrix,
    loss: Loss,
    rule: &mut dyn UpdateRule<T>,
    w0: Array2<f64>,
    h0: Array2<f64>,
    stop: &StopRule,
    penalty: &Penalty,
    cancel: &AtomicBool,
    mut trace: Option<&mut Vec<Objectives>>,
) -> FitOutcome {
    let mut w: Array2<T> = w0.mapv(T::of);
    let mut h: Array2<T> = h0.mapv(T::of);
    let scratch = data.objective_scratch(w0.ncols());
    let mut ev = Evaluator {
        data,
        penalty,
        w64: w0,
        h64: h0,
        scratch,
    };
    let mut last = ev.eval(&w, &h);
    if !last.usable(loss) {
        return FitOutcome {
            w: ev.w64,
            h: ev.h64,
            objectives: last,
            iterations: 0,
            stop: StopReason::NonFinite,
        };
    }
    let mut reference = last.value(loss);
    let mut outcome_stop = StopReason::MaxIter;
    let mut iterations = 0;
    for it in 1..=stop.max_iter {
        rule.step(&mut w, &mut h);
        iterations = it;
        let check = it % stop.check_every == 0 || it == stop.max_iter;
        if check || trace.is_some() {
            last = ev.eval(&w, &h);
            if let Some(t) = trace.as_deref_mut() {
                t.push(last);
            }
            if !last.usable(loss) {
                outcome_stop = StopReason::NonFinite;
                break;
            }
        }
        if check {
            let cur = last.value(loss);
            // Relative decrease over the last check_every iterations; an exact fit (0) converged.
            let decrease = if reference > 0.0 {
                (reference - cur) / reference
            } else {
                0.0
            };
            if decrease < stop.tol {
                outcome_stop = StopReason::Converged;
                break;
            }
            reference = cur;
        }
        if cancel.load(Ordering::Relaxed) {
            outcome_stop = StopReason::Cancelled;
            break;
        }
    }
    if outcome_stop == StopReason::Cancelled && iterations % stop.check_every != 0 {
        last = ev.eval(&w, &h);
    }
    // Every way out of the loop evaluated the final factors, which left them in ev.w64, ev.h64.
    FitOutcome {
        w: ev.w64,
        h: ev.h64,
        objectives: last,
        iterations,
        stop: outcome_stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmf::update::Solver;
    use crate::nmf::update::tests::awkward_data;

    fn run(loss: Loss, stop: StopRule, trace: Option<&mut Vec<Objectives>>) -> FitOutcome {
        let data = FitMatrix::new(awkward_data(30, 20));
        let (w, h) = crate::nmf::init::random(&mut crate::rng::fit_rng(11), 30, 20, 3, data.mean());
        let mut rule = Solver::Mu.rule::<f64>(&data, loss, 3, Penalty::NONE);
        fit(
            &data,
            loss,
            rule.as_mut(),
            w,
            h,
            &stop,
            &Penalty::NONE,
            &AtomicBool::new(false),
            trace,
        )
    }

    #[test]
    fn stops_at_max_iter_and_says_so() {
        let o = run(
            Loss::Kl,
            StopRule {
                max_iter: 7,
                tol: 0.0,
                check_every: 5,
            },
            None,
        );
        assert_eq!((o.iterations, o.stop), (7, StopReason::MaxIter));
    }

    #[test]
    fn converges_with_loose_tolerance() {
        let o = run(
            Loss::Frobenius,
            StopRule {
                max_iter: 10_000,
                tol: 1e-3,
                check_every: 10,
            },
            None,
        );
        assert_eq!(o.stop, StopReason::Converged);
        assert!(o.iterations < 10_000 && o.iterations.is_multiple_of(10));
    }

    #[test]
    fn trace_does_not_change_the_fit() {
        let stop = StopRule {
            max_iter: 300,
            tol: 1e-6,
            check_every: 10,
        };
        let mut trace = Vec::new();
        let a = run(Loss::Kl, stop, Some(&mut trace));
        let b = run(Loss::Kl, stop, None);
        assert_eq!(a.w, b.w);
        assert_eq!(a.iterations, b.iterations);
        assert_eq!(trace.len(), a.iterations);
        assert!(trace.windows(2).all(|p| p[1].kl <= p[0].kl * (1.0 + 1e-13)));
    }

    #[test]
    fn cancelled_fit_reports_cancelled() {
        let data = FitMatrix::new(awkward_data(10, 8));
        let (w, h) = crate::nmf::init::random(&mut crate::rng::fit_rng(1), 10, 8, 2, data.mean());
        let mut rule = Solver::Mu.rule::<f64>(&data, Loss::Kl, 2, Penalty::NONE);
        let stop = StopRule {
            max_iter: 100,
            tol: 0.0,
            check_every: 10,
        };
        let o = fit(
            &data,
            Loss::Kl,
            rule.as_mut(),
            w,
            h,
            &stop,
            &Penalty::NONE,
            &AtomicBool::new(true),
            None,
        );
        assert_eq!((o.stop, o.iterations), (StopReason::Cancelled, 1));
        assert!(o.objectives.is_finite());
    }
}
