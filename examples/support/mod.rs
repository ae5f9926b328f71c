//! Shared by the measurement examples (`roofline`, `trace`): the solver cases, the one function
//! that builds their update rules, planted test data, and small statistics helpers.
//!
//! Every call into the numerical core goes through [`SolverCase::rule`] and [`SolverCase::step`],
//! generic over the precision (f64 or f32).

// Each example uses part of this module.
#![allow(dead_code)]

use ndarray::Array2;
use nnmf_sweep::linalg::Real;
use nnmf_sweep::nmf::{FitMatrix, Loss, Penalty, Scalar, Solver, UpdateRule};
use nnmf_sweep::simulate::{Planted, draw};

/// A solver and the loss it minimizes, as measured here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolverCase {
    /// Multiplicative updates, KL (blocked ratio kernel).
    MuKl,
    /// Multiplicative updates, Frobenius.
    MuFrobenius,
    /// Accelerated HALS, Frobenius.
    Hals,
    /// Coordinate descent with Newton steps, KL.
    CdKl,
}

impl SolverCase {
    /// Every case, in table order.
    pub const ALL: [SolverCase; 4] = [
        SolverCase::MuKl,
        SolverCase::MuFrobenius,
        SolverCase::Hals,
        SolverCase::CdKl,
    ];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            SolverCase::MuKl => "mu-kl",
            SolverCase::MuFrobenius => "mu-frobenius",
            SolverCase::Hals => "hals",
            SolverCase::CdKl => "cd-kl",
        }
    }

    /// The case named `name` (as [`SolverCase::name`], or `solver-loss` with config names).
    pub fn parse(name: &str) -> Option<SolverCase> {
        match name {
            "mu-kl" => Some(SolverCase::MuKl),
            "mu-frobenius" | "mu-frob" => Some(SolverCase::MuFrobenius),
            "hals" | "hals-frobenius" => Some(SolverCase::Hals),
            "cd-kl" | "cd" => Some(SolverCase::CdKl),
            _ => None,
        }
    }

    /// The library's solver and loss.
    pub fn solver_loss(self) -> (Solver, Loss) {
        match self {
            SolverCase::MuKl => (Solver::Mu, Loss::Kl),
            SolverCase::MuFrobenius => (Solver::Mu, Loss::Frobenius),
            SolverCase::Hals => (Solver::Hals, Loss::Frobenius),
            SolverCase::CdKl => (Solver::Cd, Loss::Kl),
        }
    }

    /// The update rule for `data` at rank r in precision T, unpenalized.
    pub fn rule<T: Scalar>(self, data: &FitMatrix, r: usize) -> Box<dyn UpdateRule<T> + '_> {
        let (solver, loss) = self.solver_loss();
        solver.rule::<T>(data, loss, r, Penalty::NONE)
    }

    /// One iteration of `rule` (H then W).
    pub fn step<T: Real>(rule: &mut dyn UpdateRule<T>, w: &mut Array2<T>, h: &mut Array2<T>) {
        rule.step(w, h);
    }
}

/// Planted counts of shape (n, p) at rank r (`nnmf-sweep simulate`'s generator, mean 5, mix 0.1).
pub fn planted(n: usize, p: usize, r: usize, seed: u64) -> Array2<f64> {
    draw(&Planted {
        n,
        p,
        rank: r,
        mean: 5.0,
        mix: 0.1,
        seed,
        dispersion: None,
    })
    .0
}

/// Median of a non-empty sample (mean of the two middle values for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.is_empty() {
        f64::NAN
    } else if s.len() % 2 == 1 {
        s[m]
    } else {
        0.5 * (s[m - 1] + s[m])
    }
}

/// Parses `NxPxR` or `NxP` (then r = `default_r`).
pub fn parse_shape(s: &str, default_r: usize) -> Option<(usize, usize, usize)> {
    let parts: Vec<usize> = s.split(['x', 'X']).map(|t| t.parse().ok()).collect::<Option<_>>()?;
    match parts[..] {
        [n, p, r] => Some((n, p, r)),
        [n, p] => Some((n, p, default_r)),
        _ => None,
    }
}
