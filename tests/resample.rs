//! End-to-end tests of resampled restarts (`[sweep] resample`) with the real binary: the same bits
//! with 1 or 2 threads and as one process or 2 shards merged; on planted data, resampling lowers
//! the stability of an over-split rank further while the planted rank stays stable; non-integer
//! and sparse data; an unknown value is a config error naming the accepted ones.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use assert_cmd::Command;
use nnmf_sweep::error::exit;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The binary, with no Slurm array variables inherited (they would select a shard).
fn bin() -> Command {
    let mut c = Command::cargo_bin("nnmf-sweep").unwrap();
    for v in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
    ] {
        c.env_remove(v);
    }
    c
}

fn simulate(dir: &Path, rows: usize, cols: usize, rank: usize, seed: u64) {
    bin()
        .args(["simulate", "--force", "--out"])
        .arg(dir.join("X.h5"))
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
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn run(cfg: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "exit {:?}: {}", o.status.code(), text(&o.stderr));
}

/// Asserts that two output dirs hold the same results (scripts/same_results.py).
fn assert_same_results(a: &Path, b: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/same_results.py");
    let o = std::process::Command::new("python3")
        .arg(script)
        .arg(a)
        .arg(b)
        .output()
        .expect("python3 with h5py is needed: run scripts/setup.sh --test");
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(text(&o.stdout).contains("identical"), "{}", text(&o.stdout));
}

/// fits.tsv without its last column (`seconds`, wall-clock time).
fn fits_without_seconds(out: &Path) -> String {
    std::fs::read_to_string(out.join("fits.tsv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once('\t').map_or(l, |(a, _)| a).to_string() + "\n")
        .collect()
}

/// Column `name` of summary.tsv, per rank.
fn summary_column(out: &Path, name: &str) -> Vec<(usize, f64)> {
    let t = std::fs::read_to_string(out.join("summary.tsv")).unwrap();
    let mut lines = t.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].parse().unwrap(), f[col].parse().unwrap())
        })
        .collect()
}

#[test]
fn poisson_sweep_is_the_same_with_any_threads_or_shards() {
    same_with_any_threads_or_shards("poisson");
}

#[test]
fn bootstrap_sweep_is_the_same_with_any_threads_or_shards() {
    same_with_any_threads_or_shards("bootstrap");
}

/// A sweep with `resample = how` gives the same results with 1 or 2 threads and as 2 shards
/// merged; results.h5 records the setting; held-out fits do not resample.
fn same_with_any_threads_or_shards(how: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    simulate(dir, 60, 40, 3, 5);
    // Every kind of job: restarts and null restarts resample, held-out fits do not.
    let body = format!(
        "[data]\npath = \"X.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2, 3]\nrestarts = 4\nseed = 3\n\
         resample = \"{how}\"\n[stop]\nmax_iter = 200\n[selection]\nheldout_repeats = 1\nnull_restarts = 1\n"
    );
    let cfg = write(dir, "c.toml", &body);
    let one = dir.join("one");
    ok(&run(&cfg, &one, &["--threads", "1"]));
    let two = dir.join("two");
    ok(&run(&cfg, &two, &["--threads", "2"]));
    assert_same_results(&one, &two);

    let sh = dir.join("sharded");
    ok(&run(&cfg, &sh, &["--shard", "0/2", "--threads", "2"]));
    ok(&run(&cfg, &sh, &["--shard", "1/2", "--threads", "1"]));
    ok(&bin().arg("merge").arg(&sh).arg("--quiet").output().unwrap());
    assert_same_results(&one, &sh);

    // results.h5 records the setting; the resampled sweep is not the plain one.
    let h5 = hdf5::File::open(one.join("results.h5")).unwrap();
    let r = h5
        .attr("resample")
        .unwrap()
        .read_scalar::<hdf5::types::VarLenUnicode>()
        .unwrap();
    assert_eq!(r.as_str(), how);
    let plain_cfg = write(dir, "plain.toml", &body.replace(&format!("resample = \"{how}\"\n"), ""));
    let plain = dir.join("plain");
    ok(&run(&plain_cfg, &plain, &[]));
    assert!(
        hdf5::File::open(plain.join("results.h5"))
            .unwrap()
            .attr("resample")
            .is_err()
    );
    assert_ne!(fits_without_seconds(&one), fits_without_seconds(&plain));
    // The held-out fits do not resample: their scores are those of the plain sweep.
    assert_eq!(
        std::fs::read_to_string(one.join("heldout.tsv"))
            .unwrap()
            .lines()
            .count(),
        std::fs::read_to_string(plain.join("heldout.tsv"))
            .unwrap()
            .lines()
            .count()
    );
    let dev = |o: &Path| summary_column(o, "heldout_deviance");
    assert_eq!(dev(&one), dev(&plain));
}

#[test]
fn resampling_lowers_the_stability_of_an_over_split_rank_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    simulate(dir, 300, 200, 4, 1);
    let body = "[data]\npath = \"X.h5\"\ndataset = \"X\"\n[sweep]\nranks = [4, 6]\nrestarts = 12\nseed = 2\n\
                [selection]\nrule = \"cophenetic\"\nheldout_repeats = 0\n";
    let plain_cfg = write(dir, "plain.toml", body);
    let plain = dir.join("plain");
    ok(&run(&plain_cfg, &plain, &[]));
    let p = summary_column(&plain, "stability");
    let kl = |o: &Path| summary_column(o, "kl")[0].1;
    assert_eq!((p[0].0, p[1].0), (4, 6));
    for how in ["poisson", "bootstrap"] {
        let cfg = write(
            dir,
            &format!("{how}.toml"),
            &body.replace("seed = 2\n", &format!("seed = 2\nresample = \"{how}\"\n")),
        );
        let res = dir.join(how);
        ok(&run(&cfg, &res, &[]));
        let r = summary_column(&res, "stability");
        eprintln!("stability without resampling {p:?}, with resample = {how}: {r:?}");
        assert_eq!((r[0].0, r[1].0), (4, 6));
        // The planted rank stays stable under noise...
        assert!(p[0].1 > 0.99 && r[0].1 > 0.99, "{how}: {p:?} {r:?}");
        // ...the over-split rank's extra components do not: they follow the noise.
        assert!(r[1].1 < p[1].1 - 0.03, "{how}: {p:?} {r:?}");
        // The best fit is judged on the original X, with a W for X's own observations (a
        // bootstrap W left in the sample's row order would fit X far worse), and its KL is that
        // of the data, not of a copy (about twice as large at rank 4: the noise counted twice).
        assert!(kl(&res) < 1.1 * kl(&plain), "{how}: {} vs {}", kl(&res), kl(&plain));
    }
}

#[test]
fn resampling_accepts_non_integer_dense_and_sparse_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (n, p) = (30, 20);
    let value = |i: usize, j: usize| {
        if (i + 2 * j).is_multiple_of(5) {
            0.0
        } else {
            0.37 + ((i * 3 + j * 7) % 13) as f64 * 0.61
        }
    };
    let csv: String = (0..n)
        .map(|i| (0..p).map(|j| format!("{}", value(i, j))).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    write(dir, "x.csv", &csv);
    let entries: Vec<String> = (0..n)
        .flat_map(|i| (0..p).map(move |j| (i, j)))
        .filter(|&(i, j)| value(i, j) > 0.0)
        .map(|(i, j)| format!("{} {} {}", i + 1, j + 1, value(i, j)))
        .collect();
    let mtx = format!(
        "%%MatrixMarket matrix coordinate real general\n{n} {p} {}\n{}\n",
        entries.len(),
        entries.join("\n")
    );
    write(dir, "x.mtx", &mtx);
    for (file, how) in [("x.csv", "poisson"), ("x.mtx", "poisson"), ("x.mtx", "bootstrap")] {
        let cfg = write(
            dir,
            "c.toml",
            &format!(
                "[data]\npath = \"{file}\"\n[sweep]\nranks = [2, 3]\nrestarts = 3\nresample = \"{how}\"\n\
                 [stop]\nmax_iter = 100\n[selection]\nheldout_repeats = 1\n"
            ),
        );
        let out = dir.join(format!("out-{file}-{how}"));
        ok(&run(&cfg, &out, &[]));
        let kl = summary_column(&out, "kl");
        assert!(
            kl.iter().all(|(_, v)| v.is_finite() && *v > 0.0),
            "{file} {how}: {kl:?}"
        );
        // Every restart is judged on the original X with a finite objective, even where a
        // line of small values drew all zeros in its copy.
        let fits = std::fs::read_to_string(out.join("fits.tsv")).unwrap();
        assert!(!fits.contains("\tNA\t"), "{file} {how}: {fits}");
    }
}

#[test]
fn an_unknown_resample_value_is_a_config_error_naming_the_accepted_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = write(
        dir,
        "c.toml",
        "[data]\npath = \"X.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2]\nresample = \"jackknife\"\n",
    );
    let o = run(&cfg, &dir.join("out"), &[]);
    assert_eq!(o.status.code(), Some(i32::from(exit::CONFIG)));
    assert_eq!(
        text(&o.stderr),
        format!(
            "error: {}:6: sweep.resample: unknown value \"jackknife\"; valid values: \"none\", \"poisson\", \
             \"bootstrap\" (\"poisson\" fits each restart to a Poisson draw of X, \"bootstrap\" to a sample of \
             its rows)\n",
            cfg.display()
        )
    );
}
