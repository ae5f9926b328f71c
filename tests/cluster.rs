//! End-to-end tests of cluster runs with the real binary on real HDF5 files: shards merged equal a
//! single run bit for bit, merge refuses an incomplete set, resume skips stored fits and recomputes
//! damaged ones, a changed config or data is refused, SIGTERM stops with exit code 6 and keeps
//! finished fits, and status counts per rank and per shard.
//!
//! Results are compared with scripts/same_results.py (h5py): every results.h5 dataset and
//! attribute and every table, except the wall-clock `seconds` column (not reproducible).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use assert_cmd::Command;
use nnmf_sweep::error::exit;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
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

fn simulate(dir: &Path, name: &str, rows: usize, cols: usize, seed: u64) {
    bin()
        .args(["simulate", "--force", "--out"])
        .arg(dir.join(name))
        .args([
            "--rows",
            &rows.to_string(),
            "--cols",
            &cols.to_string(),
            "--rank",
            "3",
            "--seed",
            &seed.to_string(),
        ])
        .assert()
        .success();
}

/// A small sweep with every kind of job (fits, held-out fits, null fits): 3 ranks x (4 + 2 + 1).
fn setup(dir: &Path) -> PathBuf {
    simulate(dir, "data.h5", 60, 40, 5);
    config(dir, "c.toml", 4, 300)
}

fn config(dir: &Path, name: &str, restarts: usize, max_iter: usize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[data]\npath = \"data.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2, 3, 4]\nrestarts = {restarts}\nseed = 3\n\
             [stop]\nmax_iter = {max_iter}\n[selection]\nheldout_repeats = 2\nnull_restarts = 1\n"
        ),
    )
    .unwrap();
    path
}

fn run(cfg: &Path, out: &Path, extra: &[&str]) -> Output {
    bin().arg(cfg).arg("--out").arg(out).args(extra).output().unwrap()
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

/// Every record file: name -> (bytes, inode, mtime in ns).
fn records(out: &Path) -> BTreeMap<String, (Vec<u8>, u64, i64)> {
    let dir = out.join("records");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rec"))
        .map(|p| {
            let m = std::fs::metadata(&p).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                (
                    std::fs::read(&p).unwrap(),
                    m.ino(),
                    m.mtime() * 1_000_000_000 + m.mtime_nsec(),
                ),
            )
        })
        .collect()
}

/// A single-process reference run.
fn reference(dir: &Path, cfg: &Path) -> PathBuf {
    let out = dir.join("single");
    ok(&run(cfg, &out, &["--quiet"]));
    out
}

#[test]
fn two_shards_merged_equal_a_single_run_bitwise() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup(tmp.path());
    let single = reference(tmp.path(), &cfg);
    let sh = tmp.path().join("sharded");
    let o = run(&cfg, &sh, &["--shard", "0/2", "--threads", "1"]);
    ok(&o);
    assert!(
        text(&o.stdout).contains("shard 0/2: its") && text(&o.stdout).contains("run: nnmf-sweep merge"),
        "{}",
        text(&o.stdout)
    );
    assert!(!sh.join("results.h5").exists(), "a shard writes records only");
    // The second shard from the Slurm array environment instead of the flag.
    let o = bin()
        .arg(&cfg)
        .arg("--out")
        .arg(&sh)
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .unwrap();
    ok(&o);
    assert!(text(&o.stdout).contains("shard 1/2"), "{}", text(&o.stdout));
    assert_eq!(records(&sh).len(), 21, "3 ranks x (4 fits + 2 held-out + 1 null)");
    let m = bin().arg("merge").arg(&sh).output().unwrap();
    ok(&m);
    assert!(text(&m.stdout).contains("chosen rank"), "{}", text(&m.stdout));
    assert_same_results(&single, &sh);
    // Merging again rebuilds the same results.
    ok(&bin().args(["merge", "--quiet"]).arg(&sh).output().unwrap());
    assert_same_results(&single, &sh);
}

#[test]
fn merge_refuses_an_incomplete_set_unless_allowed_and_a_run_then_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup(tmp.path());
    let out = tmp.path().join("out");
    ok(&run(&cfg, &out, &["--quiet", "--shard", "1/3"]));
    let m = bin().arg("merge").arg(&out).output().unwrap();
    assert_eq!(m.status.code(), Some(exit::INCOMPLETE.into()), "{}", text(&m.stderr));
    let err = text(&m.stderr);
    assert!(
        err.contains("fits are missing from") && err.contains("fit r4 #") && err.contains("--allow-partial"),
        "{err}"
    );
    assert!(!out.join("results.h5").exists());

    // A rank without any fit cannot even be merged partially; with every rank started it can.
    ok(&run(&cfg, &out, &["--quiet", "--shard", "0/3"]));
    let m = bin().args(["merge", "--allow-partial"]).arg(&out).output().unwrap();
    ok(&m);
    assert!(text(&m.stdout).contains("PARTIAL result"), "{}", text(&m.stdout));
    assert!(out.join("results.h5").exists() && out.join("partial.txt").exists());
    let listed = std::fs::read_to_string(out.join("partial.txt")).unwrap();
    assert!(listed.contains("fits were missing"), "{listed}");

    // A partial result does not block the sweep: the same command resumes, and the final merge
    // replaces it with the complete result.
    ok(&run(&cfg, &out, &["--quiet"]));
    assert!(!out.join("partial.txt").exists());
    let single = reference(tmp.path(), &cfg);
    assert_same_results(&single, &out);
}

#[test]
fn resume_skips_stored_fits_and_recomputes_damaged_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup(tmp.path());
    let out = tmp.path().join("out");
    ok(&run(&cfg, &out, &["--quiet", "--shard", "0/2"]));
    let before = records(&out);
    assert!(before.len() >= 8, "{}", before.len());
    // Tear one record (as a crash inside a write could not, but a disk might) and flip a byte
    // of another: both are recomputed, with a warning.
    let names: Vec<&String> = before.keys().collect();
    let (torn, flipped) = (names[0].clone(), names[1].clone());
    let rec = |n: &str| out.join("records").join(n);
    let b = std::fs::read(rec(&torn)).unwrap();
    std::fs::write(rec(&torn), &b[..b.len() / 2]).unwrap();
    let mut b = std::fs::read(rec(&flipped)).unwrap();
    b[200] ^= 0x10;
    std::fs::write(rec(&flipped), &b).unwrap();

    let o = run(&cfg, &out, &[]);
    ok(&o);
    let err = text(&o.stderr);
    assert!(
        err.contains(
            "2 stored fit record(s) are damaged (torn or corrupted: checksum mismatch) and will be recomputed"
        ),
        "{err}"
    );
    let skipped = before.len() - 2;
    assert!(
        err.contains(&format!("resuming: {skipped} of 21 fits are already stored")),
        "{err}"
    );
    assert!(
        err.contains(&format!("progress: {} fits to run", 21 - skipped)),
        "{err}"
    );
    let after = records(&out);
    for (name, v) in &before {
        if *name != torn && *name != flipped {
            assert_eq!(&after[name], v, "{name}: a stored fit was rewritten");
        }
    }
    assert!(
        after[&torn].0.len() > b.len() / 2,
        "the torn record was rewritten whole"
    );
    // (Recomputed records differ from the originals only in their wall-clock seconds.)
    let single = reference(tmp.path(), &cfg);
    assert_same_results(&single, &out);
}

#[test]
fn a_changed_config_or_data_is_refused_never_mixed() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup(tmp.path());
    let out = tmp.path().join("out");
    ok(&run(&cfg, &out, &["--quiet", "--shard", "0/2"]));
    let before = records(&out);

    let other = config(tmp.path(), "other.toml", 5, 300);
    let o = run(&other, &out, &["--quiet", "--shard", "1/2"]);
    assert_eq!(o.status.code(), Some(exit::OUTPUT.into()), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("holds the records of another sweep: restarts: 5 for this run, 4 in the directory")
            && err.contains("--force"),
        "{err}"
    );
    let o = run(&config(tmp.path(), "iters.toml", 4, 299), &out, &["--quiet"]);
    assert_eq!(o.status.code(), Some(exit::OUTPUT.into()));
    assert!(text(&o.stderr).contains("max_iter: 299 for this run, 300 in the directory"));
    // --force is refused with a shard (it would delete the other shards' records).
    let o = run(&other, &out, &["--quiet", "--shard", "1/2", "--force"]);
    assert_eq!(o.status.code(), Some(exit::CONFIG.into()));
    assert!(text(&o.stderr).contains("--force: cannot be combined with a shard"));

    // Other data under the same name.
    simulate(tmp.path(), "data.h5", 60, 40, 6);
    let o = run(&cfg, &out, &["--quiet"]);
    assert_eq!(o.status.code(), Some(exit::OUTPUT.into()));
    assert!(
        text(&o.stderr).contains("is not the data the stored fits were made from"),
        "{}",
        text(&o.stderr)
    );
    let m = bin().arg("merge").arg(&out).output().unwrap();
    assert_eq!(m.status.code(), Some(exit::DATA.into()), "{}", text(&m.stderr));
    assert!(text(&m.stderr).contains("changed since the sweep ran"));
    assert_eq!(records(&out), before, "nothing written by refused runs");

    // Bad shard values.
    for (v, msg) in [("2/2", "between 0 and 1"), ("1", "not of the form I/N")] {
        let o = run(&cfg, &out, &["--shard", v]);
        assert_eq!(o.status.code(), Some(exit::CONFIG.into()));
        assert!(text(&o.stderr).contains(msg), "{}", text(&o.stderr));
    }
    let o = bin().args(["merge"]).arg(tmp.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(exit::OUTPUT.into()));
    assert!(text(&o.stderr).contains("holds no sweep (no sweep-manifest.txt)"));
}

#[test]
fn status_counts_per_rank_kind_and_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup(tmp.path());
    let out = tmp.path().join("out");
    ok(&run(&cfg, &out, &["--quiet", "--shard", "1/2"]));
    let s = bin().arg("status").arg(&out).output().unwrap();
    ok(&s);
    let t = text(&s.stdout);
    let done = records(&out).len();
    assert!(
        t.contains(&format!("{done} of 21 fits done, {} missing", 21 - done)),
        "{t}"
    );
    assert!(t.contains("rank  kind      done  missing\n   2  fit"), "{t}");
    assert!(t.contains("   4  null"), "{t}");
    // The shard count recorded by the shard runs.
    assert!(t.contains("(of 2 shards)"), "{t}");
    assert!(
        t.contains(&format!("    0       0{:>9}\n    1  {done:>6}        0\n", 21 - done)),
        "{t}"
    );
    assert!(t.contains("missing: "), "{t}");
    let s = bin().args(["status", "--shards", "3"]).arg(&out).output().unwrap();
    assert!(text(&s.stdout).contains("(of 3 shards)"));
}

/// SIGTERM (Slurm's time limit or scancel) stops the run within seconds with exit code 6, keeps
/// every finished fit, stores no cancelled one; the same command then completes the sweep with
/// the bits of a run never interrupted.
#[test]
fn sigterm_stops_keeps_finished_fits_and_the_rerun_equals_a_clean_run() {
    let tmp = tempfile::tempdir().unwrap();
    simulate(tmp.path(), "data.h5", 150, 80, 5);
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[data]\npath = \"data.h5\"\ndataset = \"X\"\n[sweep]\nranks = [3, 4]\nrestarts = 8\nseed = 3\n\
         [stop]\nmax_iter = 1500\ntol = 1e-12\n[selection]\nheldout_repeats = 1\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let exe = assert_cmd::cargo::cargo_bin("nnmf-sweep");
    let child = std::process::Command::new(exe)
        .arg(&cfg)
        .args(["--quiet", "--threads", "2", "--out"])
        .arg(&out)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while records(&out).len() < 2 {
        assert!(t0.elapsed().as_secs() < 120, "no fit finished");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let t1 = std::time::Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(t1.elapsed().as_secs_f64() < 5.0, "took {:?} to stop", t1.elapsed());
    assert_eq!(o.status.code(), Some(exit::INCOMPLETE.into()), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("incomplete: stopped by a signal") && err.contains("run the same command again to resume"),
        "{err}"
    );
    let kept = records(&out);
    assert!(kept.len() >= 2 && kept.len() < 18, "{} records", kept.len());
    assert!(!out.join("results.h5").exists());

    ok(&run(&cfg, &out, &["--quiet"]));
    let after = records(&out);
    assert_eq!(after.len(), 18);
    for (name, v) in &kept {
        assert_eq!(&after[name], v, "{name} was lost or recomputed");
    }
    let single = reference(tmp.path(), &cfg);
    assert_same_results(&single, &out);
}

/// Shards started at the same moment into a directory that does not exist yet race on creating
/// it, its manifest and shards.txt: none may fail, and the merge equals a single run.
#[test]
fn shards_started_together_do_not_race() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup(tmp.path());
    let out = tmp.path().join("new/dir");
    let exe = assert_cmd::cargo::cargo_bin("nnmf-sweep");
    let children: Vec<_> = (0..3)
        .map(|i| {
            std::process::Command::new(&exe)
                .arg(&cfg)
                .args(["--quiet", "--threads", "1", "--shard", &format!("{i}/3"), "--out"])
                .arg(&out)
                .env_remove("SLURM_ARRAY_TASK_ID")
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        ok(&o);
    }
    assert_eq!(records(&out).len(), 21);
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial") || n.contains("probe"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    ok(&bin().args(["merge", "--quiet"]).arg(&out).output().unwrap());
    assert_same_results(&reference(tmp.path(), &cfg), &out);
}
