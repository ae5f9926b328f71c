//! Reading a 2-D numeric dataset from an HDF5 file, with messages that say what the file holds.

use super::{Dataset, Provenance, checksum, describe_bad_entries};
use crate::config::DataSpec;
use crate::error::{Error, Result};
use hdf5::types::TypeDescriptor;

/// Reads and checks `spec`'s dataset: it must exist, be 2-D, numeric (any integer or float type),
/// non-empty, finite and non-negative, with at least one positive entry.
pub fn read_hdf5(spec: &DataSpec) -> Result<Dataset> {
    let path = &spec.path;
    let file_err = |message: String| Error::DataFile {
        path: path.clone(),
        message,
    };
    let data_err = |message: String| Error::Data {
        path: path.clone(),
        dataset: spec.dataset.clone(),
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
    let ds = match file.dataset(&spec.dataset) {
        Ok(ds) => ds,
        Err(_) => {
            let mut found = Vec::new();
            list_datasets(&file, "", &mut found);
            let what = if file.group(&spec.dataset).is_ok() {
                "is a group, not a dataset"
            } else {
                "no such dataset"
            };
            let listing = if found.is_empty() {
                "the file holds no datasets".to_string()
            } else {
                format!("the file holds: {}", found.join(", "))
            };
            return Err(data_err(format!(
                "{what}; {listing}; set [data] dataset to one of them"
            )));
        }
    };
    let shape = ds.shape();
    let dtype = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| data_err(format!("cannot read the element type: {e}")))?;
    if shape.len() != 2 {
        return Err(data_err(format!(
            "is {}-D (shape {}); a 2-D matrix is needed (observations x features, or set transpose = true)",
            shape.len(),
            shape_text(&shape)
        )));
    }
    if !matches!(
        dtype,
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Float(_)
    ) {
        return Err(data_err(format!(
            "has element type {dtype}; a numeric type (integer or float) is needed"
        )));
    }
    if shape[0] == 0 || shape[1] == 0 {
        return Err(data_err(format!("is empty (shape {} x {})", shape[0], shape[1])));
    }
    let stored = ds
        .read_2d::<f64>()
        .map_err(|e| data_err(format!("cannot read the values: {e}")))?;
    if let Some(bad) = describe_bad_entries(&stored) {
        return Err(data_err(format!("has {bad}")));
    }
    if stored.iter().all(|&v| v == 0.0) {
        return Err(data_err(
            "has no positive entry: all entries are zero, there is nothing to factorize".into(),
        ));
    }
    let x = if spec.transpose {
        stored.t().as_standard_layout().into_owned()
    } else {
        stored
    };
    let provenance = Provenance {
        path: path.clone(),
        dataset: spec.dataset.clone(),
        stored_shape: [shape[0], shape[1]],
        dtype: dtype.to_string(),
        transposed: spec.transpose,
        sha256: checksum(&x),
    };
    let (n, p) = x.dim();
    let obs_names = spec
        .obs_names
        .as_deref()
        .map(|d| read_names(&file, d, n, "obs_names", "observations"))
        .transpose();
    let var_names = spec
        .var_names
        .as_deref()
        .map(|d| read_names(&file, d, p, "var_names", "features"))
        .transpose();
    let names_err = |message: String| Error::DataFile {
        path: path.clone(),
        message,
    };
    Ok(Dataset {
        x: super::Matrix::Dense(x),
        provenance,
        obs_names: obs_names.map_err(names_err)?,
        var_names: var_names.map_err(names_err)?,
    })
}

/// Reads a 1-D dataset of `len` names: variable-length strings (h5py's default), or integers.
fn read_names(
    file: &hdf5::File,
    name: &str,
    len: usize,
    key: &str,
    what: &str,
) -> std::result::Result<Vec<String>, String> {
    use hdf5::types::{VarLenAscii, VarLenUnicode};
    let ds = file
        .dataset(name)
        .map_err(|_| format!("dataset \"{name}\" ([data] {key}) not found"))?;
    if ds.ndim() != 1 || ds.shape()[0] != len {
        return Err(format!(
            "dataset \"{name}\" ([data] {key}) has shape {}; it must list the {len} {what}",
            shape_text(&ds.shape())
        ));
    }
    let names: Option<Vec<String>> = ds
        .read_raw::<VarLenUnicode>()
        .map(|v| v.iter().map(|s| s.as_str().to_string()).collect())
        .or_else(|_| {
            ds.read_raw::<VarLenAscii>()
                .map(|v| v.iter().map(|s| s.as_str().to_string()).collect())
        })
        .or_else(|_| ds.read_raw::<i64>().map(|v| v.iter().map(|i| i.to_string()).collect()))
        .ok();
    names.ok_or_else(|| {
        format!("dataset \"{name}\" ([data] {key}) is not readable as names: store variable-length strings or integers")
    })
}

/// "20", "20 x 15", "4 x 5 x 6"; "scalar" for a 0-D dataset.
fn shape_text(shape: &[usize]) -> String {
    if shape.is_empty() {
        return "scalar".into();
    }
    shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" x ")
}

/// Appends "path (shape, type)" of every dataset below `g`, depth first, in name order.
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
            list_datasets(&sub, &full, out);
        }
    }
}
