//! results.h5: for every rank a group `rank_<r>` with the best fit's W (N x r) and H (r x p) and
//! its objectives as attributes; a `fits` group with one column dataset per fits.tsv column; the
//! config text, program version, input provenance and effective settings as root attributes.

use super::{commit, partial_path};
use crate::config::Plan;
use crate::data::{Provenance, ZeroLines};
use crate::error::{Error, Result};
use crate::sweep::{FitRecord, RankSummary};
use hdf5::types::VarLenUnicode;
use hdf5::{H5Type, Location};
use ndarray::Array1;
use std::path::Path;

fn text(s: &str) -> VarLenUnicode {
    // VarLenUnicode rejects interior NUL bytes only; none of our strings have them.
    s.replace('\0', "").parse().unwrap_or_default()
}

fn attr<T: H5Type>(loc: &Location, name: &str, value: &T) -> hdf5::Result<()> {
    loc.new_attr::<T>().create(name)?.write_scalar(value)
}

fn attr_str(loc: &Location, name: &str, value: &str) -> hdf5::Result<()> {
    attr(loc, name, &text(value))
}

fn column<T: H5Type>(g: &hdf5::Group, name: &str, values: Vec<T>) -> hdf5::Result<()> {
    g.new_dataset_builder()
        .with_data(&Array1::from(values))
        .create(name)
        .map(|_| ())
}

/// Writes results.h5 at `path` (via a temporary file renamed into place).
pub fn write_results_h5(
    path: &Path,
    plan: &Plan,
    prov: &Provenance,
    zero: &ZeroLines,
    records: &[FitRecord],
    summaries: &[RankSummary],
) -> Result<()> {
    let tmp = partial_path(path);
    write(&tmp, plan, prov, zero, records, summaries)
        .map_err(|e| Error::hdf5(format!("cannot write {}", tmp.display()), e))?;
    commit(path)
}

fn write(
    tmp: &Path,
    plan: &Plan,
    prov: &Provenance,
    zero: &ZeroLines,
    records: &[FitRecord],
    summaries: &[RankSummary],
) -> hdf5::Result<()> {
    let file = hdf5::File::create(tmp)?;
    attr_str(&file, "program", "nnmf-sweep")?;
    attr_str(&file, "version", env!("CARGO_PKG_VERSION"))?;
    attr_str(&file, "config", &plan.config_text)?;
    attr_str(&file, "config_path", &plan.config_path.display().to_string())?;
    attr_str(&file, "input_file", &prov.path.display().to_string())?;
    attr_str(&file, "input_dataset", &prov.dataset)?;
    attr_str(&file, "input_dtype", &prov.dtype)?;
    file.new_attr_builder()
        .with_data(&Array1::from(
            prov.stored_shape.iter().map(|&d| d as u64).collect::<Vec<_>>(),
        ))
        .create("input_shape")?;
    attr(&file, "transpose", &prov.transposed)?;
    attr_str(&file, "input_sha256", &prov.sha256)?;
    attr(&file, "zero_rows_removed", &(zero.zero_rows.len() as u64))?;
    attr(&file, "zero_cols_removed", &(zero.zero_cols.len() as u64))?;
    attr_str(&file, "loss", plan.loss.name())?;
    attr_str(&file, "solver", plan.solver.name())?;
    attr_str(&file, "init", plan.init.name())?;
    attr(&file, "seed", &plan.seed)?;
    attr(&file, "restarts", &(plan.restarts as u64))?;
    attr(&file, "max_iter", &(plan.stop.max_iter as u64))?;
    attr(&file, "tol", &plan.stop.tol)?;
    attr(&file, "check_every", &(plan.stop.check_every as u64))?;
    file.new_attr_builder()
        .with_data(&Array1::from(plan.ranks.iter().map(|&r| r as u64).collect::<Vec<_>>()))
        .create("ranks")?;

    for s in summaries {
        let g = file.create_group(&format!("rank_{}", s.rank))?;
        attr(&g, "fits", &(s.fits as u64))?;
        attr(&g, "converged", &(s.converged as u64))?;
        attr(&g, "max_iter_fits", &(s.max_iter as u64))?;
        attr(&g, "failed", &(s.failed as u64))?;
        if let Some((b, w, h)) = &s.best {
            g.new_dataset_builder().with_data(w).create("W")?;
            g.new_dataset_builder().with_data(h).create("H")?;
            attr(&g, "restart", &(b.job.restart as u64))?;
            attr(&g, "seed", &b.job.seed)?;
            attr(&g, "kl", &b.objectives.kl)?;
            attr(&g, "poisson_loglik", &b.objectives.poisson_loglik)?;
            attr(&g, "frobenius_sq", &b.objectives.frobenius_sq)?;
            attr(&g, "iterations", &(b.iterations as u64))?;
            attr_str(&g, "stop_reason", b.stop.name())?;
        }
    }

    let g = file.create_group("fits")?;
    column(&g, "rank", records.iter().map(|r| r.job.rank as u64).collect())?;
    column(&g, "restart", records.iter().map(|r| r.job.restart as u64).collect())?;
    column(&g, "seed", records.iter().map(|r| r.job.seed).collect())?;
    column(&g, "kl", records.iter().map(|r| r.objectives.kl).collect())?;
    column(
        &g,
        "poisson_loglik",
        records.iter().map(|r| r.objectives.poisson_loglik).collect(),
    )?;
    column(
        &g,
        "frobenius_sq",
        records.iter().map(|r| r.objectives.frobenius_sq).collect(),
    )?;
    column(&g, "iterations", records.iter().map(|r| r.iterations as u64).collect())?;
    column(&g, "stop_reason", records.iter().map(|r| text(r.stop.name())).collect())?;
    column(&g, "seconds", records.iter().map(|r| r.seconds).collect())?;
    file.close()
}
