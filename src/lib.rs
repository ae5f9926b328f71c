//! nnmf-sweep: non-negative matrix factorization sweeps over ranks and restarts.
//!
//! X (N x p, observations as rows) is approximated by W (N x r) times H (r x p), both non-negative,
//! for every rank r of a configured range and many random restarts per rank. The crate is a
//! library with a thin binary; the data flow and module map follow `docs/DESIGN-NOTES.md`:
//! `cli -> sweep -> {nmf, data, report} -> {linalg, rng}`.

pub mod app;
pub mod cli;
pub mod config;
pub mod data;
pub mod error;
pub mod fsio;
pub mod interrupt;
pub mod limits;
pub mod linalg;
mod names;
pub mod nmf;
pub mod outdir;
pub mod progress;
pub mod rankstat;
pub mod record;
pub mod report;
pub mod rng;
pub mod simulate;
pub mod sparse;
pub mod stats;
pub mod sweep;

pub use error::{Error, Result};
