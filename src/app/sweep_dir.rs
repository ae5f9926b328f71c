//! The output directory of a sweep as the application sees it: opening it for a run or a merge,
//! the manifest and fingerprint of a plan, the grid in reduction order, the state of every stored
//! record, and the shard count the shards recorded.

use crate::config::{Overrides, Plan};
use crate::error::{Error, Result};
use crate::fsio::LockMode;
use crate::outdir::{self, OutDir};
use crate::record::manifest::{self, Manifest};
use crate::record::store::{self, RecordState};
use crate::record::{GridSize, Job, jobs};
use crate::sweep::shard::{self, Shard};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The fingerprint of everything a job's result depends on: program version, the data's
/// checksum, and every setting that changes a fit ([`Plan::fingerprint_text`]). Records made under
/// another fingerprint are never used.
pub fn fingerprint(plan: &Plan, data_sha256: &str) -> [u8; 32] {
    Sha256::digest(plan.fingerprint_text(data_sha256).as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The manifest of `plan` on data with checksum `data_sha256`: everything the records and the
/// merged result depend on ([`Plan::settings`]).
pub fn manifest_of(plan: &Plan, data_sha256: &str) -> Manifest {
    let mut keys = BTreeMap::new();
    keys.insert("version".to_string(), env!("CARGO_PKG_VERSION").to_string());
    keys.insert("fingerprint".to_string(), hex(&fingerprint(plan, data_sha256)));
    keys.insert("data_sha256".to_string(), data_sha256.to_string());
    for s in plan.settings() {
        keys.insert(s.key.to_string(), s.text);
    }
    Manifest {
        keys,
        config_text: plan.config_text.clone(),
    }
}

pub(super) fn grid_size(plan: &Plan) -> GridSize {
    GridSize {
        restarts: plan.restarts.get(),
        heldout_repeats: plan.selection.heldout_repeats,
        null_restarts: plan.selection.null_restarts,
    }
}

/// The whole grid of `plan`, in (rank, kind, index) order: the order every reduction uses.
pub(super) fn grid_of(plan: &Plan) -> Vec<Job> {
    let mut g = jobs(&plan.ranks, grid_size(plan), plan.seed);
    g.sort_by_key(|j| (j.rank, j.kind, j.index));
    g
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

/// The stored state of each of `jobs` in `out`, in order. A record made from another config or
/// other data is an error naming it: such a directory belongs to another sweep.
pub(super) fn record_states(out: &Path, fp: &[u8; 32], jobs: &[Job]) -> Result<Vec<RecordState>> {
    jobs.iter()
        .map(|job| match store::check(out, fp, job)? {
            RecordState::OtherPlan => Err(Error::OtherSweep {
                dir: out.to_path_buf(),
                differs: format!(
                    "record {} was made from another config or other data",
                    store::record_path(out, job).display()
                ),
            }),
            state => Ok(state),
        })
        .collect()
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
    let mut inputs = vec![
        ("[data] path", plan.data.path.as_path()),
        ("config file", plan.config_path.as_path()),
    ];
    if let Some(r) = &plan.reference {
        inputs.push(("[report] reference", r.as_path()));
    }
    if let Some(crate::data::VoxelMask::File(m)) = &plan.data.voxel_mask {
        inputs.push(("[data] voxel_mask", m.as_path()));
    }
    inputs
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
pub(super) fn record_shard_count(out: &Path, count: usize) -> Result<()> {
    let path = out.join(outdir::SHARDS_TXT);
    let tmp = crate::fsio::private_partial_path(&path);
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
