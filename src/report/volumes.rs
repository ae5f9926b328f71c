//! NIfTI outputs of NIfTI input: per-voxel results put back into volumes on the input's grid,
//! with the input's affine and header geometry (the first input file's header, its datatype,
//! dim and scaling replaced).
//!
//! - Voxels as features (the default): `components_rank_<r>.nii.gz`, a 4-D float32 volume whose
//!   r volumes are the rows of H (r x p voxels), 0 outside the mask; and the figure
//!   `component_maps_rank_<r>.png/.svg` (each component as three orthogonal slices through its
//!   peak, over the mean image).
//! - Voxels as observations (`transpose = true`): `membership_maps_rank_<r>.nii.gz`, a 4-D
//!   float32 volume whose r volumes are the columns of the memberships (W's rows scaled to sum
//!   1: each voxel's soft membership), `labels_rank_<r>.nii.gz` (int16, the component of each
//!   voxel's largest W entry, 1..r; 0 outside the mask and for voxels that are zero in every
//!   volume), and the figure `membership_maps_rank_<r>.png/.svg`.
//!
//! Which solution: the best fit's, or the consensus solution's where `[selection] solution =
//! "consensus"` computed one (as memberships_rank_<r>.tsv).

use super::RankOutputs;
use crate::data::Volumes;
use crate::error::{Error, Result};
use crate::outdir::{COMPONENT_MAPS, COMPONENTS, LABEL_MAPS, MEMBERSHIP_MAPS};
use crate::record::RankSummary;
use crate::stats::Solution;
use ndarray::{Array3, Array4, ArrayView2, ShapeBuilder};
use nifti::NiftiHeader;
use nifti::writer::WriterOptions;
use std::path::Path;

/// Writes the NIfTI volumes and figures of every rank with a fit (see the module documentation).
pub fn write_volume_outputs(
    dir: &Path,
    volumes: &Volumes,
    ranks: &[RankSummary],
    outputs: &[Option<RankOutputs>],
    solution: Solution,
) -> Result<()> {
    for (s, o) in ranks.iter().zip(outputs) {
        let (Some((_, best_w, best_h)), Some(o)) = (&s.best, o) else {
            continue;
        };
        let consensus = match (solution, &s.consensus_fit) {
            (Solution::Consensus, Some(f)) => Some(f),
            _ => None,
        };
        if volumes.voxels_are_rows {
            let w = consensus.map_or(best_w.view(), |f| f.w.view());
            if w.nrows() != volumes.voxels.len() {
                continue;
            }
            let maps = o.memberships.t();
            let header = output_header(volumes, &format!("nnmf-sweep memberships, rank {}", s.rank));
            write_maps(dir, &MEMBERSHIP_MAPS.stem(s.rank), volumes, maps, &header)?;
            let labels = volumes.scatter(o.labels.iter().map(|&l| (l + 1) as f64), 0.0);
            let labels: Vec<i16> = labels.iter().map(|&l| l as i16).collect();
            let [x, y, z] = volumes.grid;
            let labels = Array3::from_shape_vec((x, y, z).f(), labels).map_err(|e| shape_err(dir, e))?;
            let header = output_header(volumes, &format!("nnmf-sweep labels (argmax of W), rank {}", s.rank));
            write_nifti(dir, &LABEL_MAPS.stem(s.rank), &header, Volume::Labels(labels))?;
            let maps = maps_of(volumes, o.memberships.t(), "component");
            draw_maps(
                dir,
                &MEMBERSHIP_MAPS.stem(s.rank),
                &format!(
                    "Rank {}: soft membership of each voxel in each component (W's rows scaled to sum 1)",
                    s.rank
                ),
                &maps,
                volumes,
            )?;
        } else {
            let h = consensus.map_or(best_h.view(), |f| f.h.view());
            if h.ncols() != volumes.voxels.len() {
                continue;
            }
            let header = output_header(volumes, &format!("nnmf-sweep components (rows of H), rank {}", s.rank));
            write_maps(dir, &COMPONENTS.stem(s.rank), volumes, h, &header)?;
            let maps = maps_of(volumes, h, "component");
            draw_maps(
                dir,
                &COMPONENT_MAPS.stem(s.rank),
                &format!("Rank {}: NMF components (rows of H) over the mean image", s.rank),
                &maps,
                volumes,
            )?;
        }
    }
    Ok(())
}

/// Draws `maps` (named whole volumes) as three orthogonal slices each, over the mean image, into
/// `<stem>.png` and `<stem>.svg` (see [`crate::report::plots::volume`]).
pub fn draw_maps(dir: &Path, stem: &str, title: &str, maps: &[(String, Array3<f64>)], volumes: &Volumes) -> Result<()> {
    let views: Vec<(String, ndarray::ArrayView3<f64>)> = maps.iter().map(|(n, m)| (n.clone(), m.view())).collect();
    super::plots::volume::orthogonal_slices(dir, stem, title, &views, background(volumes).view(), volumes.voxel_size)?;
    Ok(())
}

/// Each row of `values` (one value per in-mask voxel) as a named whole volume.
pub fn maps_of(volumes: &Volumes, values: ArrayView2<f64>, what: &str) -> Vec<(String, Array3<f64>)> {
    let [x, y, z] = volumes.grid;
    values
        .rows()
        .into_iter()
        .enumerate()
        .map(|(k, row)| {
            let v = volumes.scatter(row.iter().copied(), 0.0);
            let a = Array3::from_shape_vec((x, y, z).f(), v).expect("scatter gives one value per grid voxel");
            (format!("{what} {}", k + 1), a)
        })
        .collect()
}

/// The mean image (mean over the volumes of each in-mask voxel, 0 outside), the figures'
/// background. With voxels as observations, the mean of each voxel's row.
pub fn background(volumes: &Volumes) -> Array3<f64> {
    let [x, y, z] = volumes.grid;
    let v = volumes.scatter(volumes.mean.iter().copied(), 0.0);
    Array3::from_shape_vec((x, y, z).f(), v).expect("scatter gives one value per grid voxel")
}

/// The header of an output volume: the input's geometry (affine, units, orientation), the
/// description `descrip` (at most 79 bytes kept).
fn output_header(volumes: &Volumes, descrip: &str) -> NiftiHeader {
    let mut h = volumes.header.clone();
    let mut text: Vec<u8> = descrip.bytes().take(79).collect();
    text.resize(80, 0);
    h.descrip = text;
    h.cal_min = 0.0;
    h.cal_max = 0.0;
    h.intent_code = 0;
    h.aux_file = [0; 24];
    h
}

/// Writes the rows of `values` (k x in-mask voxels) as the k volumes of a 4-D float32 file
/// `<stem>.nii.gz`.
fn write_maps(dir: &Path, stem: &str, volumes: &Volumes, values: ArrayView2<f64>, header: &NiftiHeader) -> Result<()> {
    let [x, y, z] = volumes.grid;
    let k = values.nrows();
    let mut data: Vec<f32> = Vec::with_capacity(x * y * z * k);
    for row in values.rows() {
        data.extend(volumes.scatter(row.iter().copied(), 0.0).iter().map(|&v| v as f32));
    }
    let a = Array4::from_shape_vec((x, y, z, k).f(), data).map_err(|e| shape_err(dir, e))?;
    write_nifti(dir, stem, header, Volume::Maps(a))
}

fn shape_err(dir: &Path, e: ndarray::ShapeError) -> Error {
    Error::io(
        format!("cannot build a volume for {}", dir.display()),
        std::io::Error::other(e.to_string()),
    )
}

/// What an output file holds.
enum Volume {
    /// Several float32 maps (x, y, z, map).
    Maps(Array4<f32>),
    /// One int16 label volume.
    Labels(Array3<i16>),
}

/// Writes `<stem>.nii.gz` into `dir` atomically: to `<stem>.partial.nii.gz` (the NIfTI writer
/// picks compression from the name), synced, then renamed into place.
fn write_nifti(dir: &Path, stem: &str, header: &NiftiHeader, data: Volume) -> Result<()> {
    let path = dir.join(format!("{stem}.nii.gz"));
    let tmp = dir.join(format!("{stem}.partial.nii.gz"));
    let failed = |e: String| Error::io(format!("cannot write {}", path.display()), std::io::Error::other(e));
    let writer = WriterOptions::new(&tmp).reference_header(header);
    let written = match data {
        Volume::Maps(a) => writer.write_nifti(&a),
        Volume::Labels(a) => writer.write_nifti(&a),
    };
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(e.to_string()));
    }
    crate::fsio::commit_from(&tmp, &path)
}
