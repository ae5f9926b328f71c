//! The driver loop of one fit: run an update rule, evaluate the objectives every `check_every`
//! iterations, stop on convergence, `max_iter`, a non-finite objective, or cancellation.
//! The reason is a value stored with the fit ([`StopReason`]), never hidden.

use super::loss::{FitMatrix, Loss, ObjectiveScratch, Objectives, Penalty, Scalar, objectives_of};
use super::update::UpdateRule;
use ndarray::{Array2, Zip};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};

/// How a fit judges that it has converged (`[stop] rule`), looking at it every `check_every`
/// iterations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convergence {
    /// The objective's remaining decrease is below `tol`: the relative decrease d over the last
    /// `check_every` iterations is below `tol`, and so is the decrease still to come, d·ρ/(1 − ρ)
    /// with ρ = d / (the previous interval's decrease), the sum of a geometric tail (a decrease
    /// below tol/100 counts as converged whatever the trend). A solver that converges slowly
    /// (ρ near 1) therefore runs until it is truly close, and a fast one stops as soon as its
    /// decrease has collapsed. The default.
    Gap,
    /// The relative decrease over the last `check_every` iterations is below `tol` (scikit-learn's
    /// rule; nnmf-sweep's before the "gap" rule).
    Decrease,
    /// Brunet et al. (2004), as R's NMF package runs it (`stop = "connectivity"`): the fit stops
    /// when every observation's cluster (the component of its largest entry in W) has stayed the
    /// same for `checks` consecutive checks (R: 40 checks, every 10 iterations). `tol` is not used.
    Assignment {
        /// Consecutive checks without a change of assignment.
        checks: NonZeroUsize,
    },
}

/// R NMF's number of checks for Brunet's rule.
const R_NMF_CHECKS: NonZeroUsize = NonZeroUsize::new(40).expect("40 is not 0");

impl Convergence {
    /// The config names of the rules (`Assignment` with its default of 40 checks).
    pub const ALL: [(&'static str, Convergence); 3] = [
        ("gap", Convergence::Gap),
        ("decrease", Convergence::Decrease),
        ("assignment", Convergence::Assignment { checks: R_NMF_CHECKS }),
    ];

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Convergence::Gap => "gap",
            Convergence::Decrease => "decrease",
            Convergence::Assignment { .. } => "assignment",
        }
    }
}

/// When a fit stops (`[stop]` in the config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StopRule {
    /// Iteration cap.
    pub max_iter: NonZeroUsize,
    /// The tolerance of the `Gap` and `Decrease` rules (≥ 0).
    pub tol: f64,
    /// Objectives are evaluated every `check_every` iterations, and at the last one.
    pub check_every: NonZeroUsize,
    /// How convergence is judged.
    pub rule: Convergence,
}

/// Why a fit stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The `gap` or `decrease` rule was met.
    Converged,
    /// The `assignment` rule was met: the observations' clusters stayed the same for the
    /// rule's number of checks.
    Stationary,
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
            StopReason::Stationary => "stationary",
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

/// The index of the largest entry of `row` (the first of equal ones; 0 for an all-zero row).
fn argmax(row: ndarray::ArrayView1<f64>) -> usize {
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    best
}

/// What a fit minimizes and when it stops: the settings every fit of a sweep shares.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions<'a> {
    /// The loss minimized (and judged by the stop rule).
    pub loss: Loss,
    /// When the fit stops.
    pub stop: &'a StopRule,
    /// The penalty terms added to the objective.
    pub penalty: &'a Penalty,
    /// Set by the driver to stop the fit early (SIGTERM or SIGINT).
    pub cancel: &'a AtomicBool,
}

/// Runs `rule` on `data` from the start (W, H) until `opts.stop` says so, in precision T (the
/// factors are rounded to T at the start and returned in f64).
///
/// When `trace` is given, objectives are evaluated after every iteration and pushed there (tests,
/// diagnostics); the stop rule still looks only every `check_every` iterations, so a trace does
/// not change a fit.
pub fn fit<T: Scalar>(
    data: &FitMatrix,
    rule: &mut dyn UpdateRule<T>,
    (w0, h0): (Array2<f64>, Array2<f64>),
    opts: &FitOptions<'_>,
    mut trace: Option<&mut Vec<Objectives>>,
) -> FitOutcome {
    let FitOptions {
        loss,
        stop,
        penalty,
        cancel,
    } = *opts;
    let (max_iter, check_every) = (stop.max_iter.get(), stop.check_every.get());
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
    // The relative decrease of the previous check interval (gap rule).
    let mut previous: Option<f64> = None;
    // Each observation's cluster at the last check, and for how many checks it has held
    // (assignment rule; allocated once per fit).
    let mut clusters: Vec<usize> = match stop.rule {
        Convergence::Assignment { .. } => vec![usize::MAX; ev.w64.nrows()],
        _ => Vec::new(),
    };
    let mut held = 0;
    let mut outcome_stop = StopReason::MaxIter;
    let mut iterations = 0;
    for it in 1..=max_iter {
        rule.step(&mut w, &mut h);
        iterations = it;
        let check = it % check_every == 0 || it == max_iter;
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
            let done = match stop.rule {
                Convergence::Decrease => decrease < stop.tol,
                Convergence::Gap => {
                    let tail = match previous {
                        Some(before) if before > 0.0 && decrease < before => {
                            let rho = decrease.max(0.0) / before;
                            decrease * rho / (1.0 - rho)
                        }
                        _ => f64::INFINITY,
                    };
                    previous = Some(decrease);
                    decrease < stop.tol && (tail < stop.tol || decrease < stop.tol / 100.0)
                }
                Convergence::Assignment { checks } => {
                    let mut same = true;
                    for (c, row) in clusters.iter_mut().zip(ev.w64.rows()) {
                        let best = argmax(row);
                        same &= *c == best;
                        *c = best;
                    }
                    held = if same { held + 1 } else { 0 };
                    held >= checks.get()
                }
            };
            if done {
                outcome_stop = match stop.rule {
                    Convergence::Assignment { .. } => StopReason::Stationary,
                    _ => StopReason::Converged,
                };
                break;
            }
            reference = cur;
        }
        if cancel.load(Ordering::Relaxed) {
            outcome_stop = StopReason::Cancelled;
            break;
        }
    }
    if outcome_stop == StopReason::Cancelled && iterations % check_every != 0 {
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

    fn nz(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    fn run(loss: Loss, stop: StopRule, trace: Option<&mut Vec<Objectives>>) -> FitOutcome {
        let data = FitMatrix::new(awkward_data(30, 20));
        let (w, h) = crate::nmf::init::random(&mut crate::rng::fit_rng(11), 30, 20, 3, data.mean());
        let mut rule = Solver::Mu.rule::<f64>(&data, loss, 3, Penalty::NONE);
        let cancel = AtomicBool::new(false);
        let opts = FitOptions {
            loss,
            stop: &stop,
            penalty: &Penalty::NONE,
            cancel: &cancel,
        };
        fit(&data, rule.as_mut(), (w, h), &opts, trace)
    }

    #[test]
    fn stops_at_max_iter_and_says_so() {
        let o = run(
            Loss::Kl,
            StopRule {
                max_iter: nz(7),
                tol: 0.0,
                check_every: nz(5),
                rule: Convergence::Decrease,
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
                max_iter: nz(10_000),
                tol: 1e-3,
                check_every: nz(10),
                rule: Convergence::Decrease,
            },
            None,
        );
        assert_eq!(o.stop, StopReason::Converged);
        assert!(o.iterations < 10_000 && o.iterations.is_multiple_of(10));
    }

    #[test]
    fn trace_does_not_change_the_fit() {
        let stop = StopRule {
            max_iter: nz(300),
            tol: 1e-6,
            check_every: nz(10),
            rule: Convergence::Decrease,
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
            max_iter: nz(100),
            tol: 0.0,
            check_every: nz(10),
            rule: Convergence::Decrease,
        };
        let cancel = AtomicBool::new(true);
        let opts = FitOptions {
            loss: Loss::Kl,
            stop: &stop,
            penalty: &Penalty::NONE,
            cancel: &cancel,
        };
        let o = fit(&data, rule.as_mut(), (w, h), &opts, None);
        assert_eq!((o.stop, o.iterations), (StopReason::Cancelled, 1));
        assert!(o.objectives.is_finite());
    }

    /// The gap rule runs a slowly converging solver (MU: ρ near 1) longer than the decrease
    /// rule at the same tol, and its fit is at least as good; its checks fall on check_every.
    #[test]
    fn gap_rule_waits_for_a_slow_tail() {
        let stop = |rule| StopRule {
            max_iter: nz(20_000),
            tol: 1e-5,
            check_every: nz(10),
            rule,
        };
        let d = run(Loss::Kl, stop(Convergence::Decrease), None);
        let g = run(Loss::Kl, stop(Convergence::Gap), None);
        assert_eq!((d.stop, g.stop), (StopReason::Converged, StopReason::Converged));
        assert!(g.iterations > d.iterations, "{} vs {}", g.iterations, d.iterations);
        assert!(g.iterations.is_multiple_of(10));
        assert!(g.objectives.kl <= d.objectives.kl);
    }

    /// Brunet's rule stops once the clusters (largest entry of each row of W) have held for the
    /// given number of checks, says so, and never with fewer than that many checks.
    #[test]
    fn assignment_rule_stops_when_the_clusters_hold() {
        let o = run(
            Loss::Kl,
            StopRule {
                max_iter: nz(20_000),
                tol: 0.0,
                check_every: nz(10),
                rule: Convergence::Assignment { checks: nz(5) },
            },
            None,
        );
        assert_eq!(o.stop, StopReason::Stationary);
        assert_eq!(o.stop.name(), "stationary");
        assert!(o.iterations >= 60 && o.iterations < 20_000 && o.iterations.is_multiple_of(10));
    }
}
