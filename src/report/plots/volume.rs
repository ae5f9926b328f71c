//! TEMPORARY (replaced by the volumes-sim branch).
#![allow(missing_docs)]
use crate::error::Result;
use std::path::Path;
pub fn orthogonal_slices(
    _dir: &Path,
    _stem: &str,
    _title: &str,
    _maps: &[(String, ndarray::Array3<f64>)],
    _background: ndarray::ArrayView3<f64>,
    _voxel_size: [f64; 3],
) -> Result<()> {
    Ok(())
}
