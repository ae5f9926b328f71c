//! Statistics over the restarts of each rank, for choosing the rank and the most stable solution.
//!
//! Observations (rows of X and W) are what is clustered; components are rows of H.

pub mod consensus;

pub use consensus::{ConsensusAccumulator, ConsensusStats, hard_labels};
