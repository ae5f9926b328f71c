//! `nnmf-sweep compare` end to end on Hoyer's bars: NMF's basis is the sparsest and recovers the
//! planted bars, PCA has the lowest reconstruction error, ICA's row and the weights' signs are
//! reported, and the figures are written.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use assert_cmd::Command;
use nnmf_sweep::error::exit;
use std::collections::HashMap;
use std::path::Path;

fn bin() -> Command {
    Command::cargo_bin("nnmf-sweep").unwrap()
}

fn read2(path: &Path, name: &str) -> ndarray::Array2<f64> {
    hdf5::File::open(path)
        .unwrap()
        .dataset(name)
        .unwrap()
        .read_2d::<f64>()
        .unwrap()
}

fn correlation(a: ndarray::ArrayView1<f64>, b: ndarray::ArrayView1<f64>) -> f64 {
    let (ma, mb) = (a.mean().unwrap(), b.mean().unwrap());
    let cov: f64 = a.iter().zip(b.iter()).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma) * (x - ma)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb) * (y - mb)).sum();
    cov / (va * vb).sqrt()
}

const CONFIG: &str = r#"[data]
path = "bars.h5"
dataset = "X"
image_shape = [6, 6]
[model]
loss = "frobenius"
[sweep]
ranks = [12]
restarts = 8
seed = 1
[stop]
max_iter = 2000
tol = 1e-8
[selection]
rule = "cophenetic"
heldout_repeats = 0
"#;

#[test]
fn compare_on_bars_nmf_finds_the_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bars.h5");
    bin()
        .args(["simulate", "--bars", "6", "--rows", "300", "--seed", "3", "--out"])
        .arg(&data)
        .assert()
        .success();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    bin()
        .arg("compare")
        .arg(&cfg)
        .arg("--quiet")
        .assert()
        .success()
        .stdout("");

    let out = tmp.path().join("results");
    let table = std::fs::read_to_string(out.join("compare.tsv")).unwrap();
    let mut lines = table.lines();
    assert_eq!(
        lines.next().unwrap(),
        "rank\tmethod\treconstruction_error\tbasis_sparseness\tnonnegative_fraction\tweights_nonnegative_fraction"
    );
    let rows: HashMap<String, Vec<f64>> = lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f[0], "12", "{l}");
            (f[1].to_string(), f[2..].iter().map(|v| v.parse().unwrap()).collect())
        })
        .collect();
    assert_eq!(rows.len(), 4, "{table}");
    let (nmf, pca, vq, ica) = (&rows["nmf"], &rows["pca"], &rows["vq"], &rows["ica"]);
    assert!(pca[0] < nmf[0] && pca[0] < vq[0], "PCA has the lowest error:\n{table}");
    assert!(
        nmf[1] > pca[1] && nmf[1] > vq[1],
        "NMF's basis is the sparsest:\n{table}"
    );
    assert_eq!(nmf[2], 1.0, "{table}");
    assert_eq!(vq[2], 1.0, "centroids of non-negative data:\n{table}");
    assert!(pca[2] < 1.0, "PCA's basis is signed:\n{table}");
    // Weights: NMF's W and VQ's one-hot assignments are non-negative, ICA's mixing matrix and
    // PCA's scores are signed.
    assert_eq!(nmf[3], 1.0, "{table}");
    assert_eq!(vq[3], 1.0, "{table}");
    assert!(ica[3] < 1.0 && pca[3] < 1.0, "signed weights:\n{table}");
    // ICA's approximation lies in about the span of PCA's: it cannot beat the Eckart–Young
    // optimum, and it is far closer to it than VQ's.
    assert!(ica.iter().all(|v| v.is_finite()), "ICA fitted:\n{table}");
    assert!(pca[0] <= ica[0] && ica[0] < vq[0], "{table}");
    assert!(ica[2] < 1.0, "ICA's sources are signed:\n{table}");

    // The image shape is recorded with the results.
    let shape = hdf5::File::open(out.join("results.h5"))
        .unwrap()
        .attr("image_shape")
        .unwrap()
        .read_raw::<u64>()
        .unwrap();
    assert_eq!(shape, vec![6, 6]);

    // Every planted bar has an NMF component that matches it.
    let h_true = read2(&data, "H_true");
    let h = read2(&out.join("results.h5"), "rank_12/H");
    for (k, bar) in h_true.rows().into_iter().enumerate() {
        let best = h
            .rows()
            .into_iter()
            .map(|c| correlation(bar, c))
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(best > 0.9, "bar {k}: best correlation {best}\n{table}");
    }

    for stem in ["compare", "compare_rank_12", "components_rank_12"] {
        for ext in ["png", "svg"] {
            let f = out.join(format!("{stem}.{ext}"));
            assert!(std::fs::metadata(&f).unwrap().len() > 1000, "{}", f.display());
        }
    }

    // A finished output directory is reused: the same table, no fit computed again.
    bin().arg("compare").arg(&cfg).arg("--quiet").assert().success();
    assert_eq!(std::fs::read_to_string(out.join("compare.tsv")).unwrap(), table);
}

#[test]
fn image_shape_that_does_not_match_the_data_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bars.h5");
    bin()
        .args(["simulate", "--bars", "4", "--rows", "40", "--out"])
        .arg(&data)
        .assert()
        .success();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, CONFIG.replace("ranks = [12]", "ranks = [8]")).unwrap();
    let a = bin().arg("compare").arg(&cfg).assert().code(i32::from(exit::CONFIG));
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains(
            "c.toml:4: data.image_shape: [6, 6] is 36 pixels, but each observation (row of X) has 16 features"
        ),
        "{err}"
    );
}

#[test]
fn compare_without_image_shape_writes_the_table_for_every_rank_and_no_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("planted.h5");
    bin()
        .args(["simulate", "--rows", "60", "--cols", "40", "--rank", "3", "--out"])
        .arg(&data)
        .assert()
        .success();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[data]\npath = \"planted.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2, 3]\nrestarts = 3\nseed = 2\n\
         [selection]\nheldout_repeats = 1\n",
    )
    .unwrap();
    bin().arg("compare").arg(&cfg).arg("--quiet").assert().success();
    let out = tmp.path().join("results");
    let table = std::fs::read_to_string(out.join("compare.tsv")).unwrap();
    let keys: Vec<String> = table
        .lines()
        .skip(1)
        .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        keys,
        ["2 nmf", "2 pca", "2 vq", "2 ica", "3 nmf", "3 pca", "3 vq", "3 ica"],
        "{table}"
    );
    for l in table.lines().skip(1) {
        assert_eq!(l.split('\t').count(), 6, "{l}");
        let error: f64 = l.split('\t').nth(2).unwrap().parse().unwrap();
        assert!(error > 0.0 && error < 1.0, "{l}");
    }
    assert!(!out.join("compare.png").exists() && !out.join("components_rank_2.png").exists());
}
