//! The application layer: what a command does from a checked [`Plan`](crate::config::Plan) to
//! its files. [`run`] runs (or resumes) a sweep and merges its records into results, [`compare`]
//! adds the PCA and vector-quantization comparison. It sits above the sweep (fitting), the records
//! and the report (writing), and is called by the command line only.

pub mod compare;
mod run;

pub use run::{
    Outcome, Results, RunOptions, describe_jobs, execute, fingerprint, job_states, manifest_of, merge, open_for_merge,
    open_for_run, plan_of_dir, recorded_shards, shard_of,
};
