//! The input matrix: reading it in any of the supported formats ([`read`]: HDF5 dense datasets and
//! CSR/CSC groups, AnnData .h5ad, 10x Genomics HDF5, Matrix Market, CSV/TSV), checking it before
//! any product is computed, and the handling of all-zero rows and columns.
//!
//! X is N x p with observations as rows; a file that stores observations as columns is read with
//! `transpose = true` (a 10x file stores cells as columns, and is read with cells as rows unless
//! `transpose = true`).

mod catalogue;
mod check;
mod delimited;
mod detect;
mod hdf5_reader;
mod mtx;
mod nifti;
mod spec;
mod text;
mod zero_lines;

pub use catalogue::{AlignedReference, Catalogue, MIN_FEATURES_FOUND, read_catalogue};
pub use nifti::{Volumes, VoxelMask, is_nifti};
pub use zero_lines::ZeroLines;

use crate::error::{Error, Result};
use crate::sparse::Csr;
use check::ValueRules;
use ndarray::Array2;
use sha2::{Digest, Sha256};
pub use spec::{DataSpec, ImageShape};
use std::path::PathBuf;

/// The input file's format (`[data] format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Detected from the file: HDF5 by its signature (then AnnData, 10x, a sparse group or a
    /// dense dataset by what it holds), Matrix Market by its header, CSV/TSV by the extension.
    Auto,
    /// An HDF5 file: a 2-D dataset, or a CSR/CSC group told apart by its attributes or shape.
    Hdf5,
    /// An HDF5 group in compressed sparse row layout (data, indices, indptr, shape).
    Csr,
    /// An HDF5 group in compressed sparse column layout (data, indices, indptr, shape).
    Csc,
    /// An AnnData file: X (or a layer), with observation and feature names from obs and var.
    H5ad,
    /// A 10x Genomics feature-barcode matrix (HDF5, Cell Ranger 3 or later): cells become rows.
    TenX,
    /// A Matrix Market coordinate (or array) file.
    Mtx,
    /// Comma-separated numbers, with an optional header row and column of row names.
    Csv,
    /// Tab-separated numbers, with an optional header row and column of row names.
    Tsv,
    /// NIfTI-1 volumes (`.nii`, `.nii.gz`): one 4-D file or a glob of 3-D files; the voxels of
    /// `[data] voxel_mask` are the features.
    Nifti,
}

/// How a format's files are read.
#[derive(Clone, Copy)]
pub(crate) enum Reader {
    /// An HDF5 file, read by `hdf5_reader`, which finds the matrix by what the file holds.
    /// `needs_dataset`: the matrix must be named by `[data] dataset`.
    Hdf5 {
        /// Whether `[data] dataset` is required.
        needs_dataset: bool,
    },
    /// A file that is one matrix (no datasets, layers or name datasets inside), read by its own
    /// reader.
    File {
        /// Reads and checks the file of the spec.
        read: fn(&DataSpec, Format, ValueRules) -> Result<check::Read>,
        /// What such a file is, for messages ("a CSV file").
        what: &'static str,
        /// Where its names come from, for messages.
        names: &'static str,
    },
}

/// A format as the program knows it: its config name, how `auto` recognizes it, how it is read.
/// A new format is a reader file plus a variant of [`Format`] and its entry in [`FORMATS`].
pub(crate) struct FormatInfo {
    /// The format.
    pub(crate) format: Format,
    /// Its name in the config (`[data] format`).
    pub(crate) name: &'static str,
    /// File extensions (lower case, no dot) that `auto` reads as this format.
    pub(crate) extensions: &'static [&'static str],
    /// Whether a file's first bytes (up to 16) show this format, for `auto`.
    pub(crate) signature: Option<fn(&[u8]) -> bool>,
    /// How it is read.
    pub(crate) reader: Reader,
}

/// The entry of a format recognized by no extension or signature of its own.
const fn info(format: Format, name: &'static str, reader: Reader) -> FormatInfo {
    FormatInfo {
        format,
        name,
        extensions: &[],
        signature: None,
        reader,
    }
}

/// Every format, `auto` first.
pub(crate) const FORMATS: [FormatInfo; 10] = {
    const HDF5: Reader = Reader::Hdf5 { needs_dataset: true };
    const FOUND: Reader = Reader::Hdf5 { needs_dataset: false };
    const TABLE_NAMES: &str = "names come from its header row and first column";
    [
        info(Format::Auto, "auto", FOUND),
        info(Format::Hdf5, "hdf5", HDF5),
        info(Format::Csr, "csr", HDF5),
        info(Format::Csc, "csc", HDF5),
        info(Format::H5ad, "h5ad", FOUND),
        info(Format::TenX, "10x", FOUND),
        FormatInfo {
            extensions: &["mtx"],
            signature: Some(|head| head.len() >= 14 && head[..14].eq_ignore_ascii_case(b"%%MatrixMarket")),
            ..info(
                Format::Mtx,
                "mtx",
                Reader::File {
                    read: mtx::read,
                    what: "a Matrix Market file",
                    names: "a Matrix Market file holds no names",
                },
            )
        },
        FormatInfo {
            extensions: &["csv"],
            ..info(
                Format::Csv,
                "csv",
                Reader::File {
                    read: delimited::read,
                    what: "a CSV file",
                    names: TABLE_NAMES,
                },
            )
        },
        FormatInfo {
            extensions: &["tsv", "tab"],
            ..info(
                Format::Tsv,
                "tsv",
                Reader::File {
                    read: delimited::read,
                    what: "a TSV file",
                    names: TABLE_NAMES,
                },
            )
        },
        FormatInfo {
            extensions: &["nii", "nii.gz"],
            ..info(
                Format::Nifti,
                "nifti",
                Reader::File {
                    read: nifti::read,
                    what: "NIfTI input",
                    names: "volumes are named by file stem and voxels by position",
                },
            )
        },
    ]
};

impl Format {
    /// Every format with its config name (from [`FORMATS`]).
    pub const ALL: [(&'static str, Format); FORMATS.len()] = {
        let mut all = [("", Format::Auto); FORMATS.len()];
        let mut i = 0;
        while i < FORMATS.len() {
            all[i] = (FORMATS[i].name, FORMATS[i].format);
            i += 1;
        }
        all
    };

    /// What the program knows of the format.
    pub(crate) fn info(self) -> &'static FormatInfo {
        FORMATS
            .iter()
            .find(|f| f.format == self)
            .expect("every format has its entry in FORMATS")
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// A file that is one matrix, without datasets, layers or name datasets inside (Matrix Market,
    /// CSV, TSV), read by a reader of its own.
    pub fn is_single_matrix(self) -> bool {
        matches!(self.info().reader, Reader::File { .. })
    }

    /// An HDF5 format whose matrix must be named by `[data] dataset`.
    pub fn needs_dataset(self) -> bool {
        matches!(self.info().reader, Reader::Hdf5 { needs_dataset: true })
    }
}

/// Reads `spec`'s matrix in its format (detected when `auto`), and runs every check on it: shape,
/// type, finite and non-negative values (NaN is an error until missing values are enabled), some
/// positive entry, the names' lengths. Errors name the file and the dataset, or the line and column.
pub fn read(spec: &DataSpec) -> Result<Dataset> {
    let mut d = read_values(spec)?;
    if let Some(mask) = &spec.mask {
        apply_mask(spec, mask, &mut d)?;
        d.facts = Facts::of(&d.x);
    }
    Ok(d)
}

/// The matrix of `spec` as stored, checked (NaN allowed as missing where the config says so).
fn read_values(spec: &DataSpec) -> Result<Dataset> {
    let rules = ValueRules {
        missing_allowed: spec.nan_is_missing || spec.mask.is_some(),
    };
    detect::check_path(&spec.path)?;
    // Before anything opens it: opening a FIFO for reading blocks, and a device never ends.
    detect::regular_file(&spec.path)?;
    let format = match spec.format {
        Format::Auto => detect::sniff(&spec.path)?,
        f => f,
    };
    let read = match format.info().reader {
        Reader::File { read, .. } => {
            detect::check_text_spec(spec, format)?;
            read(spec, format, rules)?
        }
        Reader::Hdf5 { .. } => return hdf5_reader::read(spec, format, rules),
    };
    check::finish(&spec.path, read, rules)
}

/// A matrix handed over in memory (the Python package's numpy, SciPy and AnnData input), as one
/// observation per row: N x p, dense or CSR, with `dtype` the element type it had and `label`
/// standing for it in messages and the provenance (e.g. "numpy array"). It gets every check
/// [`read`] gives a file (shape, NaN only when `missing_allowed`, no negative or infinite entry,
/// some positive entry, the names' lengths) and the same checksum.
pub fn from_memory(
    label: &str,
    x: Matrix,
    dtype: &str,
    obs_names: Option<Vec<String>>,
    var_names: Option<Vec<String>>,
    missing_allowed: bool,
) -> Result<Dataset> {
    let (n, p) = x.dim();
    let format = match &x {
        Matrix::Dense(_) => "memory dense",
        Matrix::Sparse(_) => "memory csr",
    };
    let read = check::Read {
        x,
        transposed: false,
        stored_shape: [n, p],
        dtype: dtype.to_string(),
        dataset: String::new(),
        format: format.to_string(),
        obs_names,
        var_names,
        values_checked: false,
        volumes: None,
    };
    check::finish(std::path::Path::new(label), read, ValueRules { missing_allowed })
}

/// Refuses to read a matrix of `what` (e.g. "the dataset's declared shape 10 x 10") that needs
/// `need` bytes in memory when that is above `spec`'s memory limit; the message names the limit
/// and the key that sets it.
pub(crate) fn check_declared(spec: &DataSpec, what: &str, need: u64) -> std::result::Result<(), String> {
    if need <= spec.memory_limit() {
        return Ok(());
    }
    Err(format!(
        "{what} needs about {} MiB in memory to read, above the memory limit of {}; check the file, or use a \
         machine with more memory and raise [run] memory_limit_mb",
        crate::limits::mib(need),
        spec.memory_limit_text()
    ))
}

/// Reads a text-format matrix (`Format::Mtx`, `Format::Csv` or `Format::Tsv`) from `reader` with
/// the same parser and checks as [`read`] gives a file of that format; `path` stands for the
/// text in error messages and the provenance. X is the stored matrix's transpose when
/// `transpose`; NaN entries are missing values when `missing_allowed`, else an error.
pub fn read_text<R: std::io::BufRead>(
    reader: R,
    path: &std::path::Path,
    format: Format,
    transpose: bool,
    missing_allowed: bool,
) -> Result<Dataset> {
    let rules = ValueRules { missing_allowed };
    let read = match format {
        Format::Mtx => mtx::read_from(reader, path, transpose, rules)?,
        Format::Csv | Format::Tsv => delimited::read_from(reader, path, format, transpose, rules)?,
        f => {
            return Err(Error::DataFile {
                path: path.to_path_buf(),
                message: format!(
                    "format \"{}\" is not a text format; read_text reads \"mtx\", \"csv\" or \"tsv\"",
                    f.name()
                ),
            });
        }
    };
    check::finish(path, read, rules)
}

/// Marks the entries where the dense dataset `mask` (same stored shape as the matrix) is 0 as
/// missing (NaN), then re-checks that an observed positive entry is left.
fn apply_mask(spec: &DataSpec, mask: &str, d: &mut Dataset) -> Result<()> {
    let err = |message: String| Error::Data {
        path: spec.path.clone(),
        dataset: mask.to_string(),
        message: format!("([data] mask) {message}"),
    };
    let Matrix::Dense(x) = &mut d.x else {
        return Err(err(
            "a mask needs a dense matrix; for sparse data, store NaN at the missing entries and set \
             [data] missing = \"nan\""
                .into(),
        ));
    };
    let file = hdf5::File::open(&spec.path).map_err(|e| err(format!("cannot open the file: {e}")))?;
    let ds = file
        .dataset(mask)
        .map_err(|_| err("no such dataset; name a dataset of the matrix's shape (0 = missing)".into()))?;
    let stored = d.provenance.stored_shape;
    if ds.shape() != stored {
        return Err(err(format!(
            "has shape {:?}, but the matrix is stored as {} x {}; the mask must have the stored shape",
            ds.shape(),
            stored[0],
            stored[1]
        )));
    }
    let m = ds
        .read_2d::<f64>()
        .or_else(|_| ds.read_2d::<u8>().map(|m| m.mapv(f64::from)))
        .or_else(|_| ds.read_2d::<bool>().map(|m| m.mapv(|b| if b { 1.0 } else { 0.0 })))
        .map_err(|e| {
            err(format!(
                "cannot be read as numbers or booleans ({e}); store 0/1 or true/false"
            ))
        })?;
    let not_binary = m.iter().filter(|&&v| v != 0.0 && v != 1.0).count();
    if let Some(((i, j), v)) = m.indexed_iter().find(|(_, v)| **v != 0.0 && **v != 1.0) {
        return Err(err(format!(
            "has {not_binary} entries that are neither 0 nor 1 (first at row {i}, column {j}: {v}; 0-based, as \
             stored); a mask holds 0 (missing) or 1 (observed), or booleans: round or threshold it"
        )));
    }
    let m = if spec.transpose { m.reversed_axes() } else { m };
    ndarray::Zip::from(&mut *x).and(&m).for_each(|v, &k| {
        if k == 0.0 {
            *v = f64::NAN;
        }
    });
    if !x.iter().any(|&v| v > 0.0) {
        return Err(err(
            "leaves no observed positive entry: there is nothing to factorize".into()
        ));
    }
    d.provenance.sha256 = checksum(x);
    Ok(())
}

/// Where the matrix came from: written with every result.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// The file.
    pub path: PathBuf,
    /// The dataset (or sparse group) inside it; empty for text formats.
    pub dataset: String,
    /// How it was read: "hdf5 dense", "hdf5 csr", "hdf5 csc", "h5ad dense", "h5ad csr",
    /// "h5ad csc", "10x", "mtx", "csv" or "tsv".
    pub format: String,
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
    /// X (N x p), observations as rows. The sweep moves it out into its fit matrices (so X is
    /// held once); what the reports need of it is kept in `facts`.
    pub x: Matrix,
    /// Shape, storage and missing values of X.
    pub facts: Facts,
    /// Where it came from.
    pub provenance: Provenance,
    /// Names of the N observations (`[data] obs_names`).
    pub obs_names: Option<Vec<String>>,
    /// Names of the p features (`[data] var_names`).
    pub var_names: Option<Vec<String>>,
    /// The volume geometry of NIfTI input (`format = "nifti"`): where each voxel feature (or
    /// observation, transposed) lies, for the output volumes.
    pub volumes: Option<Box<Volumes>>,
}

/// What the reports need to know of X once X itself has moved into the fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// N and p.
    pub shape: (usize, usize),
    /// Whether X is held sparse.
    pub sparse: bool,
    /// Missing (NaN) entries.
    pub missing: usize,
    /// Every value that is not 0 or NaN lies in [1e-15, 1e15]: `precision = "auto"` fits in
    /// f32 (see [`crate::nmf::Precision::Auto`]).
    pub f32_safe: bool,
}

impl Facts {
    /// The facts of `x`.
    pub fn of(x: &Matrix) -> Facts {
        let values: &mut dyn Iterator<Item = &f64> = match x {
            Matrix::Dense(d) => &mut d.iter(),
            Matrix::Sparse(c) => &mut c.data().iter(),
        };
        let (mut missing, mut f32_safe) = (0, true);
        for &v in values {
            if v.is_nan() {
                missing += 1;
            } else if v != 0.0 && !(1e-15..=1e15).contains(&v.abs()) {
                f32_safe = false;
            }
        }
        Facts {
            shape: x.dim(),
            sparse: matches!(x, Matrix::Sparse(_)),
            missing,
            f32_safe,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn bad(x: &Array2<f64>) -> Option<String> {
        let mut b = check::BadEntries::new(ValueRules::default());
        b.scan(&Matrix::Dense(x.clone()), false);
        b.describe()
    }

    #[test]
    fn bad_entries_are_counted_with_first_position() {
        let x = array![[1.0, -2.0, f64::NAN], [-0.5, f64::INFINITY, f64::NAN]];
        assert_eq!(
            bad(&x).unwrap(),
            "2 negative entries (first at row 0, column 1: -2); NMF needs non-negative data: shift or clip it before fitting; \
             2 NaN entries (first at row 0, column 2); remove or impute them, or set [data] missing = \"nan\" to leave them out of the fits; \
             1 infinite entries (first at row 1, column 1); remove or cap them (0-based positions in the stored dataset)"
        );
        assert!(bad(&array![[0.0, 1.0]]).is_none());
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

#[cfg(test)]
mod facts_tests {
    use super::*;
    use crate::nmf::Precision;

    /// `precision = "auto"` runs in f32 only when every nonzero value lies in [1e-15, 1e15]:
    /// counts do, data scaled to 1e200 or to 1e-20 does not; NaN (missing) and 0 do not count.
    #[test]
    fn auto_precision_follows_the_range_of_the_data() {
        let counts = Matrix::Dense(ndarray::array![[0.0, 3.0], [f64::NAN, 1e6]]);
        let huge = Matrix::Dense(ndarray::array![[0.0, 3.0], [1.0, 1e200]]);
        let tiny = Matrix::Sparse(crate::sparse::Csr::from_dense(
            ndarray::array![[0.0, 1e-20], [1.0, 0.0]].view(),
        ));
        let f = Facts::of(&counts);
        assert_eq!((f.missing, f.f32_safe), (1, true));
        assert_eq!(Precision::Auto.resolve(f.f32_safe), Precision::F32);
        for m in [huge, tiny] {
            let f = Facts::of(&m);
            assert!(!f.f32_safe);
            assert_eq!(Precision::Auto.resolve(f.f32_safe), Precision::F64);
        }
        assert_eq!(Precision::F32.resolve(false), Precision::F32);
        assert_eq!(Precision::F64.resolve(true), Precision::F64);
    }
}
