//! The numerical core: objectives, initialization, update rules and the driver loop of one fit.
//!
//! Nothing here does I/O, prints, or spawns threads. Shapes: X is N x p, W is N x r, H is r x p.

pub mod fit;
pub mod init;
pub mod loss;
pub mod mask;
pub mod project;
pub mod resample;
pub mod update;

pub use fit::{FitOptions, FitOutcome, StopReason, StopRule, fit};
pub use loss::{FitMatrix, Loss, Objectives, Penalty, Precision, Scalar};
pub use resample::Resample;
pub use update::{Solver, UpdateRule};
