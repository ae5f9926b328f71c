//! The application layer: what a command does from a checked [`Plan`](crate::config::Plan) to
//! its files. [`run`] runs (or resumes) a sweep or one shard of it, [`merge`] builds every output
//! from the stored records, [`sweep_dir`] opens and reads a sweep's output directory, and
//! [`compare`] adds the PCA, vector-quantization and ICA comparison. It sits above the sweep
//! (fitting), the records and the report (writing), and is called by the command line only.

pub mod compare;
pub mod merge;
pub mod project;
pub mod run;
pub mod sweep_dir;

pub use merge::{Results, merge};
pub use run::{Outcome, RunOptions, execute, execute_on, run_plan};
pub use sweep_dir::{
    describe_jobs, fingerprint, job_states, manifest_of, open_for_merge, open_for_run, plan_of_dir, recorded_shards,
    shard_of,
};
