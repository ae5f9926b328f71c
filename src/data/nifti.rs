//! NIfTI-1 input (`[data] format = "nifti"`, detected from `.nii` / `.nii.gz`): brain volumes as
//! rows of X, the voxels of a mask as its columns.
//!
//! `[data] path` names one 4-D file (its 4th axis are the observations, e.g. subjects), one 3-D
//! file (one observation), or a glob pattern (`"vols/*.nii.gz"`) matching 3-D (or 4-D) files,
//! read in sorted order, one observation per volume, named by file stem. Every file must share
//! the first file's grid and affine (sform, else qform, else pixdim; NIfTI-1 standard,
//! <https://nifti.nimh.nih.gov/nifti-1>).
//!
//! The features are the voxels of `[data] voxel_mask`: a 3-D NIfTI mask on the same grid
//! (non-zero voxels), or `"nonzero"` (the default): the voxels that are non-zero in some volume.
//! Voxels outside the mask are never held: each volume is read on its own (a 4-D file volume by
//! volume, through the `nifti` crate's streamed reader), its in-mask values copied into X, and
//! the volume dropped; with `"nonzero"`, a first pass over the files finds the voxels. The
//! stored values are scaled by `scl_slope` / `scl_inter` (when the slope is not 0) before any
//! check; NaN is a missing value where `[data] missing = "nan"`.
//!
//! X is N volumes x p in-mask voxels, or with `transpose = true` p voxels x N volumes (each voxel
//! an observation: W's rows are then a soft parcellation). The geometry the outputs need to put
//! values back into volumes is kept in [`Volumes`].

use super::check::{self, Read, ValueRules, fault};
use super::{DataSpec, Format, Matrix};
use crate::error::{Error, Result};
use ndarray::Array2;
use nifti::{InMemNiftiVolume, IntoNdArray, NiftiHeader, NiftiObject, NiftiType};
use std::path::{Path, PathBuf};

/// Largest difference between two affines' entries (mm) for them to count as the same grid
/// (float32 header fields written by different tools differ in the last bits).
const AFFINE_TOLERANCE: f64 = 1e-4;

/// Where the voxel features come from (`[data] voxel_mask`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoxelMask {
    /// The voxels non-zero (and not NaN) in at least one volume.
    Nonzero,
    /// A 3-D NIfTI file on the data's grid: its non-zero (not NaN) voxels.
    File(PathBuf),
}

/// The geometry of NIfTI input, for putting per-voxel values back into volumes.
#[derive(Debug, Clone)]
pub struct Volumes {
    /// Voxels along x, y, z.
    pub grid: [usize; 3],
    /// The linear index (x fastest, as NIfTI stores voxels: i + nx (j + ny k)) of each in-mask
    /// voxel, in the order of X's columns (of X's rows when `voxels_are_rows`).
    pub voxels: Vec<usize>,
    /// Voxels are X's observations (`transpose = true`), volumes its features.
    pub voxels_are_rows: bool,
    /// Header of the first file: affine, units and orientation for the output volumes.
    pub header: NiftiHeader,
    /// The voxel mask used.
    pub mask: VoxelMask,
    /// Mean over the volumes of each in-mask voxel (missing values left out), for figures.
    pub mean: Vec<f64>,
    /// Voxel size in mm (pixdim 1..3).
    pub voxel_size: [f64; 3],
}

impl Volumes {
    /// What the voxel features are, for the run's summary ("12345 voxels of 24 x 28 x 24, non-zero
    /// in some volume").
    pub fn describe(&self) -> String {
        let [x, y, z] = self.grid;
        let from = match &self.mask {
            VoxelMask::Nonzero => "non-zero in some volume ([data] voxel_mask = \"nonzero\")".to_string(),
            VoxelMask::File(p) => format!("in the mask {}", p.display()),
        };
        format!("{} voxels of the {x} x {y} x {z} grid, {from}", self.voxels.len())
    }

    /// The voxel (i, j, k) of a linear index.
    pub fn ijk(&self, linear: usize) -> [usize; 3] {
        let [nx, ny, _] = self.grid;
        [linear % nx, (linear / nx) % ny, linear / (nx * ny)]
    }

    /// A whole volume (x fastest, `grid` voxels) with `values` (one per in-mask voxel) at the
    /// mask's voxels and `outside` elsewhere.
    pub fn scatter(&self, values: impl IntoIterator<Item = f64>, outside: f64) -> Vec<f64> {
        let [x, y, z] = self.grid;
        let mut v = vec![outside; x * y * z];
        for (&at, value) in self.voxels.iter().zip(values) {
            v[at] = value;
        }
        v
    }
}

/// Whether `path` names NIfTI input by its name: `.nii` or `.nii.gz` (a glob pattern included).
pub(crate) fn names_nifti(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    name.ends_with(".nii") || name.ends_with(".nii.gz")
}

/// Whether `[data]` with `format` and `path` is NIfTI input: format "nifti", or "auto" with a
/// .nii / .nii.gz path.
pub fn is_nifti(format: Format, path: &Path) -> bool {
    format == Format::Nifti || (format == Format::Auto && names_nifti(path))
}

/// Whether `path` is a glob pattern rather than one file.
fn is_pattern(path: &Path) -> bool {
    path.to_str().is_some_and(|s| s.contains(['*', '?', '[']))
}

/// One input file: its path, header and the number of volumes it holds.
struct Source {
    path: PathBuf,
    header: NiftiHeader,
    volumes: usize,
}

/// The error of one NIfTI file.
fn file_err(path: &Path, message: String) -> Error {
    Error::DataFile {
        path: path.to_path_buf(),
        message,
    }
}

/// Reads the NIfTI input of `spec` (see the module documentation) and returns X with its
/// geometry; every value is checked here, with the file and voxel of the first bad one.
pub(crate) fn read(spec: &DataSpec, _format: Format, rules: ValueRules) -> Result<Read> {
    let sources = sources(spec)?;
    let first = &sources[0];
    let grid = grid_of(&first.path, &first.header)?;
    let affine = affine_of(&first.path, &first.header)?;
    for s in &sources[1..] {
        same_grid(s, grid, &affine, first)?;
    }
    let n_vox = grid[0] * grid[1] * grid[2];
    let n: usize = sources.iter().map(|s| s.volumes).sum();
    let mask = spec.voxel_mask.clone().unwrap_or(VoxelMask::Nonzero);
    let in_mask: Vec<bool> = match &mask {
        VoxelMask::File(path) => read_mask(spec, path, grid, &affine, first)?,
        VoxelMask::Nonzero => {
            let mut any = vec![false; n_vox];
            each_volume(spec, &sources, |_, _, v| {
                for (a, &x) in any.iter_mut().zip(v) {
                    *a |= x != 0.0 && !x.is_nan();
                }
                Ok(())
            })?;
            if !any.iter().any(|&a| a) {
                return Err(file_err(
                    &spec.path,
                    format!(
                        "every voxel of the {n} volumes is zero (or NaN): there is nothing to factorize; check [data] path"
                    ),
                ));
            }
            any
        }
    };
    let voxels: Vec<usize> = (0..n_vox).filter(|&i| in_mask[i]).collect();
    let p = voxels.len();
    let need = (n as u64).saturating_mul(p as u64).saturating_mul(8);
    super::check_declared(spec, &format!("the {n} volumes' {p} in-mask voxels"), need)
        .map_err(|m| file_err(&spec.path, m))?;
    let (rows, cols) = if spec.transpose { (p, n) } else { (n, p) };
    let mut x = Array2::<f64>::zeros((rows, cols));
    let mut bad = Bad::default();
    let (mut sum, mut count) = (vec![0.0; p], vec![0u32; p]);
    each_volume(spec, &sources, |obs, (file, _), v| {
        for (c, &at) in voxels.iter().enumerate() {
            let value = v[at];
            if let Some(f) = fault(value, rules) {
                bad.note(f, value, || (file.to_path_buf(), at));
            } else if !value.is_nan() {
                sum[c] += value;
                count[c] += 1;
            }
            if spec.transpose {
                x[[c, obs]] = value;
            } else {
                x[[obs, c]] = value;
            }
        }
        Ok(())
    })?;
    let header = first.header.clone();
    let volumes = Volumes {
        grid,
        voxels,
        voxels_are_rows: spec.transpose,
        voxel_size: [1, 2, 3].map(|d| f64::from(header.pixdim[d].abs())),
        header,
        mask,
        mean: sum
            .iter()
            .zip(&count)
            .map(|(s, &c)| if c > 0 { s / f64::from(c) } else { 0.0 })
            .collect(),
    };
    if let Some(message) = bad.describe(&volumes) {
        return Err(file_err(&spec.path, message));
    }
    let (volume_names, voxel_names) = (observation_names(&sources), voxel_names(&volumes));
    let (obs_names, var_names) = if spec.transpose {
        (voxel_names, volume_names)
    } else {
        (volume_names, voxel_names)
    };
    let read = Read {
        x: Matrix::Dense(x),
        transposed: spec.transpose,
        stored_shape: [n, p],
        dtype: dtypes(&sources),
        dataset: String::new(),
        format: if sources.len() == 1 && sources[0].volumes > 1 {
            "nifti 4-D".to_string()
        } else {
            format!("nifti {} file(s)", sources.len())
        },
        obs_names: Some(obs_names),
        var_names: Some(var_names),
        values_checked: true,
        volumes: Some(Box::new(volumes)),
    };
    Ok(read)
}

/// The files of `[data] path` (one file, or a glob's matches in sorted order), with their headers.
fn sources(spec: &DataSpec) -> Result<Vec<Source>> {
    // A path that names an existing file is that file, even with `[` or `*` in its name.
    let paths = if is_pattern(&spec.path) && !spec.path.exists() {
        let pattern = spec.path.to_string_lossy();
        let matches = glob::glob(&pattern).map_err(|e| {
            file_err(
                &spec.path,
                format!("is not a valid glob pattern ({e}); [data] path is one NIfTI file or a pattern such as \"vols/*.nii.gz\""),
            )
        })?;
        let mut paths: Vec<PathBuf> = matches.filter_map(|m| m.ok()).filter(|p| p.is_file()).collect();
        paths.sort();
        if paths.is_empty() {
            return Err(file_err(
                &spec.path,
                "matches no file; check [data] path (a glob pattern, relative to the config file's folder)".into(),
            ));
        }
        paths
    } else {
        super::detect::check_path(&spec.path)?;
        super::detect::regular_file(&spec.path)?;
        if !spec.path.exists() {
            return Err(file_err(
                &spec.path,
                "file not found; check [data] path (relative paths start at the config file's folder)".into(),
            ));
        }
        vec![spec.path.clone()]
    };
    paths
        .into_iter()
        .map(|path| {
            super::detect::regular_file(&path)?;
            let mut header = NiftiHeader::from_file(&path).map_err(|e| {
                file_err(
                    &path,
                    format!("cannot be read as a NIfTI-1 file: {e}; check that it is a .nii or .nii.gz image"),
                )
            })?;
            header.fix();
            let volumes = volumes_in(&path, &header)?;
            Ok(Source { path, header, volumes })
        })
        .collect()
}

/// The number of 3-D volumes in a file: 1 for a 3-D file, dim\[4\] for a 4-D file (a 5-D or
/// higher file only when its axes past the 4th have length 1).
fn volumes_in(path: &Path, h: &NiftiHeader) -> Result<usize> {
    let dim = h
        .dim()
        .map_err(|e| file_err(path, format!("has an invalid dim field {:?}: {e}", h.dim)))?;
    match dim.len() {
        3 => Ok(1),
        4 => Ok(usize::from(dim[3])),
        d if d > 4 && dim[4..].iter().all(|&k| k == 1) => Ok(usize::from(dim[3])),
        d if d > 4 => Err(file_err(
            path,
            format!(
                "is {d}-D (dim {dim:?}); nnmf-sweep reads 3-D volumes, or a 4-D file whose 4th axis holds the \
                 observations: split it into 3-D or 4-D files first"
            ),
        )),
        d => Err(file_err(
            path,
            format!(
                "is {d}-D (dim {dim:?}); nnmf-sweep reads 3-D volumes, or a 4-D file whose 4th axis holds the observations"
            ),
        )),
    }
}

/// The 3-D grid of a file.
fn grid_of(path: &Path, h: &NiftiHeader) -> Result<[usize; 3]> {
    let dim = h
        .dim()
        .map_err(|e| file_err(path, format!("has an invalid dim field: {e}")))?;
    if dim.len() < 3 {
        return Err(file_err(path, format!("is {}-D; a volume needs three axes", dim.len())));
    }
    Ok([usize::from(dim[0]), usize::from(dim[1]), usize::from(dim[2])])
}

/// The voxel-to-world affine (3 x 4, mm) of a header: sform when set, else qform, else pixdim.
fn affine_of(path: &Path, h: &NiftiHeader) -> Result<[[f64; 4]; 3]> {
    if h.sform_code == 0 && h.qform_code != 0 && h.pixdim[1..4].iter().any(|&d| d < 0.0) {
        return Err(file_err(
            path,
            format!(
                "has a qform with negative voxel sizes (pixdim {:?}); the header is invalid: fix it (e.g. with \
                 nibabel or fslorient)",
                &h.pixdim[1..4]
            ),
        ));
    }
    let m = h.affine::<f64>();
    Ok([0, 1, 2].map(|i| [0, 1, 2, 3].map(|j| m[(i, j)])))
}

/// Refuses a file whose grid or affine differs from the first file's.
fn same_grid(s: &Source, grid: [usize; 3], affine: &[[f64; 4]; 3], first: &Source) -> Result<()> {
    let g = grid_of(&s.path, &s.header)?;
    if g != grid {
        return Err(file_err(
            &s.path,
            format!(
                "has a grid of {} x {} x {} voxels, but {} has {} x {} x {}; every volume must be on one grid: \
                 resample them to a common space first",
                g[0],
                g[1],
                g[2],
                first.path.display(),
                grid[0],
                grid[1],
                grid[2]
            ),
        ));
    }
    let a = affine_of(&s.path, &s.header)?;
    if let Some(d) = affine_difference(&a, affine) {
        return Err(file_err(
            &s.path,
            format!(
                "has another affine (voxel-to-world transform) than {}: entries differ by up to {d:.3} mm; every \
                 volume must be in one space: resample or register them to a common space first",
                first.path.display()
            ),
        ));
    }
    Ok(())
}

/// The largest entry difference between two affines when above [`AFFINE_TOLERANCE`].
fn affine_difference(a: &[[f64; 4]; 3], b: &[[f64; 4]; 3]) -> Option<f64> {
    let d = a
        .iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    (d > AFFINE_TOLERANCE).then_some(d)
}

/// The in-mask flags of a mask file, checked against the data's grid and affine.
fn read_mask(
    spec: &DataSpec,
    path: &Path,
    grid: [usize; 3],
    affine: &[[f64; 4]; 3],
    first: &Source,
) -> Result<Vec<bool>> {
    let err = |message: String| file_err(path, format!("([data] voxel_mask) {message}"));
    if !path.exists() {
        return Err(err(
            "file not found; set voxel_mask to a 3-D NIfTI mask (relative to the config file's folder) or to \
             \"nonzero\""
                .into(),
        ));
    }
    super::detect::regular_file(path)?;
    let mut header = NiftiHeader::from_file(path).map_err(|e| err(format!("cannot be read as a NIfTI-1 file: {e}")))?;
    header.fix();
    if volumes_in(path, &header)? != 1 {
        return Err(err(format!(
            "holds {} volumes; a mask is one 3-D volume",
            volumes_in(path, &header)?
        )));
    }
    let g = grid_of(path, &header)?;
    if g != grid {
        return Err(err(format!(
            "is on a grid of {} x {} x {} voxels, but the data ({}) is on {} x {} x {}; use a mask in the data's \
             space (resample it with the data's reference image)",
            g[0],
            g[1],
            g[2],
            first.path.display(),
            grid[0],
            grid[1],
            grid[2]
        )));
    }
    if let Some(d) = affine_difference(&affine_of(path, &header)?, affine) {
        return Err(err(format!(
            "has another affine than the data ({}): entries differ by up to {d:.3} mm; use a mask in the data's \
             space",
            first.path.display()
        )));
    }
    let source = Source {
        path: path.to_path_buf(),
        header,
        volumes: 1,
    };
    let mut flags = Vec::new();
    each_volume(spec, std::slice::from_ref(&source), |_, _, v| {
        flags = v.iter().map(|&x| x != 0.0 && !x.is_nan()).collect();
        Ok(())
    })?;
    if !flags.iter().any(|&f| f) {
        return Err(err(
            "is empty (no non-zero voxel); give a mask with the voxels to use as features".into(),
        ));
    }
    Ok(flags)
}

/// Calls `f(observation, (file, volume in file), values)` for every volume of `sources` in
/// order, one volume in memory at a time (values scaled by scl_slope / scl_inter, x fastest).
fn each_volume(
    spec: &DataSpec,
    sources: &[Source],
    mut f: impl FnMut(usize, (&Path, usize), &[f64]) -> Result<()>,
) -> Result<()> {
    let mut obs = 0;
    for s in sources {
        let [x, y, z] = grid_of(&s.path, &s.header)?;
        let voxels = (x as u64) * (y as u64) * (z as u64);
        super::check_declared(
            spec,
            &format!("one volume of {x} x {y} x {z} voxels"),
            voxels.saturating_mul(16),
        )
        .map_err(|m| file_err(&s.path, m))?;
        check_type(s)?;
        let read_err = |e: nifti::NiftiError| {
            file_err(
                &s.path,
                format!("cannot be read: {e}; the file may be truncated or not a NIfTI-1 image"),
            )
        };
        if s.header.dim[0] == 3 {
            let obj = nifti::ReaderOptions::new()
                .fix_header(true)
                .read_file(&s.path)
                .map_err(read_err)?;
            let v = values(obj.into_volume()).map_err(read_err)?;
            f(obs, (&s.path, 0), &v)?;
            obs += 1;
        } else {
            let obj = nifti::ReaderStreamedOptions::new()
                .fix_header(true)
                .read_file_rank(&s.path, 3)
                .map_err(read_err)?;
            for (t, slice) in obj.into_volume().enumerate() {
                if t >= s.volumes {
                    break;
                }
                let v = values(slice.map_err(read_err)?).map_err(read_err)?;
                f(obs, (&s.path, t), &v)?;
                obs += 1;
            }
        }
    }
    Ok(())
}

/// The values of a 3-D volume in storage order (x fastest), scaled by its slope and intercept.
fn values(v: InMemNiftiVolume) -> nifti::Result<Vec<f64>> {
    let a = v.into_ndarray::<f64>()?;
    // `into_ndarray` returns the volume in its storage (Fortran) order.
    Ok(a.t().iter().copied().collect())
}

/// Refuses data types that are not numbers on one axis (complex, RGB) or that the reader cannot
/// convert (float128).
fn check_type(s: &Source) -> Result<()> {
    let t = s.header.data_type().map_err(|e| {
        file_err(
            &s.path,
            format!("has an unknown datatype code {}: {e}", s.header.datatype),
        )
    })?;
    match t {
        NiftiType::Uint8
        | NiftiType::Int8
        | NiftiType::Uint16
        | NiftiType::Int16
        | NiftiType::Uint32
        | NiftiType::Int32
        | NiftiType::Uint64
        | NiftiType::Int64
        | NiftiType::Float32
        | NiftiType::Float64 => Ok(()),
        other => Err(file_err(
            &s.path,
            format!(
                "stores {other:?} values; NMF reads real numbers: integer types, float32 or float64 (convert it, \
                 e.g. with nibabel or fslmaths -odt float)"
            ),
        )),
    }
}

/// The element types of the files, with their scaling ("int16 (scl_slope 0.5, scl_inter 0)").
fn dtypes(sources: &[Source]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for s in sources {
        let h = &s.header;
        let name = h
            .data_type()
            .map_or_else(|_| format!("code {}", h.datatype), |t| format!("{t:?}").to_lowercase());
        let text = if h.scl_slope != 0.0 && (h.scl_slope != 1.0 || h.scl_inter != 0.0) {
            format!("{name} (scl_slope {}, scl_inter {})", h.scl_slope, h.scl_inter)
        } else {
            name
        };
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    seen.join(", ")
}

/// The names of the volumes: file stems for 3-D files, `<stem>:<t>` for the volumes of a 4-D
/// file; the whole paths where stems repeat.
fn observation_names(sources: &[Source]) -> Vec<String> {
    let stem = |p: &Path| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("volume");
        let lower = name.to_ascii_lowercase();
        let cut = if lower.ends_with(".nii.gz") {
            7
        } else if lower.ends_with(".nii") {
            4
        } else {
            0
        };
        name[..name.len() - cut].to_string()
    };
    let mut stems: Vec<String> = sources.iter().map(|s| stem(&s.path)).collect();
    let mut sorted = stems.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() < stems.len() {
        stems = sources.iter().map(|s| s.path.display().to_string()).collect();
    }
    let mut names = Vec::new();
    for (s, name) in sources.iter().zip(stems) {
        if s.header.dim[0] == 3 {
            names.push(name);
        } else {
            names.extend((0..s.volumes).map(|t| format!("{name}:{t}")));
        }
    }
    names
}

/// The names of the in-mask voxels: `x<i>_y<j>_z<k>` (0-based voxel indices).
fn voxel_names(v: &Volumes) -> Vec<String> {
    v.voxels
        .iter()
        .map(|&at| {
            let [i, j, k] = v.ijk(at);
            format!("x{i}_y{j}_z{k}")
        })
        .collect()
}

/// Counts of bad values with the first of each kind (file and voxel).
#[derive(Default)]
struct Bad {
    negative: (usize, Option<(PathBuf, usize, f64)>),
    nan: (usize, Option<(PathBuf, usize)>),
    infinite: (usize, Option<(PathBuf, usize)>),
}

impl Bad {
    fn note(&mut self, f: check::Fault, v: f64, at: impl FnOnce() -> (PathBuf, usize)) {
        match f {
            check::Fault::Negative => {
                self.negative.0 += 1;
                if self.negative.1.is_none() {
                    let (p, i) = at();
                    self.negative.1 = Some((p, i, v));
                }
            }
            check::Fault::Nan => {
                self.nan.0 += 1;
                self.nan.1.get_or_insert_with(at);
            }
            check::Fault::Infinite => {
                self.infinite.0 += 1;
                self.infinite.1.get_or_insert_with(at);
            }
        }
    }

    fn describe(&self, v: &Volumes) -> Option<String> {
        let at = |p: &Path, i: usize| {
            let [a, b, c] = v.ijk(i);
            format!("{} at voxel [{a}, {b}, {c}]", p.display())
        };
        let mut parts = Vec::new();
        if let (k, Some((p, i, value))) = &self.negative {
            parts.push(format!(
                "{k} negative values in the masked voxels (first in {}: {value}); NMF needs non-negative data: use \
                 non-negative maps (e.g. tissue probabilities), or shift or clip them before fitting",
                at(p, *i)
            ));
        }
        if let (k, Some((p, i))) = &self.nan {
            parts.push(format!(
                "{k} NaN values in the masked voxels (first in {}); use a voxel_mask that leaves them out, or set \
                 [data] missing = \"nan\" to leave them out of the fits",
                at(p, *i)
            ));
        }
        if let (k, Some((p, i))) = &self.infinite {
            parts.push(format!(
                "{k} infinite values in the masked voxels (first in {}); remove or cap them",
                at(p, *i)
            ));
        }
        (!parts.is_empty()).then(|| format!("has {} (voxel indices 0-based)", parts.join("; ")))
    }
}
