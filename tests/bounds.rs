//! Bounded by construction (issue 12, item 3, cases 5-7): every count a user sets has a ceiling,
//! every large allocation is estimated first and refused above the memory limit, readers refuse
//! files that are not regular files and sizes their file cannot hold, and threads above the cores
//! are capped. Each test runs the real binary in a temp dir with a timeout, and checks the exact
//! message, the exit code (never 134, an abort), and that no result was left behind.

use assert_cmd::Command;
use ndarray::Array2;
use nnmf_sweep::error::exit;
use std::path::PathBuf;
use std::process::Output;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tempfile::TempDir;

/// Files a finished sweep writes; none may exist after a failed run.
const RESULT_FILES: [&str; 3] = ["results.h5", "summary.tsv", "fits.tsv"];

/// Longest a run may take: a bound must be checked at once, never after minutes of work.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A valid config; `restarts` is line 9, `[selection]` starts at line 15, `[run]` at line 17.
const BASE: &str = r#"[data]
path = "data.h5"
dataset = "X"
transpose = false
[model]
loss = "kl"
[sweep]
ranks = [2]
restarts = 2
seed = 7
[stop]
max_iter = 50
[output]
dir = "out"
[selection]
heldout_repeats = 1
[run]
threads = 1
"#;

/// A config for a text data file `name` (no dataset key).
fn text_config(name: &str) -> String {
    BASE.replace("path = \"data.h5\"\ndataset = \"X\"\n", &format!("path = \"{name}\"\n"))
}

/// HDF5 files opened in this process are inherited (with their lock) by binaries spawned while
/// they are open: files are opened under the write side, binaries run under the read side.
static FD_GUARD: RwLock<()> = RwLock::new(());

fn hdf5_open_guard() -> RwLockWriteGuard<'static, ()> {
    FD_GUARD.write().unwrap_or_else(|e| e.into_inner())
}

fn spawn_guard() -> RwLockReadGuard<'static, ()> {
    FD_GUARD.read().unwrap_or_else(|e| e.into_inner())
}

fn binary() -> Command {
    let mut c = Command::cargo_bin("nnmf-sweep").expect("binary built");
    c.timeout(TIMEOUT);
    c
}

/// Runs `cmd` to completion (see [`FD_GUARD`]); a run past [`TIMEOUT`] is killed and fails.
fn output(cmd: &mut Command) -> Output {
    let _g = spawn_guard();
    let out = cmd.output().expect("run nnmf-sweep");
    assert!(
        out.status.code().is_some(),
        "killed (timeout {TIMEOUT:?}, or a signal: {:?}); stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(
        out.status.code(),
        Some(134),
        "aborted: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One test's temp dir: `config.toml`, the data, and the output dir `out`.
struct Case {
    tmp: TempDir,
}

impl Case {
    fn new() -> Self {
        Case {
            tmp: tempfile::tempdir().expect("create temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn out_dir(&self) -> PathBuf {
        self.path("out")
    }

    /// Writes `config.toml`.
    fn config(&self, text: &str) -> &Self {
        std::fs::write(self.path("config.toml"), text).expect("write config");
        self
    }

    /// Writes `BASE` with each `(from, to)` replacement applied (each `from` must occur).
    fn config_with(&self, edits: &[(&str, &str)]) -> &Self {
        let mut text = BASE.to_string();
        for (from, to) in edits {
            assert!(text.contains(from), "BASE has no {from:?}");
            text = text.replace(from, to);
        }
        self.config(&text)
    }

    /// Creates `data.h5` and lets `fill` write into it.
    fn h5(&self, fill: impl FnOnce(&hdf5::File) -> hdf5::Result<()>) -> &Self {
        let _g = hdf5_open_guard();
        let file = hdf5::File::create(self.path("data.h5")).expect("create data.h5");
        fill(&file).expect("write data.h5");
        file.close().expect("close data.h5");
        self
    }

    /// Creates `data.h5` holding a small positive `n` x `p` matrix as dataset "X".
    fn matrix(&self, n: usize, p: usize) -> &Self {
        let x = Array2::from_shape_fn((n, p), |(i, j)| 1.0 + ((i * 7 + j * 3) % 11) as f64);
        self.h5(|f| f.new_dataset_builder().with_data(&x).create("X").map(|_| ()))
    }

    /// Runs the binary with `args` in the temp dir.
    fn run(&self, args: &[&str]) -> Output {
        output(binary().args(args).current_dir(self.tmp.path()))
    }

    /// stderr with the temp dir's path replaced by `<TMP>`.
    fn stderr(&self, out: &Output) -> String {
        String::from_utf8_lossy(&out.stderr).replace(&self.tmp.path().display().to_string(), "<TMP>")
    }

    /// Runs the sweep of `config.toml` (quiet) with `args`, expecting exit `code`, no output on
    /// stdout and no results; returns the normalized stderr.
    fn fail(&self, args: &[&str], code: u8) -> String {
        let out = self.run(&[&["config.toml", "--quiet"], args].concat());
        let err = self.stderr(&out);
        assert_eq!(out.status.code(), Some(code.into()), "stderr: {err}");
        assert!(
            out.stdout.is_empty(),
            "stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for f in RESULT_FILES {
            assert!(!self.out_dir().join(f).exists(), "{f} exists after a failed run");
        }
        err
    }
}

// ---- case 5: counts that allocated without limit ------------------------------------------------

#[test]
fn restarts_have_a_ceiling() {
    let c = Case::new();
    c.matrix(10, 8)
        .config_with(&[("restarts = 2", "restarts = 1000000000")]);
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:9: sweep.restarts: must be at most 100000 (got 1000000000); 20 to 200 restarts \
         per rank are usual\n"
    );
}

#[test]
fn heldout_repeats_have_a_ceiling() {
    let c = Case::new();
    c.matrix(10, 8)
        .config_with(&[("heldout_repeats = 1", "heldout_repeats = 1000000000")]);
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:16: selection.heldout_repeats: must be at most 10000 (got 1000000000); 3 to 10 \
         cross-validation repeats per rank are usual\n"
    );
}

#[test]
fn every_count_has_a_ceiling() {
    let cases = [
        (
            "heldout_repeats = 1",
            "heldout_repeats = 1\nnull_restarts = 100001",
            "<TMP>/config.toml:17: selection.null_restarts: must be at most 100000 (got 100001); as many as restarts \
             is usual",
        ),
        (
            "max_iter = 50",
            "max_iter = 100000001",
            "<TMP>/config.toml:12: stop.max_iter: must be at most 100000000 (got 100000001); a few thousand \
             iterations are usual",
        ),
        (
            "max_iter = 50",
            "check_every = 1000001",
            "<TMP>/config.toml:12: stop.check_every: must be at most 1000000 (got 1000001); 10 is usual",
        ),
        (
            "ranks = [2]",
            "ranks = [2, 10001]",
            "<TMP>/config.toml:8: sweep.ranks: rank 10001 is above the ceiling of 10000; NMF ranks are far smaller",
        ),
        (
            "threads = 1",
            "threads = 100000",
            "<TMP>/config.toml:18: run.threads: must be at most 4096 (got 100000); 0 uses all cores, and more \
             threads than cores are capped to the cores",
        ),
        (
            "threads = 1",
            "threads = 1\nmemory_limit_mb = -5",
            "<TMP>/config.toml:19: run.memory_limit_mb: must be ≥ 0 (got -5); 0 (the default) is this machine's \
             physical memory",
        ),
    ];
    for (from, to, want) in cases {
        let c = Case::new();
        c.matrix(10, 8).config_with(&[(from, to)]);
        assert_eq!(c.fail(&[], exit::CONFIG), format!("error: {want}\n"), "{to}");
    }
    // Too many fits: 11 ranks x 100000 restarts.
    let c = Case::new();
    let ranks: Vec<String> = (2..13).map(|r| r.to_string()).collect();
    c.matrix(10, 8).config_with(&[
        ("ranks = [2]", &format!("ranks = [{}]", ranks.join(", "))),
        ("restarts = 2", "restarts = 100000"),
    ]);
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:7: sweep: 11 ranks x (100000 restarts + 1 heldout_repeats + 0 null_restarts) is \
         1100011 fits; at most 1000000 fits are allowed in one sweep: list fewer ranks or lower the counts\n"
    );
    // More than 1000 ranks.
    let c = Case::new();
    let ranks: Vec<String> = (1..1002).map(|r| r.to_string()).collect();
    c.matrix(10, 8)
        .config_with(&[("ranks = [2]", &format!("ranks = [{}]", ranks.join(", ")))]);
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:8: sweep.ranks: lists 1001 ranks; at most 1000 are allowed\n"
    );
}

#[test]
fn simulate_sizes_have_a_ceiling_and_a_memory_estimate() {
    let c = Case::new();
    let out = c.run(&[
        "simulate",
        "--rows",
        "4000000000",
        "--cols",
        "4000000000",
        "--out",
        "x.h5",
    ]);
    assert_eq!(out.status.code(), Some(exit::CONFIG.into()));
    assert_eq!(
        c.stderr(&out),
        "error: <command line>: simulate: --rows must be at most 100000000 (got 4000000000)\n"
    );
    assert!(!c.path("x.h5").exists());
    // Within the ceilings, but 1e6 x 1e6 counts need 22 TiB.
    let out = c.run(&["simulate", "--rows", "1000000", "--cols", "1000000", "--out", "x.h5"]);
    assert_eq!(out.status.code(), Some(exit::CONFIG.into()));
    let err = c.stderr(&out);
    assert!(
        err.starts_with(
            "error: <command line>: simulate: --rows 1000000 x --cols 1000000 needs about 22888245 MiB in memory, \
             above this machine's physical memory ("
        ) && err.ends_with(" MiB); lower --rows or --cols\n"),
        "{err}"
    );
    assert!(!c.path("x.h5").exists());
    let out = c.run(&["simulate", "--bars", "10001", "--out", "x.h5"]);
    assert_eq!(out.status.code(), Some(exit::CONFIG.into()));
    assert_eq!(
        c.stderr(&out),
        "error: <command line>: simulate: --bars must be at most 10000 (got 10001)\n"
    );
}

// ---- case 6: the full-size consensus of a matrix of mostly all-zero rows ------------------------

#[test]
fn consensus_of_a_huge_sparse_matrix_is_skipped_with_the_key() {
    let c = Case::new();
    // 100000 x 100000 declared, 70 entries: 10 rows x 7 columns.
    let mut text = String::from("%%MatrixMarket matrix coordinate integer general\n100000 100000 70\n");
    for i in 0..10 {
        for j in 0..7 {
            text.push_str(&format!(
                "{} {} {}\n",
                i * 9000 + 5,
                j * 13000 + 3,
                1 + (i * 7 + j * 3) % 11
            ));
        }
    }
    std::fs::write(c.path("data.mtx"), text).expect("write mtx");
    c.config(&text_config("data.mtx").replace("restarts = 2", "restarts = 3"));
    let out = c.run(&["config.toml"]);
    let err = c.stderr(&out);
    assert_eq!(out.status.code(), Some(exit::SUCCESS.into()), "stderr: {err}");
    assert!(
        err.contains(
            "warning: consensus statistics (cophenetic, dispersion, consensus clusters, consensus matrices) skipped: \
             the N x N consensus matrices of all 100000 observations (99990 of them all-zero rows, restored in the \
             outputs) need about 76294 MiB for 1 ranks, above [selection] consensus_max_mb = 2048; raise it to at \
             least 76294 to compute them\n"
        ),
        "{err}"
    );
    for f in RESULT_FILES {
        assert!(c.out_dir().join(f).is_file(), "{f} missing");
    }
    let _g = hdf5_open_guard();
    let file = hdf5::File::open(c.out_dir().join("results.h5")).expect("open results.h5");
    let w = file.dataset("rank_2/W").and_then(|d| d.read_2d::<f64>()).expect("W");
    assert_eq!(w.dim(), (100000, 2));
    assert!(
        file.dataset("rank_2/consensus").is_err(),
        "no N x N consensus is written"
    );
    file.close().expect("close results.h5");
    drop(_g);

    // consensus_max_mb raised past the memory there is: the memory limit still holds.
    c.config(
        &text_config("data.mtx")
            .replace(
                "heldout_repeats = 1",
                "heldout_repeats = 1\nconsensus_max_mb = 100000000",
            )
            .replace("threads = 1", "threads = 1\nmemory_limit_mb = 1024"),
    );
    let out = c.run(&["config.toml", "--force"]);
    let err = c.stderr(&out);
    assert_eq!(out.status.code(), Some(exit::SUCCESS.into()), "stderr: {err}");
    assert!(
        err.contains(
            "warning: consensus statistics (cophenetic, dispersion, consensus clusters, consensus matrices) skipped: \
             the N x N consensus matrices of all 100000 observations (99990 of them all-zero rows, restored in the \
             outputs) need about 76294 MiB for 1 ranks, above the memory limit of 1024 MiB ([run] memory_limit_mb)\n"
        ),
        "{err}"
    );
}

// ---- case 7: threads, shards, files that never end ----------------------------------------------

#[test]
fn threads_have_a_ceiling_and_are_capped_to_the_cores() {
    let c = Case::new();
    c.matrix(10, 8).config(BASE);
    assert_eq!(
        c.fail(&["--threads", "100000"], exit::CONFIG),
        "error: <command line>: --threads: must be at most 4096 (got 100000); 0 uses all cores, and more threads \
         than cores are capped to the cores\n"
    );
    let out = c.run(&["config.toml", "--threads", "4096"]);
    let err = c.stderr(&out);
    assert_eq!(out.status.code(), Some(exit::SUCCESS.into()), "stderr: {err}");
    let n = cores();
    assert!(
        err.contains(&format!(
            "warning: 4096 worker threads requested ([run] threads or --threads), but this machine has {n} cores: \
             using {n} (more threads than cores only slow the fits; results do not depend on the thread count)\n"
        )),
        "{err}"
    );
}

#[test]
fn shard_counts_have_a_ceiling() {
    let c = Case::new();
    c.matrix(10, 8).config(BASE);
    assert_eq!(
        c.fail(&["--shard", "0/1000000000"], exit::CONFIG),
        "error: --shard: \"0/1000000000\": the shard count N must be at most 100000 (a shard runs at least one fit; \
         a sweep has at most 1000000 fits)\n"
    );
    let out = c.run(&["status", "out", "--shards", "1000000000"]);
    assert_eq!(out.status.code(), Some(exit::CONFIG.into()));
    assert_eq!(
        c.stderr(&out),
        "error: --shards: must be at most 100000 (got 1000000000)\n"
    );

    // A shard run records N = 2; a damaged count of 10^9 does not hang a later status.
    let out = c.run(&["config.toml", "--quiet", "--shard", "0/2"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS.into()), "{}", c.stderr(&out));
    std::fs::write(c.out_dir().join("shards.txt"), "1000000000\n").expect("write shards.txt");
    let out = c.run(&["status", "out"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS.into()), "{}", c.stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("shards)"), "{text}");
    // The ceiling itself answers at once: 3 fits in 3 shards, the rest empty.
    let out = c.run(&["status", "out", "--shards", "100000"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS.into()), "{}", c.stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(of 100000 shards)") && text.contains("shards 3 to 99999: no fits (more shards than fits)\n"),
        "{text}"
    );
}

#[test]
fn a_fifo_is_refused_before_it_is_opened() {
    let c = Case::new();
    for name in ["data.h5", "data.csv"] {
        let made = std::process::Command::new("mkfifo")
            .arg(c.path(name))
            .status()
            .expect("run mkfifo");
        assert!(made.success());
    }
    c.config(BASE);
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.h5: is a FIFO (named pipe), not a regular file; reading it could block or never end: \
         [data] path must name a regular file (save the stream to a file first)\n"
    );
    c.config(&text_config("data.csv"));
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.csv: is a FIFO (named pipe), not a regular file; reading it could block or never end: \
         [data] path must name a regular file (save the stream to a file first)\n"
    );
}

#[test]
fn a_device_behind_a_csv_name_is_refused() {
    let c = Case::new();
    std::os::unix::fs::symlink("/dev/zero", c.path("data.csv")).expect("symlink");
    c.config(&text_config("data.csv"));
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.csv: is a character device, not a regular file; reading it could block or never end: \
         [data] path must name a regular file (save the stream to a file first)\n"
    );
}

#[test]
fn matrix_market_sizes_are_checked_against_the_file_and_the_memory_limit() {
    let c = Case::new();
    std::fs::write(
        c.path("data.mtx"),
        "%%MatrixMarket matrix array real general\n100000 100000\n1\n",
    )
    .expect("write mtx");
    c.config(&text_config("data.mtx"));
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.mtx: line 2: the size line declares 100000 x 100000 with 10000000000 values, which take \
         at least 19999999999 bytes, but the file has 57 bytes; fix the size line (or the truncated file)\n"
    );
    // Beyond the coordinate format's 2^25 lines (found by fuzzing): refused from the size line.
    std::fs::write(
        c.path("data.mtx"),
        "%%MatrixMarket matrix coordinate real general\n4000000000 4000000000 1\n1 1 1\n",
    )
    .expect("write mtx");
    c.config(&text_config("data.mtx").replace("threads = 1", "threads = 1\nmemory_limit_mb = 1024"));
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.mtx: line 2: 4000000000 x 4000000000 is too large; at most 33554432 rows and columns \
         are supported in a coordinate file\n"
    );
    // Within it, but its row and column offsets alone above the memory limit.
    std::fs::write(
        c.path("data.mtx"),
        "%%MatrixMarket matrix coordinate real general\n30000000 30000000 1\n1 1 1\n",
    )
    .expect("write mtx");
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.mtx: line 2: the size line's 30000000 x 30000000 matrix needs about 1374 MiB in \
         memory to read, above the memory limit of 1024 MiB ([run] memory_limit_mb); check the file, or use a \
         machine with more memory and raise [run] memory_limit_mb\n"
    );
}

#[test]
fn an_hdf5_shape_larger_than_memory_is_refused_before_reading() {
    let c = Case::new();
    // Chunked and never written: a few KiB on disk, 8 TB declared.
    c.h5(|f| {
        f.new_dataset::<f64>()
            .chunk((100, 100))
            .shape((1_000_000, 1_000_000))
            .create("X")
            .map(|_| ())
    });
    c.config_with(&[("threads = 1", "threads = 1\nmemory_limit_mb = 1024")]);
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.h5, dataset \"X\": its declared shape 1000000 x 1000000 needs about 7629441 MiB in memory \
         to read, above the memory limit of 1024 MiB ([run] memory_limit_mb); check the file, or use a machine with \
         more memory and raise [run] memory_limit_mb\n"
    );
}

#[test]
fn a_sweep_above_the_memory_limit_is_refused_with_its_estimate() {
    let c = Case::new();
    c.matrix(300, 200)
        .config_with(&[("threads = 1", "threads = 1\nmemory_limit_mb = 1")]);
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml: run.memory_limit_mb: the sweep needs about 2 MiB: the data (300 x 200, dense) 1 \
         MiB, and 2 MiB for the 1 fits that run at once (factors and workspace at rank 2, cross-validation copies), \
         above the memory limit of 1 MiB ([run] memory_limit_mb); use fewer threads ([run] threads), lower ranks or \
         fewer cross-validation repeats, or raise the limit\n"
    );
    assert!(!c.out_dir().exists(), "a refused run leaves no output directory");
    c.config_with(&[("threads = 1", "threads = 1\nmemory_limit_mb = 64")]);
    let out = c.run(&["config.toml", "--quiet"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS.into()), "{}", c.stderr(&out));
    assert!(c.out_dir().join("results.h5").is_file());
}
