//! The input matrix: reading it (HDF5 now), checking it before any product is computed, and the
//! handling of all-zero rows and columns.
//!
//! X is N x p with observations as rows; a file that stores observations as columns is read with
//! `transpose = true`.

mod hdf5_reader;
mod zero_lines;

pub use hdf5_reader::read_hdf5;
pub use zero_lines::ZeroLines;

use crate::sparse::Csr;
use ndarray::Array2;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Where the matrix came from: written with every result.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// The file.
    pub path: PathBuf,
    /// The dataset inside it.
    pub dataset: String,
    /// Its shape as stored (before any transpose).
    pub stored_shape: [usize; 2],
    /// Its element type as stored (e.g. "float64", "int32").
    pub dtype: String,
    /// Whether X is the transpose of the stored matrix.
    pub transposed: bool,
    /// SHA-256 of X (shape, then entries as little-endian f64, row-major), in hex.
    pub sha256: String,
}

/// X as read: dense, or sparse (CSR) when the file stores it sparse.
#[derive(Debug, Clone, PartialEq)]
pub enum Matrix {
    /// A dense N x p array.
    Dense(Array2<f64>),
    /// A CSR matrix (N x p); entries not stored are 0.
    Sparse(Csr),
}

impl Matrix {
    /// (N, p).
    pub fn dim(&self) -> (usize, usize) {
        match self {
            Matrix::Dense(x) => x.dim(),
            Matrix::Sparse(x) => x.dim(),
        }
    }

    /// The dense form (a copy for sparse input).
    pub fn to_dense(&self) -> Array2<f64> {
        match self {
            Matrix::Dense(x) => x.clone(),
            Matrix::Sparse(x) => x.to_dense(),
        }
    }

    /// SHA-256 of the matrix, in hex: [`checksum`] for dense X; for sparse X the same over the
    /// shape, then the row offsets, column indices and values (so a changed pattern shows too).
    pub fn checksum(&self) -> String {
        match self {
            Matrix::Dense(x) => checksum(x),
            Matrix::Sparse(x) => {
                let mut h = Sha256::new();
                let (n, p) = x.dim();
                h.update(b"csr");
                h.update((n as u64).to_le_bytes());
                h.update((p as u64).to_le_bytes());
                for &o in x.indptr() {
                    h.update((o as u64).to_le_bytes());
                }
                for &j in x.indices() {
                    h.update(j.to_le_bytes());
                }
                for v in x.data() {
                    h.update(v.to_le_bytes());
                }
                h.finalize().iter().map(|b| format!("{b:02x}")).collect()
            }
        }
    }
}

/// The checked input: non-negative, N x p with N, p ≥ 1 and at least one positive entry; finite
/// except for NaN entries that mark missing values (only where `[data] missing` or `mask` says so).
#[derive(Debug, Clone)]
pub struct Dataset {
    /// X (N x p), observations as rows.
    pub x: Matrix,
    /// Where it came from.
    pub provenance: Provenance,
    /// Names of the N observations (`[data] obs_names`).
    pub obs_names: Option<Vec<String>>,
    /// Names of the p features (`[data] var_names`).
    pub var_names: Option<Vec<String>>,
}

/// SHA-256 of a matrix's shape and entries (row-major, little-endian f64), in hex.
pub fn checksum(x: &Array2<f64>) -> String {
    let mut h = Sha256::new();
    h.update((x.nrows() as u64).to_le_bytes());
    h.update((x.ncols() as u64).to_le_bytes());
    for v in x.iter() {
        h.update(v.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Counts of bad entries and the first position (in stored coordinates) of each kind.
#[derive(Debug, Default)]
struct BadEntries {
    negative: (usize, Option<(usize, usize)>, f64),
    nan: (usize, Option<(usize, usize)>),
    infinite: (usize, Option<(usize, usize)>),
}

/// Describes every negative, NaN and infinite entry of `x` (stored orientation), or None.
pub(crate) fn describe_bad_entries(x: &Array2<f64>) -> Option<String> {
    let mut b = BadEntries::default();
    for ((i, j), &v) in x.indexed_iter() {
        if v.is_nan() {
            b.nan.0 += 1;
            b.nan.1.get_or_insert((i, j));
        } else if v.is_infinite() {
            b.infinite.0 += 1;
            b.infinite.1.get_or_insert((i, j));
        } else if v < 0.0 {
            b.negative.0 += 1;
            if b.negative.1.is_none() {
                b.negative = (b.negative.0, Some((i, j)), v);
            }
        }
    }
    let mut parts = Vec::new();
    let at = |p: Option<(usize, usize)>| p.map_or(String::new(), |(i, j)| format!("row {i}, column {j}"));
    if b.negative.0 > 0 {
        parts.push(format!(
            "{} negative entries (first at {}: {}); NMF needs non-negative data: shift or clip it before fitting",
            b.negative.0,
            at(b.negative.1),
            b.negative.2
        ));
    }
    if b.nan.0 > 0 {
        parts.push(format!(
            "{} NaN entries (first at {}); remove or impute them",
            b.nan.0,
            at(b.nan.1)
        ));
    }
    if b.infinite.0 > 0 {
        parts.push(format!(
            "{} infinite entries (first at {}); remove or cap them",
            b.infinite.0,
            at(b.infinite.1)
        ));
    }
    (!parts.is_empty()).then(|| format!("{} (0-based positions in the stored dataset)", parts.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn bad_entries_are_counted_with_first_position() {
        let x = array![[1.0, -2.0, f64::NAN], [-0.5, f64::INFINITY, f64::NAN]];
        assert_eq!(
            describe_bad_entries(&x).unwrap(),
            "2 negative entries (first at row 0, column 1: -2); NMF needs non-negative data: shift or clip it before fitting; \
             2 NaN entries (first at row 0, column 2); remove or impute them; \
             1 infinite entries (first at row 1, column 1); remove or cap them (0-based positions in the stored dataset)"
        );
        assert!(describe_bad_entries(&array![[0.0, 1.0]]).is_none());
    }

    #[test]
    fn checksum_depends_on_shape_and_values() {
        let a = array![[1.0, 2.0, 3.0, 4.0]];
        let b = array![[1.0, 2.0], [3.0, 4.0]];
        assert_ne!(checksum(&a), checksum(&b));
        assert_eq!(checksum(&a), checksum(&a.clone()));
        assert_eq!(checksum(&a).len(), 64);
    }
}
