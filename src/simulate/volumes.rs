//! Planted spatial components in small 3-D volumes, written as NIfTI-1: the demo and test data
//! of brain-imaging input (`simulate --volumes DIR`).
//!
//! The grid (X x Y x Z voxels, isotropic voxels of `voxel_mm`) holds an ellipsoidal "brain"
//! mask. Each of the K planted components is a smooth non-negative map: a sum of [`BLOBS`]
//! isotropic Gaussians centred inside the mask, scaled to peak `mean`, cut to 0 below
//! [`TAIL_CUT`] of its peak, plus a floor of [`BASELINE`] · mean everywhere in the mask (as a
//! tissue map has some signal everywhere in the brain), and 0 outside the mask. Blobs of different components keep apart (their
//! centres at least about two blob widths apart), so every component sits in its own places.
//! Subject s has weights w_s (K): a dominant component (s mod K) with weight U(0.5, 1.5), the
//! others `mix` x U(0, 1). Its volume holds counts: Poisson(λ) at every voxel of the mask, with
//! λ = Σ_k w_sk · component_k (gamma–Poisson with `dispersion`, as for the planted matrix), 0
//! outside the mask, stored as float32 (whole numbers, exact up to 2^24). The floor is part of
//! each component (not a map of its own with the same weight in every subject), so the data's
//! non-negative rank is K.
//!
//! Every draw comes from [`crate::rng`] streams of the seed: the components from one stream
//! (they depend on the seed, grid and rank only), each subject's weights and noise from its own
//! stream (subject s is the same whatever the number of subjects).
//!
//! Array index [i, j, k] is voxel (x, y, z) as NIfTI stores it (x fastest on disk). The affine
//! (sform and qform, both code 1) is diagonal: voxel size on the diagonal, origin such that the
//! centre of the grid lies at (0, 0, 0) mm.

use crate::error::{Error, Result};
use ndarray::{Array2, Array3, Array4, ArrayViewD, Axis};
use nifti::NiftiHeader;
use nifti::writer::WriterOptions;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, Poisson};
use std::path::{Path, PathBuf};

/// Gaussians summed into one component.
pub const BLOBS: usize = 3;
/// The floor of every component inside the mask, as a fraction of `mean`.
pub const BASELINE: f64 = 0.05;
/// A component is set to 0 where it is below this fraction of its peak (so components have
/// bounded support rather than Gaussian tails everywhere).
pub const TAIL_CUT: f64 = 0.01;
/// Semi-axes of the ellipsoidal mask, as a fraction of the grid's side along each axis.
pub const MASK_SEMI_AXIS: f64 = 0.46;
/// The largest count stored: 2^24, the largest integer below which float32 holds every integer.
pub const MAX_F32_COUNT: f64 = 16_777_216.0;
/// The mask file written into the directory (uint8, 1 inside).
pub const MASK_FILE: &str = "mask.nii.gz";
/// The planted maps (4-D, K volumes, float32).
pub const COMPONENTS_FILE: &str = "truth_components.nii.gz";
/// The planted weights (subject x component, tab-separated, with a header row).
pub const WEIGHTS_FILE: &str = "truth_weights.tsv";
/// All subjects as one uncompressed 4-D file (S volumes along the 4th axis, float32).
pub const ALL_SUBJECTS_FILE: &str = "all_subjects.nii";

/// What to plant.
#[derive(Debug, Clone, Copy)]
pub struct Volumes {
    /// Voxels along x, y and z.
    pub grid: [usize; 3],
    /// Side of a (cubic) voxel in mm.
    pub voxel_mm: f64,
    /// S, subjects (one volume each).
    pub subjects: usize,
    /// K, planted components.
    pub rank: usize,
    /// Peak of a component's map (the counts' scale at weight 1).
    pub mean: f64,
    /// Weight of the minor memberships.
    pub mix: f64,
    /// Negative-binomial size k (None: Poisson counts).
    pub dispersion: Option<f64>,
    /// Seed.
    pub seed: u64,
}

/// The planted volumes and their truth.
#[derive(Debug, Clone)]
pub struct PlantedVolumes {
    /// 1 inside the ellipsoidal mask, 0 outside (X x Y x Z).
    pub mask: Array3<u8>,
    /// The planted maps, X x Y x Z x K; 0 outside the mask.
    pub components: Array4<f64>,
    /// Subject weights, S x K.
    pub weights: Array2<f64>,
    /// The floor of every component inside the mask ([`BASELINE`] · mean).
    pub baseline: f64,
    /// The subjects' counts, X x Y x Z x S; 0 outside the mask.
    pub data: Array4<f32>,
}

impl Volumes {
    /// The centre of the grid in voxel coordinates.
    fn centre(&self) -> [f64; 3] {
        self.grid.map(|n| (n as f64 - 1.0) / 2.0)
    }

    /// The 3 x 4 voxel-to-mm affine (rows of the sform): diagonal voxel size, the grid's centre
    /// at (0, 0, 0) mm.
    pub fn affine(&self) -> [[f64; 4]; 3] {
        let c = self.centre();
        let d = self.voxel_mm;
        [
            [d, 0.0, 0.0, -d * c[0]],
            [0.0, d, 0.0, -d * c[1]],
            [0.0, 0.0, d, -d * c[2]],
        ]
    }
}

/// Whether voxel `v` (voxel coordinates) lies inside the ellipsoid of semi-axes `scale` x
/// [`MASK_SEMI_AXIS`] x side, centred on the grid.
fn inside(v: &Volumes, p: [f64; 3], scale: f64) -> bool {
    let c = v.centre();
    (0..3)
        .map(|d| {
            let a = scale * MASK_SEMI_AXIS * v.grid[d] as f64;
            ((p[d] - c[d]) / a).powi(2)
        })
        .sum::<f64>()
        <= 1.0
}

/// The ellipsoidal mask: 1 inside, 0 outside.
pub fn mask(v: &Volumes) -> Array3<u8> {
    Array3::from_shape_fn((v.grid[0], v.grid[1], v.grid[2]), |(i, j, k)| {
        u8::from(inside(v, [i as f64, j as f64, k as f64], 1.0))
    })
}

/// One Gaussian blob: centre (voxels), width σ (voxels) and height.
#[derive(Debug, Clone, Copy)]
struct Blob {
    centre: [f64; 3],
    sigma: f64,
    height: f64,
}

/// The blobs of every component: centres uniform in the inner part of the mask (0.65 of its
/// semi-axes), blobs of different components at least two mean widths apart; the distance is
/// relaxed by 10% after every 200 rejected draws, so crowded grids still finish.
fn blobs(v: &Volumes, rng: &mut ChaCha8Rng) -> Vec<Vec<Blob>> {
    let side = v.grid.iter().copied().min().unwrap_or(1) as f64;
    let (lo, hi) = (0.08 * side, 0.13 * side);
    let mut min_dist = (lo + hi).max(1.0);
    let mut placed: Vec<(usize, [f64; 3])> = Vec::new();
    let mut out = Vec::with_capacity(v.rank);
    let mut rejected = 0usize;
    for k in 0..v.rank {
        let mut mine = Vec::with_capacity(BLOBS);
        while mine.len() < BLOBS {
            let p = v.grid.map(|n| rng.random::<f64>() * (n as f64 - 1.0));
            let far = placed
                .iter()
                .filter(|(o, _)| *o != k)
                .all(|(_, q)| (0..3).map(|d| (p[d] - q[d]).powi(2)).sum::<f64>().sqrt() >= min_dist);
            if !(inside(v, p, 0.65) && far) {
                rejected += 1;
                if rejected.is_multiple_of(200) {
                    min_dist *= 0.9;
                }
                continue;
            }
            let sigma = lo + (hi - lo) * rng.random::<f64>();
            let height = 0.6 + 0.4 * rng.random::<f64>();
            placed.push((k, p));
            mine.push(Blob {
                centre: p,
                sigma: sigma.max(0.5),
                height,
            });
        }
        out.push(mine);
    }
    out
}

/// The planted maps (X x Y x Z x K): each a sum of its blobs, scaled to peak `mean`, cut below
/// [`TAIL_CUT`] of the peak, plus the floor [`BASELINE`] · mean in `mask`, 0 outside it.
fn components(v: &Volumes, mask: &Array3<u8>, rng: &mut ChaCha8Rng) -> Array4<f64> {
    let [nx, ny, nz] = v.grid;
    let mut maps = Array4::<f64>::zeros((nx, ny, nz, v.rank));
    for (k, mine) in blobs(v, rng).iter().enumerate() {
        let mut map = maps.index_axis_mut(Axis(3), k);
        for ((i, j, l), m) in map.indexed_iter_mut() {
            if mask[[i, j, l]] == 0 {
                continue;
            }
            let p = [i as f64, j as f64, l as f64];
            *m = mine
                .iter()
                .map(|b| {
                    let r2: f64 = (0..3).map(|d| (p[d] - b.centre[d]).powi(2)).sum();
                    b.height * (-r2 / (2.0 * b.sigma * b.sigma)).exp()
                })
                .sum();
        }
        let peak = map.iter().fold(0.0_f64, |a, &b| a.max(b));
        if peak > 0.0 {
            ndarray::Zip::from(&mut map).and(mask).for_each(|m, &inside| {
                let x = *m / peak;
                *m = if inside == 0 {
                    0.0
                } else {
                    BASELINE * v.mean + if x < TAIL_CUT { 0.0 } else { v.mean * x }
                };
            });
        }
    }
    maps
}

/// Draws the mask, the planted maps, the weights and the subjects' counts. A Poisson mean too
/// large to draw from gives an infinite count ([`write_volumes`] refuses counts above
/// [`MAX_F32_COUNT`]).
pub fn draw_volumes(v: &Volumes) -> PlantedVolumes {
    let mask = mask(v);
    let mut rng = crate::rng::fit_rng(crate::rng::fit_seed(v.seed, v.rank, usize::MAX - 2));
    let comps = components(v, &mask, &mut rng);
    let baseline = BASELINE * v.mean;
    let [nx, ny, nz] = v.grid;
    let mut weights = Array2::<f64>::zeros((v.subjects, v.rank));
    let mut data = Array4::<f32>::zeros((nx, ny, nz, v.subjects));
    let gamma = v.dispersion.and_then(|k| Gamma::new(k, 1.0 / k).ok());
    for s in 0..v.subjects {
        let mut rng = crate::rng::fit_rng(crate::rng::fit_seed(v.seed, s, usize::MAX - 3));
        let mut w = weights.row_mut(s);
        for (k, wk) in w.iter_mut().enumerate() {
            *wk = if k == s % v.rank {
                0.5 + rng.random::<f64>()
            } else {
                v.mix * rng.random::<f64>()
            };
        }
        let mut vol = data.index_axis_mut(Axis(3), s);
        for ((i, j, l), x) in vol.indexed_iter_mut() {
            if mask[[i, j, l]] == 0 {
                continue;
            }
            let lambda = w
                .iter()
                .zip(comps.slice(ndarray::s![i, j, l, ..]))
                .map(|(a, b)| a * b)
                .sum::<f64>();
            let lambda = match &gamma {
                Some(g) => lambda * g.sample(&mut rng),
                None => lambda,
            };
            let count = if lambda > 0.0 {
                Poisson::new(lambda).map_or(f64::INFINITY, |d| d.sample(&mut rng))
            } else {
                0.0
            };
            *x = count as f32;
        }
    }
    PlantedVolumes {
        mask,
        components: comps,
        weights,
        baseline,
        data,
    }
}

/// The name of subject `s`'s file among `subjects`: `subject_000.nii.gz`, with more digits
/// when there are more than 1000 subjects.
pub fn subject_file(s: usize, subjects: usize) -> String {
    let width = subjects.saturating_sub(1).to_string().len().max(3);
    format!("subject_{s:0width$}.nii.gz")
}

/// Every file [`write_volumes`] writes into its directory, subjects first.
pub fn volume_files(subjects: usize) -> Vec<String> {
    let mut names: Vec<String> = (0..subjects).map(|s| subject_file(s, subjects)).collect();
    names.extend([ALL_SUBJECTS_FILE, MASK_FILE, COMPONENTS_FILE, WEIGHTS_FILE].map(String::from));
    names
}

/// The index of a subject file name (`subject_<digits>.nii.gz`), None for other names.
fn subject_index(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("subject_")?.strip_suffix(".nii.gz")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A command-line error of `simulate`.
fn bad(message: String) -> Error {
    Error::ConfigValue {
        path: PathBuf::from("<command line>"),
        line: 0,
        key: "simulate".into(),
        message,
    }
}

/// Checks the directory before anything is drawn: it must be a directory (it is created when
/// missing), and none of the files to write may exist unless `force`; nor may subject files of an
/// earlier run (`subject_<n>.nii.gz`) that this one would not overwrite. Returns those earlier
/// subject files, which [`write_volumes`] removes with `force` (the directory then holds one run).
pub fn check_volume_dir(dir: &Path, subjects: usize, force: bool) -> Result<Vec<PathBuf>> {
    if dir.exists() && !dir.is_dir() {
        return Err(bad(format!(
            "--volumes {} is not a directory; give the directory to write the volumes into",
            dir.display()
        )));
    }
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let ours = volume_files(subjects);
    let mut stale = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(format!("cannot read {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("cannot read {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if subject_index(&name).is_some() && !ours.contains(&name) {
            stale.push(entry.path());
        }
    }
    stale.sort();
    if !force {
        let first = ours.iter().map(|n| dir.join(n)).find(|p| p.exists());
        if let Some(p) = first.or_else(|| stale.first().cloned()) {
            return Err(bad(format!("{} exists; pass --force to overwrite it", p.display())));
        }
    }
    Ok(stale)
}

/// The NIfTI-1 header of every file written: voxel size in pixdim (mm), the affine of
/// [`Volumes::affine`] as sform and as qform (identity rotation; both code 1, scanner
/// coordinates), and a description.
pub fn header(v: &Volumes, description: &str) -> NiftiHeader {
    let a = v.affine();
    let d = v.voxel_mm as f32;
    let row = |r: usize| a[r].map(|x| x as f32);
    let mut h = NiftiHeader {
        pixdim: [1.0, d, d, d, 1.0, 1.0, 1.0, 1.0],
        xyzt_units: 2, // NIFTI_UNITS_MM; no time unit (the 4th axis is subjects or components)
        qform_code: 1,
        sform_code: 1,
        quatern_b: 0.0,
        quatern_c: 0.0,
        quatern_d: 0.0,
        quatern_x: a[0][3] as f32,
        quatern_y: a[1][3] as f32,
        quatern_z: a[2][3] as f32,
        srow_x: row(0),
        srow_y: row(1),
        srow_z: row(2),
        ..NiftiHeader::default()
    };
    let mut text = description.as_bytes().to_vec();
    text.truncate(79);
    text.resize(80, 0);
    h.descrip = text;
    h
}

/// A volume to write: float32 values or uint8 labels.
enum Volume<'a> {
    F32(ArrayViewD<'a, f32>),
    U8(ArrayViewD<'a, u8>),
}

/// The temporary name of a NIfTI file (`.partial-<name>` beside it): the NIfTI writer derives
/// compression and its own file name from the extensions, so the temporary name keeps them.
fn partial_nifti(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".partial-");
    name.push(path.file_name().unwrap_or_default());
    path.with_file_name(name)
}

/// Writes one NIfTI file atomically (temporary name, sync, rename, sync of the directory);
/// `.nii.gz` names are gzip-compressed.
fn write_nifti(path: &Path, data: Volume<'_>, header: &NiftiHeader) -> Result<()> {
    let tmp = partial_nifti(path);
    let opts = WriterOptions::new(&tmp).reference_header(header);
    let written = match data {
        Volume::F32(a) => opts.write_nifti(&a),
        Volume::U8(a) => opts.write_nifti(&a),
    };
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(
            format!("cannot write {}", path.display()),
            std::io::Error::other(e.to_string()),
        ));
    }
    crate::fsio::commit_from(&tmp, path)
}

/// The planted weights as a table: a header row (`subject`, `component_1` … `component_K`),
/// then one row per subject named by its file's stem.
pub fn weights_tsv(weights: &Array2<f64>) -> String {
    let mut out = String::from("subject");
    for k in 1..=weights.ncols() {
        out.push_str(&format!("\tcomponent_{k}"));
    }
    out.push('\n');
    for (s, row) in weights.rows().into_iter().enumerate() {
        let name = subject_file(s, weights.nrows());
        out.push_str(name.trim_end_matches(".nii.gz"));
        for w in row {
            out.push_str(&format!("\t{w}"));
        }
        out.push('\n');
    }
    out
}

/// Refuses counts above [`MAX_F32_COUNT`] (float32 no longer holds every integer above it),
/// naming a `--mean` that stays below it.
fn check_counts(v: &Volumes, data: &Array4<f32>) -> Result<()> {
    let top = data.iter().fold(0.0_f64, |m, &x| m.max(f64::from(x)));
    if top <= MAX_F32_COUNT {
        return Ok(());
    }
    let hint = if top.is_finite() {
        format!("; use --mean {:.1e} or less", v.mean / (2.0 * top) * MAX_F32_COUNT)
    } else {
        String::new()
    };
    Err(bad(format!(
        "--mean {:e} gives counts up to {top:.3e}; counts must be at most 2^24 = 16777216, the largest count \
         float32 stores exactly{hint}",
        v.mean
    )))
}

/// Draws the volumes and writes them into `dir` (created when missing): one 3-D float32 file per
/// subject (`subject_000.nii.gz` …), all subjects as one uncompressed 4-D file
/// ([`ALL_SUBJECTS_FILE`]), the mask ([`MASK_FILE`], uint8), the planted maps
/// ([`COMPONENTS_FILE`], 4-D float32) and weights ([`WEIGHTS_FILE`]). Existing files are refused
/// unless `force` (see [`check_volume_dir`]). Returns the draw.
pub fn write_volumes(dir: &Path, v: &Volumes, force: bool) -> Result<PlantedVolumes> {
    let stale = check_volume_dir(dir, v.subjects, force)?;
    let planted = draw_volumes(v);
    check_counts(v, &planted.data)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    for p in &stale {
        std::fs::remove_file(p).map_err(|e| Error::io(format!("cannot remove {}", p.display()), e))?;
    }
    let what = format!("nnmf-sweep simulate --volumes seed {}", v.seed);
    for s in 0..v.subjects {
        let path = dir.join(subject_file(s, v.subjects));
        let vol = planted.data.index_axis(Axis(3), s).into_dyn();
        write_nifti(&path, Volume::F32(vol), &header(v, &format!("{what}, subject {s}")))?;
    }
    let all = planted.data.view().into_dyn();
    write_nifti(
        &dir.join(ALL_SUBJECTS_FILE),
        Volume::F32(all),
        &header(v, &format!("{what}, all subjects")),
    )?;
    let comps = planted.components.mapv(|x| x as f32);
    let baseline = format!("{what}, planted maps (floor {} in the mask)", planted.baseline);
    write_nifti(
        &dir.join(COMPONENTS_FILE),
        Volume::F32(comps.view().into_dyn()),
        &header(v, &baseline),
    )?;
    crate::fsio::write_atomic(&dir.join(WEIGHTS_FILE), &weights_tsv(&planted.weights))?;
    let mask = planted.mask.view().into_dyn();
    write_nifti(
        &dir.join(MASK_FILE),
        Volume::U8(mask),
        &header(v, &format!("{what}, mask")),
    )?;
    Ok(planted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Volumes {
        Volumes {
            grid: [16, 18, 14],
            voxel_mm: 4.0,
            subjects: 12,
            rank: 3,
            mean: 10.0,
            mix: 0.1,
            dispersion: None,
            seed: 7,
        }
    }

    #[test]
    fn components_are_non_negative_and_zero_outside_the_mask() {
        let v = small();
        let p = draw_volumes(&v);
        assert_eq!(p.mask.dim(), (16, 18, 14));
        assert_eq!(p.components.dim(), (16, 18, 14, 3));
        assert_eq!(p.weights.dim(), (12, 3));
        assert_eq!(p.data.dim(), (16, 18, 14, 12));
        let inside = p.mask.iter().filter(|&&m| m == 1).count();
        assert!(inside > 1000 && inside < 16 * 18 * 14 / 2, "{inside}");
        for ((i, j, l, k), &c) in p.components.indexed_iter() {
            assert!(c >= 0.0 && c.is_finite());
            if p.mask[[i, j, l]] == 0 {
                assert_eq!(c, 0.0, "component {k} at {i},{j},{l}");
            }
        }
        for ((i, j, l, _), &x) in p.data.indexed_iter() {
            assert!(x >= 0.0 && x.fract() == 0.0);
            if p.mask[[i, j, l]] == 0 {
                assert_eq!(x, 0.0);
            }
        }
        // Every component has the floor BASELINE x mean in the mask, peaks at mean above it,
        // and its blobs cover some voxels but not most.
        let floor = BASELINE * 10.0;
        for k in 0..3 {
            let c = p.components.index_axis(Axis(3), k);
            let peak = c.iter().fold(0.0_f64, |a, &b| a.max(b));
            assert!((peak - 10.0 - floor).abs() < 1e-12, "{peak}");
            assert!(
                c.indexed_iter()
                    .all(|((i, j, l), &x)| p.mask[[i, j, l]] == 0 || x >= floor)
            );
            let support = c.iter().filter(|&&x| x > floor).count();
            assert!(
                support > 20 && support < inside * 3 / 4,
                "component {k}: {support} of {inside}"
            );
        }
        // Components' blobs sit in different places: their overlap (above the floor) is small.
        let blobs = p.components.mapv(|x| (x - floor).max(0.0));
        for a in 0..3 {
            for b in a + 1..3 {
                let (ca, cb) = (blobs.index_axis(Axis(3), a), blobs.index_axis(Axis(3), b));
                let dot: f64 = ca.iter().zip(cb.iter()).map(|(x, y)| x * y).sum();
                let cos = dot / (ca.iter().map(|x| x * x).sum::<f64>() * cb.iter().map(|x| x * x).sum::<f64>()).sqrt();
                assert!(cos < 0.5, "components {a} and {b}: cosine {cos}");
            }
        }
        // Subject s is dominated by component s mod K.
        for (s, w) in p.weights.rows().into_iter().enumerate() {
            assert!(w.iter().all(|&x| x >= 0.0));
            assert!(w[s % 3] >= 0.5 && w.iter().enumerate().all(|(k, &x)| k == s % 3 || x <= 0.1));
        }
    }

    #[test]
    fn counts_follow_the_planted_means() {
        let v = Volumes {
            subjects: 30,
            ..small()
        };
        let p = draw_volumes(&v);
        let (mut sum_x, mut sum_l) = (0.0, 0.0);
        for s in 0..30 {
            for ((i, j, l), &m) in p.mask.indexed_iter() {
                if m == 1 {
                    let lambda = (0..3)
                        .map(|k| p.weights[[s, k]] * p.components[[i, j, l, k]])
                        .sum::<f64>();
                    sum_l += lambda;
                    sum_x += f64::from(p.data[[i, j, l, s]]);
                }
            }
        }
        assert!((sum_x / sum_l - 1.0).abs() < 0.01, "{sum_x} vs {sum_l}");
    }

    #[test]
    fn same_seed_same_bits_and_subjects_do_not_depend_on_their_number() {
        let v = small();
        let (a, b) = (draw_volumes(&v), draw_volumes(&v));
        assert_eq!(a.data, b.data);
        assert_eq!(a.components, b.components);
        assert_eq!(a.weights, b.weights);
        let fewer = draw_volumes(&Volumes { subjects: 5, ..v });
        assert_eq!(fewer.components, a.components);
        assert_eq!(fewer.data, a.data.slice(ndarray::s![.., .., .., ..5]));
        let other = draw_volumes(&Volumes { seed: 8, ..v });
        assert_ne!(other.data, a.data);
    }

    #[test]
    fn affine_centres_the_grid() {
        let v = small();
        let a = v.affine();
        // The centre voxel ((n − 1) / 2 along each axis) maps to (0, 0, 0) mm.
        for (d, row) in a.iter().enumerate() {
            let c = (v.grid[d] as f64 - 1.0) / 2.0;
            assert_eq!(row[d], 4.0);
            assert_eq!(row[d] * c + row[3], 0.0);
        }
        let h = header(&v, "test");
        assert_eq!((h.sform_code, h.qform_code), (1, 1));
        assert_eq!(h.pixdim[1..4], [4.0; 3]);
        assert_eq!(h.srow_y, [0.0, 4.0, 0.0, -34.0]);
        assert_eq!(h.descrip.len(), 80);
    }

    #[test]
    fn file_names() {
        assert_eq!(subject_file(7, 40), "subject_007.nii.gz");
        assert_eq!(subject_file(7, 1001), "subject_0007.nii.gz");
        assert_eq!(subject_index("subject_0123.nii.gz"), Some(123));
        assert_eq!(subject_index("subject_.nii.gz"), None);
        assert_eq!(subject_index("subject_1.nii"), None);
        assert_eq!(volume_files(2).len(), 6);
        let w = Array2::from_shape_vec((2, 2), vec![1.0, 0.5, 0.25, 2.0]).unwrap();
        assert_eq!(
            weights_tsv(&w),
            "subject\tcomponent_1\tcomponent_2\nsubject_000\t1\t0.5\nsubject_001\t0.25\t2\n"
        );
        assert_eq!(
            partial_nifti(Path::new("d/all_subjects.nii")),
            Path::new("d/.partial-all_subjects.nii")
        );
    }

    #[test]
    fn writes_refuses_to_overwrite_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("vol");
        let v = Volumes {
            grid: [8, 9, 7],
            subjects: 3,
            rank: 2,
            ..small()
        };
        let p = write_volumes(&out, &v, false).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut want = volume_files(3);
        want.sort();
        assert_eq!(names, want, "no temporary file left");
        let err = write_volumes(&out, &v, false).unwrap_err().to_string();
        assert!(
            err.ends_with("subject_000.nii.gz exists; pass --force to overwrite it"),
            "{err}"
        );
        // Read back with the same crate: shape, values and affine.
        use nifti::{IntoNdArray, NiftiObject, ReaderOptions};
        let obj = ReaderOptions::new().read_file(out.join("subject_001.nii.gz")).unwrap();
        assert_eq!(obj.header().srow_x, [4.0, 0.0, 0.0, -14.0]);
        let back = obj.into_volume().into_ndarray::<f32>().unwrap();
        assert_eq!(back.shape(), [8, 9, 7]);
        assert_eq!(back, p.data.index_axis(Axis(3), 1).into_dyn());
        let obj = ReaderOptions::new().read_file(out.join(ALL_SUBJECTS_FILE)).unwrap();
        let back = obj.into_volume().into_ndarray::<f32>().unwrap();
        assert_eq!(back, p.data.clone().into_dyn());
        // With --force, fewer subjects: the earlier run's extra subject is removed.
        let two = Volumes { subjects: 2, ..v };
        assert!(check_volume_dir(&out, 2, false).is_err());
        write_volumes(&out, &two, true).unwrap();
        assert!(!out.join("subject_002.nii.gz").exists());
        assert!(out.join("subject_001.nii.gz").exists());
        // A file in the way of the directory.
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = write_volumes(&file, &v, true).unwrap_err().to_string();
        assert!(err.contains("is not a directory"), "{err}");
    }
}
