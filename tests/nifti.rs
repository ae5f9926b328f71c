//! End-to-end tests of NIfTI input and output on files written by nibabel, the reference NIfTI
//! library (scripts/make_nifti_fixtures.py): a glob of 3-D float32 .nii.gz files with a mask
//! file, one plain 4-D int16 file with scl_slope, 4-D float64 and uint8 files, NaN as missing,
//! and the errors (another grid, another affine, a mask of the wrong grid, an empty mask, a 5-D
//! file, negative values, complex values). X as read must be bit-identical to the matrix nibabel
//! gives (compared through results.h5's input_sha256, the checksum of X), and the output volumes,
//! read back by nibabel, must carry the input's affine and the fitted factors.
//!
//! Needs python3 with nibabel, h5py and numpy: scripts/setup.sh --test installs them. Without
//! them these tests fail (never skip) and say so.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use assert_cmd::Command;
use hdf5::types::VarLenUnicode;
use nnmf_sweep::error::exit;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tempfile::TempDir;

/// HDF5 files are opened under the write side, binaries run under the read side (the HDF5
/// library opens files without close-on-exec; see tests/bad_input.rs).
static FD_GUARD: RwLock<()> = RwLock::new(());

fn hdf5_open_guard() -> RwLockWriteGuard<'static, ()> {
    FD_GUARD.write().unwrap_or_else(|e| e.into_inner())
}

fn spawn_guard() -> RwLockReadGuard<'static, ()> {
    FD_GUARD.read().unwrap_or_else(|e| e.into_inner())
}

/// The fixtures' folder, written once per test process.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nifti-fixtures");
        let _ = std::fs::remove_dir_all(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make_nifti_fixtures.py");
        let out = {
            let _g = spawn_guard();
            std::process::Command::new("python3").arg(&script).arg(&dir).output()
        }
        .unwrap_or_else(|e| panic!("python3 is needed for tests/nifti.rs ({e}): run scripts/setup.sh --test"));
        assert!(
            out.status.success(),
            "{} failed: {}\nrun scripts/setup.sh --test (it installs nibabel, h5py, numpy)",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// Runs a sweep of ranks 2 and 3 on `[data]` body `data` (`{dir}`: the fixtures' folder) in a
/// new folder; returns the folder and the process output.
fn run(data: &str) -> (TempDir, Output) {
    let tmp = TempDir::new().unwrap();
    let data = data.replace("{dir}", &fixtures().display().to_string());
    let config = format!(
        "[data]\n{data}\n[sweep]\nranks = [2, 3]\nrestarts = 3\nseed = 5\n[stop]\nmax_iter = 200\ntol = 1e-6\n\
         [selection]\nheldout_repeats = 1\n[output]\ndir = \"out\"\n"
    );
    std::fs::write(tmp.path().join("config.toml"), &config).unwrap();
    let out = {
        let _g = spawn_guard();
        Command::cargo_bin("nnmf-sweep")
            .unwrap()
            .arg(tmp.path().join("config.toml"))
            .output()
            .unwrap()
    };
    (tmp, out)
}

fn ok(data: &str) -> TempDir {
    let (tmp, out) = run(data);
    assert_eq!(
        out.status.code(),
        Some(exit::SUCCESS.into()),
        "[data] {data}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmp
}

/// The error message of a run that must fail with exit code `code`.
fn fails(data: &str, code: u8) -> String {
    let (_tmp, out) = run(data);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code.into()), "[data] {data}\nstderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn str_attr(file: &hdf5::File, name: &str) -> String {
    file.attr(name)
        .unwrap()
        .read_scalar::<VarLenUnicode>()
        .unwrap()
        .as_str()
        .to_string()
}

/// results.h5's checksum of X, and the checksum of the matrix nibabel gives (`expected.h5`).
fn checksums(out: &Path, expected: &str) -> (String, String) {
    let _g = hdf5_open_guard();
    let got = str_attr(&hdf5::File::open(out.join("results.h5")).unwrap(), "input_sha256");
    let x = hdf5::File::open(fixtures().join("expected.h5"))
        .unwrap()
        .dataset(expected)
        .unwrap()
        .read_2d::<f64>()
        .unwrap();
    (got, nnmf_sweep::data::checksum(&x))
}

/// Runs python3 code with `args` (sys.argv[1:]); panics with its stderr when it fails.
fn python(code: &str, args: &[&Path]) -> String {
    let out = {
        let _g = spawn_guard();
        std::process::Command::new("python3")
            .arg("-c")
            .arg(code)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn a_glob_of_3d_gzip_float32_files_with_a_mask_reads_the_masked_voxels_and_writes_component_volumes() {
    let tmp = ok("path = \"{dir}/list_f32/*.nii.gz\"\nvoxel_mask = \"{dir}/mask.nii.gz\"");
    let out = tmp.path().join("out");
    let (got, want) = checksums(&out, "x_f32_mask");
    assert_eq!(got, want, "X read from the 3-D files differs from nibabel's");
    {
        let _g = hdf5_open_guard();
        let f = hdf5::File::open(out.join("results.h5")).unwrap();
        let names: Vec<String> = f
            .dataset("obs_names")
            .unwrap()
            .read_raw::<VarLenUnicode>()
            .unwrap()
            .iter()
            .map(|s| s.as_str().to_string())
            .collect();
        assert_eq!(names[0], "sub-01");
        assert_eq!(names.len(), 12);
        assert!(str_attr(&f, "voxel_mask").ends_with("mask.nii.gz"));
    }
    // The component volumes, read by nibabel: the input's affine, 0 outside the mask, and at
    // the mask's voxels (storage order) the rows of H in results.h5, as float32.
    let check = r#"
import sys, h5py, nibabel as nib, numpy as np
out, fx = sys.argv[1], sys.argv[2]
mask = np.asarray(nib.load(fx + "/mask.nii.gz").dataobj) != 0
affine = nib.load(fx + "/list_f32/sub-01.nii.gz").affine
for r in (2, 3):
    img = nib.load(f"{out}/components_rank_{r}.nii.gz")
    assert img.shape == mask.shape + (r,), img.shape
    assert img.get_data_dtype() == np.float32
    assert np.allclose(img.affine, affine, atol=1e-5), (img.affine, affine)
    assert img.header.get_sform(coded=True)[1] == 2 and img.header.get_qform(coded=True)[1] == 1
    data = np.asarray(img.dataobj)
    h = h5py.File(out + "/results.h5")[f"rank_{r}/H"][...]
    for k in range(r):
        vol = data[..., k]
        assert np.all(vol[~mask] == 0)
        assert np.array_equal(vol.flatten(order="F")[mask.flatten(order="F")], h[k].astype(np.float32))
    assert h.min() >= 0
print("ok")
"#;
    assert_eq!(python(check, &[&out, fixtures()]).trim(), "ok");
    for r in [2, 3] {
        let png = out.join(format!("component_maps_rank_{r}.png"));
        assert!(std::fs::metadata(&png).unwrap().len() > 1000, "{}", png.display());
        assert!(out.join(format!("component_maps_rank_{r}.svg")).exists());
    }
}

#[test]
fn one_plain_4d_int16_file_is_scaled_by_scl_slope() {
    let tmp = ok("path = \"{dir}/all_i16.nii\"");
    let out = tmp.path().join("out");
    let (got, want) = checksums(&out, "x_i16_nonzero");
    assert_eq!(got, want, "X read from the scaled int16 file differs from nibabel's");
    let _g = hdf5_open_guard();
    let f = hdf5::File::open(out.join("results.h5")).unwrap();
    assert_eq!(str_attr(&f, "input_format"), "nifti 4-D");
    assert_eq!(str_attr(&f, "input_dtype"), "int16 (scl_slope 0.25, scl_inter 0)");
    assert_eq!(str_attr(&f, "voxel_mask"), "nonzero");
    assert!(str_attr(&f, "voxels").contains("of the 10 x 12 x 8 grid"));
}

#[test]
fn float64_and_uint8_4d_files_give_nibabels_values() {
    for (file, expected) in [("all_f64.nii.gz", "x_f64_nonzero"), ("all_u8.nii.gz", "x_u8_nonzero")] {
        let tmp = ok(&format!("path = \"{{dir}}/{file}\"\nformat = \"nifti\""));
        let (got, want) = checksums(&tmp.path().join("out"), expected);
        assert_eq!(got, want, "{file}");
    }
}

#[test]
fn voxels_as_observations_give_membership_maps_and_a_label_map() {
    let tmp = ok("path = \"{dir}/list_f32/*.nii.gz\"\nvoxel_mask = \"{dir}/mask.nii.gz\"\ntranspose = true");
    let out = tmp.path().join("out");
    let check = r#"
import sys, h5py, nibabel as nib, numpy as np
out, fx = sys.argv[1], sys.argv[2]
mask = np.asarray(nib.load(fx + "/mask.nii.gz").dataobj) != 0
affine = nib.load(fx + "/mask.nii.gz").affine
flat = mask.flatten(order="F")
for r in (2, 3):
    m = nib.load(f"{out}/membership_maps_rank_{r}.nii.gz")
    assert m.shape == mask.shape + (r,) and np.allclose(m.affine, affine, atol=1e-5)
    d = np.asarray(m.dataobj)
    sums = d.sum(axis=3)
    assert np.allclose(sums[mask], 1.0, atol=1e-5) and np.all(sums[~mask] == 0)
    lab = nib.load(f"{out}/labels_rank_{r}.nii.gz")
    assert lab.get_data_dtype() == np.int16 and lab.shape == mask.shape
    assert np.allclose(lab.affine, affine, atol=1e-5)
    l = np.asarray(lab.dataobj)
    assert np.all(l[~mask] == 0) and l[mask].min() >= 1 and l[mask].max() <= r
    w = h5py.File(out + "/results.h5")[f"rank_{r}/W"][...]
    assert w.shape == (flat.sum(), r)
    assert np.array_equal(l.flatten(order="F")[flat], np.argmax(w, axis=1) + 1)
print("ok")
"#;
    assert_eq!(python(check, &[&out, fixtures()]).trim(), "ok");
    assert!(out.join("membership_maps_rank_2.png").exists());
}

#[test]
fn nan_voxels_are_missing_values_where_the_config_says_so() {
    let e = fails("path = \"{dir}/nan/*.nii.gz\"", exit::DATA);
    assert!(
        e.contains("2 NaN values in the masked voxels (first in ")
            && e.contains("sub-03.nii.gz at voxel [4, 6, 4]")
            && e.contains("missing = \"nan\""),
        "{e}"
    );
    let tmp = ok("path = \"{dir}/nan/*.nii.gz\"\nmissing = \"nan\"");
    let _g = hdf5_open_guard();
    let f = hdf5::File::open(tmp.path().join("out/results.h5")).unwrap();
    assert_eq!(f.attr("missing_entries").unwrap().read_scalar::<u64>().unwrap(), 2);
}

#[test]
fn bad_nifti_input_is_refused_naming_the_file() {
    let e = fails("path = \"{dir}/bad_grid/*.nii.gz\"", exit::DATA);
    assert!(
        e.contains("sub-99.nii.gz")
            && e.contains("has a grid of 10 x 12 x 9 voxels, but ")
            && e.contains("sub-01.nii.gz has 10 x 12 x 8"),
        "{e}"
    );
    let e = fails("path = \"{dir}/bad_affine/*.nii.gz\"", exit::DATA);
    assert!(
        e.contains("sub-99.nii.gz") && e.contains("has another affine") && e.contains("differ by up to 3.000 mm"),
        "{e}"
    );
    let e = fails(
        "path = \"{dir}/all_i16.nii\"\nvoxel_mask = \"{dir}/mask_grid.nii.gz\"",
        exit::DATA,
    );
    assert!(
        e.contains("mask_grid.nii.gz") && e.contains("([data] voxel_mask) is on a grid of 10 x 12 x 7"),
        "{e}"
    );
    let e = fails(
        "path = \"{dir}/all_i16.nii\"\nvoxel_mask = \"{dir}/mask_empty.nii.gz\"",
        exit::DATA,
    );
    assert!(
        e.contains("mask_empty.nii.gz") && e.contains("is empty (no non-zero voxel)"),
        "{e}"
    );
    let e = fails("path = \"{dir}/five_d.nii.gz\"", exit::DATA);
    assert!(
        e.contains("five_d.nii.gz") && e.contains("is 5-D (dim [10, 12, 8, 2, 2])"),
        "{e}"
    );
    let e = fails("path = \"{dir}/negative/*.nii.gz\"", exit::DATA);
    assert!(
        e.contains("1 negative values in the masked voxels (first in ")
            && e.contains("sub-02.nii.gz at voxel [5, 6, 4]: -1.5"),
        "{e}"
    );
    let e = fails("path = \"{dir}/complex.nii.gz\"", exit::DATA);
    assert!(
        e.contains("complex.nii.gz") && e.contains("stores Complex64 values"),
        "{e}"
    );
    let e = fails("path = \"{dir}/nothing/*.nii.gz\"", exit::DATA);
    assert!(e.contains("matches no file"), "{e}");
    // voxel_mask is a NIfTI key: a config error on other formats, with its line.
    let e = fails(
        "path = \"{dir}/expected.h5\"\ndataset = \"x_f32_mask\"\nvoxel_mask = \"nonzero\"",
        exit::CONFIG,
    );
    assert!(e.contains("data.voxel_mask") && e.contains("has no voxels"), "{e}");
}

#[test]
fn a_file_whose_name_looks_like_a_pattern_is_read_as_that_file() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("run[1]");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixtures().join("all_f64.nii.gz"), dir.join("all*.nii.gz")).unwrap();
    let path = dir.join("all*.nii.gz").display().to_string();
    let tmp_run = ok(&format!("path = \"{path}\""));
    let (got, want) = checksums(&tmp_run.path().join("out"), "x_f64_nonzero");
    assert_eq!(got, want);
}
