//! End-to-end sweeps of the real binary on real HDF5 files: planted-factor recovery, determinism
//! across thread counts, interoperability with h5py, progress output, example configs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use assert_cmd::Command;
use nnmf_sweep::error::exit;
use nnmf_sweep::nmf::FitMatrix;
use std::path::{Path, PathBuf};

fn bin() -> Command {
    Command::cargo_bin("nnmf-sweep").unwrap()
}

fn simulate(dir: &Path, rows: usize, cols: usize, rank: usize, seed: u64) -> PathBuf {
    let path = dir.join("planted.h5");
    bin()
        .args(["simulate", "--out"])
        .arg(&path)
        .args([
            "--rows",
            &rows.to_string(),
            "--cols",
            &cols.to_string(),
            "--rank",
            &rank.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .assert()
        .success();
    path
}

fn write_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn read2(file: &hdf5::File, name: &str) -> ndarray::Array2<f64> {
    file.dataset(name).unwrap().read_2d::<f64>().unwrap()
}

fn attr_f64(loc: &hdf5::Location, name: &str) -> f64 {
    loc.attr(name).unwrap().read_scalar::<f64>().unwrap()
}

/// The issue's acceptance test: a planted 300 x 200 Poisson matrix of rank 4, 20 restarts; the
/// best fit's KL is at most 1% above the KL of the true factors.
#[test]
fn planted_rank4_best_kl_within_one_percent_of_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let data = simulate(tmp.path(), 300, 200, 4, 1);
    let cfg = write_config(
        tmp.path(),
        "c.toml",
        "[data]\npath = \"planted.h5\"\ndataset = \"X\"\n[sweep]\nranks = [4]\nrestarts = 20\nseed = 1\n[stop]\nmax_iter = 2000\ntol = 1e-6\n",
    );
    bin().arg(&cfg).arg("--quiet").assert().success().stdout("").stderr("");

    let input = hdf5::File::open(&data).unwrap();
    let x = input.dataset("X").unwrap().read_2d::<f64>().unwrap();
    let (w_true, h_true) = (read2(&input, "W_true"), read2(&input, "H_true"));
    let truth = FitMatrix::new(x).objectives(w_true.dot(&h_true).view());

    let res = hdf5::File::open(tmp.path().join("results/results.h5")).unwrap();
    let g = res.group("rank_4").unwrap();
    let best_kl = attr_f64(&g, "kl");
    assert!(
        best_kl <= 1.01 * truth.kl,
        "best KL {best_kl} vs true factors' KL {}",
        truth.kl
    );

    // The stored objectives are those of the stored factors, by the library's one definition.
    let (w, h) = (read2(&res, "rank_4/W"), read2(&res, "rank_4/H"));
    assert_eq!((w.dim(), h.dim()), ((300, 4), (4, 200)));
    assert!(w.iter().chain(h.iter()).all(|v| *v >= 0.0 && v.is_finite()));
    let x = input.dataset("X").unwrap().read_2d::<f64>().unwrap();
    let o = FitMatrix::new(x).objectives(w.dot(&h).view());
    assert!(((o.kl - best_kl) / best_kl).abs() < 1e-9);
    assert!(((o.poisson_loglik - attr_f64(&g, "poisson_loglik")) / o.poisson_loglik).abs() < 1e-9);
}

fn small_sweep_config(dir: &Path) -> PathBuf {
    simulate(dir, 60, 40, 3, 5);
    write_config(
        dir,
        "c.toml",
        "[data]\npath = \"planted.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2, 3, 4]\nrestarts = 6\nseed = 3\n[stop]\nmax_iter = 300\n",
    )
}

/// fits.tsv without its wall-clock column.
fn fits_without_seconds(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once('\t').unwrap().0.to_string() + "\n")
        .collect()
}

#[test]
fn one_thread_and_two_threads_give_the_same_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = small_sweep_config(tmp.path());
    let (a, b) = (tmp.path().join("t1"), tmp.path().join("t2"));
    bin()
        .arg(&cfg)
        .args(["--quiet", "--threads", "1", "--out"])
        .arg(&a)
        .assert()
        .success();
    bin()
        .arg(&cfg)
        .args(["--quiet", "--threads", "2", "--out"])
        .arg(&b)
        .assert()
        .success();
    let (fa, fb) = (
        hdf5::File::open(a.join("results.h5")).unwrap(),
        hdf5::File::open(b.join("results.h5")).unwrap(),
    );
    for r in [2, 3, 4] {
        for m in ["W", "H"] {
            let name = format!("rank_{r}/{m}");
            let (x, y) = (read2(&fa, &name), read2(&fb, &name));
            assert!(
                x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{name} differs"
            );
        }
    }
    assert_eq!(
        fits_without_seconds(&a.join("fits.tsv")),
        fits_without_seconds(&b.join("fits.tsv"))
    );
    assert_eq!(
        std::fs::read(a.join("summary.tsv")).unwrap(),
        std::fs::read(b.join("summary.tsv")).unwrap()
    );
}

#[test]
fn outputs_have_the_documented_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = small_sweep_config(tmp.path());
    let out = bin().arg(&cfg).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // The terminal shows the summary table and the decision; stderr (not a terminal here) has
    // plain progress lines. 3 ranks x (6 restarts + 3 held-out repeats) = 27 jobs.
    assert!(
        stdout.starts_with(
            "rank  converged  max_iter  failed          kl  cophenetic  dispersion  stability  heldout_dev"
        ),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().take_while(|l| !l.starts_with("chosen rank")).count(),
        1 + 3,
        "{stdout}"
    );
    assert!(
        stdout.contains("\nchosen rank: 3 (rule \"default\")\n  - held-out deviance is lowest at r = "),
        "{stdout}"
    );
    assert!(stdout.contains("\nrunner-up: "), "{stdout}");
    assert!(
        stdout.ends_with(&format!("results in {}\n", tmp.path().join("results").display())),
        "{stdout}"
    );
    assert!(
        stderr.starts_with("progress: 27 fits to run\n") && stderr.contains("progress: 27/27 fits done"),
        "{stderr}"
    );

    let dir = tmp.path().join("results");
    let fits = std::fs::read_to_string(dir.join("fits.tsv")).unwrap();
    let header: Vec<&str> = fits.lines().next().unwrap().split('\t').collect();
    assert_eq!(
        header,
        [
            "rank",
            "restart",
            "seed",
            "kl",
            "poisson_loglik",
            "frobenius_sq",
            "penalty",
            "iterations",
            "stop_reason",
            "seconds"
        ]
    );
    assert_eq!(fits.lines().count(), 1 + 18);
    let summary = std::fs::read_to_string(dir.join("summary.tsv")).unwrap();
    assert!(summary.starts_with(
        "rank\tfits\tconverged\tmax_iter\tfailed\tbest_restart\tbest_seed\tkl\tpoisson_loglik\tfrobenius_sq"
    ));
    // Every fit stopped for a stated reason, and the counts add up.
    for line in summary.lines().skip(1) {
        let c: Vec<usize> = line.split('\t').take(5).map(|v| v.parse().unwrap()).collect();
        assert_eq!(c[1], 6);
        assert_eq!(c[2] + c[3] + c[4], 6);
    }

    let res = hdf5::File::open(dir.join("results.h5")).unwrap();
    let s = |n: &str| {
        res.attr(n)
            .unwrap()
            .read_scalar::<hdf5::types::VarLenUnicode>()
            .unwrap()
            .to_string()
    };
    assert_eq!(s("program"), "nnmf-sweep");
    assert_eq!(s("version"), env!("CARGO_PKG_VERSION"));
    assert!(s("config").contains("ranks = [2, 3, 4]"));
    assert!(s("input_file").ends_with("planted.h5"));
    assert_eq!(s("input_dataset"), "X");
    assert_eq!(
        res.attr("input_shape").unwrap().read_raw::<u64>().unwrap(),
        vec![60, 40]
    );
    assert_eq!(s("loss"), "kl");
    assert_eq!(res.dataset("fits/kl").unwrap().shape(), vec![18]);
    assert!(!dir.join("results.h5.partial").exists());
}

#[test]
fn frobenius_sweep_runs_and_reports_all_three_objectives() {
    let tmp = tempfile::tempdir().unwrap();
    simulate(tmp.path(), 50, 30, 2, 9);
    let cfg = write_config(
        tmp.path(),
        "c.toml",
        "[data]\npath = \"planted.h5\"\ndataset = \"X\"\n[model]\nloss = \"frobenius\"\n[sweep]\nranks = [2]\nrestarts = 3\n",
    );
    bin().arg(&cfg).arg("--quiet").assert().success();
    let res = hdf5::File::open(tmp.path().join("results/results.h5")).unwrap();
    let g = res.group("rank_2").unwrap();
    for a in ["kl", "poisson_loglik", "frobenius_sq"] {
        assert!(attr_f64(&g, a).is_finite());
    }
    let fro: Vec<f64> = res.dataset("fits/frobenius_sq").unwrap().read_raw().unwrap();
    let best = fro.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(
        attr_f64(&g, "frobenius_sq"),
        best,
        "best means the lowest configured loss"
    );
}

/// Data prepared with h5py (how most users write HDF5): float32, chunked, gzip-compressed, in a
/// subgroup, genes x samples (transpose = true). The results are then read back with h5py.
#[test]
fn h5py_written_input_and_h5py_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = r#"
import sys, h5py, numpy as np
rng = np.random.default_rng(0)
W = rng.gamma(1.0, 1.0, size=(30, 3)); H = rng.gamma(1.0, 3.0, size=(3, 45))
X = rng.poisson(W @ H).astype(np.float32)          # 30 samples x 45 genes
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("expr/counts", data=X.T, chunks=(15, 10), compression="gzip")   # genes x samples
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", writer])
        .arg(tmp.path().join("py.h5"))
        .status()
        .expect("python3 is needed for the interop tests: run scripts/setup.sh --test");
    assert!(
        status.success(),
        "h5py is needed for the interop tests: run scripts/setup.sh --test"
    );
    let cfg = write_config(
        tmp.path(),
        "c.toml",
        "[data]\npath = \"py.h5\"\ndataset = \"expr/counts\"\ntranspose = true\n[sweep]\nranks = [2, 3]\nrestarts = 4\n",
    );
    bin().arg(&cfg).arg("--quiet").assert().success();
    let reader = r#"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as r, h5py.File(sys.argv[2], "r") as d:
    X = d["expr/counts"][:].T.astype(float)
    assert r.attrs["transpose"] == True and list(r.attrs["input_shape"]) == [45, 30], dict(r.attrs)
    assert r.attrs["input_dataset"] == "expr/counts"
    for k in (2, 3):
        g = r[f"rank_{k}"]
        W, H = g["W"][:], g["H"][:]
        assert W.shape == (30, k) and H.shape == (k, 45) and W.dtype == np.float64, (W.shape, H.shape)
        assert (W >= 0).all() and (H >= 0).all()
        L = W @ H; m = X > 0
        kl = (X[m] * np.log(X[m] / L[m])).sum() - X.sum() + L.sum()
        assert abs(kl - g.attrs["kl"]) <= 1e-8 * kl, (kl, g.attrs["kl"])
    fits = r["fits"]
    assert len(fits["rank"]) == 8 and set(fits["stop_reason"].asstr()[:]) <= {"converged", "max_iter"}
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", reader])
        .arg(tmp.path().join("results/results.h5"))
        .arg(tmp.path().join("py.h5"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

#[test]
fn every_example_config_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            nnmf_sweep::config::load(&path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn svd_initializations_run_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    simulate(tmp.path(), 60, 40, 3, 5);
    for (init, deterministic) in [("nndsvd", true), ("nndsvda", true), ("nndsvdar", false)] {
        let cfg = write_config(
            tmp.path(),
            "c.toml",
            &format!(
                "[data]\npath = \"planted.h5\"\ndataset = \"X\"\n[model]\ninit = \"{init}\"\n[sweep]\nranks = [3]\nrestarts = 3\n\
                 [stop]\nmax_iter = 300\n[selection]\nheldout_repeats = 1\n"
            ),
        );
        let out = bin()
            .arg(&cfg)
            .args(["--force", "--out"])
            .arg(tmp.path().join(init))
            .output()
            .unwrap();
        assert!(out.status.success(), "{init}: {}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            stderr.contains(&format!("init = \"{init}\" is deterministic: all 3 restarts")),
            deterministic,
            "{stderr}"
        );
        let res = hdf5::File::open(tmp.path().join(init).join("results.h5")).unwrap();
        let kl: Vec<f64> = res.dataset("fits/kl").unwrap().read_raw().unwrap();
        assert!(kl.iter().all(|v| v.is_finite()));
        let identical = kl.iter().all(|v| v.to_bits() == kl[0].to_bits());
        assert_eq!(identical, deterministic, "{init}: {kl:?}");
    }
}

/// `--force` replaces a previous run's results entirely (no stale file of it survives), but only
/// once the new run has passed every check: a `--force` run with bad input keeps the old results.
#[test]
fn force_replaces_previous_results_only_after_the_checks_pass() {
    let tmp = tempfile::tempdir().unwrap();
    simulate(tmp.path(), 60, 40, 3, 5);
    let body = |ranks: &str, null: usize, dataset: &str| {
        format!(
            "[data]\npath = \"planted.h5\"\ndataset = \"{dataset}\"\n[sweep]\nranks = {ranks}\nrestarts = 3\n[stop]\n\
             max_iter = 200\n[selection]\nheldout_repeats = 1\nnull_restarts = {null}\n"
        )
    };
    let dir = tmp.path().join("results");
    let cfg = write_config(tmp.path(), "c.toml", &body("[2, 3, 4]", 2, "X"));
    bin().arg(&cfg).arg("--quiet").assert().success();
    for f in [
        "memberships_rank_4.tsv",
        "null_fits.tsv",
        "consensus_rank_4.png",
        "records/fit-r004-00000.rec",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    std::fs::write(dir.join("my_notes.txt"), "mine").unwrap();

    // Bad input with --force: refused before anything is removed.
    let cfg = write_config(tmp.path(), "c.toml", &body("[2, 3]", 0, "nope"));
    bin()
        .arg(&cfg)
        .args(["--quiet", "--force"])
        .assert()
        .code(i32::from(exit::DATA));
    assert!(dir.join("results.h5").exists() && dir.join("memberships_rank_4.tsv").exists());

    // A good --force run: nothing of the previous run is left, the user's own file is.
    let cfg = write_config(tmp.path(), "c.toml", &body("[2, 3]", 0, "X"));
    bin().arg(&cfg).args(["--quiet", "--force"]).assert().success();
    for f in [
        "memberships_rank_4.tsv",
        "null_fits.tsv",
        "consensus_rank_4.png",
        "records/fit-r004-00000.rec",
    ] {
        assert!(!dir.join(f).exists(), "stale {f}");
    }
    assert!(dir.join("my_notes.txt").exists());
    let res = hdf5::File::open(dir.join("results.h5")).unwrap();
    assert_eq!(res.attr("ranks").unwrap().read_raw::<u64>().unwrap(), vec![2, 3]);
    assert!(res.group("rank_4").is_err());
}

/// `precision = "f32"` end to end, for both losses with their default solvers: the same chosen
/// rank as f64, each rank's best objective within 1e-3 of the f64 sweep's (a different rounding
/// can end a restart in a slightly different place), f32 recorded in results.h5, and the stored
/// objectives are those of the stored factors by the one f64 definition.
#[test]
fn f32_precision_sweep_matches_f64_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let data = simulate(tmp.path(), 120, 60, 3, 4);
    for loss in ["kl", "frobenius"] {
        let mut best = Vec::new();
        for precision in ["f64", "f32"] {
            let cfg = write_config(
                tmp.path(),
                &format!("{loss}-{precision}.toml"),
                &format!(
                    "[data]\npath = \"planted.h5\"\ndataset = \"X\"\n[model]\nloss = \"{loss}\"\nprecision = \"{precision}\"\n\
                     [sweep]\nranks = [2, 3, 4]\nrestarts = 6\n[selection]\nheldout_repeats = 1\n\
                     [output]\ndir = \"out-{loss}-{precision}\"\n"
                ),
            );
            bin().arg(&cfg).arg("--quiet").assert().success();
            let res = hdf5::File::open(tmp.path().join(format!("out-{loss}-{precision}/results.h5"))).unwrap();
            let chosen = res.attr("chosen_rank").unwrap().read_scalar::<u64>().unwrap();
            let stored_precision = res
                .attr("precision")
                .unwrap()
                .read_scalar::<hdf5::types::VarLenUnicode>();
            assert_eq!(stored_precision.unwrap().as_str(), precision);
            let key = if loss == "kl" { "kl" } else { "frobenius_sq" };
            let values: Vec<f64> = [2, 3, 4]
                .iter()
                .map(|r| attr_f64(&res.group(&format!("rank_{r}")).unwrap(), key))
                .collect();
            let (w, h) = (read2(&res, "rank_3/W"), read2(&res, "rank_3/H"));
            let x = hdf5::File::open(&data)
                .unwrap()
                .dataset("X")
                .unwrap()
                .read_2d::<f64>()
                .unwrap();
            let o = FitMatrix::new(x).objectives(w.dot(&h).view());
            let stored = if loss == "kl" { o.kl } else { o.frobenius_sq };
            assert!(((stored - values[1]) / values[1]).abs() < 1e-9, "{loss} {precision}");
            best.push((chosen, values));
        }
        assert_eq!(best[0].0, 3, "{loss}: f64 chooses the planted rank");
        assert_eq!(best[0].0, best[1].0, "{loss}: f32 chooses the rank f64 chooses");
        for (a, b) in best[0].1.iter().zip(&best[1].1) {
            assert!(((a - b) / a).abs() < 1e-3, "{loss}: best f64 {a} vs f32 {b}");
        }
    }
}

/// A single fit with 1 thread and with 4 (which then go to the products inside the fit, as
/// multi-threaded BLAS) gives the same bits, in both precisions. The matrix is large enough that
/// OpenBLAS does split its products.
#[test]
fn threads_inside_one_fit_give_the_same_bits() {
    let tmp = tempfile::tempdir().unwrap();
    simulate(tmp.path(), 800, 600, 6, 2);
    for precision in ["f64", "f32"] {
        let cfg = write_config(
            tmp.path(),
            &format!("{precision}.toml"),
            &format!(
                "[data]\npath = \"planted.h5\"\ndataset = \"X\"\n[model]\nprecision = \"{precision}\"\n\
                 [sweep]\nranks = [12]\nrestarts = 1\n[stop]\nmax_iter = 60\n[selection]\nheldout_repeats = 0\nrule = \"cophenetic\"\n"
            ),
        );
        let mut results = Vec::new();
        for threads in ["1", "4"] {
            let out = tmp.path().join(format!("{precision}-t{threads}"));
            bin()
                .arg(&cfg)
                .args(["--quiet", "--threads", threads, "--out"])
                .arg(&out)
                .assert()
                .success();
            let f = hdf5::File::open(out.join("results.h5")).unwrap();
            results.push((read2(&f, "rank_12/W"), read2(&f, "rank_12/H")));
        }
        let same = |a: &ndarray::Array2<f64>, b: &ndarray::Array2<f64>| {
            a.iter().zip(b.iter()).all(|(p, q)| p.to_bits() == q.to_bits())
        };
        assert!(same(&results[0].0, &results[1].0), "{precision}: W differs");
        assert!(same(&results[0].1, &results[1].1), "{precision}: H differs");
    }
}

/// NNDSVD starts on a matrix large enough for the randomized SVD give the same bits whatever
/// thread count OpenBLAS would pick by itself (OPENBLAS_NUM_THREADS 1 vs 2) and whatever
/// `--threads`: every product, the SVD's included, runs on one BLAS thread.
#[test]
fn svd_starts_do_not_depend_on_blas_threads() {
    let tmp = tempfile::tempdir().unwrap();
    simulate(tmp.path(), 700, 420, 4, 6);
    let cfg = write_config(
        tmp.path(),
        "c.toml",
        "[data]\npath = \"planted.h5\"\ndataset = \"X\"\n[model]\ninit = \"nndsvdar\"\n[sweep]\nranks = [4]\nrestarts = 2\n\
         [stop]\nmax_iter = 30\n[selection]\nheldout_repeats = 0\nrule = \"cophenetic\"\n",
    );
    let mut ws = Vec::new();
    for (blas, threads) in [("1", "1"), ("2", "2")] {
        let out = tmp.path().join(format!("b{blas}"));
        bin()
            .env("OPENBLAS_NUM_THREADS", blas)
            .arg(&cfg)
            .args(["--quiet", "--threads", threads, "--out"])
            .arg(&out)
            .assert()
            .success();
        let f = hdf5::File::open(out.join("results.h5")).unwrap();
        ws.push(read2(&f, "rank_4/W"));
    }
    assert!(
        ws[0].iter().zip(ws[1].iter()).all(|(a, b)| a.to_bits() == b.to_bits()),
        "W differs between BLAS thread counts"
    );
}
