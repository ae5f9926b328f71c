//! The checks every input goes through, whatever its format: which values are acceptable (one
//! function, [`fault`]), counting the bad ones with the first position of each kind, and the
//! common finish of every reader (empty, bad values, all zero, then provenance and checksum).

use super::{Dataset, Matrix, Provenance};
use crate::error::{Error, Result};
use std::fmt;
use std::path::Path;

/// What counts as a bad entry. NaN marks a missing value only where missing values are enabled
/// (`[data] missing = "nan"` or a `[data] mask`); by default NaN is an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ValueRules {
    /// NaN entries are missing values, not errors.
    pub missing_allowed: bool,
}

/// Why a value cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Below zero.
    Negative,
    /// NaN where missing values are not enabled.
    Nan,
    /// ±infinity.
    Infinite,
}

/// The one rule on input values: finite and non-negative, NaN only as a missing value.
pub(crate) fn fault(v: f64, rules: ValueRules) -> Option<Fault> {
    if v.is_nan() {
        (!rules.missing_allowed).then_some(Fault::Nan)
    } else if v.is_infinite() {
        Some(Fault::Infinite)
    } else if v < 0.0 {
        Some(Fault::Negative)
    } else {
        None
    }
}

/// Where an entry is: a 0-based (row, column) of the stored matrix, or a 1-based line and
/// character column of a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pos {
    /// Row and column of the matrix as stored, 0-based.
    Cell(usize, usize),
    /// Line and column of a text file, 1-based.
    Text(usize, usize),
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pos::Cell(i, j) => write!(f, "row {i}, column {j}"),
            Pos::Text(l, c) => write!(f, "line {l}, column {c}"),
        }
    }
}

/// Counts of bad entries and the first position of each kind.
#[derive(Debug, Default)]
pub(crate) struct BadEntries {
    rules: ValueRules,
    negative: (usize, Option<(Pos, f64)>),
    nan: (usize, Option<Pos>),
    infinite: (usize, Option<Pos>),
}

impl BadEntries {
    /// An empty count under `rules`.
    pub fn new(rules: ValueRules) -> Self {
        BadEntries {
            rules,
            ..BadEntries::default()
        }
    }

    /// Counts `v` if it is bad; `at` gives its position (called only for the first of a kind).
    #[inline]
    pub fn note(&mut self, v: f64, at: impl FnOnce() -> Pos) {
        match fault(v, self.rules) {
            None => {}
            Some(Fault::Negative) => {
                self.negative.0 += 1;
                if self.negative.1.is_none() {
                    self.negative.1 = Some((at(), v));
                }
            }
            Some(Fault::Nan) => {
                self.nan.0 += 1;
                self.nan.1.get_or_insert_with(at);
            }
            Some(Fault::Infinite) => {
                self.infinite.0 += 1;
                self.infinite.1.get_or_insert_with(at);
            }
        }
    }

    /// Counts every bad entry of `x`; positions are those of the stored matrix, which is `x`'s
    /// transpose when `transposed`.
    pub fn scan(&mut self, x: &Matrix, transposed: bool) {
        let pos = |i: usize, j: usize| if transposed { Pos::Cell(j, i) } else { Pos::Cell(i, j) };
        match x {
            Matrix::Dense(a) => {
                for ((i, j), &v) in a.indexed_iter() {
                    self.note(v, || pos(i, j));
                }
            }
            Matrix::Sparse(c) => {
                for i in 0..c.dim().0 {
                    let (cols, vals) = c.row(i);
                    for (&j, &v) in cols.iter().zip(vals) {
                        self.note(v, || pos(i, j as usize));
                    }
                }
            }
        }
    }

    /// Describes every bad entry counted, or None when there is none.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        let text = [self.negative.1.map(|(p, _)| p), self.nan.1, self.infinite.1]
            .iter()
            .any(|p| matches!(p, Some(Pos::Text(..))));
        let at = |p: Option<Pos>| p.map_or(String::new(), |p| p.to_string());
        if self.negative.0 > 0 {
            let (p, v) = self.negative.1.map_or((None, 0.0), |(p, v)| (Some(p), v));
            parts.push(format!(
                "{} negative entries (first at {}: {v}); NMF needs non-negative data: shift or clip it before fitting",
                self.negative.0,
                at(p),
            ));
        }
        if self.nan.0 > 0 {
            let first = at(self.nan.1);
            parts.push(if text {
                format!(
                    "{} missing or NaN entries (NaN, NA or an empty field; first at {first}); remove or impute them, or set [data] missing = \"nan\" to leave them out of the fits",
                    self.nan.0
                )
            } else {
                format!("{} NaN entries (first at {first}); remove or impute them, or set [data] missing = \"nan\" to leave them out of the fits", self.nan.0)
            });
        }
        if self.infinite.0 > 0 {
            parts.push(format!(
                "{} infinite entries (first at {}); remove or cap them",
                self.infinite.0,
                at(self.infinite.1)
            ));
        }
        if parts.is_empty() {
            return None;
        }
        let joined = parts.join("; ");
        Some(if text {
            joined
        } else {
            format!("{joined} (0-based positions in the stored dataset)")
        })
    }
}

/// A matrix as a reader hands it over: already in X's orientation (observations as rows), with
/// what the provenance and the names need.
#[derive(Debug)]
pub(crate) struct Read {
    /// X: the stored matrix, or its transpose when `transposed`.
    pub x: Matrix,
    /// Whether X is the transpose of the stored matrix.
    pub transposed: bool,
    /// Shape as stored (before any transpose).
    pub stored_shape: [usize; 2],
    /// Element type as stored.
    pub dtype: String,
    /// Path inside the file ("" for text formats).
    pub dataset: String,
    /// Format label for the provenance ("hdf5 dense", "h5ad csr", "10x", "mtx", "csv", ...).
    pub format: String,
    /// Names of X's rows, if the file holds them.
    pub obs_names: Option<Vec<String>>,
    /// Names of X's columns, if the file holds them.
    pub var_names: Option<Vec<String>>,
    /// The reader has already checked every value (text readers do, to give line and column).
    pub values_checked: bool,
    /// The volume geometry of NIfTI input.
    pub volumes: Option<Box<super::Volumes>>,
}

/// The error of `path` (and `dataset`, unless empty: text formats have none).
pub(crate) fn data_error(path: &Path, dataset: &str, message: String) -> Error {
    if dataset.is_empty() {
        Error::DataFile {
            path: path.to_path_buf(),
            message,
        }
    } else {
        Error::Data {
            path: path.to_path_buf(),
            dataset: dataset.to_string(),
            message,
        }
    }
}

/// The checks common to every format (not empty, no bad value, some positive entry), then the
/// provenance with the checksum of X.
pub(crate) fn finish(path: &Path, r: Read, rules: ValueRules) -> Result<Dataset> {
    let err = |message: String| data_error(path, &r.dataset, message);
    let [rows, cols] = r.stored_shape;
    if rows == 0 || cols == 0 {
        return Err(err(format!("is empty (shape {rows} x {cols})")));
    }
    if !r.values_checked {
        let mut bad = BadEntries::new(rules);
        bad.scan(&r.x, r.transposed);
        if let Some(bad) = bad.describe() {
            return Err(err(format!("has {bad}")));
        }
    }
    let positive = match &r.x {
        Matrix::Dense(a) => a.iter().any(|&v| v > 0.0),
        Matrix::Sparse(c) => c.data().iter().any(|&v| v > 0.0),
    };
    if !positive {
        // Missing entries, and entries held (a sparse matrix's others are zeros).
        let (missing, held) = match &r.x {
            Matrix::Dense(a) => (a.iter().filter(|v| v.is_nan()).count(), a.len()),
            Matrix::Sparse(c) => (c.data().iter().filter(|v| v.is_nan()).count(), c.data().len()),
        };
        return Err(err(if missing == 0 {
            "has no positive entry: all entries are zero, there is nothing to factorize".into()
        } else if missing == held && held == rows * cols {
            format!(
                "has no observed entry: all {missing} entries are missing (NaN, left out under [data] missing = \
                 \"nan\"), there is nothing to factorize; check that [data] names the right file and dataset"
            )
        } else {
            format!(
                "has no positive observed entry: {missing} entries are missing (NaN) and all the others are zero, \
                 there is nothing to factorize"
            )
        }));
    }
    let (n, p) = r.x.dim();
    for (names, len, what) in [(&r.obs_names, n, "observations"), (&r.var_names, p, "features")] {
        if let Some(names) = names.as_ref().filter(|v| v.len() != len) {
            return Err(err(format!(
                "the file gives {} names of {what}, but X has {len} {what}",
                names.len()
            )));
        }
    }
    let provenance = Provenance {
        path: path.to_path_buf(),
        dataset: r.dataset,
        format: r.format,
        stored_shape: r.stored_shape,
        dtype: r.dtype,
        transposed: r.transposed,
        sha256: r.x.checksum(),
    };
    Ok(Dataset {
        facts: super::Facts::of(&r.x),
        x: r.x,
        provenance,
        obs_names: r.obs_names,
        var_names: r.var_names,
        volumes: r.volumes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::Csr;
    use ndarray::array;

    #[test]
    fn one_rule_decides_every_value() {
        let strict = ValueRules::default();
        let lenient = ValueRules { missing_allowed: true };
        assert_eq!(fault(0.0, strict), None);
        assert_eq!(fault(3.5, strict), None);
        assert_eq!(fault(-0.1, strict), Some(Fault::Negative));
        assert_eq!(fault(f64::NAN, strict), Some(Fault::Nan));
        assert_eq!(fault(f64::NAN, lenient), None);
        assert_eq!(fault(f64::NEG_INFINITY, lenient), Some(Fault::Infinite));
    }

    #[test]
    fn sparse_positions_are_in_stored_coordinates() {
        let x = array![[0.0, 1.0, 0.0], [0.0, 0.0, -2.0]];
        let c = Matrix::Sparse(Csr::from_dense(x.view()));
        let mut b = BadEntries::new(ValueRules::default());
        b.scan(&c, false);
        assert_eq!(
            b.describe().unwrap(),
            "1 negative entries (first at row 1, column 2: -2); NMF needs non-negative data: shift or clip it \
             before fitting (0-based positions in the stored dataset)"
        );
        let mut b = BadEntries::new(ValueRules::default());
        b.scan(&c, true);
        assert!(b.describe().unwrap().contains("first at row 2, column 1: -2"));
    }

    #[test]
    fn text_positions_are_lines_and_columns() {
        let mut b = BadEntries::new(ValueRules::default());
        b.note(f64::NAN, || Pos::Text(3, 7));
        b.note(f64::NAN, || Pos::Text(4, 1));
        b.note(1.0, || Pos::Text(5, 1));
        assert_eq!(
            b.describe().unwrap(),
            "2 missing or NaN entries (NaN, NA or an empty field; first at line 3, column 7); remove or impute them, or set [data] missing = \"nan\" to leave them out of the fits"
        );
    }
}
