//! HDF5 input: a dense 2-D dataset, a CSR/CSC group (AnnData ≥ 0.7 attributes, h5sparse
//! attributes, or a 10x-style `shape` dataset), an AnnData .h5ad file (X or a layer, with the
//! names in obs and var), and a 10x Genomics feature-barcode file (Cell Ranger 3 or later). Every
//! message says what the file holds.
//!
//! With `format = "auto"` what the file holds decides: a `[data] dataset` that is a dataset is
//! dense, one that is a group is sparse (or 10x when it has `barcodes`); without `dataset`, an
//! AnnData file (root attribute `encoding-type = "anndata"`, or obs and var groups beside X or
//! layers) reads X or `layers/<layer>`, and a file with a `matrix` group is a 10x file.

use super::check::{self, Read, ValueRules};
use super::{Dataset, Format, Matrix};
use crate::data::DataSpec;
use crate::error::{Error, Result};
use crate::sparse::Csr;
use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};

/// A sparse group's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Compressed sparse rows: indptr has one entry more than the rows.
    Csr,
    /// Compressed sparse columns: indptr has one entry more than the columns.
    Csc,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Csr => "csr",
            Layout::Csc => "csc",
        }
    }
}

/// What the configured path inside the file points at.
enum Target {
    /// A 2-D dataset.
    Dense(hdf5::Dataset),
    /// A sparse group; the layout when the configured format imposes one.
    Sparse(hdf5::Group, Option<Layout>),
    /// A 10x Genomics `matrix` group.
    TenX(hdf5::Group),
}

/// Reads and checks the matrix of `spec` from its HDF5 file, as `format` says (`Format::Auto`:
/// detected from what the file holds).
pub(super) fn read(spec: &DataSpec, format: Format, rules: ValueRules) -> Result<Dataset> {
    let path = &spec.path;
    let file_err = |message: String| Error::DataFile {
        path: path.clone(),
        message,
    };
    if !path.exists() {
        return Err(file_err(
            "file not found; check [data] path (relative paths start at the config file's folder)".into(),
        ));
    }
    let file = hdf5::File::open(path).map_err(|e| {
        let e = e.to_string();
        if e.contains("unable to lock file") {
            file_err(format!(
                "cannot open: the file is locked ({e}); another program has it open for writing: wait for it \
                 or close it (on file systems without locks, set HDF5_USE_FILE_LOCKING=FALSE)"
            ))
        } else {
            file_err(format!("cannot open as an HDF5 file ({e}); is it an HDF5 file?"))
        }
    })?;
    let anndata = is_anndata(&file);
    let (dataset, target) = resolve(&file, spec, format, anndata)?;
    let data_err = |message: String| Error::Data {
        path: path.clone(),
        dataset: dataset.clone(),
        message,
    };
    let prefix = if format == Format::H5ad || (anndata && format == Format::Auto) {
        "h5ad"
    } else {
        "hdf5"
    };
    let mut read = match &target {
        Target::Dense(ds) => {
            declared_dense(ds, spec).map_err(data_err)?;
            let mut r = dense(ds, spec.transpose).map_err(data_err)?;
            r.format = format!("{prefix} dense");
            r
        }
        Target::Sparse(g, forced) => {
            declared_sparse(g, spec).map_err(data_err)?;
            let (x, stored_shape, dtype, layout) = sparse(g, *forced, spec.transpose).map_err(data_err)?;
            read_of(
                x,
                spec.transpose,
                stored_shape,
                dtype,
                format!("{prefix} {}", layout.name()),
            )
        }
        Target::TenX(g) => {
            for member in ["data", "indices", "indptr", "shape", "barcodes"] {
                if !g.link_exists(member) {
                    return Err(data_err(format!(
                        "has no \"{member}\"; a 10x feature-barcode matrix group (Cell Ranger 3 or later) holds \
                         data, indices, indptr, shape, barcodes and features"
                    )));
                }
            }
            declared_sparse(g, spec).map_err(data_err)?;
            // Stored as features x barcodes (CSC): cells become rows unless transpose = true.
            let (x, stored_shape, dtype, _) = sparse(g, Some(Layout::Csc), !spec.transpose).map_err(data_err)?;
            read_of(x, !spec.transpose, stored_shape, dtype, "10x".into())
        }
    };
    read.dataset = dataset.clone();
    if prefix == "h5ad" && !matches!(target, Target::TenX(_)) {
        // The names belong to X and the layers; a matrix elsewhere (obsm, ...) gets those that fit.
        let own = dataset == "X" || dataset.starts_with("layers/");
        let [rows, cols] = read.stored_shape;
        let index = |group: &str, len: usize| -> Result<Option<Vec<String>>> {
            let names = dataframe_index(&file, group).map_err(|(ds, message)| Error::Data {
                path: path.clone(),
                dataset: ds,
                message,
            })?;
            Ok(names.filter(|n| own || n.len() == len))
        };
        let (obs, var) = (index("obs", rows)?, index("var", cols)?);
        (read.obs_names, read.var_names) = if read.transposed { (var, obs) } else { (obs, var) };
    }
    if let Target::TenX(g) = &target {
        let names = |name: &str| -> Result<Option<Vec<String>>> {
            match g.dataset(name) {
                Err(_) => Ok(None),
                Ok(ds) => strings(&ds).map(Some).map_err(|message| Error::Data {
                    path: path.clone(),
                    dataset: format!("{dataset}/{name}"),
                    message,
                }),
            }
        };
        let barcodes = names("barcodes")?;
        let mut features = None;
        for candidate in ["features/name", "features/id", "gene_names", "genes"] {
            features = names(candidate)?;
            if features.is_some() {
                break;
            }
        }
        (read.obs_names, read.var_names) = if read.transposed {
            (barcodes, features)
        } else {
            (features, barcodes)
        };
    }
    let (n, p) = read.x.dim();
    if let Some(d) = spec.obs_names.as_deref() {
        read.obs_names = Some(read_names(&file, d, n, "obs_names", "observations").map_err(file_err)?);
    }
    if let Some(d) = spec.var_names.as_deref() {
        read.var_names = Some(read_names(&file, d, p, "var_names", "features").map_err(file_err)?);
    }
    check::finish(path, read, rules)
}

/// Checks the memory a dense dataset's declared shape needs (read as f64, its transpose, the
/// all-zero line search) against `spec`'s limit, before it is read: a chunked dataset may declare
/// a shape far larger than its file (unwritten chunks take no space).
fn declared_dense(ds: &hdf5::Dataset, spec: &DataSpec) -> std::result::Result<(), String> {
    use crate::limits::bytes;
    let shape = ds.shape();
    let [rows, cols] = shape[..] else {
        return Ok(()); // not 2-D: `dense` says so
    };
    let copies = if spec.transpose { 2 } else { 1 };
    let need = bytes(&[rows as u64, cols as u64, 8, copies]).saturating_add(bytes(&[rows as u64 + cols as u64, 24]));
    super::check_declared(spec, &format!("its declared shape {rows} x {cols}"), need)
}

/// Checks the memory a sparse group's members need, from their declared lengths and the declared
/// shape (values and indices as read and converted, the offsets, the CSR form and its transpose,
/// the all-zero line search), against `spec`'s limit, before they are read. Members that are
/// missing or unreadable are left to `sparse`'s messages.
fn declared_sparse(g: &hdf5::Group, spec: &DataSpec) -> std::result::Result<(), String> {
    use crate::limits::bytes;
    let len = |name: &str| g.dataset(name).map_or(0, |d| d.size() as u64);
    let (nnz, ptr) = (len("data").max(len("indices")), len("indptr"));
    let [rows, cols] = group_shape(g).unwrap_or([0, 0]);
    let lines = rows as u64 + cols as u64 + 2;
    let need = bytes(&[nnz, 8 + 8 + 4 + 12])
        .saturating_add(bytes(&[ptr, 16]))
        .saturating_add(bytes(&[lines, 8 + 24]));
    super::check_declared(
        spec,
        &format!("the sparse matrix ({rows} x {cols}, {nnz} stored entries declared)"),
        need,
    )
}

/// A [`Read`] of matrix `x` without names yet.
fn read_of(x: Matrix, transposed: bool, stored_shape: [usize; 2], dtype: String, format: String) -> Read {
    Read {
        x,
        transposed,
        stored_shape,
        dtype,
        dataset: String::new(),
        format,
        obs_names: None,
        var_names: None,
        values_checked: false,
        volumes: None,
    }
}

/// An AnnData file: root attribute `encoding-type = "anndata"`, or obs and var groups beside X or
/// layers (files written before anndata 0.8 carry no attribute).
fn is_anndata(file: &hdf5::File) -> bool {
    attr_string(file, "encoding-type").is_some_and(|t| t == "anndata")
        || (file.group("obs").is_ok()
            && file.group("var").is_ok()
            && (file.link_exists("X") || file.group("layers").is_ok()))
}

/// The path inside the file and what it points at, for `spec` read as `format`.
fn resolve(file: &hdf5::File, spec: &DataSpec, format: Format, anndata: bool) -> Result<(String, Target)> {
    let path = &spec.path;
    let data_err = |dataset: &str, message: String| Error::Data {
        path: path.clone(),
        dataset: dataset.to_string(),
        message,
    };
    let given = (!spec.dataset.is_empty()).then_some(spec.dataset.as_str());
    let forced = match format {
        Format::Csr => Some(Layout::Csr),
        Format::Csc => Some(Layout::Csc),
        _ => None,
    };
    let h5ad = |layer: Option<&str>| -> Result<(String, Target)> {
        let (name, what) = match layer {
            Some(l) => (format!("layers/{l}"), "no such layer"),
            None => ("X".to_string(), "the file has no X"),
        };
        if !file.link_exists(&name) {
            let layers = file.group("layers").and_then(|g| g.member_names()).unwrap_or_default();
            let listing = if layers.is_empty() {
                "the file has no layers".to_string()
            } else {
                format!("the file's layers: {}", layers.join(", "))
            };
            let fix = if layer.is_some() {
                "set [data] layer to one of them, or leave layer out to read X"
            } else {
                "set [data] layer to read one of them"
            };
            return Err(data_err(&name, format!("{what}; {listing}; {fix}")));
        }
        Ok((name.clone(), object(file, spec, &name, None, false)?))
    };
    match format {
        Format::H5ad => match given {
            Some(d) => Ok((d.to_string(), object(file, spec, d, None, false)?)),
            None => h5ad(spec.layer.as_deref()),
        },
        Format::TenX => {
            let name = given.unwrap_or("matrix");
            match file.group(name) {
                Ok(g) => Ok((name.to_string(), Target::TenX(g))),
                Err(_) => Err(data_err(
                    name,
                    format!(
                        "no such group; a 10x feature-barcode file (Cell Ranger 3 or later) holds a \"matrix\" \
                         group; {}",
                        listing(file)
                    ),
                )),
            }
        }
        Format::Auto if given.is_none() => {
            if spec.layer.is_some() && !anndata {
                return Err(Error::DataFile {
                    path: path.clone(),
                    message: "[data] layer names a layer of an AnnData file, and this HDF5 file is not one (no \
                              encoding-type \"anndata\" attribute, no obs and var groups); remove layer, or set \
                              [data] dataset"
                        .into(),
                });
            }
            if anndata {
                h5ad(spec.layer.as_deref())
            } else if let Ok(g) = file.group("matrix") {
                Ok(("matrix".into(), Target::TenX(g)))
            } else {
                Err(Error::DataFile {
                    path: path.clone(),
                    message: format!(
                        "[data] dataset is needed: this HDF5 file is neither an AnnData file (encoding-type \
                         \"anndata\") nor a 10x feature-barcode file (a \"matrix\" group); {}; set [data] \
                         dataset to one of them",
                        listing(file)
                    ),
                })
            }
        }
        _ => {
            // Hdf5, Csr, Csc (dataset required by the config), and Auto with a dataset.
            let d = given.unwrap_or("X");
            Ok((d.to_string(), object(file, spec, d, forced, format == Format::Auto)?))
        }
    }
}

/// What `name` is: a dataset (dense), a 10x group (when `tenx` and it holds barcodes) or a sparse
/// group; anything else is an error listing what the file holds.
fn object(file: &hdf5::File, spec: &DataSpec, name: &str, forced: Option<Layout>, tenx: bool) -> Result<Target> {
    let data_err = |message: String| Error::Data {
        path: spec.path.clone(),
        dataset: name.to_string(),
        message,
    };
    if let Ok(ds) = file.dataset(name) {
        if let Some(l) = forced {
            return Err(data_err(format!(
                "is a dataset; format \"{}\" reads a group holding data, indices, indptr and the shape (use format \
                 = \"hdf5\" or \"auto\" for a dense dataset)",
                l.name()
            )));
        }
        return Ok(Target::Dense(ds));
    }
    let what = match file.group(name) {
        Ok(g) if tenx && g.link_exists("barcodes") => return Ok(Target::TenX(g)),
        Ok(g) if forced.is_some() || is_sparse_group(&g) => return Ok(Target::Sparse(g, forced)),
        Ok(_) => "is a group, not a dataset",
        Err(_) => "no such dataset",
    };
    Err(data_err(format!(
        "{what}; {}; set [data] dataset to one of them",
        listing(file)
    )))
}

/// "the file holds: ..." (datasets and sparse groups), or "the file holds no datasets".
fn listing(file: &hdf5::File) -> String {
    let mut found = Vec::new();
    list_datasets(file, "", &mut found);
    if found.is_empty() {
        "the file holds no datasets".to_string()
    } else {
        format!("the file holds: {}", found.join(", "))
    }
}

/// A group that stores a sparse matrix: a sparse encoding attribute, or data/indices/indptr.
fn is_sparse_group(g: &hdf5::Group) -> bool {
    declared_layout(g).is_some_and(|l| l.is_ok()) || ["data", "indices", "indptr"].iter().any(|m| g.link_exists(m))
}

/// The layout a group's attributes declare: AnnData's `encoding-type` (csr_matrix, csc_matrix)
/// or h5sparse's `h5sparse_format` (csr, csc); Err with the value when it names no sparse layout.
fn declared_layout(g: &hdf5::Group) -> Option<std::result::Result<Layout, String>> {
    let (attr, value) = ["encoding-type", "h5sparse_format"]
        .iter()
        .find_map(|a| attr_string(g, a).map(|v| (*a, v)))?;
    Some(match value.as_str() {
        "csr_matrix" | "csr" => Ok(Layout::Csr),
        "csc_matrix" | "csc" => Ok(Layout::Csc),
        _ => Err(format!("{attr} \"{value}\"")),
    })
}

/// Reads a dense 2-D numeric dataset; X is its transpose when `transpose`.
fn dense(ds: &hdf5::Dataset, transpose: bool) -> std::result::Result<Read, String> {
    let shape = ds.shape();
    let dtype = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| format!("cannot read the element type: {e}"))?;
    if shape.len() != 2 {
        return Err(format!(
            "is {}-D (shape {}); a 2-D matrix is needed (observations x features, or set transpose = true)",
            shape.len(),
            shape_text(&shape)
        ));
    }
    if !is_numeric(&dtype) {
        return Err(format!(
            "has element type {dtype}; a numeric type (integer or float) is needed"
        ));
    }
    if shape[0] == 0 || shape[1] == 0 {
        return Err(format!("is empty (shape {} x {})", shape[0], shape[1]));
    }
    let stored = ds
        .read_2d::<f64>()
        .map_err(|e| format!("cannot read the values: {e}"))?;
    let x = if transpose {
        stored.t().as_standard_layout().into_owned()
    } else {
        stored
    };
    Ok(read_of(
        Matrix::Dense(x),
        transpose,
        [shape[0], shape[1]],
        dtype.to_string(),
        "hdf5 dense".into(),
    ))
}

fn is_numeric(t: &TypeDescriptor) -> bool {
    matches!(
        t,
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Float(_)
    )
}

/// A 1-D member dataset of a sparse group, checked to be integer (`integer`) or numeric.
fn member(g: &hdf5::Group, name: &str, integer: bool) -> std::result::Result<hdf5::Dataset, String> {
    let ds = g.dataset(name).map_err(|_| {
        format!("has no \"{name}\" dataset; a sparse group holds data, indices and indptr (and the shape)")
    })?;
    let t = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| format!("cannot read the element type of \"{name}\": {e}"))?;
    let ok = if integer {
        matches!(t, TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_))
    } else {
        is_numeric(&t)
    };
    if !ok {
        let want = if integer { "an integer" } else { "a numeric" };
        return Err(format!("\"{name}\" has element type {t}; {want} type is needed"));
    }
    if ds.ndim() != 1 {
        return Err(format!(
            "\"{name}\" has shape {}; it must be 1-D",
            shape_text(&ds.shape())
        ));
    }
    Ok(ds)
}

/// The stored shape of a sparse group: its `shape` attribute (AnnData), `h5sparse_shape`
/// attribute, or `shape` dataset (10x), two non-negative integers.
fn group_shape(g: &hdf5::Group) -> std::result::Result<[usize; 2], String> {
    let values = if let Ok(a) = g.attr("shape") {
        a.read_raw::<i64>()
    } else if let Ok(a) = g.attr("h5sparse_shape") {
        a.read_raw::<i64>()
    } else if let Ok(d) = g.dataset("shape") {
        d.read_raw::<i64>()
    } else {
        return Err(
            "has no shape; store it as a \"shape\" attribute of the group (AnnData) or a \"shape\" dataset \
             (10x), two integers: rows, columns"
                .into(),
        );
    }
    .map_err(|e| format!("cannot read the shape: {e}"))?;
    match values[..] {
        [r, c] if r >= 0 && c >= 0 => Ok([r as usize, c as usize]),
        _ => Err(format!(
            "has shape {values:?}; the shape must be two non-negative integers (rows, columns)"
        )),
    }
}

/// Reads a sparse group as X (the stored matrix, or its transpose when `transpose`): the stored
/// shape, the values' type and the layout come with it. `forced`: the layout the format imposes.
fn sparse(
    g: &hdf5::Group,
    forced: Option<Layout>,
    transpose: bool,
) -> std::result::Result<(Matrix, [usize; 2], String, Layout), String> {
    let declared = declared_layout(g).transpose().map_err(|v| {
        format!("has {v}; a sparse group is csr_matrix or csc_matrix (set [data] format = \"csr\" or \"csc\")")
    })?;
    if let (Some(f), Some(d)) = (forced, declared)
        && f != d
    {
        return Err(format!(
            "is declared {} by its attributes, but [data] format says \"{}\"; set format = \"{}\" (or \"auto\")",
            d.name(),
            f.name(),
            d.name()
        ));
    }
    let data = member(g, "data", false)?;
    let indices = member(g, "indices", true)?;
    let indptr = member(g, "indptr", true)?;
    let [n, p] = group_shape(g)?;
    let layout = match forced.or(declared) {
        Some(l) => l,
        None => {
            let len = indptr.shape()[0];
            match (len == n + 1, len == p + 1) {
                (true, false) => Layout::Csr,
                (false, true) => Layout::Csc,
                (true, true) => {
                    return Err(format!(
                        "cannot tell whether the group is CSR or CSC: it has no encoding-type attribute and its \
                         shape is square ({n} x {p}); set [data] format = \"csr\" or \"csc\""
                    ));
                }
                (false, false) => {
                    return Err(format!(
                        "indptr has {len} entries; for the shape {n} x {p} a CSR group needs {} and a CSC group {}",
                        n + 1,
                        p + 1
                    ));
                }
            }
        }
    };
    let dtype = data
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_or("?".to_string(), |t| t.to_string());
    let values = data
        .read_raw::<f64>()
        .map_err(|e| format!("cannot read \"data\": {e}"))?;
    let idx = indices
        .read_raw::<i64>()
        .map_err(|e| format!("cannot read \"indices\": {e}"))?;
    let ptr = indptr
        .read_raw::<i64>()
        .map_err(|e| format!("cannot read \"indptr\": {e}"))?;
    let (lines, others, what, other) = match layout {
        Layout::Csr => (n, p, "row", "column"),
        Layout::Csc => (p, n, "column", "row"),
    };
    let idx = idx
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            u32::try_from(v).map_err(|_| {
                if v < 0 {
                    format!("indices holds {v} at position {k}; indices are 0-based {other} numbers, never negative")
                } else {
                    format!(
                        "index {v} at position {k} is out of range: the shape has {others} {other}s (indices 0 to {})",
                        others.saturating_sub(1)
                    )
                }
            })
        })
        .collect::<std::result::Result<Vec<u32>, String>>()?;
    let ptr = ptr
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            usize::try_from(v).map_err(|_| format!("indptr holds {v} at position {k}; offsets are never negative"))
        })
        .collect::<std::result::Result<Vec<usize>, String>>()?;
    // A CSC group is the CSR form of the stored matrix's transpose.
    let lines_csr = Csr::from_parts((lines, others), ptr, idx, values, what)?;
    let x = match (layout, transpose) {
        (Layout::Csr, false) | (Layout::Csc, true) => lines_csr,
        (Layout::Csr, true) | (Layout::Csc, false) => lines_csr.transpose(),
    };
    Ok((Matrix::Sparse(x), [n, p], dtype, layout))
}

/// The index of an AnnData dataframe group (obs or var): the column named by its `_index`
/// attribute (default "_index"). None when the group or column is missing (files written before
/// anndata 0.7 stored dataframes as compound datasets); Err with the dataset and the message when
/// the column is not readable as names.
fn dataframe_index(file: &hdf5::File, group: &str) -> std::result::Result<Option<Vec<String>>, (String, String)> {
    let Ok(g) = file.group(group) else {
        return Ok(None);
    };
    let column = attr_string(&g, "_index").unwrap_or_else(|| "_index".into());
    let Ok(ds) = g.dataset(&column) else {
        return Ok(None);
    };
    strings(&ds).map(Some).map_err(|m| (format!("{group}/{column}"), m))
}

/// A scalar string attribute (variable-length or fixed, ASCII or UTF-8), if there is one.
fn attr_string(loc: &hdf5::Location, name: &str) -> Option<String> {
    let a = loc.attr(name).ok()?;
    match a.dtype().and_then(|t| t.to_descriptor()).ok()? {
        TypeDescriptor::VarLenUnicode => a.read_scalar::<VarLenUnicode>().ok().map(|s| s.as_str().to_string()),
        TypeDescriptor::VarLenAscii => a.read_scalar::<VarLenAscii>().ok().map(|s| s.as_str().to_string()),
        TypeDescriptor::FixedAscii(_) => a
            .read_raw::<FixedAscii<256>>()
            .ok()?
            .first()
            .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned()),
        TypeDescriptor::FixedUnicode(_) => a
            .read_raw::<FixedUnicode<256>>()
            .ok()?
            .first()
            .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

/// Fixed-length strings of at most `N` bytes, read through HDF5's string conversion.
fn fixed<const N: usize>(ds: &hdf5::Dataset, unicode: bool) -> hdf5::Result<Vec<String>> {
    Ok(if unicode {
        ds.read_raw::<FixedUnicode<N>>()?
            .iter()
            .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
            .collect()
    } else {
        ds.read_raw::<FixedAscii<N>>()?
            .iter()
            .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
            .collect()
    })
}

/// The names in a 1-D dataset: strings (variable-length as h5py and anndata write them, or
/// fixed-length as 10x files store them) or integers.
fn strings(ds: &hdf5::Dataset) -> std::result::Result<Vec<String>, String> {
    if ds.ndim() != 1 {
        return Err(format!("has shape {}; names must be 1-D", shape_text(&ds.shape())));
    }
    let t = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| format!("cannot read the element type: {e}"))?;
    let names = match t {
        TypeDescriptor::VarLenUnicode => ds
            .read_raw::<VarLenUnicode>()
            .map(|v| v.iter().map(|s| s.as_str().to_string()).collect()),
        TypeDescriptor::VarLenAscii => ds
            .read_raw::<VarLenAscii>()
            .map(|v| v.iter().map(|s| s.as_str().to_string()).collect()),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) => {
            let u = matches!(t, TypeDescriptor::FixedUnicode(_));
            match n {
                0..=16 => fixed::<16>(ds, u),
                17..=64 => fixed::<64>(ds, u),
                65..=256 => fixed::<256>(ds, u),
                257..=1024 => fixed::<1024>(ds, u),
                _ => {
                    return Err(format!(
                        "holds strings of {n} bytes; names of at most 1024 bytes are supported"
                    ));
                }
            }
        }
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => {
            ds.read_raw::<i64>().map(|v| v.iter().map(|i| i.to_string()).collect())
        }
        other => return Err(format!("has element type {other}; names are strings or integers")),
    };
    names.map_err(|e| format!("cannot read the names: {e}"))
}

/// Reads the config-named 1-D dataset of `len` names.
fn read_names(
    file: &hdf5::File,
    name: &str,
    len: usize,
    key: &str,
    what: &str,
) -> std::result::Result<Vec<String>, String> {
    let ds = file
        .dataset(name)
        .map_err(|_| format!("dataset \"{name}\" ([data] {key}) not found"))?;
    if ds.ndim() != 1 || ds.shape()[0] != len {
        return Err(format!(
            "dataset \"{name}\" ([data] {key}) has shape {}; it must list the {len} {what}",
            shape_text(&ds.shape())
        ));
    }
    strings(&ds)
        .map_err(|_| format!("dataset \"{name}\" ([data] {key}) is not readable as names: store strings or integers"))
}

/// "20", "20 x 15", "4 x 5 x 6"; "scalar" for a 0-D dataset.
fn shape_text(shape: &[usize]) -> String {
    if shape.is_empty() {
        return "scalar".into();
    }
    shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" x ")
}

/// Appends "path (shape, type)" of every dataset below `g`, depth first, in name order; a sparse
/// group is listed as one entry ("path (sparse csr group, 3 x 4)") without its members.
fn list_datasets(g: &hdf5::Group, prefix: &str, out: &mut Vec<String>) {
    for name in g.member_names().unwrap_or_default() {
        let full = format!("{prefix}/{name}");
        if let Ok(ds) = g.dataset(&name) {
            let ty = ds
                .dtype()
                .and_then(|t| t.to_descriptor())
                .map_or("?".to_string(), |t| t.to_string());
            out.push(format!("{full} ({}, {ty})", shape_text(&ds.shape())));
        } else if let Ok(sub) = g.group(&name) {
            match declared_layout(&sub) {
                Some(Ok(l)) => {
                    let shape = group_shape(&sub).map_or(String::new(), |[r, c]| format!(", {r} x {c}"));
                    out.push(format!("{full} (sparse {} group{shape})", l.name()));
                }
                _ => list_datasets(&sub, &full, out),
            }
        }
    }
}
