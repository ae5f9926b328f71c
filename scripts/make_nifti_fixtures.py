#!/usr/bin/env python3
"""Writes the NIfTI fixtures of tests/nifti.rs with nibabel, the reference NIfTI library.

Usage: make_nifti_fixtures.py OUTDIR

One small data set (12 subjects on a 10 x 12 x 8 grid of 2 mm voxels, a rotated and shifted
affine, an ellipsoid brain; two planted smooth components mixed per subject, plus a little
noise; zero outside the brain) written as:

  list_f32/sub-01.nii.gz ...   3-D float32 files, gzip
  all_i16.nii                  one 4-D int16 file, plain, scl_slope 0.25, scl_inter 0
  all_f64.nii.gz               one 4-D float64 file, gzip
  all_u8.nii.gz                one 4-D uint8 file (the values rounded, capped at 255)
  mask.nii.gz                  a uint8 mask: the brain minus its outer shell
  expected.h5                  the X each file must give (h5py, float64): x_f32_mask
                               (list_f32 with mask.nii.gz), x_f32_nonzero, x_i16_nonzero,
                               x_f64_nonzero, x_u8_nonzero; `affine` (4 x 4)

and bad inputs for the error tests:

  bad_grid/*.nii.gz            a file of another grid among good ones
  bad_affine/*.nii.gz          a file shifted by 3 mm among good ones
  mask_grid.nii.gz             a mask of another grid
  mask_empty.nii.gz            a mask without a voxel
  five_d.nii.gz                a 5-D file (2 volumes on the 5th axis)
  negative/*.nii.gz            a file with a negative voxel inside the brain
  nan/*.nii.gz                 a file with NaN at some brain voxels
  complex.nii.gz               complex64 values

Voxel order of X's columns: the in-mask voxels in NIfTI storage order (x fastest).
"""
import sys
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)
shape = (10, 12, 8)
n = 12

# A rotated (10 degrees about z), shifted affine with 2 mm voxels.
t = np.deg2rad(10.0)
affine = np.array(
    [
        [2 * np.cos(t), -2 * np.sin(t), 0, -9.5],
        [2 * np.sin(t), 2 * np.cos(t), 0, -11.0],
        [0, 0, 2, -7.0],
        [0, 0, 0, 1],
    ]
)

i, j, k = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
c = [(s - 1) / 2 for s in shape]
r2 = ((i - c[0]) / 4.6) ** 2 + ((j - c[1]) / 5.6) ** 2 + ((k - c[2]) / 3.7) ** 2
brain = r2 <= 1.0
inner = r2 <= 0.55


def blob(ci, cj, ck, s):
    return np.exp(-(((i - ci) ** 2 + (j - cj) ** 2 + (k - ck) ** 2) / (2 * s * s)))


comps = [blob(2.5, 4, 3.5, 1.8) * brain, blob(6.5, 7.5, 4, 1.8) * brain]
weights = rng.gamma(2.0, 1.0, size=(n, 2))
vols = []
for s in range(n):
    v = 40 * (weights[s, 0] * comps[0] + weights[s, 1] * comps[1]) + 2.0 * brain
    v = v + rng.normal(0, 0.5, size=shape) * brain
    vols.append(np.clip(v, 0, None) * brain)
vols = np.array(vols)  # n x shape


def x_of(volumes, mask):
    flat = mask.flatten(order="F")
    return np.array([v.flatten(order="F")[flat] for v in volumes], dtype=np.float64)


def nonzero(volumes):
    return np.any(volumes != 0, axis=0)


def save(img, path):
    img.set_sform(affine, code=2)
    img.set_qform(affine, code=1)
    nib.save(img, str(path))


expected = {}

# 3-D float32 list (gzip), a mask file.
(out / "list_f32").mkdir(exist_ok=True)
f32 = vols.astype(np.float32)
for s in range(n):
    save(nib.Nifti1Image(f32[s], affine), out / "list_f32" / f"sub-{s + 1:02d}.nii.gz")
save(nib.Nifti1Image(inner.astype(np.uint8), affine), out / "mask.nii.gz")
expected["x_f32_mask"] = x_of(f32.astype(np.float64), inner)
expected["x_f32_nonzero"] = x_of(f32.astype(np.float64), nonzero(f32))

# One 4-D int16 file, plain, scaled: stored raw = round(v * 4), read back as raw * 0.25. nibabel
# sets the scaling itself on save, so the raw ints are saved unscaled and the header's scl_slope
# is then set in the file (the 348-byte header block).
assert vols.max() * 4 < 32767
raw = np.round(vols * 4).astype(np.int16)
save(nib.Nifti1Image(np.moveaxis(raw, 0, -1), affine, dtype=np.int16), out / "all_i16.nii")
hdr = nib.load(str(out / "all_i16.nii")).header.copy()
hdr["vox_offset"] = 352
hdr["scl_slope"] = 0.25
hdr["scl_inter"] = 0.0
with open(out / "all_i16.nii", "r+b") as f:
    f.write(hdr.binaryblock)
check = nib.load(str(out / "all_i16.nii"))
assert (check.dataobj.slope, check.dataobj.inter) == (0.25, 0.0), (check.dataobj.slope, check.dataobj.inter)
scaled = np.moveaxis(np.asarray(check.dataobj, dtype=np.float64), -1, 0)
assert np.array_equal(scaled, raw.astype(np.float64) * 0.25)
expected["x_i16_nonzero"] = x_of(scaled, nonzero(scaled))

# 4-D float64 (gzip) and uint8.
save(nib.Nifti1Image(np.moveaxis(vols, 0, -1).astype(np.float64), affine), out / "all_f64.nii.gz")
expected["x_f64_nonzero"] = x_of(vols, nonzero(vols))
u8 = np.clip(np.round(vols), 0, 255).astype(np.uint8)
save(nib.Nifti1Image(np.moveaxis(u8, 0, -1), affine), out / "all_u8.nii.gz")
expected["x_u8_nonzero"] = x_of(u8.astype(np.float64), nonzero(u8))

with h5py.File(out / "expected.h5", "w") as h:
    for name, x in expected.items():
        h[name] = x
    h["affine"] = affine

# Bad inputs.
for name in ["bad_grid", "bad_affine", "negative", "nan"]:
    (out / name).mkdir(exist_ok=True)
    for s in range(3):
        save(nib.Nifti1Image(f32[s], affine), out / name / f"sub-{s + 1:02d}.nii.gz")
save(nib.Nifti1Image(np.zeros((10, 12, 9), np.float32), affine), out / "bad_grid" / "sub-99.nii.gz")
shifted = affine.copy()
shifted[0, 3] += 3.0
img = nib.Nifti1Image(f32[0], shifted)
img.set_sform(shifted, code=2)
img.set_qform(shifted, code=1)
nib.save(img, str(out / "bad_affine" / "sub-99.nii.gz"))
neg = f32[1].copy()
neg[5, 6, 4] = -1.5
save(nib.Nifti1Image(neg, affine), out / "negative" / "sub-02.nii.gz")
nan = f32[2].copy()
nan[5, 6, 4] = np.nan
nan[4, 6, 4] = np.nan
save(nib.Nifti1Image(nan, affine), out / "nan" / "sub-03.nii.gz")
save(nib.Nifti1Image(inner[:, :, :7].astype(np.uint8), affine), out / "mask_grid.nii.gz")
save(nib.Nifti1Image(np.zeros(shape, np.uint8), affine), out / "mask_empty.nii.gz")
five = np.stack([np.moveaxis(f32[:2], 0, -1)] * 2, axis=-1)  # x, y, z, 2, 2
save(nib.Nifti1Image(five, affine), out / "five_d.nii.gz")
save(nib.Nifti1Image(f32[0].astype(np.complex64), affine), out / "complex.nii.gz")
print("ok")
