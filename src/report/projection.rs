//! The files of `nnmf-sweep project`: projection.h5 (the solved factor, memberships, labels,
//! per-row loss and fraction explained, how the data was matched to the model) and a TSV, each
//! written under a temporary name and renamed into place.
//!
//! - H fixed (new observations): `memberships.tsv`, one row per observation: name, label
//!   (1-based component of the largest W entry, 0 for an all-zero row), loss, fraction explained,
//!   then the memberships (rows of W_new scaled to sum 1).
//! - W fixed (new features): `loadings.tsv`, one row per new feature: name, loss, fraction
//!   explained, then its loading on each component (column of H_new).

use crate::error::{Error, Result};
use crate::fsio::{commit, partial_path, write_atomic};
use crate::nmf::Loss;
use crate::outdir;
use crate::stats::hard_labels;
use hdf5::types::VarLenUnicode;
use ndarray::{Array1, Array2};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Which factor is held fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixed {
    /// H fixed, W solved for new observations (the default).
    H,
    /// W fixed, H solved for new features of the model's observations.
    W,
}

/// How the axis shared by the model and the data (features, or observations for the mirror) was
/// matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Matching {
    /// "name" or "position".
    pub by: &'static str,
    /// Entries of the model's axis found in the data.
    pub matched: usize,
    /// The model's entries missing from the data (their names, first ones).
    pub missing: Vec<String>,
    /// Count of the model's entries missing from the data.
    pub missing_count: usize,
    /// The share of the fixed factor's mass on the missing entries.
    pub missing_mass: f64,
    /// The data's entries not in the model (left out).
    pub extra_count: usize,
}

/// A finished projection.
#[derive(Debug)]
pub struct Projected {
    /// The solved factor: W_new (N_new x r) or H_new (r x p_new).
    pub factor: Array2<f64>,
    /// The rank.
    pub rank: usize,
    /// The loss.
    pub loss: Loss,
    /// Per row of the new data (per new feature for the mirror): the loss of its fit, and the
    /// fraction of its signal explained.
    pub row_loss: Vec<f64>,
    /// See [`Self::row_loss`]: 1 − loss / (loss of the row's own mean), like a deviance R².
    pub explained: Vec<f64>,
    /// Names of the solved rows (observations, or new features for the mirror).
    pub names: Option<Vec<String>>,
    /// How the shared axis was matched, for messages and the results file.
    pub matching: Matching,
    /// Sweeps of the solver (most for any row) and rows that did not converge.
    pub sweeps: usize,
    /// Rows that did not meet the solver's tolerance.
    pub unconverged: usize,
    /// The model's fixed factor as used (H, r x p, or W, N x r).
    pub model_factor: Array2<f64>,
    /// The model's output directory.
    pub model_dir: PathBuf,
    /// The model's solution used: "best" or "consensus".
    pub solution: &'static str,
}

/// Rows of `w` scaled to sum 1 (all-zero rows stay zero).
fn memberships(w: &Array2<f64>) -> Array2<f64> {
    let mut m = w.clone();
    for mut row in m.rows_mut() {
        let total = row.sum();
        if total > 0.0 {
            row.mapv_inplace(|v| v / total);
        }
    }
    m
}

fn text(s: &str) -> VarLenUnicode {
    s.replace('\0', "").parse().unwrap_or_default()
}

fn num(v: f64) -> String {
    if v.is_finite() { format!("{v}") } else { "NA".into() }
}

/// Writes the projection's files into `dir`: projection.h5 last.
pub fn write_projection(dir: &Path, fix: Fixed, data_path: &Path, p: &Projected) -> Result<()> {
    let r = p.rank;
    let (rows, table_name) = match fix {
        Fixed::H => (p.factor.clone(), outdir::PROJECTION_MEMBERSHIPS),
        Fixed::W => (p.factor.t().to_owned(), outdir::PROJECTION_LOADINGS),
    };
    let m = memberships(&rows);
    let labels: Vec<i64> = hard_labels(rows.view())
        .into_iter()
        .map(|l| l.map_or(0, |k| i64::from(k) + 1))
        .collect();
    let name_of = |i: usize| p.names.as_ref().map_or(i.to_string(), |n| n[i].clone());
    let mut t = String::new();
    match fix {
        Fixed::H => t.push_str("observation\tlabel\tloss\texplained"),
        Fixed::W => t.push_str("feature\tloss\texplained"),
    }
    for k in 1..=r {
        let _ = write!(t, "\tcomponent_{k}");
    }
    t.push('\n');
    for (i, (row, label)) in rows.rows().into_iter().zip(&labels).enumerate() {
        let _ = match fix {
            Fixed::H => write!(
                t,
                "{}\t{label}\t{}\t{}",
                name_of(i),
                num(p.row_loss[i]),
                num(p.explained[i])
            ),
            Fixed::W => write!(t, "{}\t{}\t{}", name_of(i), num(p.row_loss[i]), num(p.explained[i])),
        };
        let values = if fix == Fixed::H { m.row(i) } else { row };
        for v in values {
            let _ = write!(t, "\t{}", num(*v));
        }
        t.push('\n');
    }
    write_atomic(&dir.join(table_name), &t)?;
    let path = dir.join(outdir::PROJECTION_H5);
    let tmp = partial_path(&path);
    write_h5(&tmp, fix, data_path, p, &m, &labels)
        .map_err(|e| Error::hdf5(format!("cannot write {}", tmp.display()), e))?;
    commit(&path)
}

fn write_h5(
    tmp: &Path,
    fix: Fixed,
    data_path: &Path,
    p: &Projected,
    memberships: &Array2<f64>,
    labels: &[i64],
) -> hdf5::Result<()> {
    let file = hdf5::File::create(tmp)?;
    let attr_str = |name: &str, v: &str| file.new_attr::<VarLenUnicode>().create(name)?.write_scalar(&text(v));
    let attr_u64 = |name: &str, v: u64| file.new_attr::<u64>().create(name)?.write_scalar(&v);
    let attr_f64 = |name: &str, v: f64| file.new_attr::<f64>().create(name)?.write_scalar(&v);
    attr_str("program", "nnmf-sweep project")?;
    attr_str("version", env!("CARGO_PKG_VERSION"))?;
    attr_str("model_dir", &p.model_dir.display().to_string())?;
    attr_str("input_file", &data_path.display().to_string())?;
    attr_str("loss", p.loss.name())?;
    attr_str("fixed", if fix == Fixed::H { "H" } else { "W" })?;
    attr_str("solution", p.solution)?;
    attr_u64("rank", p.rank as u64)?;
    attr_str("matched_by", p.matching.by)?;
    attr_u64("matched", p.matching.matched as u64)?;
    attr_u64("missing", p.matching.missing_count as u64)?;
    attr_f64("missing_mass", p.matching.missing_mass)?;
    attr_u64("extra", p.matching.extra_count as u64)?;
    attr_u64("sweeps", p.sweeps as u64)?;
    attr_u64("unconverged", p.unconverged as u64)?;
    let name = if fix == Fixed::H { "W" } else { "H" };
    file.new_dataset_builder()
        .with_data(&p.factor.as_standard_layout())
        .create(name)?;
    match fix {
        Fixed::H => {
            file.new_dataset_builder()
                .with_data(&memberships.as_standard_layout())
                .create("memberships")?;
            file.new_dataset_builder()
                .with_data(&Array1::from(labels.to_vec()))
                .create("labels")?;
            file.new_dataset_builder()
                .with_data(&p.model_factor.as_standard_layout())
                .create("H_model")?;
        }
        Fixed::W => {
            file.new_dataset_builder()
                .with_data(&p.model_factor.as_standard_layout())
                .create("W_model")?;
        }
    }
    file.new_dataset_builder()
        .with_data(&Array1::from(p.row_loss.clone()))
        .create("loss")?;
    file.new_dataset_builder()
        .with_data(&Array1::from(p.explained.clone()))
        .create("explained")?;
    if let Some(n) = &p.names {
        let v: Vec<VarLenUnicode> = n.iter().map(|s| text(s)).collect();
        let key = if fix == Fixed::H { "obs_names" } else { "var_names" };
        file.new_dataset_builder().with_data(&Array1::from(v)).create(key)?;
    }
    Ok(())
}
