//! `merge`: every output built from the stored records alone, reduced in (rank, kind, index)
//! order, so a run merged from shards gives the same bits as a single process.

use super::run::{CheckedData, read_checked};
use super::sweep_dir::{describe_jobs, fingerprint, grid_of, grid_size, manifest_of, plan_of_dir, record_states};
use crate::config::Plan;
use crate::data::{AlignedReference, Dataset, ZeroLines};
use crate::error::{Error, Result};
use crate::interrupt::{self, Phase};
use crate::nmf::FitMatrix;
use crate::nmf::Loss;
use crate::outdir::{self, OutDir};
use crate::progress::Observer;
use crate::rankstat;
use crate::record::manifest;
use crate::record::store::{self, RecordState};
use crate::record::{Collected, Collector, Job};
use crate::report;
use crate::stats::{ConsensusAccumulator, Decision, Evidence, Solution, decide_all};
use crate::sweep::fit_matrix;
use std::path::Path;
use std::sync::atomic::AtomicBool;

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
    /// What the features (or observations) are when the input is NIfTI: the voxels and the mask
    /// they come from.
    pub voxels: Option<String>,
}

/// `nnmf-sweep merge OUTDIR`: rebuilds the plan from the directory's manifest, reads the data
/// again (checked against the stored checksum), and builds every output from the records. `dir`
/// is opened by the caller ([`open_for_merge`]).
pub fn merge(dir: &OutDir, allow_partial: bool, obs: &mut dyn Observer, cancel: &AtomicBool) -> Result<Results> {
    let out = dir.path();
    let (plan, stored) = plan_of_dir(out)?;
    interrupt::set_phase(Phase::Loading);
    interrupt::check(cancel)?;
    let CheckedData {
        dataset,
        zero,
        warnings,
        reference,
    } = read_checked(&plan)?;
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
    build_results(&plan, (&dataset, &zero, reference.as_ref()), allow_partial, obs, cancel)
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

/// Builds every output from the stored records, reduced in (rank, kind, index) order; refuses
/// (listing them) when records are missing, unless `allow_partial`. `data` is the data as read,
/// its all-zero rows and columns, and the reference catalogue lined up with it.
pub(super) fn build_results(
    plan: &Plan,
    data: (&Dataset, &ZeroLines, Option<&AlignedReference>),
    allow_partial: bool,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<Results> {
    let (dataset, zero, reference) = data;
    let fp = fingerprint(plan, &dataset.provenance.sha256);
    let (grid, missing) = stored_grid(plan, &fp, allow_partial)?;
    let mut collected = collect(plan, dataset, zero, &fp, &grid, &missing, obs)?;
    let evidence = rankstat::evidence(&collected);
    let decision = decide_all(plan.selection.rule, &evidence);
    usable(plan, &collected, &decision)?;
    for s in &mut collected.ranks {
        if let Some((_, w, h)) = &mut s.best {
            *w = zero.restore_w(w);
            *h = zero.restore_h(h);
        }
        if let Some(f) = &mut s.consensus_fit {
            f.w = zero.restore_w(&f.w);
            f.h = zero.restore_h(&f.h);
        }
    }
    interrupt::set_phase(Phase::Writing);
    interrupt::check(cancel)?;
    let partial = plan.out_dir.join(outdir::PARTIAL_TXT);
    if !missing.is_empty() {
        // Before results.h5: a partial result must never pass for a finished sweep.
        write_partial(&partial, &missing, grid.len(), obs)?;
    }
    report::write_results(&report::Merged {
        plan,
        dataset,
        zero,
        reference,
        collected: &collected,
        decision: &decision,
    })?;
    if missing.is_empty() && partial.exists() {
        std::fs::remove_file(&partial).map_err(|e| Error::io(format!("cannot remove {}", partial.display()), e))?;
    }
    warn_failures(plan, &collected, &evidence, obs);
    let (n, p) = dataset.facts.shape;
    Ok(Results {
        collected,
        decision,
        missing,
        missing_values: (dataset.facts.missing, n * p),
        voxels: dataset.volumes.as_ref().map(|v| v.describe()),
    })
}

/// The grid of `plan` in reduction order and its jobs without a usable record; an error listing
/// them when some are missing, unless `allow_partial`.
fn stored_grid(plan: &Plan, fp: &[u8; 32], allow_partial: bool) -> Result<(Vec<Job>, Vec<Job>)> {
    let out = &plan.out_dir;
    let grid = grid_of(plan);
    let states = record_states(out, fp, &grid)?;
    let missing: Vec<Job> = grid
        .iter()
        .zip(&states)
        .filter(|(_, s)| !matches!(s, RecordState::Done(_)))
        .map(|(j, _)| *j)
        .collect();
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
    Ok((grid, missing))
}

/// The stored records of `grid` but `missing`, reduced per rank, with every rank statistic.
fn collect(
    plan: &Plan,
    dataset: &Dataset,
    zero: &ZeroLines,
    fp: &[u8; 32],
    grid: &[Job],
    missing: &[Job],
    obs: &mut dyn Observer,
) -> Result<Collected> {
    let out = &plan.out_dir;
    let n_fit = dataset.facts.shape.0 - zero.zero_rows.len();
    let consensus =
        consensus_allowed(plan, n_fit, obs) && full_consensus_allowed(plan, dataset.facts.shape.0, n_fit, obs);
    let mut collector = Collector::new(plan.loss, &plan.ranks, n_fit, grid_size(plan), consensus);
    for job in grid.iter().filter(|j| !missing.contains(j)) {
        collector.add(store::read(out, fp, job)?);
    }
    let mut collected = collector.finish();
    collected.missing_fits = missing.len();
    let fitted = match plan.selection.solution {
        Solution::Consensus => fitted_data(plan, dataset, zero, obs)?,
        Solution::Best => None,
    };
    let ctx = rankstat::Context {
        out,
        fingerprint: fp,
        loss: plan.loss,
        refit: fitted.as_ref().map(|x| rankstat::Refit {
            x,
            penalty: plan.penalty,
        }),
    };
    rankstat::collect_all(&mut collected, &ctx)?;
    Ok(collected)
}

/// The data as fitted (without its all-zero rows and columns), for the consensus solution: X of
/// `dataset`, or read again when the sweep moved it into its fits (checked against the checksum
/// of the data the fits were made from). None, with a warning, when X has missing entries: the
/// refit of W does not leave entries out, so the memberships then use the best fit.
fn fitted_data(plan: &Plan, dataset: &Dataset, zero: &ZeroLines, obs: &mut dyn Observer) -> Result<Option<FitMatrix>> {
    if dataset.facts.missing > 0 {
        obs.warn(&format!(
            "[selection] solution = \"consensus\": the consensus solution is not computed for data with missing \
             entries ({} here): its W refit cannot leave entries out; the memberships tables use the best fit",
            dataset.facts.missing
        ));
        return Ok(None);
    }
    let x = if dataset.x.dim() == dataset.facts.shape {
        dataset.x.clone()
    } else {
        let again = crate::data::read(&plan.data)?;
        if again.provenance.sha256 != dataset.provenance.sha256 {
            return Err(Error::Data {
                path: plan.data.path.clone(),
                dataset: dataset.provenance.dataset.clone(),
                message: format!(
                    "changed while the sweep ran (SHA-256 {} now, {} when it started); the consensus solution needs \
                     the data the fits were made from: restore it and run `nnmf-sweep merge` on the output directory",
                    again.provenance.sha256, dataset.provenance.sha256
                ),
            });
        }
        again.x
    };
    // Held as the sweep held it: in f32 alone for f32 fits of values exact in f32 (the refit reads
    // them widened, X's own numbers).
    let precision = plan.precision.resolve(dataset.facts.f32_safe);
    Ok(Some(fit_matrix(zero.reduce(x), precision)))
}

/// Refuses a result without a finished fit for some rank, or whose fits of some rank all failed
/// (then the tables are written for diagnosis, but no results.h5).
fn usable(plan: &Plan, collected: &Collected, decision: &Decision) -> Result<()> {
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
        report::write_tables(&plan.out_dir, collected, decision)?;
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
                plan.out_dir.join(outdir::FITS_TSV).display(),
                penalty_hint(plan)
            ),
        });
    }
    Ok(())
}

/// Writes partial.txt, listing the `missing` of `total` fits, and warns.
fn write_partial(partial: &Path, missing: &[Job], total: usize, obs: &mut dyn Observer) -> Result<()> {
    report::write_atomic(
        partial,
        &format!(
            "results.h5 here was merged with --allow-partial; {} of {total} fits were missing:\n{}\n",
            missing.len(),
            missing
                .iter()
                .map(|j| format!("{}\t{}\t{}", j.kind.name(), j.rank, j.index))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    )?;
    obs.warn(&format!(
        "partial result: {} of {total} fits missing ({}); listed in {}",
        missing.len(),
        describe_jobs(missing, 10),
        partial.display()
    ));
    Ok(())
}

/// Warns of every rank with failed fits or failed held-out fits.
fn warn_failures(plan: &Plan, collected: &Collected, evidence: &[Evidence], obs: &mut dyn Observer) {
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
