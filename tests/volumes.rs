//! `nnmf-sweep simulate --volumes DIR` end to end: the NIfTI files it writes are read back by
//! nibabel (shape, dtype, affine, the mask against the data, the 4-D file against the 3-D ones,
//! the truth), the same seed gives the same bytes, and existing files are refused without --force.
//!
//! Needs python3 with nibabel and numpy: scripts/setup.sh --test installs them.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use assert_cmd::Command;
use std::path::Path;

fn bin() -> Command {
    Command::cargo_bin("nnmf-sweep").unwrap()
}

/// Reads the directory back with nibabel and checks it; prints "ok".
const CHECK: &str = r#"
import sys, numpy as np, nibabel as nib
d, S, K = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
shape = (20, 24, 18)
aff = np.array([[4, 0, 0, -38], [0, 4, 0, -46], [0, 0, 4, -34], [0, 0, 0, 1]], float)
def load(name):
    img = nib.load(f"{d}/{name}")
    h = img.header
    assert int(h["sform_code"]) == 1 and int(h["qform_code"]) == 1, (name, h["sform_code"], h["qform_code"])
    assert np.allclose(img.affine, aff), (name, img.affine)
    assert np.allclose(img.get_qform(), aff), (name, img.get_qform())
    assert np.allclose(h.get_zooms()[:3], 4.0), h.get_zooms()
    assert h.get_xyzt_units()[0] == "mm", h.get_xyzt_units()
    return img
centre = aff @ np.array([(n - 1) / 2 for n in shape] + [1])
assert np.allclose(centre[:3], 0), centre
mask_img = load("mask.nii.gz")
assert mask_img.get_data_dtype() == np.uint8, mask_img.get_data_dtype()
mask = np.asarray(mask_img.dataobj)
assert mask.shape == shape and set(np.unique(mask)) == {0, 1}
inside = mask == 1
assert 0.2 < inside.mean() < 0.6, inside.mean()
subjects = []
for s in range(S):
    img = load(f"subject_{s:03d}.nii.gz")
    assert img.get_data_dtype() == np.float32, img.get_data_dtype()
    x = np.asarray(img.dataobj)
    assert x.shape == shape and x.dtype == np.float32
    assert (x[~inside] == 0).all() and (x >= 0).all() and (x == np.round(x)).all()
    assert x[inside].sum() > 0
    subjects.append(x)
all_img = load("all_subjects.nii")
assert all_img.get_data_dtype() == np.float32
allx = np.asarray(all_img.dataobj)
assert allx.shape == shape + (S,), allx.shape
assert (allx == np.stack(subjects, axis=-1)).all()
comp_img = load("truth_components.nii.gz")
comps = np.asarray(comp_img.dataobj)
assert comps.shape == shape + (K,) and comp_img.get_data_dtype() == np.float32
assert (comps >= 0).all() and (comps[~inside] == 0).all()
assert np.allclose(comps.reshape(-1, K).max(axis=0), 10.5)  # peak mean, plus the floor 0.05 x mean
lines = open(f"{d}/truth_weights.tsv").read().splitlines()
assert lines[0].split("\t") == ["subject"] + [f"component_{k + 1}" for k in range(K)], lines[0]
assert len(lines) == S + 1
w = np.array([[float(v) for v in l.split("\t")[1:]] for l in lines[1:]])
assert [l.split("\t")[0] for l in lines[1:]] == [f"subject_{s:03d}" for s in range(S)]
assert (w >= 0).all() and (w.argmax(axis=1) == np.arange(S) % K).all()
# Every planted map has the floor 0.05 x mean = 0.5 in the mask, 0 outside it.
assert (comps[inside] >= 0.5 - 1e-6).all() and (comps[~inside] == 0).all()
# The subjects follow the planted means: sum of counts against sum of lambda.
lam = np.einsum("xyzk,sk->xyzs", comps.astype(float), w)
assert abs(allx.sum() / lam.sum() - 1) < 0.01, (allx.sum(), lam.sum())
print("ok")
"#;

fn nibabel_check(dir: &Path, subjects: usize, rank: usize) {
    let o = std::process::Command::new("python3")
        .arg("-c")
        .arg(CHECK)
        .arg(dir)
        .arg(subjects.to_string())
        .arg(rank.to_string())
        .output()
        .unwrap_or_else(|e| panic!("python3 is needed for tests/volumes.rs ({e}): run scripts/setup.sh --test"));
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "nibabel check failed:\n{out}{err}");
    assert_eq!(out.trim(), "ok", "{err}");
}

fn simulate(dir: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    bin()
        .args([
            "simulate", "--grid", "20,24,18", "--rows", "12", "--rank", "3", "--seed", "4",
        ])
        .args(extra)
        .arg("--volumes")
        .arg(dir)
        .assert()
}

#[test]
fn volumes_read_back_with_nibabel() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vol");
    let out = simulate(&dir, &[]).success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with("wrote 12 subjects of 20 x 24 x 18 voxels of 4 mm (")
            && out.contains("), planted rank 3, into "),
        "{out}"
    );
    assert!(
        out.contains("subject_000.nii.gz … subject_011.nii.gz, all_subjects.nii, mask.nii.gz, truth_components.nii.gz, truth_weights.tsv"),
        "{out}"
    );
    nibabel_check(&dir, 12, 3);

    // Existing files are refused without --force; with it, the same seed writes the same bytes.
    let first = std::fs::read(dir.join("subject_005.nii.gz")).unwrap();
    let all = std::fs::read(dir.join("all_subjects.nii")).unwrap();
    simulate(&dir, &[]).code(2).stderr(format!(
        "error: <command line>: simulate: {} exists; pass --force to overwrite it\n",
        dir.join("subject_000.nii.gz").display()
    ));
    simulate(&dir, &["--force"]).success();
    assert_eq!(std::fs::read(dir.join("subject_005.nii.gz")).unwrap(), first);
    assert_eq!(std::fs::read(dir.join("all_subjects.nii")).unwrap(), all);
    let names = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(names, 12 + 4, "no temporary files left");
}

#[test]
fn volume_options_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vol");
    // In the temporary directory, so that a wrongly accepted --out leaves nothing behind.
    let run = |args: &[&str]| bin().current_dir(tmp.path()).arg("simulate").args(args).assert();
    let d = dir.to_str().unwrap();
    run(&["--volumes", d, "--grid", "10,10"]).code(2).stderr(
        "error: <command line>: simulate: --grid takes three voxel counts X,Y,Z, e.g. --grid 24,28,24 (got 2 values)\n",
    );
    run(&["--volumes", d, "--grid", "10,3,10"])
        .code(2)
        .stderr("error: <command line>: simulate: --grid 10,3,10: every side must be at least 4 voxels\n");
    run(&["--volumes", d, "--voxel-size", "0"])
        .code(2)
        .stderr("error: <command line>: simulate: --voxel-size must be in (0, 1000] mm (got 0)\n");
    run(&["--volumes", d, "--grid", "40000,4,4"])
        .code(2)
        .stderr("error: <command line>: simulate: --grid must be at most 32767 (got 40000)\n");
    // --volumes writes a directory: --out, --cols and the bars options do not go with it.
    run(&["--volumes", d, "--out", "x.h5"]).code(2);
    run(&["--volumes", d, "--cols", "5"]).code(2);
    run(&["--grid", "8,8,8", "--out", "x.h5"]).code(2);
    run(&["--voxel-size", "2", "--out", "x.h5"]).code(2);
    run(&["--grid", "8,8,8"]).code(2);
    assert!(!dir.exists() && !tmp.path().join("x.h5").exists(), "nothing written");
    // A file where the directory should be.
    std::fs::write(&dir, "x").unwrap();
    run(&["--volumes", d]).code(2).stderr(format!(
        "error: <command line>: simulate: --volumes {d} is not a directory; give the directory to write the volumes into\n"
    ));
}

/// The demo of the README (configs/volumes.toml on `simulate --volumes`, seed 1), with 10
/// restarts: the sweep reads the 3-D files through the glob and the mask, chooses the planted
/// rank 4, and each planted component is matched (Hungarian matching on correlation over the
/// mask) by one NMF component of components_rank_4.nii.gz with correlation ≥ 0.95. `compare`
/// then writes the four methods' rows (NMF's weights all ≥ 0, ICA's and PCA's not) and the
/// figure of the bases as volumes.
#[test]
fn planted_volumes_are_recovered_by_the_sweep() {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path();
    bin()
        .args(["simulate", "--seed", "1", "--volumes"])
        .arg(dir.join("volumes"))
        .assert()
        .success();
    let config = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/volumes.toml"))
        .unwrap()
        .replace("restarts = 20", "restarts = 10");
    assert!(config.contains("restarts = 10"));
    std::fs::write(dir.join("volumes.toml"), &config).unwrap();
    let out = bin().arg(dir.join("volumes.toml")).arg("--quiet").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results = dir.join("results-volumes");
    let selection = std::fs::read_to_string(results.join("selection.txt")).unwrap();
    assert!(selection.contains("chosen rank: 4"), "{selection}");
    let check = r#"
import sys, numpy as np, nibabel as nib
from scipy.optimize import linear_sum_assignment
vols, out = sys.argv[1], sys.argv[2]
mask = np.asarray(nib.load(vols + "/mask.nii.gz").dataobj) != 0
truth = np.asarray(nib.load(vols + "/truth_components.nii.gz").dataobj)
comp = nib.load(out + "/components_rank_4.nii.gz")
assert np.allclose(comp.affine, nib.load(vols + "/mask.nii.gz").affine)
comp = np.asarray(comp.dataobj)
t = np.array([truth[..., k][mask] for k in range(truth.shape[3])])
c = np.array([comp[..., k][mask] for k in range(comp.shape[3])])
cc = np.corrcoef(np.vstack([t, c]))[: len(t), len(t):]
a, b = linear_sum_assignment(-cc)
print(" ".join(f"{v:.4f}" for v in cc[a, b]))
"#;
    let py = std::process::Command::new("python3")
        .arg("-c")
        .arg(check)
        .arg(dir.join("volumes"))
        .arg(&results)
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let matched: Vec<f64> = String::from_utf8_lossy(&py.stdout)
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(matched.len(), 4);
    assert!(matched.iter().all(|&c| c >= 0.95), "matched correlations {matched:?}");
    // compare: the four methods at every rank, the bases drawn as volumes.
    let out = bin()
        .arg("compare")
        .arg(dir.join("volumes.toml"))
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tsv = std::fs::read_to_string(results.join("compare.tsv")).unwrap();
    let weights = |method: &str| -> f64 {
        let line = tsv.lines().find(|l| l.starts_with(&format!("4\t{method}\t"))).unwrap();
        line.split('\t').nth(5).unwrap().parse().unwrap()
    };
    assert_eq!(weights("nmf"), 1.0);
    assert_eq!(weights("vq"), 1.0);
    assert!(weights("pca") < 1.0 && weights("ica") < 1.0, "{tsv}");
    for name in ["compare.png", "compare_rank_4.png", "component_maps_rank_4.png"] {
        assert!(std::fs::metadata(results.join(name)).unwrap().len() > 1000, "{name}");
    }
}
