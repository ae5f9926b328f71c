//! `nnmf-sweep project` end to end: the training data projected onto the best fit's H gives back
//! that fit's W; Frobenius projections agree with scikit-learn's `NMF.transform`; features are
//! matched by name (shuffled, missing) or refused; sparse and dense inputs and 1 or 2 threads give
//! the same bits; bad input is refused with its exit code and nothing written.
//!
//! Needs python3 with numpy, h5py and scikit-learn for the scikit-learn comparison:
//! scripts/setup.sh --test installs them.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use assert_cmd::Command;
use ndarray::{Array2, Axis};
use nnmf_sweep::error::exit;
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn bin() -> Command {
    Command::cargo_bin("nnmf-sweep").unwrap()
}

fn read2(path: &Path, name: &str) -> Array2<f64> {
    hdf5::File::open(path)
        .unwrap()
        .dataset(name)
        .unwrap()
        .read_2d::<f64>()
        .unwrap()
}

fn attr_u64(path: &Path, name: &str) -> u64 {
    hdf5::File::open(path)
        .unwrap()
        .attr(name)
        .unwrap()
        .read_scalar()
        .unwrap()
}

fn max_rel(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let top = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / top
}

/// A planted rank-3 matrix (`simulate`, 120 x 60) in `dir`/X.h5, its sweep with `loss` to a tight
/// tolerance in f64, and the sweep's output directory.
fn swept(dir: &Path, loss: &str) -> (PathBuf, PathBuf) {
    let data = dir.join("X.h5");
    bin()
        .args([
            "simulate", "--rows", "120", "--cols", "60", "--rank", "3", "--seed", "4", "--out",
        ])
        .arg(&data)
        .assert()
        .success();
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[data]\npath = \"X.h5\"\ndataset = \"X\"\n[model]\nloss = \"{loss}\"\nprecision = \"f64\"\n[sweep]\n\
             ranks = [2, 3]\nrestarts = 3\n[stop]\ntol = 1e-12\nmax_iter = 20000\n[selection]\nrule = \"cophenetic\"\n\
             heldout_repeats = 0\n[output]\ndir = \"out\"\n"
        ),
    )
    .unwrap();
    bin().arg(&cfg).arg("--quiet").assert().success();
    (data, dir.join("out"))
}

/// Writes `x` as a CSV with a header of feature names `names` and a first column of row names.
fn write_csv(path: &Path, x: &Array2<f64>, names: &[String]) {
    let mut s = String::from("id");
    for n in names {
        write!(s, ",{n}").unwrap();
    }
    s.push('\n');
    for (i, row) in x.rows().into_iter().enumerate() {
        write!(s, "cell{i}").unwrap();
        for v in row {
            write!(s, ",{v}").unwrap();
        }
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// Writes `x` as a Matrix Market coordinate file (its nonzero entries only).
fn write_mtx(path: &Path, x: &Array2<f64>) {
    let nnz = x.iter().filter(|v| **v != 0.0).count();
    let mut s = format!(
        "%%MatrixMarket matrix coordinate real general\n{} {} {nnz}\n",
        x.nrows(),
        x.ncols()
    );
    for ((i, j), v) in x.indexed_iter() {
        if *v != 0.0 {
            writeln!(s, "{} {} {v}", i + 1, j + 1).unwrap();
        }
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn the_training_data_projects_back_onto_the_best_fits_w() {
    for loss in ["kl", "frobenius"] {
        let tmp = tempfile::tempdir().unwrap();
        let (data, model) = swept(tmp.path(), loss);
        let out = tmp.path().join("proj");
        bin()
            .args(["project", "--quiet", "--rank", "3", "--dataset", "X", "--out"])
            .arg(&out)
            .arg(&model)
            .arg(&data)
            .assert()
            .success();
        let w = read2(&model.join("results.h5"), "rank_3/W");
        let w_new = read2(&out.join("projection.h5"), "W");
        let d = max_rel(&w_new, &w);
        println!("{loss}: projection vs the fit's W, max relative difference {d:e}");
        assert!(d < 1e-5, "{loss}: {d:e}");
        assert_eq!(attr_u64(&out.join("projection.h5"), "unconverged"), 0);
        // The table: one row per observation, memberships summing to 1.
        let table = std::fs::read_to_string(out.join("memberships.tsv")).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 121);
        assert_eq!(
            lines[0],
            "observation\tlabel\tloss\texplained\tcomponent_1\tcomponent_2\tcomponent_3"
        );
        let sum: f64 = lines[1].split('\t').skip(4).map(|v| v.parse::<f64>().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-12);
    }
}

#[test]
fn frobenius_projection_agrees_with_scikit_learn_transform() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, model) = swept(tmp.path(), "frobenius");
    // New data: the planted matrix with its rows reversed and counts halved (not the training X).
    let x = read2(&data, "X");
    let x_new = x.slice(ndarray::s![..;-1, ..]).mapv(|v| (v / 2.0).floor());
    let csv = tmp.path().join("new.csv");
    let names: Vec<String> = (0..x.ncols()).map(|j| format!("f{j}")).collect();
    write_csv(&csv, &x_new, &names);
    let out = tmp.path().join("proj");
    bin()
        .args(["project", "--quiet", "--rank", "3", "--out"])
        .arg(&out)
        .arg(&model)
        .arg(&csv)
        .assert()
        .success();
    let script = format!(
        r#"
import h5py, numpy as np, sys
from sklearn.decomposition import NMF
H = h5py.File("{m}/results.h5", "r")["rank_3/H"][()]
X = np.loadtxt("{c}", delimiter=",", skiprows=1, usecols=range(1, {p1}))
model = NMF(n_components=3, init="custom", solver="cd", beta_loss="frobenius", tol=1e-14, max_iter=200000)
model.fit(X, W=np.full((X.shape[0], 3), 0.1), H=H.copy())
model.components_ = H
W = model.transform(X)
ours = h5py.File("{o}/projection.h5", "r")["W"][()]
print(np.abs(W - ours).max() / np.abs(ours).max())
"#,
        m = model.display(),
        c = csv.display(),
        p1 = x.ncols() + 1,
        o = out.display()
    );
    let o = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python3 with scikit-learn, h5py and numpy is needed (scripts/setup.sh --test): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let d: f64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    println!("scikit-learn NMF.transform vs project: max relative difference {d:e}");
    assert!(d < 1e-6, "{d:e}");
}

/// A CSV-trained model (feature names g0..g59) and its data.
fn named_model(dir: &Path) -> (Array2<f64>, Vec<String>, PathBuf) {
    let (data, _) = swept(dir, "kl");
    let x = read2(&data, "X");
    let names: Vec<String> = (0..x.ncols()).map(|j| format!("g{j}")).collect();
    write_csv(&dir.join("train.csv"), &x, &names);
    std::fs::write(
        dir.join("n.toml"),
        "[data]\npath = \"train.csv\"\n[model]\nprecision = \"f64\"\n[sweep]\nranks = [3]\nrestarts = 2\n\
         [selection]\nrule = \"cophenetic\"\nheldout_repeats = 0\n[output]\ndir = \"named\"\n",
    )
    .unwrap();
    bin().arg(dir.join("n.toml")).arg("--quiet").assert().success();
    (x, names, dir.join("named"))
}

#[test]
fn features_are_matched_by_name_shuffled_or_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let (x, names, model) = named_model(tmp.path());
    let run = |csv: &Path, out: &str| {
        let o = tmp.path().join(out);
        let a = bin()
            .args(["project", "--out"])
            .arg(&o)
            .arg(&model)
            .arg(csv)
            .assert()
            .success();
        (
            read2(&o.join("projection.h5"), "W"),
            String::from_utf8_lossy(&a.get_output().stderr).into_owned(),
        )
    };
    write_csv(&tmp.path().join("same.csv"), &x, &names);
    let (w_same, _) = run(&tmp.path().join("same.csv"), "p_same");
    // The same data with its columns in another order: the same W (the features are reordered).
    let order: Vec<usize> = (0..x.ncols()).rev().collect();
    let shuffled = x.select(Axis(1), &order);
    let shuffled_names: Vec<String> = order.iter().map(|&j| names[j].clone()).collect();
    write_csv(&tmp.path().join("shuffled.csv"), &shuffled, &shuffled_names);
    let (w_shuffled, _) = run(&tmp.path().join("shuffled.csv"), "p_shuffled");
    assert_eq!(w_shuffled, w_same, "reordered features give the same bits");
    // 6 of 60 features missing and 2 unknown ones added: projected on the rest, with a warning.
    let keep: Vec<usize> = (6..x.ncols()).collect();
    let mut part = x.select(Axis(1), &keep);
    let mut part_names: Vec<String> = keep.iter().map(|&j| names[j].clone()).collect();
    part.push_column(x.column(0)).unwrap();
    part.push_column(x.column(1)).unwrap();
    part_names.extend(["new_a".to_string(), "new_b".to_string()]);
    write_csv(&tmp.path().join("part.csv"), &part, &part_names);
    let (w_part, err) = run(&tmp.path().join("part.csv"), "p_part");
    assert!(
        err.contains("warning: 6 of the model's features are missing from the data"),
        "{err}"
    );
    assert!(err.contains("e.g. g0, g1, g2, g3, g4"), "{err}");
    assert!(
        err.contains("warning: 2 features of the data are not in the model and are left out"),
        "{err}"
    );
    let proj = tmp.path().join("p_part/projection.h5");
    assert_eq!(attr_u64(&proj, "missing"), 6);
    assert_eq!(attr_u64(&proj, "extra"), 2);
    assert!(max_rel(&w_part, &w_same) < 0.2, "most of the signal is still there");
    // Only 20 of the 60 features: too little of the components' mass; refused, nothing written.
    let few: Vec<usize> = (0..20).collect();
    write_csv(
        &tmp.path().join("few.csv"),
        &x.select(Axis(1), &few),
        &few.iter().map(|&j| names[j].clone()).collect::<Vec<_>>(),
    );
    let out = tmp.path().join("p_few");
    let a = bin()
        .args(["project", "--out"])
        .arg(&out)
        .arg(&model)
        .arg(tmp.path().join("few.csv"))
        .assert()
        .code(i32::from(exit::DATA));
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("shares too little with the model: 20 of its 60 features are found by name"),
        "{err}"
    );
    assert!(err.contains("(at least 50% is needed)"), "{err}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn sparse_and_dense_input_and_thread_counts_give_the_same_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, model) = swept(tmp.path(), "kl");
    let mut x = read2(&data, "X");
    x.mapv_inplace(|v| if v < 3.0 { 0.0 } else { v });
    let mtx = tmp.path().join("x.mtx");
    write_mtx(&mtx, &x);
    let csv = tmp.path().join("x.csv");
    write_csv(&csv, &x, &(0..x.ncols()).map(|j| format!("f{j}")).collect::<Vec<_>>());
    let run = |input: &Path, out: &str, threads: &str| {
        let o = tmp.path().join(out);
        bin()
            .env("RAYON_NUM_THREADS", threads)
            .args(["project", "--quiet", "--rank", "3", "--out"])
            .arg(&o)
            .arg(&model)
            .arg(input)
            .assert()
            .success();
        read2(&o.join("projection.h5"), "W")
    };
    let sparse = run(&mtx, "sparse", "1");
    let dense = run(&csv, "dense", "1");
    let two = run(&mtx, "two", "2");
    assert_eq!(sparse, dense);
    assert_eq!(sparse, two);
}

#[test]
fn the_mirror_solves_new_features_of_the_same_observations() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, model) = swept(tmp.path(), "frobenius");
    // The training X as "new features" of the same 120 observations: H comes back.
    let out = tmp.path().join("mirror");
    bin()
        .args([
            "project",
            "--quiet",
            "--rank",
            "3",
            "--fix",
            "w",
            "--dataset",
            "X",
            "--out",
        ])
        .arg(&out)
        .arg(&model)
        .arg(&data)
        .assert()
        .success();
    let h = read2(&model.join("results.h5"), "rank_3/H");
    let h_new = read2(&out.join("projection.h5"), "H");
    let d = max_rel(&h_new, &h);
    println!("mirror: H vs the fit's H, max relative difference {d:e}");
    assert!(d < 1e-5, "{d:e}");
    let table = std::fs::read_to_string(out.join("loadings.tsv")).unwrap();
    assert_eq!(table.lines().count(), 61);
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, model) = swept(tmp.path(), "kl");
    let out = tmp.path().join("p");
    let fail = |args: &[&str], model: &Path, data: &Path, code: u8| -> String {
        let a = bin()
            .arg("project")
            .args(args)
            .arg("--out")
            .arg(&out)
            .arg(model)
            .arg(data)
            .assert()
            .code(i32::from(code));
        assert!(!out.exists(), "nothing written for {args:?}");
        String::from_utf8_lossy(&a.get_output().stderr).into_owned()
    };
    // A directory without results.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = fail(&["--dataset", "X"], &empty, &data, exit::OUTPUT);
    assert_eq!(
        err,
        format!(
            "error: {}: holds no finished results (results.h5 is missing): give the output directory of a finished \
             sweep, or run the sweep (or its merge) first\n",
            empty.display()
        )
    );
    // A rank the sweep did not fit.
    let err = fail(&["--dataset", "X", "--rank", "7"], &model, &data, exit::CONFIG);
    assert_eq!(
        err,
        format!(
            "error: --rank: 7 is not a rank of the sweep in {} (ranks 2, 3)\n",
            model.display()
        )
    );
    // A feature count that differs, without names to match.
    let x = read2(&data, "X");
    let narrow = tmp.path().join("narrow.mtx");
    write_mtx(&narrow, &x.select(Axis(1), &(0..50).collect::<Vec<_>>()));
    let err = fail(&[], &model, &narrow, exit::DATA);
    assert_eq!(
        err,
        format!(
            "error: {}: has 50 features, the model 60, and they cannot be matched by name (the training data had no \
             names); give the data the same 60 features in the same order, or names for them on both sides\n",
            narrow.display()
        )
    );
    // A data file that does not exist.
    fail(&[], &model, &tmp.path().join("nothing.h5"), exit::DATA);
}

#[test]
fn a_consensus_model_projects_onto_its_consensus_components() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _) = swept(tmp.path(), "kl");
    let cfg = tmp.path().join("cons.toml");
    std::fs::write(
        &cfg,
        "[data]\npath = \"X.h5\"\ndataset = \"X\"\n[sweep]\nranks = [3]\nrestarts = 4\n[selection]\n\
         rule = \"cophenetic\"\nheldout_repeats = 0\nsolution = \"consensus\"\n[output]\ndir = \"cons\"\n",
    )
    .unwrap();
    bin().arg(&cfg).arg("--quiet").assert().success();
    let out = tmp.path().join("proj");
    bin()
        .args(["project", "--quiet", "--dataset", "X", "--out"])
        .arg(&out)
        .arg(tmp.path().join("cons"))
        .arg(&data)
        .assert()
        .success();
    let results = tmp.path().join("cons/results.h5");
    let w = read2(&results, "rank_3/consensus_W");
    let w_new = read2(&out.join("projection.h5"), "W");
    let d = max_rel(&w_new, &w);
    println!("consensus model: projection vs its consensus W, max relative difference {d:e}");
    assert!(d < 1e-9, "{d:e}");
    let solution: hdf5::types::VarLenUnicode = hdf5::File::open(out.join("projection.h5"))
        .unwrap()
        .attr("solution")
        .unwrap()
        .read_scalar()
        .unwrap();
    assert_eq!(solution.as_str(), "consensus");
}
