//! `[data]`: the input matrix, its format and the keys that only some formats have.

use super::raw::RawData;
use super::validate::Checker;
use crate::data::{DataSpec, Format, ImageShape, VoxelMask};
use crate::error::Result;
use toml::Spanned;

impl Checker<'_> {
    /// Checks `[data]`; `memory_limit_mb` (from `[run]`, checked by `ceilings`) goes into the spec.
    pub(super) fn data(&self, data: Option<Spanned<RawData>>, memory_limit_mb: u64) -> Result<DataSpec> {
        let (data, data_line) = self.section(
            data,
            "data",
            "missing section [data]; add [data] with path = \"file.h5\" and dataset = \"X\"",
        )?;
        let path = self.required(
            data.path.as_ref(),
            "data.path",
            data_line,
            "missing key; add path = \"file.h5\" (relative to the config file) under [data]",
        )?;
        if path.get_ref().trim().is_empty() {
            return Err(self.err("data.path", path, "is empty; give the data file's path".into()));
        }
        let format = self.choice(
            "data.format",
            data.format.as_ref(),
            &Format::ALL,
            Format::Auto,
            " (\"auto\" detects it from the file)",
        )?;
        if format.needs_dataset() && data.dataset.is_none() {
            return Err(self.missing(
                "data.dataset",
                data_line,
                &format!(
                    "missing key; format \"{}\" needs the matrix's path inside the file: add dataset = \"X\" under [data]",
                    format.name()
                ),
            ));
        }
        self.text_has_no_datasets(&data, format)?;
        if let Some(layer) = &data.layer {
            self.layer(layer, format, data.dataset.is_some())?;
        }
        if let Some(d) = data.dataset.as_ref().filter(|d| d.get_ref().trim().is_empty()) {
            return Err(self.err(
                "data.dataset",
                d,
                "is empty; give the matrix's path inside the file, or remove dataset where the format implies it"
                    .into(),
            ));
        }
        let nan_is_missing = self.choice(
            "data.missing",
            data.missing.as_ref(),
            &[("error", false), ("nan", true)],
            false,
            " (\"nan\": NaN entries are missing values, left out of the fits)",
        )?;
        if let Some(m) = data.mask.as_ref().filter(|m| m.get_ref().trim().is_empty()) {
            return Err(self.err(
                "data.mask",
                m,
                "is empty; name a dataset of the matrix's shape whose 0 entries mark missing values, or remove mask"
                    .into(),
            ));
        }
        let image_shape = data.image_shape.as_ref().map(|v| self.image_shape(v)).transpose()?;
        let voxel_mask = self.voxel_mask(&data, format, path.get_ref())?;
        Ok(DataSpec {
            voxel_mask,
            memory_limit_mb,
            image_shape,
            nan_is_missing,
            mask: data.mask.map(Spanned::into_inner),
            path: self.resolve(path.get_ref()),
            format,
            dataset: data.dataset.map(Spanned::into_inner).unwrap_or_default(),
            layer: data.layer.map(Spanned::into_inner),
            transpose: data.transpose,
            obs_names: data.obs_names.map(Spanned::into_inner),
            var_names: data.var_names.map(Spanned::into_inner),
        })
    }

    /// A text format (csv, tsv) has none of the keys that name something inside an HDF5 file.
    fn text_has_no_datasets(&self, data: &RawData, format: Format) -> Result<()> {
        if !format.is_single_matrix() {
            return Ok(());
        }
        for (key, v, what) in [
            ("data.dataset", &data.dataset, "names a matrix inside an HDF5 file"),
            ("data.obs_names", &data.obs_names, "names a dataset inside an HDF5 file"),
            ("data.var_names", &data.var_names, "names a dataset inside an HDF5 file"),
            ("data.layer", &data.layer, "names a layer of an AnnData file"),
            ("data.mask", &data.mask, "names a dataset inside an HDF5 file"),
        ] {
            if let Some(v) = v {
                return Err(self.err(
                    key,
                    v,
                    format!(
                        "{what}; a {} file has none: remove it (or set the file's own format)",
                        format.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `voxel_mask`: only for NIfTI input (format "nifti", or "auto" with a .nii / .nii.gz path);
    /// "nonzero" or a mask file's path, never empty. NIfTI volumes carry their own geometry, so
    /// `image_shape` is refused beside them.
    fn voxel_mask(&self, data: &RawData, format: Format, path: &str) -> Result<Option<VoxelMask>> {
        let nifti = crate::data::is_nifti(format, std::path::Path::new(path));
        if let (true, Some(v)) = (nifti, &data.image_shape) {
            return Err(self.err(
                "data.image_shape",
                v,
                "is for 2-D images stored as rows; NIfTI volumes carry their own grid and affine: remove image_shape"
                    .into(),
            ));
        }
        let Some(mask) = &data.voxel_mask else {
            return Ok(None);
        };
        if !nifti {
            return Err(self.err(
                "data.voxel_mask",
                mask,
                format!(
                    "selects the voxels of NIfTI volumes; format \"{}\" has no voxels: remove voxel_mask (or set \
                     format = \"nifti\" and path to .nii / .nii.gz files)",
                    format.name()
                ),
            ));
        }
        match mask.get_ref().trim() {
            "" => Err(self.err(
                "data.voxel_mask",
                mask,
                "is empty; give a 3-D mask file (its non-zero voxels are the features) or \"nonzero\"".into(),
            )),
            "nonzero" => Ok(Some(VoxelMask::Nonzero)),
            file => Ok(Some(VoxelMask::File(self.resolve(file)))),
        }
    }

    /// `layer`: an AnnData layer, read instead of X (so not with `dataset`), never empty.
    fn layer(&self, layer: &Spanned<String>, format: Format, has_dataset: bool) -> Result<()> {
        if !matches!(format, Format::Auto | Format::H5ad) {
            return Err(self.err(
                "data.layer",
                layer,
                format!(
                    "names a layer of an AnnData file; format \"{}\" has no layers: remove layer, or set \
                     format = \"h5ad\"",
                    format.name()
                ),
            ));
        }
        if has_dataset {
            return Err(self.err(
                "data.layer",
                layer,
                "cannot be combined with dataset: layer = \"counts\" reads the dataset layers/counts; keep one".into(),
            ));
        }
        if layer.get_ref().trim().is_empty() {
            return Err(self.err(
                "data.layer",
                layer,
                "is empty; name a layer (e.g. \"counts\"), or remove layer to read X".into(),
            ));
        }
        Ok(())
    }

    /// `image_shape = [height, width]`, both at least 1 (checked against p with the data).
    fn image_shape(&self, v: &Spanned<Vec<i64>>) -> Result<ImageShape> {
        match v.get_ref().as_slice() {
            &[h, w] if h >= 1 && w >= 1 => Ok(ImageShape {
                height: h as usize,
                width: w as usize,
                line: self.line(v),
            }),
            other => Err(self.err(
                "data.image_shape",
                v,
                format!(
                    "must be two integers [height, width], both at least 1 (got {other:?}): each row of X \
                     is an image of height x width pixels, stored row by row"
                ),
            )),
        }
    }
}
