//! One whole sweep, or one shard of it: check the output dir, read and check the data, agree
//! with the sweep manifest, skip the fits already stored (resume), fit the rest (each finished
//! job stored durably before it counts), and, unless sharded, merge. `merge` builds every output
//! from the stored records alone, in (rank, kind, index) order, so a run merged from shards gives
//! the same bits as a single process. Every check runs before the first product is computed.

use crate::config::{Overrides, Plan};
use crate::data::{self, Dataset, Matrix, ZeroLines};
use crate::error::{Error, Result};
use crate::fsio::LockMode;
use crate::interrupt::{self, Phase};
use crate::nmf::{Loss, StopReason};
use crate::outdir::{self, OutDir};
use crate::progress::Observer;
use crate::record::manifest::{self, Manifest};
use crate::record::store::{self, RecordState, StoredFit};
use crate::record::{Collected, Collector, FitRecord, GridSize, Job, JobKind, jobs};
use crate::report;
use crate::stats::{ConsensusAccumulator, Decision, Evidence, StabilityAccumulator, decide_all, spread};
use crate::sweep::shard::{self, Shard};
use crate::sweep::{FitSettings, SweepData, memory, run_jobs};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
/// The results of a complete (or, with `--allow-partial`, partial) merge; the files are written.
#[derive(Debug)]
pub struct Results {
    /// Records and per-rank results; W (N x r) and H (r x p) of the full data.
    pub collected: Collected,
    /// The rank decision.
    pub decision: Decision,
    /// Jobs whose records were missing (empty unless `--allow-partial`).
    pub missing: Vec<Job>,
    /// Missing values of X (left out of every fit), and X's number of entries.
    pub missing_values: (usize, usize),
}

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

/// The fingerprint of everything a job's result depends on: program version, the data's
/// checksum, and every setting that changes a fit. Records made under another fingerprint are
/// never used.
pub fn fingerprint(plan: &Plan, data_sha256: &str) -> [u8; 32] {
    let text = format!(
        "nnmf-sweep {}\ndata {data_sha256}\nloss {}\nsolver {}\ninit {}\nseed {}\nmax_iter {}\ntol {:e}\ncheck_every {}\nstop_rule {:?}\nheldout_fraction {:e}\npenalty {:?}\nprecision {}\n",
        env!("CARGO_PKG_VERSION"),
        plan.loss.name(),
        plan.solver.name(),
        plan.init.name(),
        plan.seed,
        plan.stop.max_iter,
        plan.stop.tol,
        plan.stop.check_every,
        plan.stop.rule,
        plan.selection.heldout_fraction.get(),
        plan.penalty,
        plan.precision.name(),
    );
    Sha256::digest(text.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The manifest of `plan` on data with checksum `data_sha256`: everything the records and the
/// merged result depend on.
pub fn manifest_of(plan: &Plan, data_sha256: &str) -> Manifest {
    let sel = &plan.selection;
    let list = |v: &[usize]| v.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(",");
    let mut keys = BTreeMap::new();
    for (k, v) in [
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("fingerprint", hex(&fingerprint(plan, data_sha256))),
        ("data_sha256", data_sha256.to_string()),
        ("data_path", plan.data.path.display().to_string()),
        ("data_dataset", plan.data.dataset.clone()),
        ("transpose", plan.data.transpose.to_string()),
        ("obs_names", plan.data.obs_names.clone().unwrap_or_default()),
        ("var_names", plan.data.var_names.clone().unwrap_or_default()),
        ("loss", plan.loss.name().to_string()),
        ("solver", plan.solver.name().to_string()),
        ("init", plan.init.name().to_string()),
        ("penalty", format!("{:?}", plan.penalty)),
        ("precision", plan.precision.name().to_string()),
        ("seed", plan.seed.to_string()),
        ("max_iter", plan.stop.max_iter.to_string()),
        ("tol", format!("{:e}", plan.stop.tol)),
        ("check_every", plan.stop.check_every.to_string()),
        ("stop_rule", format!("{:?}", plan.stop.rule)),
        ("ranks", list(&plan.ranks)),
        ("restarts", plan.restarts.to_string()),
        ("rule", sel.rule.name().to_string()),
        ("heldout_fraction", format!("{:e}", sel.heldout_fraction.get())),
        ("heldout_repeats", sel.heldout_repeats.to_string()),
        ("null_restarts", sel.null_restarts.to_string()),
        ("consensus_max_mb", sel.consensus_max_mb.to_string()),
        ("config_path", plan.config_path.display().to_string()),
    ] {
        keys.insert(k.to_string(), v);
    }
    Manifest {
        keys,
        config_text: plan.config_text.clone(),
    }
}

fn grid_size(plan: &Plan) -> GridSize {
    GridSize {
        restarts: plan.restarts.get(),
        heldout_repeats: plan.selection.heldout_repeats,
        null_restarts: plan.selection.null_restarts,
    }
}

/// The whole grid of `plan`, in (rank, kind, index) order: the order every reduction uses.
fn grid_of(plan: &Plan) -> Vec<Job> {
    let mut g = jobs(&plan.ranks, grid_size(plan), plan.seed);
    g.sort_by_key(|j| (j.rank, j.kind, j.index));
    g
}

/// Reads the data of `plan` and runs every data-dependent check (rank bounds on the matrix as
/// fitted, without its all-zero rows and columns); returns the warnings to show.
fn read_checked(plan: &Plan) -> Result<(Dataset, ZeroLines, Vec<String>)> {
    let d = data::read(&plan.data)?;
    let (n, p) = d.facts.shape;
    plan.check_image_shape(p)?;
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
    Ok((d, zero, warnings))
}

/// "fit r4 #3, heldout r2 #0, ..." (at most `max` named, then a count).
pub fn describe_jobs(jobs: &[Job], max: usize) -> String {
    let mut s: Vec<String> = jobs
        .iter()
        .take(max)
        .map(|j| format!("{} r{} #{}", j.kind.name(), j.rank, j.index))
        .collect();
    if jobs.len() > max {
        s.push(format!("and {} more", jobs.len() - max));
    }
    s.join(", ")
}

/// Runs the sweep of `plan` (or one shard of it). Stops early, with [`Error::Incomplete`], when
/// `cancel` is set (a signal): the fits finished by then are stored, those in flight are not.
/// `out` is the plan's output directory, opened (and locked) by the caller with [`open_for_run`].
pub fn execute(
    plan: &Plan,
    opts: RunOptions,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
    out: &OutDir,
) -> Result<Outcome> {
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
    out.check_writable(opts.force)?;
    interrupt::set_phase(Phase::Loading);
    interrupt::check(cancel)?;
    // A run that fails here leaves no trace: `out` removes a directory it created when dropped.
    let (mut dataset, zero, warnings) = read_checked(plan)?;
    if let Some(check) = opts.check_data {
        check(plan, &dataset)?;
    }
    memory::check(plan, &dataset, &zero)?;
    interrupt::set_phase(Phase::Checking);
    interrupt::check(cancel)?;
    let sha = dataset.provenance.sha256.clone();
    // Under --force the stored manifest goes with the rest (even a damaged one).
    let stored_manifest = if opts.force {
        None
    } else {
        manifest::read(&plan.out_dir)?
    };
    let this = manifest_of(plan, &sha);
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
    manifest::write_or_check(&plan.out_dir, &this)?;
    for w in &warnings {
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
    let fp = fingerprint(plan, &sha);
    let records_dir = store::records_dir(&plan.out_dir);
    std::fs::create_dir_all(&records_dir)
        .map_err(|e| Error::io(format!("cannot create {}", records_dir.display()), e))?;
    if let Some(s) = opts.shard {
        record_shard_count(&plan.out_dir, s.count)?;
    }

    // This process's share, then what of it is already stored.
    let grid = grid_of(plan);
    let mine: Vec<Job> = match opts.shard {
        Some(s) => grid
            .iter()
            .zip(shard::assign(&grid, s.count))
            .filter(|(_, k)| *k == s.index)
            .map(|(j, _)| *j)
            .collect(),
        None => grid.clone(),
    };
    let mut todo = Vec::new();
    let mut damaged = Vec::new();
    for job in &mine {
        match store::check(&plan.out_dir, &fp, job)? {
            RecordState::Done(_) => {}
            RecordState::Missing => todo.push(*job),
            RecordState::Damaged => {
                damaged.push(*job);
                todo.push(*job);
            }
            RecordState::OtherPlan => {
                return Err(Error::OtherSweep {
                    dir: plan.out_dir.clone(),
                    differs: format!(
                        "record {} was made from another config or other data",
                        store::record_path(&plan.out_dir, job).display()
                    ),
                });
            }
        }
    }
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
            records_dir.display()
        ));
    }

    let mut computed = 0;
    interrupt::set_phase(Phase::Fitting);
    if !todo.is_empty() && !cancel.load(Ordering::Relaxed) {
        let sel = &plan.selection;
        let svd_rank = if plan.init.needs_svd() {
            plan.ranks.iter().copied().max().unwrap_or(1)
        } else {
            0
        };
        let data = SweepData::new(
            // X moves into the fit matrices: it is held once (the reports use dataset.facts).
            zero.reduce(std::mem::replace(
                &mut dataset.x,
                Matrix::Dense(ndarray::Array2::zeros((0, 0))),
            )),
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
            precision: plan.precision.resolve(dataset.facts.f32_safe),
            stop: plan.stop,
        };
        obs.start(todo.len());
        run_jobs(
            &data,
            &settings,
            &todo,
            threads,
            cancel,
            |fit: StoredFit| -> Result<()> {
                // A cancelled fit is not a result: it is recomputed on resume (same bits as if
                // it had never been interrupted).
                if fit.record.stop == StopReason::Cancelled {
                    return Ok(());
                }
                // Durable before it counts.
                store::write(&plan.out_dir, &fp, &fit)?;
                computed += 1;
                obs.fit_done(&fit.record);
                Ok(())
            },
        )
        .map_err(|e| Error::io("cannot start the worker threads", std::io::Error::other(e)))??;
        obs.finish();
    }
    if cancel.load(Ordering::Relaxed) && computed < todo.len() {
        let resume = match opts.shard {
            Some(s) => format!("run the same command (with --shard {s}) again to resume"),
            None => "run the same command again to resume".into(),
        };
        return Err(Error::Incomplete {
            message: format!(
                "stopped by a signal: {} of {} fits{} are stored in {} ({} still to do); {resume}",
                skipped + computed,
                mine.len(),
                opts.shard.map_or(String::new(), |s| format!(" of shard {s}")),
                records_dir.display(),
                todo.len() - computed
            ),
        });
    }
    match opts.shard {
        Some(shard) => Ok(Outcome::Shard {
            shard,
            computed,
            skipped,
        }),
        None => {
            interrupt::set_phase(Phase::Merging);
            interrupt::check(cancel)?;
            build_results(plan, &dataset, &zero, false, obs, cancel).map(Outcome::Merged)
        }
    }
}

/// Opens the output directory of `plan` for a run, compare or `--force` (exclusive lock) or a
/// shard (shared lock); the data and config files must not lie in it under an output name.
pub fn open_for_run(plan: &Plan, command: &str, shard: Option<Shard>) -> Result<OutDir> {
    let mode = if shard.is_some() {
        LockMode::Shared
    } else {
        LockMode::Exclusive
    };
    let what = match shard {
        Some(s) => format!("{command} --shard {s}"),
        None => command.to_string(),
    };
    OutDir::open(&plan.out_dir, mode, &what, &inputs_of(plan))
}

/// The files a run reads, by the key that names them.
fn inputs_of(plan: &Plan) -> Vec<(&str, &Path)> {
    vec![
        ("[data] path", plan.data.path.as_path()),
        ("config file", plan.config_path.as_path()),
    ]
}

/// Opens (exclusively) the output directory of a finished or sharded sweep for `merge`: it must
/// hold a sweep manifest; the data file must not lie in it under an output name.
pub fn open_for_merge(dir: &Path, command: &str) -> Result<OutDir> {
    let (plan, _) = plan_of_dir(dir)?;
    OutDir::open(
        dir,
        LockMode::Exclusive,
        command,
        &[("[data] path", plan.data.path.as_path())],
    )
}

/// Held-out fits of `rank` whose objective was non-finite.
fn heldout_failures(c: &Collected, rank: usize) -> usize {
    c.records
        .iter()
        .filter(|r| r.job.kind == JobKind::Heldout && r.job.rank == rank && r.stop == StopReason::NonFinite)
        .count()
}

/// "the penalties are set (model.l1_w = 1e300, ...): ... lower them (0: no penalty); else " when
/// penalties are set (a numerical failure is then as likely theirs as the data's scale); else "".
fn penalty_hint(plan: &Plan) -> String {
    let p = &plan.penalty;
    let set: Vec<String> = [("l1_w", p.l1_w), ("l1_h", p.l1_h), ("l2_w", p.l2_w), ("l2_h", p.l2_h)]
        .iter()
        .filter(|(_, v)| *v > 0.0)
        .map(|(k, v)| format!("model.{k} = {v:e}"))
        .collect();
    if set.is_empty() {
        String::new()
    } else {
        format!(
            "the penalties are set ({}): weights far above the data's values make the fits fail, so lower them \
             (0: no penalty); else ",
            set.join(", ")
        )
    }
}

/// `nnmf-sweep merge OUTDIR`: rebuilds the plan from the directory's manifest, reads the data
/// again (checked against the stored checksum), and builds every output from the records. `dir`
/// is opened by the caller ([`open_for_merge`]).
pub fn merge(dir: &OutDir, allow_partial: bool, obs: &mut dyn Observer, cancel: &AtomicBool) -> Result<Results> {
    let out = dir.path();
    let (plan, stored) = plan_of_dir(out)?;
    interrupt::set_phase(Phase::Loading);
    interrupt::check(cancel)?;
    let (dataset, zero, warnings) = read_checked(&plan)?;
    interrupt::set_phase(Phase::Merging);
    interrupt::check(cancel)?;
    let this = manifest_of(&plan, &dataset.provenance.sha256);
    if this.keys.get("data_sha256") != stored.keys.get("data_sha256") {
        return Err(Error::Data {
            path: plan.data.path.clone(),
            dataset: dataset.provenance.dataset.clone(),
            message: format!(
                "changed since the sweep ran (SHA-256 {} now, {} recorded in {}); merge needs the data the fits \
                 were made from: restore it",
                dataset.provenance.sha256,
                stored.keys.get("data_sha256").map_or("?", |s| s.as_str()),
                out.join(manifest::FILE).display()
            ),
        });
    }
    manifest::write_or_check(out, &this)?;
    for w in &warnings {
        obs.warn(w);
    }
    build_results(&plan, &dataset, &zero, allow_partial, obs, cancel)
}

/// The plan of the sweep stored in `out` (its manifest's config, with `out` as output directory).
pub fn plan_of_dir(out: &Path) -> Result<(Plan, Manifest)> {
    let stored = manifest::read(out)?.ok_or_else(|| Error::NoSweep {
        dir: out.to_path_buf(),
        manifest: manifest::FILE.into(),
    })?;
    let plan = crate::config::parse(
        &stored.config_text,
        &stored.config_path(),
        &Overrides {
            threads: Some(1),
            out: Some(out.to_path_buf()),
        },
    )?;
    Ok((plan, stored))
}

/// Per-job state of the sweep stored in `out`, in (rank, kind, index) order.
pub fn job_states(out: &Path) -> Result<(Plan, Vec<(Job, RecordState)>)> {
    let (plan, stored) = plan_of_dir(out)?;
    let fp_hex = stored.keys.get("fingerprint").cloned().unwrap_or_default();
    let mut fp = [0u8; 32];
    for (i, b) in fp.iter_mut().enumerate() {
        *b = fp_hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    let states = grid_of(&plan)
        .into_iter()
        .map(|j| store::check(out, &fp, &j).map(|s| (j, s)))
        .collect::<Result<Vec<_>>>()?;
    Ok((plan, states))
}

/// Records N in `<out>/shards.txt` (for `status`), through a temporary file of this process's own:
/// shards starting together must not rename one another's temporary file away.
fn record_shard_count(out: &Path, count: usize) -> Result<()> {
    let path = out.join(outdir::SHARDS_TXT);
    let tmp = out.join(format!("{}.{}.partial", outdir::SHARDS_TXT, std::process::id()));
    std::fs::write(&tmp, format!("{count}\n"))
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

/// The shard count recorded by the shards of `out` (`shards.txt`), if any.
pub fn recorded_shards(out: &Path) -> Option<usize> {
    std::fs::read_to_string(out.join(outdir::SHARDS_TXT))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .filter(|&n| (1..=crate::limits::MAX_SHARDS).contains(&n))
}

/// The shard of each job of `jobs` among `count` shards.
pub fn shard_of(jobs: &[Job], count: usize) -> Vec<usize> {
    shard::assign(jobs, count)
}

/// Builds every output from the stored records, reduced in (rank, kind, index) order; refuses
/// (listing them) when records are missing, unless `allow_partial`.
fn build_results(
    plan: &Plan,
    dataset: &Dataset,
    zero: &ZeroLines,
    allow_partial: bool,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<Results> {
    let out = &plan.out_dir;
    let fp = fingerprint(plan, &dataset.provenance.sha256);
    let n_fit = dataset.facts.shape.0 - zero.zero_rows.len();
    let grid = grid_of(plan);
    let mut missing = Vec::new();
    for job in &grid {
        match store::check(out, &fp, job)? {
            RecordState::Done(_) => {}
            RecordState::Missing | RecordState::Damaged => missing.push(*job),
            RecordState::OtherPlan => {
                return Err(Error::OtherSweep {
                    dir: out.clone(),
                    differs: format!(
                        "record {} was made from another config or other data",
                        store::record_path(out, job).display()
                    ),
                });
            }
        }
    }
    if !missing.is_empty() && !allow_partial {
        return Err(Error::Incomplete {
            message: format!(
                "{} of {} fits are missing from {}: {}; run the sweep (or the missing shards) again to compute \
                 them, or pass --allow-partial to build a result from the fits done",
                missing.len(),
                grid.len(),
                store::records_dir(out).display(),
                describe_jobs(&missing, 20)
            ),
        });
    }
    let consensus =
        consensus_allowed(plan, n_fit, obs) && full_consensus_allowed(plan, dataset.facts.shape.0, n_fit, obs);
    let mut collector = Collector::new(plan.loss, &plan.ranks, n_fit, grid_size(plan), consensus);
    for job in grid.iter().filter(|j| !missing.contains(j)) {
        collector.add(store::read(out, &fp, job)?);
    }
    let mut collected = collector.finish();
    collected.missing_fits = missing.len();
    rank_statistics(&mut collected, out, &fp, plan.loss)?;
    let evidence: Vec<Evidence> = collected
        .ranks
        .iter()
        .map(|s| Evidence {
            rank: s.rank,
            cophenetic: s.consensus_stats.as_ref().and_then(|c| c.cophenetic),
            stability: s.stability.as_ref().and_then(|st| st.silhouette),
            heldout: s.heldout.clone(),
            heldout_failed: heldout_failures(&collected, s.rank),
        })
        .collect();
    let decision = decide_all(plan.selection.rule, &evidence);

    if let Some(s) = collected.ranks.iter().find(|s| s.fits == 0) {
        return Err(Error::Incomplete {
            message: format!(
                "rank {} has no finished fit yet; even a partial result needs one per rank: run the sweep \
                 (or the missing shards) again",
                s.rank
            ),
        });
    }
    if let Some(s) = collected.ranks.iter().find(|s| s.best.is_none()) {
        // No results.h5 (its presence means a finished sweep); the tables stay for diagnosis.
        report::write_tables(out, &collected, &decision)?;
        let other = match plan.loss {
            Loss::Kl => "loss = \"frobenius\"",
            Loss::Frobenius => "loss = \"kl\" (for counts)",
        };
        return Err(Error::Numerical {
            rank: s.rank,
            fits: s.fits,
            hint: format!(
                "no results.h5 was written; the failed fits are listed in {}; {}check the data's scale \
                 (very large or tiny values: rescale it) or try {other}",
                out.join(outdir::FITS_TSV).display(),
                penalty_hint(plan)
            ),
        });
    }
    for s in &mut collected.ranks {
        if let Some((_, w, h)) = &mut s.best {
            *w = zero.restore_w(w);
            *h = zero.restore_h(h);
        }
    }
    interrupt::set_phase(Phase::Writing);
    interrupt::check(cancel)?;
    let partial = out.join(outdir::PARTIAL_TXT);
    if !missing.is_empty() {
        // Before results.h5: a partial result must never pass for a finished sweep.
        report::write_atomic(
            &partial,
            &format!(
                "results.h5 here was merged with --allow-partial; {} of {} fits were missing:\n{}\n",
                missing.len(),
                grid.len(),
                missing
                    .iter()
                    .map(|j| format!("{}\t{}\t{}", j.kind.name(), j.rank, j.index))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        )?;
        obs.warn(&format!(
            "partial result: {} of {} fits missing ({}); listed in {}",
            missing.len(),
            grid.len(),
            describe_jobs(&missing, 10),
            partial.display()
        ));
    }
    report::write_results(plan, dataset, zero, &collected, &decision)?;
    if missing.is_empty() && partial.exists() {
        std::fs::remove_file(&partial).map_err(|e| Error::io(format!("cannot remove {}", partial.display()), e))?;
    }
    for s in &collected.ranks {
        if s.failed > 0 {
            obs.warn(&format!(
                "rank {}: {} of {} fits had a non-finite objective and were left out",
                s.rank, s.failed, s.fits
            ));
        }
    }
    for e in evidence.iter().filter(|e| e.heldout_failed > 0) {
        obs.warn(&format!(
            "rank {}: {} of {} held-out (cross-validation) fits failed numerically (non-finite objective) and \
             were left out of its held-out deviance; {}check the data's scale (very large or tiny values: rescale it)",
            e.rank,
            e.heldout_failed,
            plan.selection.heldout_repeats,
            penalty_hint(plan)
        ));
    }
    let (n, p) = dataset.facts.shape;
    Ok(Results {
        collected,
        decision,
        missing,
        missing_values: (dataset.facts.missing, n * p),
    })
}

/// Whether the N x N consensus statistics fit in `[selection] consensus_max_mb`; warns why not.
fn consensus_allowed(plan: &Plan, n: usize, obs: &mut dyn Observer) -> bool {
    if plan.restarts.get() < 2 {
        obs.warn("consensus and stability statistics need at least 2 restarts per rank; they are skipped");
        return false;
    }
    let accumulators = plan.ranks.len() * if plan.selection.null_restarts > 0 { 2 } else { 1 };
    let mib = ConsensusAccumulator::bytes_needed(n, accumulators).div_ceil(1 << 20);
    if mib > plan.selection.consensus_max_mb {
        obs.warn(&format!(
            "consensus statistics (cophenetic, dispersion, consensus clusters) skipped: {n} observations need about \
             {mib} MiB for the N x N consensus of {accumulators} ranks, above [selection] consensus_max_mb = {}; \
             raise it to at least {mib} to compute them",
            plan.selection.consensus_max_mb
        ));
        return false;
    }
    true
}

/// Whether the N x N consensus matrices of the outputs (one per rank, for all N observations,
/// all-zero rows included, held together while results.h5 is written; see
/// `report::rank_outputs`) fit in `[selection] consensus_max_mb` beside the accumulators of the
/// `n_fit` fitted rows; warns why not. Without it the consensus outputs are skipped.
fn full_consensus_allowed(plan: &Plan, n: usize, n_fit: usize, obs: &mut dyn Observer) -> bool {
    let accumulators = plan.ranks.len() * if plan.selection.null_restarts > 0 { 2 } else { 1 };
    let full = crate::limits::bytes(&[plan.ranks.len() as u64, n as u64, n as u64, 8]);
    let need = ConsensusAccumulator::bytes_needed(n_fit, accumulators) as u64;
    let mib = crate::limits::mib(full.saturating_add(need));
    let memory = plan.data.memory_limit();
    let above = if mib > plan.selection.consensus_max_mb as u64 {
        format!(
            "[selection] consensus_max_mb = {}; raise it to at least {mib} to compute them",
            plan.selection.consensus_max_mb
        )
    } else if full.saturating_add(need) > memory {
        // consensus_max_mb was raised past the memory there is.
        format!("the memory limit of {}", plan.data.memory_limit_text())
    } else {
        return true;
    };
    let zero_rows = if n > n_fit {
        format!(" ({} of them all-zero rows, restored in the outputs)", n - n_fit)
    } else {
        String::new()
    };
    obs.warn(&format!(
        "consensus statistics (cophenetic, dispersion, consensus clusters, consensus matrices) skipped: the N x N \
         consensus matrices of all {n} observations{zero_rows} need about {mib} MiB for {} ranks, above {above}",
        plan.ranks.len(),
    ));
    false
}

/// Consensus summaries, objective spread and component stability of every rank. Stability
/// streams twice over the stored records of the rank's fits (memory O(r·p)).
fn rank_statistics(c: &mut Collected, out: &Path, fp: &[u8; 32], loss: Loss) -> Result<()> {
    for s in &mut c.ranks {
        s.consensus_stats = s.consensus.as_ref().and_then(|a| a.stats(s.rank));
        let records: Vec<&FitRecord> = c
            .records
            .iter()
            .filter(|r| r.job.kind == JobKind::Fit && r.job.rank == s.rank)
            .collect();
        let values: Vec<f64> = records.iter().map(|r| r.objectives.value(loss)).collect();
        s.spread = spread(&values);
        let fits: Vec<Job> = records
            .iter()
            .filter(|r| !matches!(r.stop, StopReason::NonFinite | StopReason::Cancelled))
            .map(|r| r.job)
            .collect();
        if let Some((_, _, h)) = &s.best
            && fits.len() >= 2
        {
            let mut acc = StabilityAccumulator::new(h.view());
            for job in &fits {
                acc.add(store::read(out, fp, job)?.h.view());
            }
            for job in &fits {
                acc.add_silhouette(store::read(out, fp, job)?.h.view());
            }
            s.stability = acc.finish();
        }
    }
    Ok(())
}
