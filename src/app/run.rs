//! One whole sweep, or one shard of it, in phases: check the output directory and read and check
//! the data ([`prepare`]), agree with the sweep manifest, find the fits not yet stored (resume),
//! fit them (each finished job stored durably before it counts), and, unless sharded, merge.
//! Every check runs before the first product is computed.

use super::merge::{Results, build_results};
use super::sweep_dir::{describe_jobs, fingerprint, grid_of, manifest_of, record_shard_count, record_states};
use crate::config::Plan;
use crate::data::{self, AlignedReference, Dataset, Matrix, ZeroLines};
use crate::error::{Error, Result};
use crate::interrupt::{self, Phase};
use crate::nmf::StopReason;
use crate::outdir::OutDir;
use crate::progress::Observer;
use crate::record::Job;
use crate::record::manifest;
use crate::record::store::{self, RecordState, StoredFit};
use crate::sweep::shard::{self, Shard};
use crate::sweep::{FitSettings, SweepData, memory, run_jobs};
use std::sync::atomic::{AtomicBool, Ordering};

/// What a run hands back to the command line.
#[derive(Debug)]
pub enum Outcome {
    /// An unsharded run: every fit done and merged.
    Merged(Results),
    /// A shard: its fits are done and stored; nothing merged.
    Shard {
        /// Which shard.
        shard: Shard,
        /// Fits of the shard computed now.
        computed: usize,
        /// Fits of the shard found already stored (resume).
        skipped: usize,
    },
}

/// How a run is started.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Discard the previous results and records of the output directory (not with a shard).
    pub force: bool,
    /// Run only this shard's share of the grid, and do not merge.
    pub shard: Option<Shard>,
    /// A caller's own check of the data as read, run with the others before the first fit (e.g.
    /// `compare`'s ranks against N), so the data is not read a second time for it.
    pub check_data: Option<fn(&Plan, &Dataset) -> Result<()>>,
}

/// The data of a plan as read and checked, with what goes with it.
pub(super) struct CheckedData {
    /// The data.
    pub dataset: Dataset,
    /// Its all-zero rows and columns.
    pub zero: ZeroLines,
    /// The warnings to show.
    pub warnings: Vec<String>,
    /// The reference catalogue lined up with the data's features (`[report] reference`).
    pub reference: Option<AlignedReference>,
}

/// Reads the data of `plan` and runs every data-dependent check (rank bounds on the matrix as
/// fitted, without its all-zero rows and columns), and reads the reference catalogue, if any,
/// lined up with the data's features.
pub(super) fn read_checked(plan: &Plan) -> Result<CheckedData> {
    check_read(plan, data::read(&plan.data)?)
}

/// [`read_checked`]'s checks on data already read (from `plan.data`, or given in memory).
fn check_read(plan: &Plan, d: Dataset) -> Result<CheckedData> {
    let (n, p) = d.facts.shape;
    plan.check_image_shape(p)?;
    let reference = match &plan.reference {
        Some(path) => Some(data::read_catalogue(path)?.align(d.var_names.as_deref(), p)?),
        None => None,
    };
    let zero = ZeroLines::find(&d.x);
    let (n_fit, p_fit) = (n - zero.zero_rows.len(), p - zero.zero_cols.len());
    let mut warnings = plan.check_ranks(n_fit, p_fit, !zero.is_empty())?;
    warnings.extend(zero.warning());
    let missing = d.facts.missing;
    if missing > 0 {
        let weighted = plan.solver.for_heldout();
        let heldout = if weighted == plan.solver {
            String::new()
        } else {
            format!(
                "; solver \"{}\" has no weighted form here, so these fits use \"{}\"",
                plan.solver.name(),
                weighted.name()
            )
        };
        warnings.push(format!(
            "{missing} of {} entries ({:.3}%) are missing; they are left out of the objective and the updates \
             (weighted NMF){heldout}",
            n * p,
            100.0 * missing as f64 / (n * p) as f64
        ));
    }
    Ok(CheckedData {
        dataset: d,
        zero,
        warnings,
        reference,
    })
}

/// Runs the sweep of `plan` (or one shard of it). Stops early, with [`Error::Incomplete`], when
/// `cancel` is set (a signal): the fits finished by then are stored, those in flight are not.
/// `out` is the plan's output directory, opened (and locked) by the caller with
/// [`open_for_run`](super::open_for_run).
pub fn execute(
    plan: &Plan,
    opts: RunOptions,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
    out: &OutDir,
) -> Result<Outcome> {
    execute_on(plan, None, opts, obs, cancel, out)
}

/// What `nnmf-sweep CONFIG` does once its flags are parsed, for the command line and the Python
/// package alike (same bits): opens (and locks) the plan's output directory as `command` (named
/// in the lock note), then [`execute_on`] the plan's data, or `given` data held in memory.
pub fn run_plan(
    plan: &Plan,
    given: Option<Dataset>,
    opts: RunOptions,
    command: &str,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<Outcome> {
    let out = super::open_for_run(plan, command, opts.shard)?;
    execute_on(plan, given, opts, obs, cancel, &out)
}

/// [`execute`] on `given` data instead of the file `plan.data` names, when given: a matrix held
/// in memory by the caller ([`data::from_memory`], the Python package), checked like a file's.
pub fn execute_on(
    plan: &Plan,
    given: Option<Dataset>,
    opts: RunOptions,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
    out: &OutDir,
) -> Result<Outcome> {
    // The consensus solution's refit reads X again after the fits; data held in memory cannot be
    // read again, so it is kept (held twice while fitting) instead of moving into the fits.
    let keep_x = given.is_some() && plan.selection.solution == crate::stats::select::Solution::Consensus;
    let mut prep = prepare(plan, given, &opts, obs, cancel, out)?;
    let share = share(plan, &opts, &prep.fp, obs)?;
    interrupt::set_phase(Phase::Fitting);
    let computed = if !share.todo.is_empty() && !cancel.load(Ordering::Relaxed) {
        // X moves into the fit matrices: it is held once (the reports use dataset.facts).
        let x = if keep_x {
            prep.dataset.x.clone()
        } else {
            std::mem::replace(&mut prep.dataset.x, Matrix::Dense(ndarray::Array2::zeros((0, 0))))
        };
        fit_share(plan, &prep, prep.zero.reduce(x), &share.todo, obs, cancel)?
    } else {
        0
    };
    if cancel.load(Ordering::Relaxed) && computed < share.todo.len() {
        return Err(stopped(plan, &opts, &share, computed));
    }
    match opts.shard {
        Some(shard) => Ok(Outcome::Shard {
            shard,
            computed,
            skipped: share.skipped,
        }),
        None => {
            interrupt::set_phase(Phase::Merging);
            interrupt::check(cancel)?;
            let data = (&prep.dataset, &prep.zero, prep.reference.as_ref());
            build_results(plan, data, false, obs, cancel).map(Outcome::Merged)
        }
    }
}

/// What [`prepare`] hands to the fitting phase.
struct Prepared {
    /// The data as read (X is moved out for the fits).
    dataset: Dataset,
    /// Its all-zero rows and columns, left out of the fits.
    zero: ZeroLines,
    /// The reference catalogue, lined up with the data's features.
    reference: Option<AlignedReference>,
    /// The fingerprint of the plan on this data.
    fp: [u8; 32],
    /// Worker threads.
    threads: usize,
}

/// The checks before anything is written or fitted ([`check_start`], the data, the memory
/// estimate, [`agree`] with the stored manifest); then [`announce`] the warnings and create the
/// records folder.
fn prepare(
    plan: &Plan,
    given: Option<Dataset>,
    opts: &RunOptions,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
    out: &OutDir,
) -> Result<Prepared> {
    check_start(plan, opts, out)?;
    interrupt::set_phase(Phase::Loading);
    interrupt::check(cancel)?;
    // A run that fails here leaves no trace: `out` removes a directory it created when dropped.
    let CheckedData {
        dataset,
        zero,
        warnings,
        reference,
    } = match given {
        Some(d) => check_read(plan, d)?,
        None => read_checked(plan)?,
    };
    if let Some(check) = opts.check_data {
        check(plan, &dataset)?;
    }
    memory::check(plan, &dataset, &zero)?;
    interrupt::set_phase(Phase::Checking);
    interrupt::check(cancel)?;
    agree(plan, opts, &dataset, out)?;
    let threads = announce(plan, opts, &warnings, obs)?;
    Ok(Prepared {
        fp: fingerprint(plan, &dataset.provenance.sha256),
        dataset,
        zero,
        reference,
        threads,
    })
}

/// The options and the output directory, before the data is read: `--force` with a shard, a
/// damaged manifest, a directory that holds results or cannot be written.
fn check_start(plan: &Plan, opts: &RunOptions, out: &OutDir) -> Result<()> {
    if opts.force && opts.shard.is_some() {
        return Err(Error::Shard {
            source_name: "--force".into(),
            message: "cannot be combined with a shard (it would delete the other shards' records); \
                      empty the output directory once before submitting the shards, or use a new one"
                .into(),
        });
    }
    if !opts.force && plan.out_dir.is_dir() {
        // A damaged manifest is named first: "already holds results, pass --force" would lead to
        // discarding every record, where deleting the manifest alone keeps them.
        manifest::read(&plan.out_dir)?;
    }
    out.check_writable(opts.force)
}

/// Agrees the output directory with this run: under `--force` the previous results go (every
/// check has passed); otherwise a stored manifest must be of the same data, and the manifest is
/// written or checked key by key.
fn agree(plan: &Plan, opts: &RunOptions, dataset: &Dataset, out: &OutDir) -> Result<()> {
    let sha = &dataset.provenance.sha256;
    // Under --force the stored manifest goes with the rest (even a damaged one).
    let stored_manifest = if opts.force {
        None
    } else {
        manifest::read(&plan.out_dir)?
    };
    let this = manifest_of(plan, sha);
    if opts.force {
        // Every check passed: the previous run's results go now, marker first, so nothing of it
        // can be taken for part of this run (or for a finished run if this one is interrupted).
        out.clear_previous()?;
    } else if let Some(stored) = &stored_manifest {
        // Checked before anything is written, so a refused run leaves the directory as it was;
        // changed data gets its own message (the other differences are listed below).
        if this.differences(stored).iter().any(|d| d.starts_with("data_sha256:")) {
            return Err(Error::OtherSweep {
                dir: plan.out_dir.clone(),
                differs: format!(
                    "the data {} (dataset \"{}\") is not the data the stored fits were made from (SHA-256 {} now, {} then)",
                    plan.data.path.display(),
                    dataset.provenance.dataset,
                    sha,
                    stored.keys.get("data_sha256").map_or("?", |s| s.as_str())
                ),
            });
        }
    }
    manifest::write_or_check(&plan.out_dir, &this)
}

/// Shows the warnings of the checks and of the settings, creates the records folder and records
/// a shard's count; returns the worker threads.
fn announce(plan: &Plan, opts: &RunOptions, warnings: &[String], obs: &mut dyn Observer) -> Result<usize> {
    for w in warnings {
        obs.warn(w);
    }
    let (threads, capped) = crate::limits::worker_threads(plan.threads.get());
    if let Some(w) = capped {
        obs.warn(&w);
    }
    if plan.init.is_deterministic() && plan.restarts.get() > 1 {
        obs.warn(&format!(
            "init = \"{}\" is deterministic: all {} restarts of a rank start from the same point and give the same fit; \
             use init = \"nndsvdar\" or \"random\" for restarts that differ",
            plan.init.name(),
            plan.restarts
        ));
    }
    let records_dir = store::records_dir(&plan.out_dir);
    std::fs::create_dir_all(&records_dir)
        .map_err(|e| Error::io(format!("cannot create {}", records_dir.display()), e))?;
    if let Some(s) = opts.shard {
        record_shard_count(&plan.out_dir, s.count)?;
    }
    Ok(threads)
}

/// This process's share of the grid and what of it is still to do.
struct Share {
    /// The jobs of this process (the whole grid, or one shard's).
    mine: Vec<Job>,
    /// Those without a usable record.
    todo: Vec<Job>,
    /// Those already stored (resume).
    skipped: usize,
}

/// This process's share of the grid, and which of its jobs are stored already (skipped, with a
/// warning) or damaged (recomputed, with a warning).
fn share(plan: &Plan, opts: &RunOptions, fp: &[u8; 32], obs: &mut dyn Observer) -> Result<Share> {
    let grid = grid_of(plan);
    let mine: Vec<Job> = match opts.shard {
        Some(s) => grid
            .iter()
            .zip(shard::assign(&grid, s.count))
            .filter(|(_, k)| *k == s.index)
            .map(|(j, _)| *j)
            .collect(),
        None => grid,
    };
    let states = record_states(&plan.out_dir, fp, &mine)?;
    let pending = |damaged: bool| -> Vec<Job> {
        mine.iter()
            .zip(&states)
            .filter(|(_, s)| match s {
                RecordState::Done(_) => false,
                RecordState::Damaged => true,
                _ => !damaged,
            })
            .map(|(j, _)| *j)
            .collect()
    };
    let (todo, damaged) = (pending(false), pending(true));
    if !damaged.is_empty() {
        obs.warn(&format!(
            "{} stored fit record(s) are damaged (torn or corrupted: checksum mismatch) and will be recomputed: {}",
            damaged.len(),
            describe_jobs(&damaged, 10)
        ));
    }
    let skipped = mine.len() - todo.len();
    if skipped > 0 {
        obs.warn(&format!(
            "resuming: {skipped} of {} fits are already stored in {} and are not recomputed",
            mine.len(),
            store::records_dir(&plan.out_dir).display()
        ));
    }
    Ok(Share { mine, todo, skipped })
}

/// Fits the jobs `todo` on `x` (the data as fitted, X of `prep` with its all-zero lines
/// removed), storing each finished fit durably before it counts; returns how many were stored.
fn fit_share(
    plan: &Plan,
    prep: &Prepared,
    x: Matrix,
    todo: &[Job],
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<usize> {
    let (dataset, fp) = (&prep.dataset, &prep.fp);
    let sel = &plan.selection;
    let svd_rank = if plan.init.needs_svd() {
        plan.ranks.iter().copied().max().unwrap_or(1)
    } else {
        0
    };
    let precision = plan.precision.resolve(dataset.facts.f32_safe);
    let data = SweepData::new(
        x,
        precision,
        plan.seed,
        sel.heldout_fraction.get(),
        sel.null_restarts > 0,
        svd_rank,
        sel.heldout_repeats,
    )
    .map_err(|message| Error::Data {
        path: plan.data.path.clone(),
        dataset: dataset.provenance.dataset.clone(),
        message,
    })?;
    let settings = FitSettings {
        loss: plan.loss,
        solver: plan.solver,
        init: plan.init,
        penalty: plan.penalty,
        precision,
        stop: plan.stop,
        resample: plan.resample,
    };
    let mut computed = 0;
    obs.start(todo.len());
    run_jobs(
        &data,
        &settings,
        todo,
        prep.threads,
        cancel,
        |fit: StoredFit| -> Result<()> {
            // A cancelled fit is not a result: it is recomputed on resume (same bits as if it had
            // never been interrupted).
            if fit.record.stop == StopReason::Cancelled {
                return Ok(());
            }
            // Durable before it counts.
            store::write(&plan.out_dir, fp, &fit)?;
            computed += 1;
            obs.fit_done(&fit.record);
            Ok(())
        },
    )
    .map_err(|e| Error::io("cannot start the worker threads", std::io::Error::other(e)))??;
    obs.finish();
    Ok(computed)
}

/// The error of a run stopped by a signal after `computed` of its share's pending fits.
fn stopped(plan: &Plan, opts: &RunOptions, share: &Share, computed: usize) -> Error {
    let resume = match opts.shard {
        Some(s) => format!("run the same command (with --shard {s}) again to resume"),
        None => "run the same command again to resume".into(),
    };
    Error::Incomplete {
        message: format!(
            "stopped by a signal: {} of {} fits{} are stored in {} ({} still to do); {resume}",
            share.skipped + computed,
            share.mine.len(),
            opts.shard.map_or(String::new(), |s| format!(" of shard {s}")),
            store::records_dir(&plan.out_dir).display(),
            share.todo.len() - computed
        ),
    }
}
