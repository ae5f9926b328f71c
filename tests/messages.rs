//! End-to-end tests of the messages of issue 12 (item 5, cases 9-11): each test writes its data
//! and config into a temp dir, runs the real `nnmf-sweep` binary (with a timeout), and checks the
//! exact message on stderr and the documented exit code (2 config or command line, 3 data, 4 output
//! directory, 5 numerical), or the right behaviour.

use assert_cmd::Command;
use ndarray::Array2;
use nnmf_sweep::error::exit;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tempfile::TempDir;

/// Every spawned process is killed after this long (a hang fails the test, never the suite).
const TIMEOUT: Duration = Duration::from_secs(120);

/// A valid config; tests derive others with `str::replace`. `ranks` is line 8.
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
"#;

/// The HDF5 library opens files without close-on-exec: HDF5 files are opened in this process
/// under the write side, binaries are spawned under the read side (as in tests/bad_input.rs).
static FD_GUARD: RwLock<()> = RwLock::new(());

fn hdf5_open_guard() -> RwLockWriteGuard<'static, ()> {
    FD_GUARD.write().unwrap_or_else(|e| e.into_inner())
}

fn spawn_guard() -> RwLockReadGuard<'static, ()> {
    FD_GUARD.read().unwrap_or_else(|e| e.into_inner())
}

/// Runs `cmd` to completion, killed after [`TIMEOUT`].
fn output(cmd: &mut Command) -> Output {
    let _g = spawn_guard();
    cmd.timeout(TIMEOUT).output().expect("run the command")
}

fn binary() -> Command {
    Command::cargo_bin("nnmf-sweep").expect("binary built")
}

/// A small positive matrix with a simple deterministic pattern.
fn matrix(n: usize, p: usize) -> Array2<f64> {
    Array2::from_shape_fn((n, p), |(i, j)| 1.0 + ((i * 7 + j * 3) % 11) as f64)
}

/// One test's temp dir, holding `config.toml`, `data.h5` and the output dir `out`.
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

    /// Writes `BASE` with each `(from, to)` replacement applied (each `from` must occur).
    fn config_with(&self, edits: &[(&str, &str)]) -> &Self {
        let mut text = BASE.to_string();
        for (from, to) in edits {
            assert!(text.contains(from), "BASE has no {from:?}");
            text = text.replace(from, to);
        }
        std::fs::write(self.path("config.toml"), text).expect("write config");
        self
    }

    /// Creates `data.h5` and lets `fill` write into it.
    fn h5(&self, fill: impl FnOnce(&hdf5::File) -> hdf5::Result<()>) -> &Self {
        let _g = hdf5_open_guard();
        let file = hdf5::File::create(self.path("data.h5")).expect("create data.h5");
        fill(&file).expect("write data.h5");
        file.close().expect("close data.h5");
        self
    }

    /// Creates `data.h5` holding `x` as dataset "X".
    fn matrix(&self, x: &Array2<f64>) -> &Self {
        self.h5(|f| f.new_dataset_builder().with_data(x).create("X").map(|_| ()))
    }

    /// Runs the binary with `args` in the temp dir.
    fn cmd(&self, args: &[&str]) -> Output {
        output(binary().args(args).current_dir(self.tmp.path()))
    }

    /// Runs the sweep of `config.toml` with `args`.
    fn sweep(&self, args: &[&str]) -> Output {
        self.cmd(&[&["config.toml"], args].concat())
    }

    /// stderr with the temp dir's path replaced by `<TMP>`.
    fn stderr(&self, out: &Output) -> String {
        String::from_utf8_lossy(&out.stderr).replace(&self.tmp.path().display().to_string(), "<TMP>")
    }

    /// Checks that `out` failed with `code`, printed nothing on stdout and did not panic; returns
    /// the normalized stderr.
    fn failed(&self, out: &Output, code: u8) -> String {
        let err = self.stderr(out);
        assert_eq!(out.status.code(), Some(code.into()), "stderr: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            out.stdout.is_empty(),
            "stdout of a failed run: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        err
    }

    /// Checks that `out` succeeded; returns the normalized stderr.
    fn succeeded(&self, out: &Output) -> String {
        let err = self.stderr(out);
        assert_eq!(out.status.code(), Some(exit::SUCCESS.into()), "stderr: {err}");
        err
    }

    /// A root attribute of `out/results.h5`, as u64.
    fn result_attr(&self, name: &str) -> u64 {
        let _g = hdf5_open_guard();
        let f = hdf5::File::open(self.out_dir().join("results.h5")).expect("open results.h5");
        let v = f
            .attr(name)
            .and_then(|a| a.read_scalar::<u64>())
            .expect("read attribute");
        f.close().expect("close results.h5");
        v
    }

    /// `out/fits.tsv` without its `seconds` column (the only column that varies).
    fn fits_without_seconds(&self) -> String {
        let text = std::fs::read_to_string(self.out_dir().join("fits.tsv")).expect("read fits.tsv");
        text.lines()
            .map(|l| l.rsplit_once('\t').map_or(l, |(head, _)| head).to_string() + "\n")
            .collect()
    }
}

/// The names of the fit records in `out/records`, sorted.
fn records(out: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(out.join("records"))
        .expect("records dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---- case 9: simulate --------------------------------------------------------------------------

/// The mean a `simulate --mean` refusal suggests ("use --mean M or less").
fn suggested_mean(err: &str) -> String {
    let (_, tail) = err.split_once("use --mean ").expect("a suggested mean");
    tail.split_once(" or less").expect("a suggested mean").0.to_string()
}

#[test]
fn simulate_refuses_means_whose_counts_are_not_exact() {
    let c = Case::new();
    // 1e17 gave inexact counts, 1e20 saturated them at i64::MAX, 1e300 wrote zeros.
    for (mean, err) in [
        (
            "1e17",
            "error: <command line>: simulate --mean: --mean 1e17 gives counts up to 8.651e17; counts must be at most \
             2^53 = 9007199254740992, the largest count stored exactly (X is written as int64 and read as float64); \
             use --mean 5.2e14 or less\n",
        ),
        (
            "1e20",
            "error: <command line>: simulate --mean: --mean 1e20 gives Poisson means up to 8.651e20, too large to draw \
             counts from; counts must be at most 2^53 = 9007199254740992, the largest count stored exactly (X is \
             written as int64 and read as float64); use --mean 2.6e14 or less\n",
        ),
        (
            "1e300",
            "error: <command line>: simulate --mean: --mean 1e300 gives Poisson means up to 8.651e300, too large to \
             draw counts from; counts must be at most 2^53 = 9007199254740992, the largest count stored exactly (X is \
             written as int64 and read as float64); use --mean 2.6e14 or less\n",
        ),
    ] {
        let out = c.cmd(&["simulate", "--out", "x.h5", "--mean", mean]);
        let got = c.failed(&out, exit::CONFIG);
        assert_eq!(got, err);
        assert!(!c.path("x.h5").exists(), "nothing is written");
        // The suggested mean is accepted, and its counts are exact.
        let out = c.cmd(&["simulate", "--out", "x.h5", "--force", "--mean", &suggested_mean(&got)]);
        c.succeeded(&out);
        let _g = hdf5_open_guard();
        let f = hdf5::File::open(c.path("x.h5")).expect("open x.h5");
        let x = f.dataset("X").and_then(|d| d.read_2d::<i64>()).expect("read X");
        let top = x.iter().copied().max().expect("entries");
        assert!(top > 1 << 40 && top <= 1 << 53, "{top}");
        f.close().expect("close");
        std::fs::remove_file(c.path("x.h5")).expect("remove x.h5");
    }
}

#[test]
fn simulate_out_directory_is_refused_and_left_untouched() {
    let c = Case::new();
    std::fs::create_dir(c.path("dir")).expect("mkdir");
    std::fs::write(c.path("dir/keep.txt"), "mine").expect("write");
    for args in [&["--force"][..], &[][..]] {
        let out = c.cmd(&[&["simulate", "--out", "dir"][..], args].concat());
        assert_eq!(
            c.failed(&out, exit::CONFIG),
            "error: <command line>: simulate: --out dir is a directory; give the HDF5 file to write, e.g. --out \
             dir/data.h5 (the directory is left as it is)\n"
        );
    }
    let left: Vec<_> = std::fs::read_dir(c.path("dir")).expect("read dir").collect();
    assert_eq!(left.len(), 1, "the directory is untouched");
    assert_eq!(std::fs::read_to_string(c.path("dir/keep.txt")).expect("read"), "mine");
}

// ---- case 10: held-out fits that fail numerically ------------------------------------------------

#[test]
fn failed_heldout_fits_are_named_with_the_data_scale() {
    let c = Case::new();
    c.config_with(&[("seed = 7", "seed = 7\n[selection]\nheldout_repeats = 2")])
        .matrix(&(matrix(20, 15) * 1e200));
    let out = c.sweep(&[]);
    let err = c.succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let warnings: String = err
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        warnings,
        "warning: rank 2: 2 of 2 held-out (cross-validation) fits failed numerically (non-finite objective) and were \
         left out of its held-out deviance; check the data's scale (very large or tiny values: rescale it)\n",
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  - no held-out deviance was computed: the held-out (cross-validation) fits failed numerically (2 with a \
             non-finite objective, at r = 2), so this rule cannot choose; check the data's scale (very large or tiny \
             values overflow the fits: rescale it, e.g. divide by its largest entry)\n"
        ),
        "{stdout}"
    );
    let selection = std::fs::read_to_string(c.out_dir().join("selection.txt")).expect("selection.txt");
    assert!(!selection.contains("heldout_repeats = 0"), "{selection}");
}

// ---- case 11: data ------------------------------------------------------------------------------

#[test]
fn all_missing_data_says_every_entry_is_missing() {
    let c = Case::new();
    c.config_with(&[("transpose = false", "missing = \"nan\"")])
        .matrix(&Array2::from_elem((6, 5), f64::NAN));
    assert_eq!(
        c.failed(&c.sweep(&["--quiet"]), exit::DATA),
        "error: <TMP>/data.h5, dataset \"X\": has no observed entry: all 30 entries are missing (NaN, left out under \
         [data] missing = \"nan\"), there is nothing to factorize; check that [data] names the right file and dataset\n"
    );
}

#[test]
fn float16_dataset_written_by_h5py_is_read() {
    let c = Case::new();
    c.config_with(&[]);
    let writer = r#"
import sys, h5py, numpy as np
x = (1 + (np.arange(20)[:, None] * 7 + np.arange(15)[None, :] * 3) % 11).astype(np.float16)
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("X", data=x)
"#;
    let py = output(Command::new("python3").args(["-c", writer]).arg(c.path("data.h5")));
    assert!(
        py.status.success(),
        "python3 with h5py is needed (scripts/setup.sh): {}",
        String::from_utf8_lossy(&py.stderr)
    );
    c.succeeded(&c.sweep(&["--quiet"]));
    let _g = hdf5_open_guard();
    let f = hdf5::File::open(c.out_dir().join("results.h5")).expect("open results.h5");
    let dtype = f
        .attr("input_dtype")
        .and_then(|a| a.read_scalar::<hdf5::types::VarLenUnicode>())
        .expect("input_dtype");
    assert_eq!(dtype.as_str(), "float16");
    let w = f.dataset("rank_2/W").and_then(|d| d.read_2d::<f64>()).expect("W");
    assert_eq!(w.dim(), (20, 2));
}

#[test]
fn mask_that_is_not_zero_one_names_the_dataset_and_first_position() {
    let c = Case::new();
    c.config_with(&[("transpose = false", "mask = \"M\"")]).h5(|f| {
        f.new_dataset_builder().with_data(&matrix(6, 5)).create("X")?;
        let mut m = Array2::<f64>::ones((6, 5));
        m[[1, 3]] = 0.5;
        m[[4, 0]] = 2.0;
        f.new_dataset_builder().with_data(&m).create("M").map(|_| ())
    });
    assert_eq!(
        c.failed(&c.sweep(&["--quiet"]), exit::DATA),
        "error: <TMP>/data.h5, dataset \"M\": ([data] mask) has 2 entries that are neither 0 nor 1 (first at row 1, \
         column 3: 0.5; 0-based, as stored); a mask holds 0 (missing) or 1 (observed), or booleans: round or \
         threshold it\n"
    );
}

#[test]
fn data_path_that_is_a_directory() {
    let c = Case::new();
    c.config_with(&[("path = \"data.h5\"", "path = \"folder\"")]);
    std::fs::create_dir(c.path("folder")).expect("mkdir");
    assert_eq!(
        c.failed(&c.sweep(&["--quiet"]), exit::DATA),
        "error: <TMP>/folder: is a directory, not a data file; set [data] path to the data file (relative paths start \
         at the config file's folder)\n"
    );
    assert!(!c.out_dir().exists(), "no output dir is left behind");
}

#[test]
fn data_path_that_is_a_symlink_loop_or_a_dangling_link() {
    let c = Case::new();
    c.config_with(&[]);
    std::os::unix::fs::symlink(c.path("data.h5"), c.path("data.h5")).expect("symlink");
    assert_eq!(
        c.failed(&c.sweep(&["--quiet"]), exit::DATA),
        "error: <TMP>/data.h5: is a symbolic link loop (following its links never reaches a file); set [data] path to \
         the data file itself, or fix the links\n"
    );
    // A link to nothing is named as such too.
    std::fs::remove_file(c.path("data.h5")).expect("remove the loop");
    std::os::unix::fs::symlink(c.path("gone.h5"), c.path("data.h5")).expect("symlink");
    assert_eq!(
        c.failed(&c.sweep(&["--quiet"]), exit::DATA),
        "error: <TMP>/data.h5: is a symbolic link to <TMP>/gone.h5, which does not exist; fix the link, or set [data] \
         path to the data file itself\n"
    );
}

// ---- case 11: config and command line -------------------------------------------------------------

#[test]
fn rank_beyond_the_integer_range_names_the_key_and_line() {
    let c = Case::new();
    c.config_with(&[("ranks = [2]", "ranks = [99999999999999999999]")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.failed(&c.sweep(&["--quiet"]), exit::CONFIG),
        "error: <TMP>/config.toml:8:10: sweep.ranks: integer 99999999999999999999 is out of range: integers in the \
         config are at most 9223372036854775807; give the value the key needs (see the README's configuration \
         reference)\n"
    );
}

#[test]
fn compare_rank_above_the_observations_is_refused_before_any_fit() {
    let c = Case::new();
    c.config_with(&[("ranks = [2]", "ranks = [2, 6]")])
        .matrix(&matrix(5, 12));
    let out = c.cmd(&["compare", "config.toml", "--quiet"]);
    assert_eq!(
        c.failed(&out, exit::CONFIG),
        "error: <TMP>/config.toml:8: sweep.ranks: rank 6 is larger than the 5 observations (rows of X); compare's \
         vector quantization is k-means with k = r, which needs at least r observations: use ranks of at most 5 with \
         compare\n"
    );
    assert!(!c.out_dir().join("records").exists(), "no fit was run");
}

#[test]
fn huge_penalties_are_named_in_the_numerical_failure() {
    let c = Case::new();
    c.config_with(&[("loss = \"kl\"", "loss = \"kl\"\nl1_w = 1e300\nl1_h = 1e300")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.failed(&c.sweep(&["--quiet"]), exit::NUMERICAL),
        "error: rank 2: all 2 fits produced a non-finite objective; no results.h5 was written; the failed fits are \
         listed in <TMP>/out/fits.tsv; the penalties are set (model.l1_w = 1e300, model.l1_h = 1e300): weights far \
         above the data's values make the fits fail, so lower them (0: no penalty); else check the data's scale (very \
         large or tiny values: rescale it) or try loss = \"frobenius\"\n"
    );
}

// ---- case 11: output directory ----------------------------------------------------------------------

#[test]
fn merge_and_status_of_a_file() {
    let c = Case::new();
    std::fs::write(c.path("file.txt"), "not a sweep").expect("write");
    for sub in ["merge", "status"] {
        let out = c.cmd(&[sub, "file.txt"]);
        assert_eq!(
            c.failed(&out, exit::OUTPUT),
            "error: file.txt: is a file, not a directory; give the output directory of a sweep (the [output] dir \
             or --out it ran with)\n",
            "{sub}"
        );
    }
}

/// Overwrites the manifest of `out` with text that is not one.
fn damage_manifest(out: &Path) {
    std::fs::write(out.join("sweep-manifest.txt"), "garbage\n").expect("damage the manifest");
}

#[test]
fn damaged_manifest_advice_keeps_every_record() {
    let c = Case::new();
    c.config_with(&[]).matrix(&matrix(20, 15));
    c.succeeded(&c.sweep(&["--quiet"]));
    let fits = c.fits_without_seconds();
    let stored = records(&c.out_dir());
    let bytes: Vec<Vec<u8>> = stored
        .iter()
        .map(|r| std::fs::read(c.out_dir().join("records").join(r)).expect("read record"))
        .collect();

    // A finished sweep: the advice includes results.h5.
    damage_manifest(&c.out_dir());
    assert_eq!(
        c.failed(&c.sweep(&["--quiet"]), exit::OUTPUT),
        "error: <TMP>/out/sweep-manifest.txt: is damaged (not a sweep manifest); delete it and <TMP>/out/results.h5, \
         then run the sweep's command again (the same config and --out): the manifest is written again and every \
         intact fit record in <TMP>/out/records is resumed, not recomputed (--force would discard them all)\n"
    );
    // merge and status give the same advice.
    let status = c.stderr(&c.cmd(&["status", "out"]));
    assert_eq!(status, c.failed(&c.cmd(&["merge", "out"]), exit::OUTPUT));
    assert_eq!(
        status,
        "error: out/sweep-manifest.txt: is damaged (not a sweep manifest); delete it and out/results.h5, then run \
         the sweep's command again (the same config and --out): the manifest is written again and every intact fit \
         record in out/records is resumed, not recomputed (--force would discard them all)\n"
    );
    std::fs::remove_file(c.out_dir().join("results.h5")).expect("remove results.h5");
    assert_eq!(
        c.failed(&c.sweep(&["--quiet"]), exit::OUTPUT),
        "error: <TMP>/out/sweep-manifest.txt: is damaged (not a sweep manifest); delete it, then run the sweep's \
         command again (the same config and --out): the manifest is written again and every intact fit record in \
         <TMP>/out/records is resumed, not recomputed (--force would discard them all)\n"
    );

    // Following the advice: every record is resumed, none recomputed, the same results.
    std::fs::remove_file(c.out_dir().join("sweep-manifest.txt")).expect("delete the manifest");
    let err = c.succeeded(&c.sweep(&[]));
    assert!(
        err.contains(&format!(
            "resuming: {n} of {n} fits are already stored in <TMP>/out/records and are not recomputed",
            n = stored.len()
        )),
        "{err}"
    );
    assert_eq!(records(&c.out_dir()), stored);
    for (r, b) in stored.iter().zip(&bytes) {
        assert_eq!(
            &std::fs::read(c.out_dir().join("records").join(r)).expect("read record"),
            b,
            "{r}"
        );
    }
    assert_eq!(c.fits_without_seconds(), fits);

    // --force starts over even from a damaged manifest.
    damage_manifest(&c.out_dir());
    c.succeeded(&c.sweep(&["--quiet", "--force"]));
}

#[test]
fn partial_merge_is_marked_in_results_h5() {
    let c = Case::new();
    c.config_with(&[]).matrix(&matrix(20, 15));
    c.succeeded(&c.sweep(&["--quiet", "--shard", "0/2"]));
    let done = records(&c.out_dir()).len();
    assert!(done < 5, "{done} records: shard 0 of 2 stores only part of the grid");
    c.succeeded(&c.cmd(&["merge", "out", "--allow-partial", "--quiet"]));
    assert_eq!(c.result_attr("partial"), 1);
    assert_eq!(c.result_attr("missing_fits"), (5 - done) as u64);
    c.succeeded(&c.sweep(&["--quiet"]));
    assert_eq!(c.result_attr("partial"), 0);
    assert_eq!(c.result_attr("missing_fits"), 0);
}
