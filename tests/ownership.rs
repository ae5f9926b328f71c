//! One owner per output directory, and nothing the run did not write is touched (issue 12,
//! cases 1-4 and 8): end-to-end runs of the real binary. Every spawned process has a timeout, and
//! no process may panic or abort.
//!
//! - two runs, two merges, a run and a merge, `--force` and a run, started together on one
//!   directory: the second writer is refused (exit 4, naming the holder) or finds the work done;
//!   a results.h5 left by a writer that exited 0 is identical to a clean run's
//!   (`scripts/same_results.py`), 50 pairs in all;
//! - an input lying in the output directory under an output name (fits.tsv as TSV data, the
//!   directory's own results.h5 with `--force`) is refused before anything is written, and left
//!   byte for byte as it was;
//! - SIGTERM in every phase (loading, fitting, merging, writing) ends the run with exit 6 and a
//!   message.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use nnmf_sweep::error::exit;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nnmf-sweep");

/// How long any one process may take before the test calls it hung.
const LIMIT: Duration = Duration::from_secs(120);

fn cmd() -> Command {
    let mut c = Command::new(BIN);
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// Waits for `child` with [`LIMIT`]; kills it and fails the test when it hangs.
fn wait(mut child: Child, what: &str) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} hung for {LIMIT:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn run(c: &mut Command, what: &str) -> Output {
    wait(c.spawn().unwrap(), what)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or_else(|| panic!("killed by a signal: {o:?}"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// No panic, no abort: a clean exit with a code.
fn sane(o: &Output, what: &str) {
    let e = stderr(o);
    assert!(o.status.code().is_some(), "{what}: killed by a signal; stderr: {e}");
    assert!(!e.contains("panicked"), "{what} panicked: {e}");
    assert_ne!(code(o), 134, "{what} aborted: {e}");
    assert_ne!(code(o), 101, "{what} panicked: {e}");
}

/// A planted 60 x 40 count matrix of rank 3 in `dir/data.h5`.
fn planted(dir: &Path) {
    let o = run(
        cmd()
            .args(["simulate", "--rows", "60", "--cols", "40", "--rank", "3", "--out"])
            .arg(dir.join("data.h5")),
        "simulate",
    );
    assert_eq!(code(&o), exit::SUCCESS.into(), "{}", stderr(&o));
}

/// A small sweep with cross-validation and consensus, output `dir/out`.
fn config(dir: &Path) -> PathBuf {
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        "[data]\npath = \"data.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2, 3]\nrestarts = 4\nseed = 3\n\
         [selection]\nheldout_repeats = 1\n[stop]\nmax_iter = 200\n[output]\ndir = \"out\"\n",
    )
    .unwrap();
    path
}

/// Whether two output directories hold the same results (scripts/same_results.py).
fn same_results(a: &Path, b: &Path) -> Result<(), String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/same_results.py");
    let o = Command::new("python3").arg(script).arg(a).arg(b).output().unwrap();
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// Names in `dir` (sorted).
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|es| es.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The second command holds off until the first one has started, then a pseudo-random
/// 0-250 ms more, so that both orders and every overlap are tried.
fn offset(i: usize) -> Duration {
    Duration::from_millis(((i * 37 + 11) % 251) as u64)
}

#[derive(Debug, Clone, Copy)]
enum Pair {
    RunRun,
    MergeMerge,
    RunMerge,
    ForceRun,
}

/// 50 pairs of conflicting commands on one directory; no results.h5 written by a process that
/// exited 0 may differ from a clean run's.
#[test]
fn fifty_conflicting_pairs_never_corrupt_a_result() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    planted(root);
    let cfg = config(root);
    let clean = root.join("clean");
    let o = run(cmd().arg(&cfg).arg("--quiet").arg("--out").arg(&clean), "clean run");
    assert_eq!(code(&o), exit::SUCCESS.into(), "{}", stderr(&o));

    let pairs = [Pair::RunRun, Pair::MergeMerge, Pair::RunMerge, Pair::ForceRun];
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..50 {
        let pair = pairs[i % 4];
        let dir = root.join(format!("d{i}"));
        // The starting state: empty for a run pair, a finished sweep for the others.
        if !matches!(pair, Pair::RunRun | Pair::RunMerge) {
            let o = run(cmd().arg(&cfg).arg("--quiet").arg("--out").arg(&dir), "setup run");
            assert_eq!(code(&o), exit::SUCCESS.into(), "{}", stderr(&o));
        }
        if matches!(pair, Pair::MergeMerge) {
            std::fs::remove_file(dir.join("results.h5")).unwrap();
        }
        let mut first_cmd = cmd();
        let mut second_cmd = cmd();
        match pair {
            Pair::RunRun => {
                first_cmd.arg(&cfg).arg("--quiet").arg("--out").arg(&dir);
                second_cmd.arg(&cfg).arg("--quiet").arg("--out").arg(&dir);
            }
            Pair::MergeMerge => {
                first_cmd.args(["merge", "--quiet"]).arg(&dir);
                second_cmd.args(["merge", "--quiet"]).arg(&dir);
            }
            Pair::RunMerge => {
                first_cmd.arg(&cfg).arg("--quiet").arg("--out").arg(&dir);
                second_cmd.args(["merge", "--quiet"]).arg(&dir);
            }
            Pair::ForceRun => {
                first_cmd.arg(&cfg).args(["--quiet", "--force", "--out"]).arg(&dir);
                second_cmd.arg(&cfg).arg("--quiet").arg("--out").arg(&dir);
            }
        }
        let (first, second) = if i % 8 < 4 {
            let a = first_cmd.spawn().unwrap();
            std::thread::sleep(offset(i));
            (a, second_cmd.spawn().unwrap())
        } else {
            let b = second_cmd.spawn().unwrap();
            std::thread::sleep(offset(i));
            (first_cmd.spawn().unwrap(), b)
        };
        let (a, b) = (wait(first, "first"), wait(second, "second"));
        for (o, what) in [(&a, "first"), (&b, "second")] {
            sane(o, &format!("pair {i} {pair:?} {what}"));
            let c = code(o);
            let e = stderr(o);
            // 0: done; 4: refused (the lock, or results already there, or for a merge no sweep
            // yet); 6: a merge that found fits missing (it ran before the run's first record).
            assert!(
                c == exit::SUCCESS.into()
                    || c == exit::OUTPUT.into()
                    || (c == exit::INCOMPLETE.into() && matches!(pair, Pair::RunMerge) && what == "second"),
                "pair {i} {pair:?} {what}: exit {c}: {e}"
            );
            if c == exit::OUTPUT.into() {
                // The lock's holder writes its note just after taking the lock: a process that
                // looks in between is refused with "another process (it left no note)".
                let known = e.contains("is in use by pid ")
                    || e.contains("is in use by another process (it left no note)")
                    || e.contains("already holds results (results.h5)")
                    || e.contains("holds no sweep");
                assert!(known, "pair {i} {pair:?} {what}: unexpected refusal: {e}");
                let key = if e.contains("is in use by") {
                    "locked"
                } else {
                    "other refusal"
                };
                *seen.entry(key.into()).or_default() += 1;
            }
            if c == exit::SUCCESS.into() {
                *seen.entry("exit 0".into()).or_default() += 1;
            }
        }
        let wrote = code(&a) == exit::SUCCESS.into() || code(&b) == exit::SUCCESS.into();
        if wrote {
            assert!(
                dir.join("results.h5").exists(),
                "pair {i} {pair:?}: exit 0 but no results.h5"
            );
            if let Err(d) = same_results(&clean, &dir) {
                panic!("pair {i} {pair:?}: a writer exited 0 but its result differs from a clean run's:\n{d}");
            }
        }
        assert!(
            !listing(&dir).iter().any(|n| n.ends_with(".partial")),
            "pair {i} {pair:?}: temporary files left: {:?}",
            listing(&dir)
        );
    }
    eprintln!("outcomes over 100 commands: {seen:?}");
    assert!(
        seen.get("locked").copied().unwrap_or(0) > 0,
        "no pair overlapped: the lock was never exercised ({seen:?})"
    );
}

/// Case 2: `[output] dir = "."` beside TSV data named fits.tsv: refused before anything is
/// written; the input is left as it was.
#[test]
fn input_named_like_an_output_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut text = String::from("a\tb\tc\td\n");
    for i in 0..12 {
        text.push_str(&format!("{}\t{}\t{}\t{}\n", i % 5 + 1, i % 3 + 2, i % 7 + 1, i % 4 + 3));
    }
    std::fs::write(dir.join("fits.tsv"), &text).unwrap();
    std::fs::write(
        dir.join("c.toml"),
        "[data]\npath = \"fits.tsv\"\n[sweep]\nranks = [2]\nrestarts = 2\n[output]\ndir = \".\"\n",
    )
    .unwrap();
    let o = run(cmd().arg(dir.join("c.toml")).current_dir(dir), "run");
    sane(&o, "run");
    assert_eq!(code(&o), exit::OUTPUT.into(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "error: [data] path {p}/fits.tsv lies in the output directory {p} under a name nnmf-sweep writes there \
             (fits.tsv); the run would overwrite or delete it: move the file, or choose another output directory \
             with --out or [output] dir\n",
            p = std::fs::canonicalize(dir).unwrap().display()
        )
    );
    assert_eq!(std::fs::read_to_string(dir.join("fits.tsv")).unwrap(), text);
    assert_eq!(listing(dir), ["c.toml", "fits.tsv"]);

    // The same data under another name in a directory holding a stranger's fits.tsv: refused too
    // (a sweep never overwrites files it did not write).
    std::fs::write(dir.join("counts.tsv"), &text).unwrap();
    std::fs::write(
        dir.join("c.toml"),
        "[data]\npath = \"counts.tsv\"\n[sweep]\nranks = [2]\nrestarts = 2\n[output]\ndir = \".\"\n",
    )
    .unwrap();
    let o = run(cmd().arg(dir.join("c.toml")).current_dir(dir), "run");
    sane(&o, "run");
    assert_eq!(code(&o), exit::OUTPUT.into(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds fits.tsv, with names nnmf-sweep writes, but no sweep-manifest.txt"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(dir.join("fits.tsv")).unwrap(), text);
}

/// Case 3: the data is the output directory's own results.h5 (`dataset = "rank_3/H"`), run with
/// `--force`: refused, and the file is not deleted or replaced.
#[test]
fn force_never_deletes_its_own_input() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    planted(root);
    let cfg = config(root);
    let o = run(cmd().arg(&cfg).arg("--quiet"), "first run");
    assert_eq!(code(&o), exit::SUCCESS.into(), "{}", stderr(&o));
    let results = root.join("out/results.h5");
    let before = std::fs::read(&results).unwrap();
    std::fs::write(
        root.join("h.toml"),
        "[data]\npath = \"out/results.h5\"\ndataset = \"rank_3/H\"\n[sweep]\nranks = [2]\nrestarts = 2\n\
         [output]\ndir = \"out\"\n",
    )
    .unwrap();
    let o = run(cmd().arg(root.join("h.toml")).arg("--force"), "force run");
    sane(&o, "force run");
    assert_eq!(code(&o), exit::OUTPUT.into(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("results.h5 lies in the output directory") && stderr(&o).contains("(results.h5)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&results).unwrap(), before, "the input was changed");
}

/// Case 4: `--force` while another run holds the directory: refused with the holder named; the
/// running sweep finishes with the same result as a clean run.
#[test]
fn force_while_a_run_is_active_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    planted(root);
    let cfg = config(root);
    let clean = root.join("clean");
    let o = run(cmd().arg(&cfg).arg("--quiet").arg("--out").arg(&clean), "clean");
    assert_eq!(code(&o), exit::SUCCESS.into(), "{}", stderr(&o));
    // A slow sweep in `out` (many restarts), and --force against it once it holds the lock.
    let slow = root.join("slow.toml");
    std::fs::write(
        &slow,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("restarts = 4", "restarts = 400"),
    )
    .unwrap();
    let running = cmd()
        .arg(&slow)
        .arg("--quiet")
        .arg("--threads")
        .arg("1")
        .spawn()
        .unwrap();
    let pid = running.id();
    let note = root.join("out/.nnmf-sweep-lock");
    let start = Instant::now();
    while !listing(&note).iter().any(|n| n.ends_with(&format!(".{pid}"))) {
        assert!(start.elapsed() < LIMIT, "the run never took its lock");
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = run(cmd().arg(&slow).arg("--force"), "force");
    sane(&o, "force");
    assert_eq!(code(&o), exit::OUTPUT.into(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.starts_with(&format!(
            "error: output directory {} is in use by pid {pid} on host ",
            root.join("out").display()
        )),
        "{e}"
    );
    assert!(
        e.contains("UTC: nnmf-sweep run (exclusive lock); refused nnmf-sweep run --force (exclusive lock)"),
        "{e}"
    );
    // A merge and a shard are refused the same way.
    let o = run(cmd().args(["merge"]).arg(root.join("out")), "merge");
    assert_eq!(code(&o), exit::OUTPUT.into(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("is in use by pid {pid}")),
        "{}",
        stderr(&o)
    );
    let o = run(cmd().arg(&slow).args(["--shard", "0/2"]), "shard");
    assert_eq!(code(&o), exit::OUTPUT.into(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("refused nnmf-sweep run --shard 0/2 (shared lock)"),
        "{}",
        stderr(&o)
    );
    // Stop the slow run (SIGTERM: exit 6, the fits done are kept).
    // SAFETY: kill sends a signal to our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let o = wait(running, "slow run");
    sane(&o, "slow run");
    assert_eq!(code(&o), exit::INCOMPLETE.into(), "{}", stderr(&o));
    assert!(stderr(&o).contains("incomplete: stopped by a signal"), "{}", stderr(&o));
    // The lock went with the process: a merge now gets in, and reports the fits still missing.
    let o = run(cmd().args(["merge"]).arg(root.join("out")), "merge after");
    sane(&o, "merge after");
    assert_eq!(code(&o), exit::INCOMPLETE.into(), "{}", stderr(&o));
    assert!(stderr(&o).contains("fits are missing from"), "{}", stderr(&o));
}

/// A sweep on `cols` columns that takes a while, for the signal tests.
fn slow_config(root: &Path, name: &str) -> PathBuf {
    let path = root.join(name);
    std::fs::write(
        &path,
        "[data]\npath = \"data.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2, 3, 4]\nrestarts = 200\nseed = 3\n\
         [stop]\nmax_iter = 500\ntol = 1e-12\n[output]\ndir = \"out\"\n",
    )
    .unwrap();
    path
}

/// Whether `pid` has handlers for SIGTERM and SIGINT (bits 15 and 2 of SigCgt in /proc/pid/status).
fn catches_sigterm(pid: u32) -> bool {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_some_and(|m| {
            let both = (1u64 << (libc::SIGTERM - 1)) | (1u64 << (libc::SIGINT - 1));
            m & both == both
        })
}

/// Sends `sig` to `child` `delay_ms` after its SIGTERM and SIGINT handlers are installed.
fn signal_when_ready(child: &Child, delay_ms: u64, sig: i32) {
    let pid = child.id();
    let start = Instant::now();
    while !catches_sigterm(pid) {
        assert!(start.elapsed() < LIMIT, "the handlers were never installed");
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(delay_ms));
    // SAFETY: kill sends a signal to our own child.
    unsafe { libc::kill(pid as i32, sig) };
}

/// Case 8: SIGTERM or SIGINT at many moments from the first instant the handler is installed
/// (data being read, checks, fits): every run ends with exit 6 and a message; none is killed by
/// the signal (exit 143 or 130) or leaves a results.h5.
#[test]
fn sigterm_in_every_phase_exits_6_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let o = run(
        cmd()
            .args(["simulate", "--rows", "2000", "--cols", "500", "--rank", "3", "--out"])
            .arg(root.join("data.h5")),
        "simulate",
    );
    assert_eq!(code(&o), exit::SUCCESS.into(), "{}", stderr(&o));
    let cfg = slow_config(root, "slow.toml");
    let mut phases = std::collections::BTreeSet::new();
    for (k, delay_ms) in [0u64, 1, 3, 10, 30, 100, 300, 1000].into_iter().enumerate() {
        let out = root.join(format!("out{k}"));
        let child = cmd().arg(&cfg).arg("--out").arg(&out).arg("--quiet").spawn().unwrap();
        // SIGTERM (Slurm, scancel) and SIGINT (Ctrl-C) take the same path.
        let sig = if k % 2 == 0 { libc::SIGTERM } else { libc::SIGINT };
        signal_when_ready(&child, delay_ms, sig);
        let sent = Instant::now();
        let o = wait(child, "signalled run");
        sane(&o, "signalled run");
        let e = stderr(&o);
        assert_eq!(
            code(&o),
            exit::INCOMPLETE.into(),
            "signal {sig} after {delay_ms} ms: {e}"
        );
        assert!(e.starts_with("error: incomplete: stopped by a signal"), "{e}");
        assert!(e.contains("run the same command again to resume"), "{e}");
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "took {:?} to stop",
            sent.elapsed()
        );
        assert!(!out.join("results.h5").exists());
        phases.insert(
            e.split(" while ")
                .nth(1)
                .map_or("fitting", |p| p.split(';').next().unwrap_or(""))
                .to_string(),
        );
    }
    eprintln!("phases seen: {phases:?}");
}

/// SIGTERM while `merge` reads the data, reduces the records and writes the results (3000
/// observations: an N x N consensus per rank and its heatmap): exit 6, and no results.h5; merging
/// again then finishes.
#[test]
fn sigterm_during_merge_exits_6() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let o = run(
        cmd()
            .args(["simulate", "--rows", "3000", "--cols", "60", "--rank", "3", "--out"])
            .arg(root.join("data.h5")),
        "simulate",
    );
    assert_eq!(code(&o), exit::SUCCESS.into(), "{}", stderr(&o));
    let cfg = root.join("c.toml");
    std::fs::write(
        &cfg,
        "[data]\npath = \"data.h5\"\ndataset = \"X\"\n[sweep]\nranks = [2, 3, 4]\nrestarts = 10\nseed = 3\n\
         [stop]\nmax_iter = 50\n[output]\ndir = \"out\"\n",
    )
    .unwrap();
    let o = run(cmd().arg(&cfg).arg("--quiet"), "run");
    assert_eq!(code(&o), exit::SUCCESS.into(), "{}", stderr(&o));
    let out = root.join("out");
    std::fs::remove_file(out.join("results.h5")).unwrap();
    for delay_ms in [0u64, 150, 400] {
        let child = cmd().args(["merge", "--quiet"]).arg(&out).spawn().unwrap();
        signal_when_ready(&child, delay_ms, libc::SIGTERM);
        let o = wait(child, "merge");
        sane(&o, "merge");
        assert_eq!(
            code(&o),
            exit::INCOMPLETE.into(),
            "SIGTERM after {delay_ms} ms: {}",
            stderr(&o)
        );
        assert!(
            stderr(&o).starts_with("error: incomplete: stopped by a signal while "),
            "{}",
            stderr(&o)
        );
        eprintln!("merge, SIGTERM after {delay_ms} ms: {}", stderr(&o).trim());
        assert!(!out.join("results.h5").exists());
    }
    // Merging again finishes.
    let o = run(cmd().args(["merge", "--quiet"]).arg(&out), "merge again");
    assert_eq!(code(&o), exit::SUCCESS.into(), "{}", stderr(&o));
}
