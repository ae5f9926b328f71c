//! results.h5: for every rank a group `rank_<r>` with the best fit's W (N x r) and H (r x p), its
//! objectives and the rank's statistics as attributes, and the per-observation outputs
//! (memberships, labels, consensus); `fits`, `heldout_fits`, `null_fits` groups with one column
//! dataset per table column; the config text, program version, input provenance, effective
//! settings and the rank decision as root attributes. With `[report] reference`: the signature
//! names (`reference_signatures`), and per rank `reference_cosine` (r x s) and `reference_match`
//! (the matched signature of each component, -1 when unmatched). With `[selection] solution =
//! "consensus"`: per rank `consensus_W`, `consensus_H`, `consensus_support`, `consensus_outliers`,
//! `consensus_cosine`, `consensus_cosine_to_best` and the `consensus_*` objective attributes.

use super::{Merged, RankOutputs, commit, partial_path};
use crate::config::AttrValue;
use crate::error::{Error, Result};
use crate::rankstat::Cell;
use crate::record::{FitRecord, JobKind};
use crate::stats::ReferenceMatch;
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

/// A float attribute, written only when the value exists (absent means "not computed").
fn attr_opt(loc: &Location, name: &str, value: Option<f64>) -> hdf5::Result<()> {
    match value {
        Some(v) if v.is_finite() => attr(loc, name, &v),
        _ => Ok(()),
    }
}

fn column<T: H5Type>(g: &hdf5::Group, name: &str, values: Vec<T>) -> hdf5::Result<()> {
    g.new_dataset_builder()
        .with_data(&Array1::from(values))
        .create(name)
        .map(|_| ())
}

fn names(file: &hdf5::File, name: &str, values: &[String]) -> hdf5::Result<()> {
    column(file, name, values.iter().map(|s| text(s)).collect())
}

/// Writes results.h5 at `path` (via a temporary file renamed into place). `matches[i]` is the
/// reference matching of rank i (empty without `[report] reference`).
pub fn write_results_h5(
    path: &Path,
    merged: &Merged,
    outputs: &[Option<RankOutputs>],
    matches: &[Option<ReferenceMatch>],
) -> Result<()> {
    let tmp = partial_path(path);
    write(&tmp, merged, outputs, matches).map_err(|e| Error::hdf5(format!("cannot write {}", tmp.display()), e))?;
    commit(path)
}

fn fit_columns<'a>(
    file: &hdf5::File,
    group: &str,
    records: impl Iterator<Item = &'a FitRecord> + Clone,
) -> hdf5::Result<()> {
    let g = file.create_group(group)?;
    column(&g, "rank", records.clone().map(|r| r.job.rank as u64).collect())?;
    column(
        &g,
        if group == "heldout_fits" { "repeat" } else { "restart" },
        records.clone().map(|r| r.job.index as u64).collect(),
    )?;
    column(&g, "seed", records.clone().map(|r| r.job.seed).collect())?;
    column(&g, "kl", records.clone().map(|r| r.objectives.kl).collect())?;
    column(
        &g,
        "poisson_loglik",
        records.clone().map(|r| r.objectives.poisson_loglik).collect(),
    )?;
    column(
        &g,
        "frobenius_sq",
        records.clone().map(|r| r.objectives.frobenius_sq).collect(),
    )?;
    column(&g, "penalty", records.clone().map(|r| r.objectives.penalty).collect())?;
    column(&g, "iterations", records.clone().map(|r| r.iterations as u64).collect())?;
    column(
        &g,
        "stop_reason",
        records.clone().map(|r| text(r.stop.name())).collect(),
    )?;
    column(&g, "seconds", records.map(|r| r.seconds).collect())
}

fn write(
    tmp: &Path,
    merged: &Merged,
    outputs: &[Option<RankOutputs>],
    matches: &[Option<ReferenceMatch>],
) -> hdf5::Result<()> {
    let Merged {
        plan,
        dataset,
        zero,
        reference,
        collected: c,
        decision,
    } = *merged;
    let prov = &dataset.provenance;
    let file = hdf5::File::create(tmp)?;
    attr_str(&file, "program", "nnmf-sweep")?;
    attr_str(&file, "version", env!("CARGO_PKG_VERSION"))?;
    attr_str(&file, "config", &plan.config_text)?;
    attr_str(&file, "config_path", &plan.config_path.display().to_string())?;
    attr_str(&file, "input_file", &prov.path.display().to_string())?;
    attr_str(&file, "input_dataset", &prov.dataset)?;
    attr_str(&file, "input_dtype", &prov.dtype)?;
    attr_str(&file, "input_format", &prov.format)?;
    file.new_attr_builder()
        .with_data(&Array1::from(
            prov.stored_shape.iter().map(|&d| d as u64).collect::<Vec<_>>(),
        ))
        .create("input_shape")?;
    attr(&file, "transpose", &prov.transposed)?;
    if let Some(img) = plan.data.image_shape {
        file.new_attr_builder()
            .with_data(&Array1::from(vec![img.height as u64, img.width as u64]))
            .create("image_shape")?;
    }
    if let Some(v) = &dataset.volumes {
        file.new_attr_builder()
            .with_data(&Array1::from(v.grid.iter().map(|&d| d as u64).collect::<Vec<_>>()))
            .create("volume_grid")?;
        attr_str(&file, "voxels", &v.describe())?;
        let mask = match &v.mask {
            crate::data::VoxelMask::Nonzero => "nonzero".to_string(),
            crate::data::VoxelMask::File(p) => p.display().to_string(),
        };
        attr_str(&file, "voxel_mask", &mask)?;
    }
    attr_str(&file, "input_sha256", &prov.sha256)?;
    attr(&file, "zero_rows_removed", &(zero.zero_rows.len() as u64))?;
    attr(&file, "zero_cols_removed", &(zero.zero_cols.len() as u64))?;
    attr(&file, "missing_entries", &(dataset.facts.missing as u64))?;
    attr_str(
        &file,
        "input_storage",
        if dataset.facts.sparse { "sparse" } else { "dense" },
    )?;
    for setting in plan.settings() {
        for (name, value) in &setting.attrs {
            match value {
                AttrValue::Text(t) => attr_str(&file, name, t)?,
                AttrValue::U64(v) => attr(&file, name, v)?,
                AttrValue::F64(v) => attr(&file, name, v)?,
                AttrValue::U64s(v) => {
                    file.new_attr_builder()
                        .with_data(&Array1::from(v.clone()))
                        .create(*name)?;
                }
            }
        }
    }
    // The effective settings that depend on the data too: the precision the fits ran in (`auto`
    // resolved against the data), and the solver of the fits with left-out entries (see
    // `Solver::for_heldout`).
    attr_str(
        &file,
        "precision",
        plan.precision.resolve(dataset.facts.f32_safe).name(),
    )?;
    attr_str(&file, "heldout_solver", plan.solver.for_heldout().name())?;
    attr_str(&file, "selection_rule", decision.rule.name())?;
    // A `merge --allow-partial` result: 1 and the count of fits missing (listed in partial.txt).
    attr(&file, "partial", &u8::from(c.missing_fits > 0))?;
    attr(&file, "missing_fits", &(c.missing_fits as u64))?;
    // 0 means no rank could be chosen (see selection_reasons).
    attr(&file, "chosen_rank", &(decision.chosen.unwrap_or(0) as u64))?;
    attr(&file, "runner_up", &(decision.runner_up.unwrap_or(0) as u64))?;
    attr_str(&file, "selection_reasons", &decision.reasons.join("\n"))?;
    attr(
        &file,
        &format!("chosen_by_{}", decision.rule.name()),
        &(decision.chosen.unwrap_or(0) as u64),
    )?;
    for (rule, chosen) in &decision.others {
        attr(
            &file,
            &format!("chosen_by_{}", rule.name()),
            &(chosen.unwrap_or(0) as u64),
        )?;
    }
    if let Some(n) = &dataset.obs_names {
        names(&file, "obs_names", n)?;
    }
    if let Some(n) = &dataset.var_names {
        names(&file, "var_names", n)?;
    }
    if let Some(r) = reference {
        names(&file, "reference_signatures", &r.signatures)?;
        attr(&file, "reference_features_used", &(r.columns.len() as u64))?;
        attr(&file, "reference_features", &(r.catalogue_features as u64))?;
        attr_str(
            &file,
            "reference_features_matched_by",
            if r.by_name { "name" } else { "position" },
        )?;
    }

    for (i, (s, o)) in c.ranks.iter().zip(outputs).enumerate() {
        let g = file.create_group(&format!("rank_{}", s.rank))?;
        if let Some(Some(m)) = matches.get(i) {
            // Cosine of each component with each signature (r x s), and the signature (0-based,
            // in reference_signatures) matched one-to-one to each component, -1 when unmatched.
            g.new_dataset_builder()
                .with_data(&m.cosine)
                .create("reference_cosine")?;
            column(
                &g,
                "reference_match",
                m.assigned.iter().map(|a| a.map_or(-1, |j| j as i64)).collect(),
            )?;
        }
        attr(&g, "fits", &(s.fits as u64))?;
        attr(&g, "converged", &(s.converged as u64))?;
        attr(&g, "max_iter_fits", &(s.max_iter as u64))?;
        attr(&g, "failed", &(s.failed as u64))?;
        if let Some((b, w, h)) = &s.best {
            g.new_dataset_builder().with_data(w).create("W")?;
            g.new_dataset_builder().with_data(h).create("H")?;
            attr(&g, "restart", &(b.job.index as u64))?;
            attr(&g, "seed", &b.job.seed)?;
            attr(&g, "kl", &b.objectives.kl)?;
            attr(&g, "poisson_loglik", &b.objectives.poisson_loglik)?;
            attr(&g, "frobenius_sq", &b.objectives.frobenius_sq)?;
            attr(&g, "penalty", &b.objectives.penalty)?;
            attr(&g, "iterations", &(b.iterations as u64))?;
            attr_str(&g, "stop_reason", b.stop.name())?;
        }
        if let Some(f) = &s.consensus_fit {
            // The consensus solution (`[selection] solution = "consensus"`), zero lines restored.
            g.new_dataset_builder().with_data(&f.w).create("consensus_W")?;
            g.new_dataset_builder().with_data(&f.h).create("consensus_H")?;
            attr(&g, "consensus_kl", &f.objectives.kl)?;
            attr(&g, "consensus_poisson_loglik", &f.objectives.poisson_loglik)?;
            attr(&g, "consensus_frobenius_sq", &f.objectives.frobenius_sq)?;
            attr(&g, "consensus_penalty", &f.objectives.penalty)?;
            attr(&g, "consensus_unconverged_rows", &(f.unconverged as u64))?;
            column(&g, "consensus_support", f.support.iter().map(|&n| n as u64).collect())?;
            column(&g, "consensus_outliers", f.outliers.iter().map(|&n| n as u64).collect())?;
            column(&g, "consensus_cosine", f.cosine.clone())?;
            column(&g, "consensus_cosine_to_best", f.cosine_to_best.clone())?;
        }
        for column in crate::rankstat::columns() {
            match (column.value)(s) {
                Cell::Float(v) => attr_opt(&g, column.name, v)?,
                Cell::Count(Some(n)) => attr(&g, column.name, &(n as u64))?,
                Cell::Count(None) => {}
            }
        }
        if let Some(o) = o {
            g.new_dataset_builder()
                .with_data(&o.memberships)
                .create("memberships")?;
            column(&g, "labels", o.labels.clone())?;
            if let Some(l) = &o.consensus_labels {
                column(&g, "consensus_labels", l.clone())?;
            }
            if let Some(m) = &o.consensus {
                g.new_dataset_builder().with_data(m).create("consensus")?;
            }
        }
    }

    let of = |kind: JobKind| c.records.iter().filter(move |r| r.job.kind == kind);
    fit_columns(&file, "fits", of(JobKind::Fit))?;
    if of(JobKind::Heldout).next().is_some() {
        fit_columns(&file, "heldout_fits", of(JobKind::Heldout))?;
        let g = file.group("heldout_fits")?;
        column(
            &g,
            "heldout_deviance",
            of(JobKind::Heldout)
                .map(|r| {
                    c.heldout_deviance
                        .iter()
                        .find(|(j, _)| *j == r.job)
                        .map_or(f64::NAN, |(_, d)| *d)
                })
                .collect(),
        )?;
    }
    if of(JobKind::Null).next().is_some() {
        fit_columns(&file, "null_fits", of(JobKind::Null))?;
    }
    file.close()
}
