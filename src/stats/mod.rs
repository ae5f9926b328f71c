//! Statistics over the restarts of each rank, for choosing the rank and the most stable solution:
//! consensus (Brunet 2004), component stability (cNMF, NMFk), held-out likelihood (RcppML), the
//! spread of the objective, and the decision rules.
//!
//! Observations (rows of X and W) are what is clustered; components are rows of H.

pub mod consensus;
pub mod consensus_fit;
pub mod heldout;
pub mod reference;
pub mod select;
pub mod stability;

pub use consensus::{ConsensusAccumulator, ConsensusStats, hard_labels};
pub use heldout::{HeldoutAccumulator, HeldoutScore};
pub use reference::{ReferenceMatch, assign_max, match_reference};
pub use select::{Decision, Evidence, Rule, Solution, decide, decide_all};
pub use stability::{StabilityAccumulator, StabilityStats};

/// How the objective (the configured loss) spread over the restarts of a rank.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    /// Lowest value.
    pub best: f64,
    /// Median value.
    pub median: f64,
    /// Restarts within 0.1% of the best (the best included).
    pub near_best: usize,
}

/// The spread of `values` (finite ones only); None when there are none.
pub fn spread(values: &[f64]) -> Option<Spread> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let best = v[0];
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        0.5 * (v[v.len() / 2 - 1] + v[v.len() / 2])
    };
    let near_best = v.iter().filter(|&&x| x - best <= 1e-3 * best.abs()).count();
    Some(Spread {
        best,
        median,
        near_best,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn spread_of_objectives() {
        let s = super::spread(&[100.0, 100.05, 103.0, f64::NAN, 100.2]).unwrap();
        assert_eq!((s.best, s.median, s.near_best), (100.0, 100.125, 2));
        assert!(super::spread(&[]).is_none());
    }
}
