//! Where the input matrix is (`[data]` as checked by the config), handed to the readers.

use super::Format;
use std::path::PathBuf;

/// Where the input matrix is.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    /// Data file (resolved against the config file's folder).
    pub path: PathBuf,
    /// Its format (`Format::Auto`: detected from the file).
    pub format: Format,
    /// Path of the matrix (dataset or sparse group) inside an HDF5 file; empty when not given,
    /// where the format implies it (AnnData: X or the layer; 10x: matrix) or has none (text).
    pub dataset: String,
    /// AnnData layer read instead of X (`layers/<layer>`).
    pub layer: Option<String>,
    /// NaN entries are missing values (left out of the fits), not an error (`missing = "nan"`).
    pub nan_is_missing: bool,
    /// Dataset (same stored shape as the matrix, dense) whose 0 entries mark missing values.
    pub mask: Option<String>,
    /// The file stores observations as columns: X is the transpose of the stored matrix.
    pub transpose: bool,
    /// 1-D string dataset with the N observations' names.
    pub obs_names: Option<String>,
    /// 1-D string dataset with the p features' names.
    pub var_names: Option<String>,
    /// Each observation (row of X) is an image of this shape, row-major: its p features are
    /// `height * width` pixels, checked against the data by `config::Plan::check_image_shape`.
    pub image_shape: Option<ImageShape>,
    /// `[data] voxel_mask` (NIfTI input): which voxels are the features; None: the default,
    /// voxels non-zero in some volume.
    pub voxel_mask: Option<super::VoxelMask>,
    /// `[run] memory_limit_mb`: reading the data and the sweep refuse to need more memory than
    /// this many MiB (0: this machine's physical memory); see [`DataSpec::memory_limit`].
    pub memory_limit_mb: u64,
}

impl DataSpec {
    /// The memory limit in bytes (`[run] memory_limit_mb`, or this machine's physical memory).
    pub fn memory_limit(&self) -> u64 {
        crate::limits::memory_limit(self.memory_limit_mb)
    }

    /// The memory limit and where it comes from, for messages.
    pub fn memory_limit_text(&self) -> String {
        crate::limits::describe_limit(self.memory_limit(), self.memory_limit_mb > 0)
    }
}

/// `[data] image_shape = [height, width]`, with the line it is on (for messages about the data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageShape {
    /// Pixel rows of an image.
    pub height: usize,
    /// Pixel columns of an image.
    pub width: usize,
    /// Line of `image_shape` in the config file.
    pub line: usize,
}
