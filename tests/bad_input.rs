//! End-to-end tests of bad input: every test writes its HDF5 data and TOML config into a temp
//! dir, runs the real `nnmf-sweep` binary, and checks the exit code, the message on stderr and
//! that no result file was left behind.
//!
//! Exit codes: 2 config/command line (including a rank impossible for the data), 3 bad input
//! data, 4 output directory problem, 5 numerical failure.
//!
//! Input formats other than a dense dataset: sparse groups (every broken CSR/CSC invariant), AnnData
//! layers, 10x groups, Matrix Market and CSV files, each fault with its exact message.

use assert_cmd::Command;
use hdf5::types::{FixedAscii, VarLenUnicode};
use ndarray::{Array1, Array2, Array3};
use nnmf_sweep::error::exit;
use std::path::PathBuf;
use std::process::Output;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use tempfile::TempDir;

/// Files a finished sweep writes; none may exist after a failed run.
const RESULT_FILES: [&str; 3] = ["results.h5", "summary.tsv", "fits.tsv"];

/// A valid config; tests derive bad ones with `str::replace`. Line numbers matter: `[model] loss`
/// is line 6, `ranks` line 8, `restarts` line 9.
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

/// The HDF5 C library opens files without close-on-exec, so a binary spawned by one test while
/// another test has an HDF5 file open inherits that descriptor, and with it the file's lock: the
/// other test's run then fails with "unable to lock file". HDF5 files are opened in this process
/// under the write side, and binaries are spawned (and run) under the read side.
static FD_GUARD: RwLock<()> = RwLock::new(());

fn hdf5_open_guard() -> RwLockWriteGuard<'static, ()> {
    FD_GUARD.write().unwrap_or_else(|e| e.into_inner())
}

fn spawn_guard() -> RwLockReadGuard<'static, ()> {
    FD_GUARD.read().unwrap_or_else(|e| e.into_inner())
}

/// Runs `cmd` to completion (see [`FD_GUARD`]).
fn output(cmd: &mut Command) -> Output {
    let _g = spawn_guard();
    cmd.output().expect("run nnmf-sweep")
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

    fn config_path(&self) -> PathBuf {
        self.path("config.toml")
    }

    fn out_dir(&self) -> PathBuf {
        self.path("out")
    }

    /// Writes `config.toml` with `text`.
    fn config(&self, text: &str) -> &Self {
        std::fs::write(self.config_path(), text).expect("write config");
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

    /// Creates `data.h5` holding `x` as dataset "X".
    fn matrix(&self, x: &Array2<f64>) -> &Self {
        self.h5(|f| f.new_dataset_builder().with_data(x).create("X").map(|_| ()))
    }

    /// Runs the binary on `config.toml` with `args` (the config path is always first).
    fn run(&self, args: &[&str]) -> Output {
        output(binary().arg(self.config_path()).args(args).current_dir(self.tmp.path()))
    }

    /// stderr with the temp dir's path replaced by `<TMP>`.
    fn stderr(&self, out: &Output) -> String {
        String::from_utf8_lossy(&out.stderr).replace(&self.tmp.path().display().to_string(), "<TMP>")
    }

    fn assert_no_results(&self) {
        for f in RESULT_FILES {
            let p = self.out_dir().join(f);
            assert!(!p.exists(), "{} exists after a failed run", p.display());
        }
    }

    /// Runs with `--quiet` and `args`, checks the exit code and that no results were written, and
    /// returns the normalized stderr.
    fn fail(&self, args: &[&str], code: u8) -> String {
        let out = self.run(&[&["--quiet"], args].concat());
        let err = self.stderr(&out);
        assert_eq!(out.status.code(), Some(code.into()), "stderr: {err}");
        assert!(
            out.stdout.is_empty(),
            "stdout of a failed run: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        self.assert_no_results();
        err
    }

    /// Runs `args` expecting success; returns the normalized stderr.
    fn succeed(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let err = self.stderr(&out);
        assert_eq!(out.status.code(), Some(exit::SUCCESS.into()), "stderr: {err}");
        for f in RESULT_FILES {
            assert!(self.out_dir().join(f).is_file(), "{f} missing after a successful run");
        }
        err
    }

    /// Reads a 2-D f64 dataset of the output's results.h5.
    fn result(&self, dataset: &str) -> Array2<f64> {
        let _g = hdf5_open_guard();
        let file = hdf5::File::open(self.out_dir().join("results.h5")).expect("open results.h5");
        let x = file
            .dataset(dataset)
            .and_then(|d| d.read_2d::<f64>())
            .expect("read result dataset");
        file.close().expect("close results.h5");
        x
    }
}

/// The message a data error prints, for dataset "X" of `<TMP>/data.h5`.
fn data_error(message: &str) -> String {
    format!("error: <TMP>/data.h5, dataset \"X\": {message}\n")
}

// ---- the data file ----------------------------------------------------------------------------

#[test]
fn data_file_missing() {
    let c = Case::new();
    c.config(BASE);
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.h5: file not found; check [data] path (relative paths start at the config file's folder)\n"
    );
}

#[test]
fn data_file_is_not_hdf5() {
    let c = Case::new();
    c.config(BASE);
    std::fs::write(c.path("data.h5"), "a,b,c\n1,2,3\n").expect("write text file");
    let err = c.fail(&[], exit::DATA);
    assert!(
        err.starts_with("error: <TMP>/data.h5: cannot open as an HDF5 file ("),
        "{err}"
    );
    assert!(err.ends_with("); is it an HDF5 file?\n"), "{err}");
    assert_eq!(
        err.lines().count(),
        1,
        "one line expected, no HDF5 diagnostic dump: {err}"
    );
}

#[test]
fn data_file_locked_by_a_writer() {
    let c = Case::new();
    c.config(BASE).matrix(&matrix(20, 15));
    // Held open for writing by this process, outside FD_GUARD: if another test's binary inherits
    // this descriptor, it only locks this test's own file, which is locked anyway.
    let writer = hdf5::File::open_rw(c.path("data.h5")).expect("open data.h5 for writing");
    let err = c.fail(&[], exit::DATA);
    drop(writer);
    assert!(err.contains("unable to lock file"), "{err}");
    assert!(
        !err.contains("is it an HDF5 file?"),
        "misleading hint for a locked file: {err}"
    );
}

// ---- the dataset --------------------------------------------------------------------------------

/// A file with "/X" (20 x 15 float64) and "/grp/Y" (3 x 4 int32).
fn two_datasets(f: &hdf5::File) -> hdf5::Result<()> {
    f.new_dataset_builder().with_data(&matrix(20, 15)).create("X")?;
    let y = Array2::from_shape_fn((3, 4), |(i, j)| (i + j) as i32);
    f.create_group("grp")?.new_dataset_builder().with_data(&y).create("Y")?;
    Ok(())
}

#[test]
fn dataset_missing_lists_the_datasets_that_exist() {
    let c = Case::new();
    c.config_with(&[("dataset = \"X\"", "dataset = \"Z\"")])
        .h5(two_datasets);
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.h5, dataset \"Z\": no such dataset; the file holds: /X (20 x 15, float64), \
         /grp/Y (3 x 4, int32); set [data] dataset to one of them\n"
    );
}

#[test]
fn dataset_is_a_group() {
    let c = Case::new();
    c.config_with(&[("dataset = \"X\"", "dataset = \"grp\"")])
        .h5(two_datasets);
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.h5, dataset \"grp\": is a group, not a dataset; the file holds: /X (20 x 15, float64), \
         /grp/Y (3 x 4, int32); set [data] dataset to one of them\n"
    );
}

#[test]
fn dataset_in_a_subgroup_is_found() {
    let c = Case::new();
    // /grp/Y is 3 x 4 of i + j: the corner (0, 0) is zero but nothing else is wrong.
    c.config_with(&[("dataset = \"X\"", "dataset = \"grp/Y\"")])
        .h5(two_datasets);
    c.succeed(&["--quiet"]);
}

#[test]
fn dataset_is_1d() {
    let c = Case::new();
    c.config(BASE).h5(|f| {
        f.new_dataset_builder()
            .with_data(&Array1::from_elem(20, 1.0))
            .create("X")
            .map(|_| ())
    });
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error("is 1-D (shape 20); a 2-D matrix is needed (observations x features, or set transpose = true)")
    );
}

#[test]
fn dataset_is_3d() {
    let c = Case::new();
    let x = Array3::from_elem((4, 5, 6), 1.0);
    c.config(BASE)
        .h5(|f| f.new_dataset_builder().with_data(&x).create("X").map(|_| ()));
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error(
            "is 3-D (shape 4 x 5 x 6); a 2-D matrix is needed (observations x features, or set transpose = true)"
        )
    );
}

#[test]
fn dataset_of_variable_length_strings_is_rejected() {
    let c = Case::new();
    let s: VarLenUnicode = "1.5".parse().expect("valid string");
    let x = Array2::from_elem((3, 4), s);
    c.config(BASE)
        .h5(|f| f.new_dataset_builder().with_data(&x).create("X").map(|_| ()));
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error("has element type unicode (var len); a numeric type (integer or float) is needed")
    );
}

#[test]
fn dataset_of_fixed_ascii_strings_is_rejected() {
    let c = Case::new();
    let s = FixedAscii::<8>::from_ascii("2.0").expect("valid ascii");
    let x = Array2::from_elem((3, 4), s);
    c.config(BASE)
        .h5(|f| f.new_dataset_builder().with_data(&x).create("X").map(|_| ()));
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error("has element type string (len 8); a numeric type (integer or float) is needed")
    );
}

#[test]
fn dataset_empty() {
    let c = Case::new();
    c.config(BASE).matrix(&Array2::zeros((0, 5)));
    assert_eq!(c.fail(&[], exit::DATA), data_error("is empty (shape 0 x 5)"));
}

// ---- the values ---------------------------------------------------------------------------------

#[test]
fn negative_entries_counted_with_first_position() {
    let c = Case::new();
    let mut x = matrix(20, 15);
    x[[10, 2]] = -2.0;
    x[[3, 5]] = -1.5;
    x[[19, 14]] = -0.25;
    c.config(BASE).matrix(&x);
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error(
            "has 3 negative entries (first at row 3, column 5: -1.5); NMF needs non-negative data: shift or clip it \
             before fitting (0-based positions in the stored dataset)"
        )
    );
}

#[test]
fn negative_entry_position_is_in_stored_coordinates_under_transpose() {
    let c = Case::new();
    let mut x = matrix(20, 15);
    x[[3, 5]] = -1.5;
    c.config_with(&[("transpose = false", "transpose = true")]).matrix(&x);
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error(
            "has 1 negative entries (first at row 3, column 5: -1.5); NMF needs non-negative data: shift or clip it \
             before fitting (0-based positions in the stored dataset)"
        )
    );
}

#[test]
fn nan_entries() {
    let c = Case::new();
    let mut x = matrix(20, 15);
    x[[2, 4]] = f64::NAN;
    x[[7, 0]] = f64::NAN;
    c.config(BASE).matrix(&x);
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error(
            "has 2 NaN entries (first at row 2, column 4); remove or impute them, or set [data] missing = \"nan\" to leave them out of the fits (0-based positions in the stored dataset)"
        )
    );
}

#[test]
fn infinite_entries() {
    let c = Case::new();
    let mut x = matrix(20, 15);
    x[[0, 14]] = f64::INFINITY;
    x[[5, 5]] = f64::NEG_INFINITY;
    c.config(BASE).matrix(&x);
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error(
            "has 2 infinite entries (first at row 0, column 14); remove or cap them (0-based positions in the stored dataset)"
        )
    );
}

#[test]
fn negative_nan_and_infinite_entries_together() {
    let c = Case::new();
    let mut x = matrix(20, 15);
    x[[1, 1]] = -3.0;
    x[[2, 2]] = f64::NAN;
    x[[4, 4]] = f64::INFINITY;
    c.config(BASE).matrix(&x);
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error(
            "has 1 negative entries (first at row 1, column 1: -3); NMF needs non-negative data: shift or clip it \
             before fitting; 1 NaN entries (first at row 2, column 2); remove or impute them, or set [data] missing = \"nan\" to leave them out of the fits; 1 infinite entries \
             (first at row 4, column 4); remove or cap them (0-based positions in the stored dataset)"
        )
    );
}

#[test]
fn all_entries_zero() {
    let c = Case::new();
    c.config(BASE).matrix(&Array2::zeros((20, 15)));
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error("has no positive entry: all entries are zero, there is nothing to factorize")
    );
}

#[test]
fn all_zero_rows_and_columns_under_kl_are_restored_as_zeros() {
    let c = Case::new();
    let mut x = matrix(20, 15);
    x.row_mut(4).fill(0.0);
    x.column_mut(6).fill(0.0);
    c.config(BASE).matrix(&x);
    let err = c.succeed(&[]);
    assert!(
        err.contains("warning: the data has 1 all-zero rows (4) and 1 all-zero columns (6)"),
        "{err}"
    );
    let w = c.result("rank_2/W");
    let h = c.result("rank_2/H");
    assert_eq!((w.dim(), h.dim()), ((20, 2), (2, 15)));
    assert!(w.row(4).iter().all(|&v| v == 0.0), "W row 4: {:?}", w.row(4));
    assert!(h.column(6).iter().all(|&v| v == 0.0), "H column 6: {:?}", h.column(6));
    assert!(w.iter().chain(h.iter()).all(|v| v.is_finite() && *v >= 0.0));
    let other_rows_used = (0..20).filter(|&i| i != 4).all(|i| w.row(i).iter().any(|&v| v > 0.0));
    assert!(other_rows_used, "every other row of W has a positive entry: {w:?}");
}

#[test]
fn int32_input_is_accepted() {
    let c = Case::new();
    let x = Array2::from_shape_fn((20, 15), |(i, j)| 1 + ((i * 7 + j * 3) % 11) as i32);
    c.config(BASE)
        .h5(|f| f.new_dataset_builder().with_data(&x).create("X").map(|_| ()));
    c.succeed(&["--quiet"]);
    assert_eq!(
        (c.result("rank_2/W").dim(), c.result("rank_2/H").dim()),
        ((20, 2), (2, 15))
    );
}

#[test]
fn transpose_swaps_observations_and_features() {
    let c = Case::new();
    c.config_with(&[("transpose = false", "transpose = true")])
        .matrix(&matrix(20, 30));
    c.succeed(&["--quiet"]);
    assert_eq!(c.result("rank_2/W").dim(), (30, 2));
    assert_eq!(c.result("rank_2/H").dim(), (2, 20));
}

// ---- sparse groups and the other formats --------------------------------------------------------

/// A string attribute, as anndata and h5py write them (variable-length UTF-8).
fn str_attr(loc: &hdf5::Location, name: &str, value: &str) -> hdf5::Result<()> {
    let v: VarLenUnicode = value.parse().expect("valid string");
    loc.new_attr::<VarLenUnicode>().create(name)?.write_scalar(&v)
}

/// The parts of a sparse group: its encoding, shape, indptr, indices and values.
struct Sparse {
    encoding: &'static str,
    shape: [i64; 2],
    indptr: Vec<i64>,
    indices: Vec<i32>,
    data: Vec<f64>,
}

/// A valid 3 x 4 CSR matrix [[1, 0, 2, 0], [0, 3, 0, 0], [4, 0, 0, 5]].
fn csr() -> Sparse {
    Sparse {
        encoding: "csr_matrix",
        shape: [3, 4],
        indptr: vec![0, 2, 3, 5],
        indices: vec![0, 2, 1, 0, 3],
        data: vec![1.0, 2.0, 3.0, 4.0, 5.0],
    }
}

/// Writes `s` as the group "X" of `data.h5`, with AnnData's attributes (encoding-type, shape).
fn sparse_group(c: &Case, s: Sparse) -> &Case {
    c.h5(|f| {
        let g = f.create_group("X")?;
        str_attr(&g, "encoding-type", s.encoding)?;
        g.new_attr_builder()
            .with_data(&Array1::from(s.shape.to_vec()))
            .create("shape")?;
        g.new_dataset_builder()
            .with_data(&Array1::from(s.data))
            .create("data")?;
        g.new_dataset_builder()
            .with_data(&Array1::from(s.indices))
            .create("indices")?;
        g.new_dataset_builder()
            .with_data(&Array1::from(s.indptr))
            .create("indptr")?;
        Ok(())
    })
}

#[test]
fn sparse_group_is_read() {
    let c = Case::new();
    c.config_with(&[("[sweep]\nranks = [2]", "[sweep]\nranks = [1]")]);
    sparse_group(&c, csr()).succeed(&["--quiet"]);
    assert_eq!(
        (c.result("rank_1/W").dim(), c.result("rank_1/H").dim()),
        ((3, 1), (1, 4))
    );
}

#[test]
fn sparse_group_faults_are_named() {
    type Edit = fn(&mut Sparse);
    let cases: [(Edit, &str); 6] = [
        (
            |s| s.indices[1] = 5,
            "index 5 in row 0 is out of range: the shape has 4 columns (indices 0 to 3)",
        ),
        (
            |s| s.indices[..2].copy_from_slice(&[2, 0]),
            "the indices of row 0 are not sorted (2 before 0); sort them before writing (scipy: X.sort_indices())",
        ),
        (
            |s| s.indices[..2].copy_from_slice(&[1, 1]),
            "row 0 stores column 1 twice (duplicate indices); sum the duplicates before writing (scipy: \
             X.sum_duplicates())",
        ),
        (
            |s| s.indptr = vec![0, 3, 2, 5],
            "indptr decreases at row 1 (3 then 2); it must be non-decreasing",
        ),
        (
            |s| s.shape = [4, 4],
            "indptr has 4 entries, but the shape says 4 rows, which needs 5 (one more than the rows)",
        ),
        (
            |s| s.data.truncate(4),
            "indices has 5 entries but data has 4; they must have one entry per stored value",
        ),
    ];
    for (edit, want) in cases {
        let c = Case::new();
        let mut s = csr();
        edit(&mut s);
        c.config(BASE);
        sparse_group(&c, s);
        assert_eq!(c.fail(&[], exit::DATA), data_error(want));
    }
}

#[test]
fn sparse_values_are_checked_at_stored_positions() {
    // CSC of [[1, 0, 3, 0], [0, 0, -4, 0], [0, 2, 0, 5]]: the -4 is at row 1, column 2 as stored.
    let c = Case::new();
    c.config(BASE);
    sparse_group(
        &c,
        Sparse {
            encoding: "csc_matrix",
            shape: [3, 4],
            indptr: vec![0, 1, 2, 4, 5],
            indices: vec![0, 2, 0, 1, 2],
            data: vec![1.0, 2.0, 3.0, -4.0, 5.0],
        },
    );
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error(
            "has 1 negative entries (first at row 1, column 2: -4); NMF needs non-negative data: shift or clip it \
             before fitting (0-based positions in the stored dataset)"
        )
    );
    let c = Case::new();
    c.config(BASE);
    let mut s = csr();
    s.data[4] = f64::NAN;
    sparse_group(&c, s);
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error(
            "has 1 NaN entries (first at row 2, column 3); remove or impute them, or set [data] missing = \"nan\" to leave them out of the fits (0-based positions in the stored dataset)"
        )
    );
}

#[test]
fn csr_format_on_a_csc_group_is_refused() {
    let c = Case::new();
    c.config_with(&[("dataset = \"X\"", "dataset = \"X\"\nformat = \"csr\"")]);
    let mut s = csr();
    s.encoding = "csc_matrix";
    sparse_group(&c, s);
    assert_eq!(
        c.fail(&[], exit::DATA),
        data_error(
            "is declared csc by its attributes, but [data] format says \"csr\"; set format = \"csc\" (or \"auto\")"
        )
    );
}

#[test]
fn h5ad_missing_layer_lists_the_layers() {
    let c = Case::new();
    c.config_with(&[("dataset = \"X\"", "layer = \"counts\"")]).h5(|f| {
        str_attr(f, "encoding-type", "anndata")?;
        f.new_dataset_builder().with_data(&matrix(20, 15)).create("X")?;
        let layers = f.create_group("layers")?;
        layers
            .new_dataset_builder()
            .with_data(&matrix(20, 15))
            .create("spliced")?;
        layers
            .new_dataset_builder()
            .with_data(&matrix(20, 15))
            .create("unspliced")?;
        Ok(())
    });
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.h5, dataset \"layers/counts\": no such layer; the file's layers: spliced, unspliced; set \
         [data] layer to one of them, or leave layer out to read X\n"
    );
}

#[test]
fn tenx_file_without_indptr() {
    let c = Case::new();
    c.config_with(&[("dataset = \"X\"\n", "")]).h5(|f| {
        let m = f.create_group("matrix")?;
        m.new_dataset_builder()
            .with_data(&Array1::from(vec![1i32, 2]))
            .create("data")?;
        m.new_dataset_builder()
            .with_data(&Array1::from(vec![0i64, 1]))
            .create("indices")?;
        m.new_dataset_builder()
            .with_data(&Array1::from(vec![2i32, 2]))
            .create("shape")?;
        let barcodes = Array1::from(vec![FixedAscii::<4>::from_ascii("AC-1").expect("ascii"); 2]);
        m.new_dataset_builder().with_data(&barcodes).create("barcodes")?;
        Ok(())
    });
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.h5, dataset \"matrix\": has no \"indptr\"; a 10x feature-barcode matrix group (Cell Ranger \
         3 or later) holds data, indices, indptr, shape, barcodes and features\n"
    );
}

#[test]
fn hdf5_file_of_no_known_layout_needs_a_dataset() {
    let c = Case::new();
    c.config_with(&[("dataset = \"X\"\n", "")]).h5(two_datasets);
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.h5: [data] dataset is needed: this HDF5 file is neither an AnnData file (encoding-type \
         \"anndata\") nor a 10x feature-barcode file (a \"matrix\" group); the file holds: /X (20 x 15, float64), \
         /grp/Y (3 x 4, int32); set [data] dataset to one of them\n"
    );
}

/// A text data file `name` holding `text`, and BASE pointing at it without a dataset.
fn text_case(name: &str, text: &str) -> Case {
    let c = Case::new();
    std::fs::write(c.path(name), text).expect("write data file");
    c.config_with(&[("data.h5", name), ("dataset = \"X\"\n", "")]);
    c
}

#[test]
fn matrix_market_duplicate_entry_names_both_lines() {
    let c = text_case(
        "data.mtx",
        "%%MatrixMarket matrix coordinate integer general\n3 3 4\n1 1 1\n2 2 2\n3 3 3\n2 2 5\n",
    );
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.mtx: lines 4 and 6 both give the entry at row 2, column 2 (1-based); list each entry \
         once: sum the duplicates before writing (scipy: X.sum_duplicates())\n"
    );
}

#[test]
fn gzipped_matrix_market_is_refused_with_the_fix() {
    let c = text_case("data.mtx.gz", "");
    std::fs::write(c.path("data.mtx.gz"), [0x1f, 0x8b, 8, 0, 0, 0]).expect("write gz");
    let err = c.fail(&[], exit::DATA);
    assert!(
        err.starts_with("error: <TMP>/data.mtx.gz: is gzip-compressed, which is not supported; decompress it first"),
        "{err}"
    );
}

#[test]
fn csv_ragged_row_names_its_line() {
    let c = text_case("data.csv", "g1,g2,g3\n1,2,3\n4,5,6\n7,8\n");
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.csv: line 4 has 2 fields, but line 2 (the first row of numbers) has 3; every row needs the \
         same number of fields\n"
    );
}

#[test]
fn csv_bad_number_and_negative_value_name_line_and_column() {
    let c = text_case("data.csv", "1,2,3\n4,five,6\n");
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.csv: line 2, column 3: \"five\" is not a number; after the header row every field must be \
         a number (or NaN, NA or empty for a missing value)\n"
    );
    let c = text_case("data.csv", "1,2,3\n4,-5,6\n");
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.csv: has 1 negative entries (first at line 2, column 3: -5); NMF needs non-negative data: \
         shift or clip it before fitting\n"
    );
}

#[test]
fn csv_with_a_dataset_key_is_refused() {
    let c = Case::new();
    std::fs::write(c.path("data.csv"), "1,2\n3,4\n").expect("write csv");
    c.config_with(&[("data.h5", "data.csv")]);
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.csv: is a CSV file, read as format \"csv\": [data] dataset names a matrix inside an HDF5 \
         file; remove it (or set [data] format if the file is not a CSV file)\n"
    );
}

// ---- ranks and restarts -------------------------------------------------------------------------

#[test]
fn rank_zero() {
    let c = Case::new();
    c.config_with(&[("ranks = [2]", "ranks = [0, 2]")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:8: sweep.ranks: rank 0 is impossible; ranks must be at least 1\n"
    );
}

#[test]
fn rank_above_both_dimensions() {
    let c = Case::new();
    c.config_with(&[("ranks = [2]", "ranks = [2, 21]")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:8: sweep.ranks: rank 21 is larger than both dimensions of the data (20 x 15); \
         use ranks of at most 20\n"
    );
}

#[test]
fn rank_between_dimensions_is_allowed_with_a_warning() {
    let c = Case::new();
    c.config_with(&[("ranks = [2]", "ranks = [16]")])
        .matrix(&matrix(20, 15));
    let err = c.succeed(&[]);
    assert!(
        err.contains(
            "warning: rank 16 is larger than the smaller dimension of the data (20 x 15): the factorization is over-complete"
        ),
        "{err}"
    );
    assert_eq!(c.result("rank_16/W").dim(), (20, 16));
}

#[test]
fn restarts_zero() {
    let c = Case::new();
    c.config_with(&[("restarts = 2", "restarts = 0")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:9: sweep.restarts: must be at least 1 (got 0): each rank needs at least one fit\n"
    );
}

// ---- the config file ----------------------------------------------------------------------------

#[test]
fn malformed_toml_gives_line_and_column() {
    let c = Case::new();
    c.config_with(&[("restarts = 2", "restarts = = 2")])
        .matrix(&matrix(20, 15));
    let err = c.fail(&[], exit::CONFIG);
    assert!(err.starts_with("error: <TMP>/config.toml:9:12: "), "{err}");
    assert!(err.contains("extra `=`"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn value_of_wrong_type_gives_line_and_column() {
    let c = Case::new();
    c.config_with(&[("restarts = 2", "restarts = \"two\"")])
        .matrix(&matrix(20, 15));
    let err = c.fail(&[], exit::CONFIG);
    assert!(err.starts_with("error: <TMP>/config.toml:9:12: "), "{err}");
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn unknown_key_suggests_the_closest() {
    let c = Case::new();
    c.config_with(&[("restarts = 2", "restart = 2")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:9: unknown key `restart` in [sweep]; did you mean `restarts`? \
         (valid keys: ranks, restarts, seed, resample)\n"
    );
}

#[test]
fn unknown_loss_lists_valid_values() {
    let c = Case::new();
    c.config_with(&[("loss = \"kl\"", "loss = \"poisson\"")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:6: model.loss: unknown value \"poisson\"; valid values: \"kl\", \"frobenius\" \
         (\"kl\" is the Poisson likelihood)\n"
    );
}

#[test]
fn unknown_solver_lists_valid_values() {
    let c = Case::new();
    c.config_with(&[("loss = \"kl\"", "solver = \"als\"")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:6: model.solver: unknown value \"als\"; valid values: \"mu\", \"hals\", \"cd\"\n"
    );
}

#[test]
fn unknown_init_lists_valid_values() {
    let c = Case::new();
    c.config_with(&[("loss = \"kl\"", "init = \"svd\"")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:6: model.init: unknown value \"svd\"; valid values: \"random\", \"nndsvd\", \"nndsvda\", \
         \"nndsvdar\"\n"
    );
}

#[test]
fn config_file_missing() {
    let c = Case::new();
    let out = output(binary().arg(c.path("nope.toml")).arg("--quiet"));
    assert_eq!(out.status.code(), Some(exit::CONFIG.into()));
    assert_eq!(
        c.stderr(&out),
        "error: cannot read config file <TMP>/nope.toml: No such file or directory (os error 2); check the path given on \
         the command line\n"
    );
    c.assert_no_results();
    assert!(!c.out_dir().exists());
}

#[test]
fn data_section_missing() {
    let c = Case::new();
    c.config_with(&[("[data]\npath = \"data.h5\"\ndataset = \"X\"\ntranspose = false\n", "")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml: data: missing section [data]; add [data] with path = \"file.h5\" and dataset = \"X\"\n"
    );
}

// ---- the output directory -----------------------------------------------------------------------

#[test]
fn output_dir_below_a_regular_file() {
    let c = Case::new();
    std::fs::write(c.path("afile"), "not a directory").expect("write afile");
    c.config_with(&[("dir = \"out\"", "dir = \"afile/results\"")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.fail(&[], exit::OUTPUT),
        "error: output directory <TMP>/afile/results cannot be written: Not a directory (os error 20); \
         choose another with --out or [output] dir\n"
    );
    assert!(c.path("afile").is_file());
}

#[test]
fn output_dir_with_results_needs_force() {
    let c = Case::new();
    c.config(BASE).matrix(&matrix(20, 15));
    c.succeed(&["--quiet"]);
    let before: Vec<Vec<u8>> = RESULT_FILES
        .iter()
        .map(|f| std::fs::read(c.out_dir().join(f)).expect("read result"))
        .collect();

    let out = c.run(&["--quiet"]);
    assert_eq!(out.status.code(), Some(exit::OUTPUT.into()));
    assert_eq!(
        c.stderr(&out),
        "error: output directory <TMP>/out already holds results (results.h5); pass --force to overwrite \
         them, or choose another directory with --out or [output] dir\n"
    );
    let after: Vec<Vec<u8>> = RESULT_FILES
        .iter()
        .map(|f| std::fs::read(c.out_dir().join(f)).expect("read result"))
        .collect();
    assert!(before == after, "a refused run changed the existing results");

    c.succeed(&["--quiet", "--force"]);
}

#[test]
fn out_flag_overrides_output_dir() {
    let c = Case::new();
    c.config(BASE).matrix(&matrix(20, 15));
    // A finished sweep in `taken` (a results.h5 without a sweep's manifest is not ours: refused
    // with another message, see tests/ownership.rs).
    assert_eq!(
        c.run(&["--quiet", "--out", "taken"]).status.code(),
        Some(exit::SUCCESS.into())
    );
    let out = c.run(&["--quiet", "--out", "taken"]);
    assert_eq!(out.status.code(), Some(exit::OUTPUT.into()));
    assert!(
        c.stderr(&out)
            .contains("output directory taken already holds results (results.h5); pass --force")
    );
    assert!(
        !c.out_dir().exists(),
        "the config's output dir is not used when --out is given"
    );
}

// ---- numerical failure --------------------------------------------------------------------------

/// A config and data on which every Frobenius fit fails: squares of 1e200 overflow.
fn overflowing_case() -> Case {
    let c = Case::new();
    c.config_with(&[("loss = \"kl\"", "loss = \"frobenius\"")])
        .matrix(&(matrix(20, 15) * 1e200));
    c
}

#[test]
fn numerical_failure_exit_code_and_message() {
    let c = overflowing_case();
    let out = c.run(&["--quiet"]);
    let err = c.stderr(&out);
    assert_eq!(out.status.code(), Some(exit::NUMERICAL.into()), "{err}");
    assert!(
        err.starts_with(
            "error: rank 2: all 2 fits produced a non-finite objective; no results.h5 was written; the failed fits \
             are listed in <TMP>/out/fits.tsv; check the data's scale (very large or tiny values: rescale it) or \
             try loss = \"kl\" (for counts)\n"
        ),
        "{err}"
    );
    assert!(c.out_dir().join("fits.tsv").is_file(), "the message points to fits.tsv");
}

#[test]
fn numerical_failure_hint_does_not_suggest_the_loss_in_use() {
    let c = overflowing_case();
    let out = c.run(&["--quiet"]);
    let err = c.stderr(&out);
    assert_eq!(out.status.code(), Some(exit::NUMERICAL.into()), "{err}");
    assert!(!err.contains("try loss = \"frobenius\""), "{err}");
}

#[test]
fn numerical_failure_leaves_no_results_h5() {
    let c = overflowing_case();
    let out = c.run(&["--quiet"]);
    assert_eq!(out.status.code(), Some(exit::NUMERICAL.into()), "{}", c.stderr(&out));
    assert!(
        !c.out_dir().join("results.h5").exists(),
        "results.h5 written by a failed sweep"
    );
    // After fixing the data, the same command is not refused with "already holds results", but
    // the failed run's fit records were made from other data: never mixed in, --force discards them.
    c.matrix(&matrix(20, 15));
    let out = c.run(&["--quiet"]);
    let err = c.stderr(&out);
    assert_eq!(out.status.code(), Some(exit::OUTPUT.into()), "{err}");
    assert!(
        err.contains("is not the data the stored fits were made from") && err.contains("pass --force"),
        "{err}"
    );
    c.succeed(&["--quiet", "--force"]);
}

// ---- the command line ---------------------------------------------------------------------------

#[test]
fn help_mentions_flags_and_exit_codes() {
    let out = output(binary().arg("--help"));
    assert_eq!(out.status.code(), Some(exit::SUCCESS.into()));
    let text = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "--threads",
        "--out",
        "--quiet",
        "--force",
        "--shard <I/N>",
        "Exit codes: 0 success, 1 internal error, 2 bad command line or config, 3 bad input data, \
         4 output directory problem, 5 numerical failure, 6 incomplete (stopped by SIGTERM/SIGINT, or fits \
         missing at merge): run the same command again to resume.",
    ] {
        assert!(text.contains(want), "--help lacks {want:?}: {text}");
    }
}

#[test]
fn no_config_argument_is_a_usage_error() {
    let out = output(&mut binary());
    assert_eq!(out.status.code(), Some(exit::CONFIG.into()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage:"));
}

// ---- missing values ---------------------------------------------------------------------------

#[test]
fn missing_key_with_an_unknown_value() {
    let c = Case::new();
    c.config_with(&[("transpose = false", "missing = \"na\"")])
        .matrix(&matrix(20, 15));
    assert_eq!(
        c.fail(&[], exit::CONFIG),
        "error: <TMP>/config.toml:4: data.missing: unknown value \"na\"; valid values: \"error\", \"nan\" \
         (\"nan\": NaN entries are missing values, left out of the fits)\n"
    );
}

#[test]
fn mask_of_the_wrong_shape() {
    let c = Case::new();
    c.config_with(&[("transpose = false", "mask = \"M\"")]).h5(|f| {
        f.new_dataset_builder().with_data(&matrix(20, 15)).create("X")?;
        f.new_dataset_builder()
            .with_data(&Array2::<u8>::ones((15, 20)))
            .create("M")?;
        Ok(())
    });
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.h5, dataset \"M\": ([data] mask) has shape [15, 20], but the matrix is stored as 20 x 15; \
         the mask must have the stored shape\n"
    );
}

#[test]
fn mask_that_leaves_nothing_observed() {
    let c = Case::new();
    c.config_with(&[("transpose = false", "mask = \"M\"")]).h5(|f| {
        f.new_dataset_builder().with_data(&matrix(20, 15)).create("X")?;
        f.new_dataset_builder()
            .with_data(&Array2::<u8>::zeros((20, 15)))
            .create("M")?;
        Ok(())
    });
    assert_eq!(
        c.fail(&[], exit::DATA),
        "error: <TMP>/data.h5, dataset \"M\": ([data] mask) leaves no observed positive entry: there is nothing to \
         factorize\n"
    );
}

#[test]
fn nan_entries_as_missing_values_run() {
    let c = Case::new();
    let mut x = matrix(20, 15);
    x[[2, 4]] = f64::NAN;
    x[[7, 0]] = f64::NAN;
    c.config_with(&[("transpose = false", "missing = \"nan\"")]).matrix(&x);
    let err = c.succeed(&[]);
    assert!(
        err.contains(
            "warning: 2 of 300 entries (0.667%) are missing; they are left out of the objective and the updates \
             (weighted NMF)"
        ),
        "{err}"
    );
    let w = c.result("rank_2/W");
    assert!(w.iter().all(|v| v.is_finite() && *v >= 0.0));
    let out = c.run(&["--force"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("missing values: 2 of 300 entries (0.667%), left out of every fit"),
        "{stdout}"
    );
}
